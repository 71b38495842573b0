#include "stack/sim/world.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "link/virtual/virtual_link.hpp"


namespace tcpsim::stack {

// ---------------------------------------------------------------------------------------------
// Wire

struct Wire::Attachment final : FrameSink {
    Wire* wire;
    std::size_t index;
    std::string endpoint;
    FrameSink* receiver;
    Time tx_free = kTimeZero;  // when this sender's transmitter is idle again (rate-limited wires)
    Attachment(Wire* w, std::size_t i, std::string e, FrameSink* r)
        : wire(w), index(i), endpoint(std::move(e)), receiver(r) {}
    void accept_frame(Bytes frame) override { wire->send(index, frame); }
};

struct Wire::InFlight {
    ByteVector bytes;  // kept (capacity reused) across frames: no allocation in steady state
    std::size_t from = 0;
    std::size_t to = kAllOthers;
};

// The impaired kind: the VirtualLink and the sink its copies and losses come back through.
class Wire::Impaired final : public link::DeliverySink {
public:
    Impaired(Wire& w, std::uint64_t seed) : wire_(w), link_(seed) {}
    link::VirtualLink& vlink() { return link_; }

    void deliver(Time at, link::Side to, Bytes frame, const link::DeliveryNote&) override {
        const std::size_t t = link::index(to);
        wire_.schedule_delivery(at, 1 - t, t, frame);
    }
    void dropped(Time now, link::Side from, Bytes frame, const link::DropNote& note) override {
        TraceBus& bus = wire_.world_.trace();
        const std::string& endpoint = wire_.attachments_[link::index(from)]->endpoint;
        if (bus.wants(TraceKind::Frame)) bus.emit(FrameEvent{now, wire_.name_, endpoint, FrameAction::Lost, frame});
        if (bus.wants(TraceKind::Drop)) {
            std::string detail = !note.fault.empty() ? std::string(note.fault)
                                 : note.reason == link::DropReason::Loss ? std::string("random loss")
                                                                         : std::string(link::to_string(note.reason));
            bus.emit(DropEvent{now, wire_.name_, DropReason::LinkLoss, detail, frame});
        }
    }

private:
    Wire& wire_;
    link::VirtualLink link_;
};

Wire::Wire(World& world, std::string name, Duration delay, std::uint64_t bits_per_second)
    : world_(world), name_(std::move(name)), delay_(delay), rate_(bits_per_second) {
    if (delay < Duration::zero()) throw std::invalid_argument("wire " + name_ + ": negative delay");
}

Wire::Wire(World& world, std::string name, std::uint64_t seed)
    : world_(world), name_(std::move(name)), impaired_(std::make_unique<Impaired>(*this, seed)) {}

Wire::~Wire() = default;

link::VirtualLink* Wire::vlink() { return impaired_ ? &impaired_->vlink() : nullptr; }

void Wire::arm_schedule() {
    if (!impaired_) return;
    if (auto t = impaired_->vlink().next_schedule_time()) world_.at(*t, *this, kScheduleTag);
}

FrameSink& Wire::attach(std::string endpoint, FrameSink& receiver) {
    if (impaired_ && attachments_.size() == 2)
        throw std::logic_error("link " + name_ + ": an impaired link joins exactly two interfaces");
    attachments_.push_back(std::make_unique<Attachment>(this, attachments_.size(), std::move(endpoint), &receiver));
    return *attachments_.back();
}

void Wire::send(std::size_t from, Bytes frame) {
    Attachment& a = *attachments_[from];
    const Time now = world_.now();
    ++frames_sent_;
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Frame)) bus.emit(FrameEvent{now, name_, a.endpoint, FrameAction::Sent, frame});
    if (impaired_) {
        // The far side may not be attached (yet): the VirtualLink still sees, counts and traces.
        impaired_->vlink().transmit(now, from == 0 ? link::Side::A : link::Side::B, frame, *impaired_);
        return;
    }

    Time leaves = now;
    if (rate_ != 0) {
        // Serialization: frames from one sender go out back to back (FIFO), none lost.
        const Time start = std::max(now, a.tx_free);
        const auto bits = static_cast<unsigned __int128>(frame.size()) * 8u * 1'000'000'000u;
        leaves = start + Duration(static_cast<std::int64_t>((bits + rate_ - 1) / rate_));
        a.tx_free = leaves;
    }
    schedule_delivery(leaves + delay_, from, kAllOthers, frame);
}

