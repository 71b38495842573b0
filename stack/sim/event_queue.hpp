// The discrete-event queue under World (DESIGN.md principle 2): events ordered by (time,
// insertion sequence), so two events at the same instant run in the order they were scheduled.
//
// Budget: the heap holds 24-byte PODs; callbacks live in a slot table reused through a free list.
// Cancelling bumps the slot's generation (O(1)); the stale heap entry is skipped when it surfaces
// and the heap is compacted when stale entries dominate. Hot-path users (connections, links)
// schedule an EventTarget + 64-bit tag and allocate nothing; the std::function overload is for
// scripts and tests (small captures fit std::function's inline buffer anyway).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "link/base/time.hpp"

namespace tcpsim::stack {

// Names one scheduled event. Default-constructed = "nothing scheduled". A handle whose event ran
// or was cancelled simply stops being pending (generations make stale handles harmless).
struct TimerHandle {
    std::uint32_t slot = std::numeric_limits<std::uint32_t>::max();
    std::uint32_t gen = 0;
    bool empty() const { return slot == std::numeric_limits<std::uint32_t>::max(); }
};

// Receiver of allocation-free events: `tag` is whatever the scheduler passed (an index, a pointer).
class EventTarget {
public:
    virtual void on_event(Time now, std::uint64_t tag) = 0;

protected:
    ~EventTarget() = default;
};

class EventQueue {
public:
    using Callback = std::function<void()>;

    TimerHandle schedule(Time at, EventTarget& target, std::uint64_t tag);
    TimerHandle schedule(Time at, Callback fn);
    // Cancels a pending event; returns whether it was pending. Resets `h` either way.
    bool cancel(TimerHandle& h);
    bool pending(TimerHandle h) const;
    // When a pending event is due (kTimeNever if not pending).
    Time due(TimerHandle h) const;

    bool empty() const { return live_ == 0; }
    std::size_t size() const { return live_; }
    // Due time of the earliest pending event, kTimeNever when empty.
    Time next_time();

    // Removes the earliest pending event if it is due at or before `limit`, sets `clock` to its
    // time, then runs it. Returns false (and changes nothing) otherwise. The event's slot is freed
    // before it runs, so the callback may schedule or cancel anything, including re-arming itself.
    bool run_next(Time limit, Time& clock);

private:
    struct Entry {
        Time at;
        std::uint64_t seq;
        std::uint32_t slot;
        std::uint32_t gen;
    };
    struct Slot {
        EventTarget* target = nullptr;
        std::uint64_t tag = 0;
        Callback fn;
        Time at = kTimeNever;
        std::uint32_t gen = 0;
        bool live = false;
    };
    std::uint32_t acquire_slot();
    void release_slot(std::uint32_t slot);
    TimerHandle push(Time at, std::uint32_t slot);
    void drop_stale_top();
    void maybe_compact();

    std::vector<Entry> heap_;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::uint64_t next_seq_ = 0;
    std::size_t live_ = 0;
    std::size_t stale_ = 0;
};

}  // namespace tcpsim::stack
