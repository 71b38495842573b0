#include "stack/sim/event_queue.hpp"

#include <algorithm>
#include <utility>

namespace tcpsim::stack {
namespace {
auto heap_cmp = [](const auto& a, const auto& b) { return a.at != b.at ? a.at > b.at : a.seq > b.seq; };
}

std::uint32_t EventQueue::acquire_slot() {
    if (!free_.empty()) {
        std::uint32_t s = free_.back();
        free_.pop_back();
        return s;
    }
    slots_.emplace_back();
    return static_cast<std::uint32_t>(slots_.size() - 1);
}

void EventQueue::release_slot(std::uint32_t slot) {
    Slot& s = slots_[slot];
    s.live = false;
    s.target = nullptr;
    s.fn = nullptr;
    s.at = kTimeNever;
    ++s.gen;
    free_.push_back(slot);
}

TimerHandle EventQueue::push(Time at, std::uint32_t slot) {
    Slot& s = slots_[slot];
    s.live = true;
    s.at = at;
    heap_.push_back(Entry{at, next_seq_++, slot, s.gen});
    std::push_heap(heap_.begin(), heap_.end(), heap_cmp);
    ++live_;
    return TimerHandle{slot, s.gen};
}

TimerHandle EventQueue::schedule(Time at, EventTarget& target, std::uint64_t tag) {
    std::uint32_t slot = acquire_slot();
    slots_[slot].target = &target;
    slots_[slot].tag = tag;
    return push(at, slot);
}

TimerHandle EventQueue::schedule(Time at, Callback fn) {
    std::uint32_t slot = acquire_slot();
    slots_[slot].fn = std::move(fn);
    return push(at, slot);
}

bool EventQueue::pending(TimerHandle h) const {
    return !h.empty() && h.slot < slots_.size() && slots_[h.slot].live && slots_[h.slot].gen == h.gen;
}

Time EventQueue::due(TimerHandle h) const { return pending(h) ? slots_[h.slot].at : kTimeNever; }

bool EventQueue::cancel(TimerHandle& h) {
    bool was = pending(h);
    if (was) {
        release_slot(h.slot);
        --live_;
        ++stale_;
        maybe_compact();
    }
    h = TimerHandle{};
    return was;
}

void EventQueue::drop_stale_top() {
    while (!heap_.empty()) {
        const Entry& top = heap_.front();
        const Slot& s = slots_[top.slot];
        if (s.live && s.gen == top.gen) return;
        std::pop_heap(heap_.begin(), heap_.end(), heap_cmp);
        heap_.pop_back();
        --stale_;
    }
}

void EventQueue::maybe_compact() {
    // Lazy deletion keeps cancel O(1); rebuild once stale entries outnumber live ones so the heap
    // stays proportional to what is actually pending. Order is kept: (at, seq) are unchanged.
    if (stale_ < 256 || stale_ < heap_.size() / 2) return;
    std::erase_if(heap_, [this](const Entry& e) {
        const Slot& s = slots_[e.slot];
        return !(s.live && s.gen == e.gen);
    });
    std::make_heap(heap_.begin(), heap_.end(), heap_cmp);
    stale_ = 0;
}

Time EventQueue::next_time() {
    drop_stale_top();
    return heap_.empty() ? kTimeNever : heap_.front().at;
}

bool EventQueue::run_next(Time limit, Time& clock) {
    drop_stale_top();
    if (heap_.empty() || heap_.front().at > limit) return false;
    const Entry e = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), heap_cmp);
    heap_.pop_back();
    Slot& s = slots_[e.slot];
    EventTarget* target = s.target;
    const std::uint64_t tag = s.tag;
    Callback fn = std::move(s.fn);
    release_slot(e.slot);
    --live_;
    if (e.at > clock) clock = e.at;
    if (target != nullptr)
        target->on_event(clock, tag);
    else if (fn)
        fn();
    return true;
}

}  // namespace tcpsim::stack