void Wire::schedule_delivery(Time at, std::size_t from, std::size_t to, Bytes frame) {
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        in_flight_.emplace_back();
        slot = static_cast<std::uint32_t>(in_flight_.size() - 1);
    }
    InFlight& f = in_flight_[slot];
    f.bytes.assign(frame.begin(), frame.end());
    f.from = from;
    f.to = to;
    world_.at(at, *this, slot);
}

void Wire::on_event(Time now, std::uint64_t tag) {
    if (tag == kScheduleTag) {
        impaired_->vlink().advance(now);
        arm_schedule();
        return;
    }
    const auto slot = static_cast<std::uint32_t>(tag);
    InFlight& f = in_flight_[slot];
    const std::size_t from = f.from, to = f.to;
    // Free the slot before the hand-off (a receiver may send, and a nested delivery may reuse
    // it), and deliver from the moved-out bytes.
    ByteVector bytes = std::move(f.bytes);
    free_.push_back(slot);
    TraceBus& bus = world_.trace();
    for (std::size_t i = 0; i < attachments_.size(); ++i) {
        if (to == kAllOthers ? i == from : i != to) continue;
        Attachment& a = *attachments_[i];
        if (bus.wants(TraceKind::Frame)) bus.emit(FrameEvent{now, name_, a.endpoint, FrameAction::Delivered, bytes});
        a.receiver->accept_frame(bytes);
    }
    // Give the buffer back to the slot so its capacity is reused.
    if (in_flight_[slot].bytes.capacity() == 0) in_flight_[slot].bytes = std::move(bytes);
}

// ---------------------------------------------------------------------------------------------
// World

World::World(std::uint64_t seed) : seed_(seed) {}

World::~World() {
    // Hosts first (their connections may still reference wires through ports), then wires.
    hosts_.clear();
    wires_.clear();
}

TimerHandle World::at(Time t, EventTarget& target, std::uint64_t tag) {
    return queue_.schedule(std::max(t, now_), target, tag);
}

TimerHandle World::at(Time t, EventQueue::Callback fn) { return queue_.schedule(std::max(t, now_), std::move(fn)); }

bool World::step(Time limit) {
    if (!queue_.run_next(limit, now_)) return false;
    ++events_run_;
    return true;
}

void World::run_until(Time t) {
    stop_ = false;
    while (!stop_ && step(t)) {
    }
    if (!stop_ && t > now_ && t != kTimeNever) now_ = t;
    stop_ = false;
}

std::uint64_t World::run_until_idle(Time limit) {
    stop_ = false;
    std::uint64_t n = 0;
    while (!stop_ && step(limit)) ++n;
    stop_ = false;
    return n;
}

std::vector<Host*> World::hosts() const {
    std::vector<Host*> out;
    out.reserve(hosts_.size());
    for (const auto& h : hosts_) out.push_back(h.get());
    return out;
}

Wire& World::add_wire(std::string name, Duration delay, std::uint64_t bits_per_second) {
    if (name.empty()) throw std::invalid_argument("link name must not be empty");
    if (find_wire(name) != nullptr) throw std::invalid_argument("duplicate link name '" + name + "'");
    wires_.push_back(std::make_unique<Wire>(*this, std::move(name), delay, bits_per_second));
    return *wires_.back();
}

Wire* World::find_wire(std::string_view name) {
    for (auto& w : wires_)
        if (w->name() == name) return w.get();
    return nullptr;
}

}  // namespace tcpsim::stack
