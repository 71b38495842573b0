// The simulated world (DESIGN.md principles 2-3): a virtual clock, the discrete-event queue, the
// seeded random substreams, the trace bus, and the hosts and links of a scenario.
//
// Time only moves inside run_*(): it jumps from one event to the next, so 60 s of TIME_WAIT costs
// one heap pop. Events at the same instant run in the order they were scheduled. In live mode the
// TAP runtime owns a World too and drives it with run_until(wall clock now), sleeping until
// next_event_time(); hosts never know which.
//
// Typical use (tests, the scenario runner):
//   World w(seed);
//   Host& a = w.add_host("client"); ...           // see stack/host/host.hpp
//   Wire& l = w.add_wire("l1", 1ms);
//   w.connect(a, a.interface_index("eth0"), l);
//   w.run_until(w.now() + 5s);   // or w.run_until_idle()
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "stack/sim/event_queue.hpp"
#include "link/base/random.hpp"
#include "stack/trace/trace.hpp"

namespace tcpsim::link {
class VirtualLink;
}

namespace tcpsim::stack {

// The one generator lives with the other base types (link/base/random.hpp).
using link::Rng;

class Host;

// One direction of a frame hand-off. A link attachment implements it for the frames its host
// sends; a host interface implements it for the frames the link delivers. `frame` (a whole
// Ethernet frame, no FCS) is valid only during the call: a receiver that keeps it copies it.
class FrameSink {
public:
    virtual void accept_frame(Bytes frame) = 0;

protected:
    ~FrameSink() = default;
};

class World;

// The world's link: frames handed from one attachment to the others as world events, with
// FrameEvent Sent/Delivered (and Lost, DropEvent{LinkLoss}) on the trace bus, so pcap and tcpdump
// printers see every link alike. Two kinds, one adapter:
// - perfect (World::add_wire): a shared Ethernet segment with any number of attachments; every
//   frame reaches every other attachment after `delay` (plus serialization time when a rate is
//   set, frames queued FIFO per sender). No loss, no reordering.
// - impaired (the scenario runner): a point-to-point link whose two sides (A = the first
//   attachment, B = the second) are joined by a link::VirtualLink (netem, targeted faults,
//   schedules); each copy it delivers becomes a world event.
class Wire final : public EventTarget {
public:
    Wire(World& world, std::string name, Duration delay, std::uint64_t bits_per_second = 0);
    // An impaired link; configure it through vlink() before traffic.
    Wire(World& world, std::string name, std::uint64_t seed);
    ~Wire();
    Wire(const Wire&) = delete;
    Wire& operator=(const Wire&) = delete;

    // Adds an attachment named `endpoint` ("client/eth0") whose deliveries go to `receiver`;
    // returns the sink the attached side sends into. References stay valid for the Wire's life.
    // An impaired link takes two (throws std::logic_error on a third).
    FrameSink& attach(std::string endpoint, FrameSink& receiver);

    const std::string& name() const { return name_; }
    Duration delay() const { return delay_; }
    std::uint64_t frames_sent() const { return frames_sent_; }
    // The impairments of an impaired link (nullptr for a perfect one).
    link::VirtualLink* vlink();
    // Impaired: makes the schedule entries take effect at their time even when no frame is sent.
    void arm_schedule();

private:
    struct Attachment;
    struct InFlight;
    class Impaired;
    static constexpr std::size_t kAllOthers = ~std::size_t{0};
    static constexpr std::uint64_t kScheduleTag = ~std::uint64_t{0};

    void send(std::size_t from, Bytes frame);
    // Keeps `frame` for delivery at `at` to attachment `to` (kAllOthers: all but `from`).
    void schedule_delivery(Time at, std::size_t from, std::size_t to, Bytes frame);
    void on_event(Time now, std::uint64_t tag) override;

    World& world_;
    std::string name_;
    Duration delay_{};
    std::uint64_t rate_ = 0;
    std::vector<std::unique_ptr<Attachment>> attachments_;
    std::vector<InFlight> in_flight_;  // slot table, reused through free_
    std::vector<std::uint32_t> free_;
    std::unique_ptr<Impaired> impaired_;
    std::uint64_t frames_sent_ = 0;
};

class World {
public:
    explicit World(std::uint64_t seed = 1);
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    Time now() const { return now_; }
    std::uint64_t seed() const { return seed_; }
    TraceBus& trace() { return trace_; }
    // A fresh generator for `purpose`; the same (seed, purpose) always yields the same stream.
    // Conventional purposes: "isn/<host>", "ports/<host>", "link/<name>/loss".
    Rng rng(std::string_view purpose) const { return Rng::derive(seed_, purpose); }

    // ---- scheduling (times in the past run at now(), after what is already due) ----
    TimerHandle at(Time t, EventTarget& target, std::uint64_t tag);
    TimerHandle at(Time t, EventQueue::Callback fn);
    TimerHandle after(Duration d, EventQueue::Callback fn) { return at(now_ + d, std::move(fn)); }
    bool cancel(TimerHandle& h) { return queue_.cancel(h); }
    bool pending(TimerHandle h) const { return queue_.pending(h); }
    // When a pending event is due (kTimeNever if it is not pending).
    Time queue_due(TimerHandle h) const { return queue_.due(h); }
    Time next_event_time() { return queue_.next_time(); }
    std::size_t pending_events() const { return queue_.size(); }

    // ---- running ----
    // Runs the next event if it is due at or before `limit`; returns whether one ran.
    bool step(Time limit = kTimeNever);
    // Runs every event due at or before `t`, then sets the clock to `t` (if stop() was not called).
    void run_until(Time t);
    void run_for(Duration d) { run_until(now_ + d); }
    // Runs until no event is pending (or `limit` is reached, or stop()); returns events run. With
    // TIME_WAIT and keepalive timers pending, "idle" may be far in virtual time: that is cheap.
    std::uint64_t run_until_idle(Time limit = kTimeNever);
    // Makes the running run_*() return after the current event (scripts ending a scenario early).
    void stop() { stop_ = true; }
    std::uint64_t events_run() const { return events_run_; }

    // ---- topology ----
    // Hosts and wires are owned by the world and live as long as it does. Names are unique;
    // duplicates or empty names throw std::invalid_argument. (Host functions: stack/host/host.cpp.)
    Host& add_host(std::string name);
    Host* find_host(std::string_view name);
    std::vector<Host*> hosts() const;
    Wire& add_wire(std::string name, Duration delay = 0s, std::uint64_t bits_per_second = 0);
    Wire* find_wire(std::string_view name);
    // Plugs interface `ifindex` of `host` into `wire` (endpoint name "<host>/<ifname>").
    void connect(Host& host, std::size_t ifindex, Wire& wire);

private:
    std::uint64_t seed_;
    Time now_ = kTimeZero;
    EventQueue queue_;
    TraceBus trace_;
    bool stop_ = false;
    std::uint64_t events_run_ = 0;
    std::vector<std::unique_ptr<Wire>> wires_;
    // shared_ptr only for its type-erased deleter: world.cpp does not need Host's definition, so
    // the scheduler links without the TCP engine. Destroyed first (see ~World).
    std::vector<std::shared_ptr<Host>> hosts_;
};

}  // namespace tcpsim::stack
