#define BOOST_TEST_MODULE stack_world
#include <boost/test/unit_test.hpp>

#include <set>
#include <sstream>
#include <vector>

#include "stack/sim/event_queue.hpp"
#include "link/base/random.hpp"
#include "stack/trace/trace.hpp"
#include "stack/sim/world.hpp"
#include "link/virtual/impairments.hpp"
#include "link/virtual/virtual_link.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;

namespace tcpsim {
// Boost.Test prints values of failed checks; found by ADL through StackClock.
inline std::ostream& operator<<(std::ostream& os, Time t) { return os << format_seconds(t); }
}  // namespace tcpsim

BOOST_AUTO_TEST_CASE(events_run_in_time_then_insertion_order) {
    World w;
    std::vector<int> order;
    w.at(Time(5ms), [&] { order.push_back(3); });
    w.at(Time(1ms), [&] { order.push_back(1); });
    w.at(Time(5ms), [&] { order.push_back(4); });
    w.at(Time(2ms), [&] { order.push_back(2); });
    BOOST_TEST(w.run_until_idle() == 4u);
    BOOST_TEST(order == (std::vector<int>{1, 2, 3, 4}));
    BOOST_TEST(w.now() == Time(5ms));
}

BOOST_AUTO_TEST_CASE(time_jumps_and_run_until_sets_clock) {
    World w;
    Time seen{};
    w.at(Time(60s), [&] { seen = w.now(); });
    w.run_until(Time(10s));
    BOOST_TEST(seen == Time{});
    BOOST_TEST(w.now() == Time(10s));
    w.run_until(Time(100s));
    BOOST_TEST(seen == Time(60s));
    BOOST_TEST(w.now() == Time(100s));
    BOOST_TEST(w.pending_events() == 0u);
}

BOOST_AUTO_TEST_CASE(cancelled_events_never_run_and_stale_handles_are_harmless) {
    World w;
    int ran = 0;
    TimerHandle a = w.at(Time(1s), [&] { ran += 1; });
    TimerHandle b = w.at(Time(2s), [&] { ran += 10; });
    TimerHandle a_copy = a;
    BOOST_TEST(w.pending(a));
    BOOST_TEST(w.cancel(a));
    BOOST_TEST(a.empty());
    BOOST_TEST(!w.cancel(a_copy));  // already cancelled
    // The freed slot is reused; the stale copy must not cancel the new event.
    TimerHandle c = w.at(Time(3s), [&] { ran += 100; });
    BOOST_TEST(!w.pending(a_copy));
    BOOST_TEST(!w.cancel(a_copy));
    w.run_until_idle();
    BOOST_TEST(ran == 110);
    BOOST_TEST(!w.pending(b));
    BOOST_TEST(!w.pending(c));
}

BOOST_AUTO_TEST_CASE(callbacks_may_schedule_at_now_and_run_after_pending_same_time_events) {
    World w;
    std::vector<int> order;
    w.at(Time(1s), [&] {
        order.push_back(1);
        w.at(w.now(), [&] { order.push_back(3); });
        w.at(Time(0s), [&] { order.push_back(4); });  // in the past: runs at now, in order
    });
    w.at(Time(1s), [&] { order.push_back(2); });
    w.run_until_idle();
    BOOST_TEST(order == (std::vector<int>{1, 2, 3, 4}));
    BOOST_TEST(w.now() == Time(1s));
}

BOOST_AUTO_TEST_CASE(a_timer_can_rearm_itself_from_its_callback) {
    World w;
    struct Ticker : EventTarget {
        World* w;
        int n = 0;
        TimerHandle h;
        void on_event(Time now, std::uint64_t tag) override {
            BOOST_TEST(tag == 7u);
            BOOST_TEST(now == w->now());
            if (++n < 5) h = w->at(now + 100ms, *this, 7);
        }
    } t;
    t.w = &w;
    t.h = w.at(Time(0s), t, 7);
    w.run_until_idle();
    BOOST_TEST(t.n == 5);
    BOOST_TEST(w.now() == Time(400ms));
}

BOOST_AUTO_TEST_CASE(heavy_cancellation_keeps_queue_bounded_and_ordered) {
    EventQueue q;
    std::vector<TimerHandle> hs;
    int ran = 0;
    Time last{};
    bool ordered = true;
    // Re-arm one logical timer 100000 times, as a connection restarting its RTO on every ACK.
    TimerHandle h;
    for (int i = 0; i < 100000; ++i) {
        q.cancel(h);
        h = q.schedule(Time(std::chrono::milliseconds(1000 + i)), [&] { ++ran; });
    }
    for (int i = 0; i < 100; ++i) q.schedule(Time(std::chrono::milliseconds(i)), [&] { ++ran; });
    BOOST_TEST(q.size() == 101u);
    Time clock{};
    while (q.run_next(kTimeNever, clock)) {
        if (clock < last) ordered = false;
        last = clock;
    }
    BOOST_TEST(ordered);
    BOOST_TEST(ran == 101);
    BOOST_TEST(clock == Time(std::chrono::milliseconds(1000 + 99999)));
}

BOOST_AUTO_TEST_CASE(stop_returns_from_run) {
    World w;
    int ran = 0;
    w.at(Time(1s), [&] { ++ran; w.stop(); });
    w.at(Time(2s), [&] { ++ran; });
    w.run_until(Time(10s));
    BOOST_TEST(ran == 1);
    BOOST_TEST(w.now() == Time(1s));
    w.run_until(Time(10s));
    BOOST_TEST(ran == 2);
}

BOOST_AUTO_TEST_CASE(rng_is_deterministic_and_matches_reference_values) {
    Rng a(42), b(42), c(43);
    bool all_same = true, any_diff = false;
    for (int i = 0; i < 100; ++i) {
        auto x = a.next_u64();
        all_same &= x == b.next_u64();
        any_diff |= x != c.next_u64();
    }
    BOOST_TEST(all_same);
    BOOST_TEST(any_diff);
    // Pinned: these values are part of the determinism promise (same seed, same trace, any
    // machine). A change here changes every scenario's ISNs and losses.
    Rng r(1);
    BOOST_TEST(r.next_u64() == 0xb3f2af6d0fc710c5ull);
    BOOST_TEST(Rng::hash_purpose("") == 0xcbf29ce484222325ull);
    BOOST_TEST(Rng::hash_purpose("a") == 0xaf63dc4c8601ec8cull);
}

BOOST_AUTO_TEST_CASE(rng_substreams_are_independent_of_each_other) {
    World w(7);
    Rng isn = w.rng("isn/client");
    Rng isn_again = w.rng("isn/client");
    Rng loss = w.rng("link/l1/loss");
    // Drawing from one stream does not move another.
    for (int i = 0; i < 1000; ++i) loss.next_u64();
    BOOST_TEST(isn.next_u64() == isn_again.next_u64());
    BOOST_TEST(w.rng("isn/client").next_u64() != w.rng("isn/server").next_u64());
    BOOST_TEST(World(8).rng("isn/client").next_u64() != World(7).rng("isn/client").next_u64());
}

BOOST_AUTO_TEST_CASE(rng_uniform_stays_in_range_and_covers_it) {
    Rng r(3);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 10000; ++i) {
        auto v = r.uniform_between(32768, 32768 + 9);
        BOOST_REQUIRE(v >= 32768u);
        BOOST_REQUIRE(v <= 32768u + 9);
        seen.insert(v);
    }
    BOOST_TEST(seen.size() == 10u);
    int hits = 0;
    for (int i = 0; i < 100000; ++i) hits += r.bernoulli(0.1) ? 1 : 0;
    BOOST_TEST(hits > 9000);
    BOOST_TEST(hits < 11000);
    BOOST_TEST(!r.bernoulli(0.0));
    BOOST_TEST(r.bernoulli(1.0));
    BOOST_TEST(r.uniform(0) == 0u);
    double u = r.uniform01();
    BOOST_TEST((u >= 0.0 && u < 1.0));
}

namespace {
struct Counter : TraceSubscriber {
    unsigned mask;
    int frames = 0, states = 0;
    explicit Counter(unsigned m) : mask(m) {}
    unsigned interests() const override { return mask; }
    void on_frame(const FrameEvent&) override { ++frames; }
    void on_state(const StateEvent&) override { ++states; }
};
}  // namespace

BOOST_AUTO_TEST_CASE(trace_bus_reports_interest_per_kind) {
    TraceBus bus;
    BOOST_TEST(!bus.has_subscribers());
    BOOST_TEST(!bus.wants(TraceKind::Frame));
    Counter frames_only(trace_bit(TraceKind::Frame));
    bus.subscribe(frames_only);
    BOOST_TEST(bus.has_subscribers());
    BOOST_TEST(bus.wants(TraceKind::Frame));
    BOOST_TEST(!bus.wants(TraceKind::State));
    ByteVector f(60);
    bus.emit(FrameEvent{Time(1s), "l1", "a/eth0", FrameAction::Sent, f});
    bus.emit(StateEvent{Time(1s), "a", {}, tcp::State::Closed, tcp::State::Listen, "listen()"});
    BOOST_TEST(frames_only.frames == 1);
    BOOST_TEST(frames_only.states == 0);
    bus.unsubscribe(frames_only);
    BOOST_TEST(!bus.has_subscribers());
}

BOOST_AUTO_TEST_CASE(trace_bus_tolerates_unsubscribe_during_dispatch) {
    TraceBus bus;
    struct SelfRemover : TraceSubscriber {
        TraceBus* bus;
        int n = 0;
        void on_note(const NoteEvent&) override {
            ++n;
            bus->unsubscribe(*this);
        }
    } a, b;
    a.bus = b.bus = &bus;
    bus.subscribe(a);
    bus.subscribe(b);
    bus.emit(NoteEvent{Time{}, "x", "hello"});
    bus.emit(NoteEvent{Time{}, "x", "again"});
    BOOST_TEST(a.n == 1);
    BOOST_TEST(b.n == 1);
    BOOST_TEST(!bus.has_subscribers());
}

BOOST_AUTO_TEST_CASE(state_log_line_format) {
    std::ostringstream out;
    StateLogSubscriber log(out);
    TraceBus bus;
    bus.subscribe(log);
    tcp::FourTuple t{{Ipv4Addr(192, 0, 2, 1), 33000}, {Ipv4Addr(192, 0, 2, 2), 80}};
    bus.emit(StateEvent{Time(1500us), "client", t, tcp::State::SynSent, tcp::State::Established, "rcv SYN,ACK"});
    BOOST_TEST(out.str() == "0.001500 client 192.0.2.1:33000>192.0.2.2:80 SYN_SENT -> ESTABLISHED (rcv SYN,ACK)\n");
}

namespace {
struct Sink : FrameSink {
    std::vector<std::pair<Time, ByteVector>> got;
    World* w;
    void accept_frame(Bytes f) override { got.emplace_back(w->now(), to_vector(f)); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(wire_delivers_to_every_other_attachment_after_delay_and_serialization) {
    World w;
    Wire& l = w.add_wire("l1", 1ms, 8'000'000);  // 8 Mbit/s: 1000 bytes take 1 ms
    Sink a, b, c;
    a.w = b.w = c.w = &w;
    FrameSink& from_a = l.attach("a/eth0", a);
    l.attach("b/eth0", b);
    l.attach("c/eth0", c);
    TraceRecorder rec;
    w.trace().subscribe(rec);
    ByteVector f1(1000, std::byte{1}), f2(500, std::byte{2});
    from_a.accept_frame(f1);
    from_a.accept_frame(f2);  // queued behind f1
    w.run_until_idle();
    BOOST_TEST(a.got.empty());
    BOOST_REQUIRE(b.got.size() == 2u);
    BOOST_REQUIRE(c.got.size() == 2u);
    BOOST_TEST(b.got[0].first == Time(2ms));
    BOOST_TEST(b.got[1].first == Time(2500us));
    BOOST_TEST((b.got[0].second == f1));
    BOOST_TEST((c.got[1].second == f2));
    BOOST_TEST(rec.frames == 2u + 4u);  // 2 sent, 4 delivered
    BOOST_TEST(l.frames_sent() == 2u);
    BOOST_CHECK_THROW(w.add_wire("l1"), std::invalid_argument);
    BOOST_CHECK_THROW(Wire(w, "bad", -1ms), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(impaired_wire_joins_two_sides_through_the_virtual_link) {
    World w;
    Wire l(w, "l1", 42);
    BOOST_REQUIRE(l.vlink() != nullptr);
    BOOST_TEST(w.add_wire("l2").vlink() == nullptr);
    link::Impairments a_to_b = link::parse_netem("delay 3ms");
    link::Impairments b_to_a = link::parse_netem("loss 100%");
    l.vlink()->configure(link::Side::A, a_to_b);
    l.vlink()->configure(link::Side::B, b_to_a);
    Sink a, b, c;
    a.w = b.w = c.w = &w;
    FrameSink& from_a = l.attach("a/eth0", a);
    FrameSink& from_b = l.attach("b/eth0", b);
    BOOST_CHECK_THROW(l.attach("c/eth0", c), std::logic_error);  // point-to-point only
    TraceRecorder rec;
    w.trace().subscribe(rec);
    ByteVector f(100, std::byte{7});
    from_a.accept_frame(f);
    from_b.accept_frame(f);  // lost: every frame from B is
    w.run_until_idle();
    BOOST_REQUIRE(b.got.size() == 1u);
    BOOST_TEST(b.got[0].first == Time(3ms));
    BOOST_TEST((b.got[0].second == f));
    BOOST_TEST(a.got.empty());
    BOOST_TEST(rec.frames == 2u + 1u + 1u);  // 2 sent, 1 delivered, 1 lost
    BOOST_REQUIRE(rec.drops.size() == 1u);
    BOOST_TEST((rec.drops[0].reason == DropReason::LinkLoss));
    BOOST_TEST(l.frames_sent() == 2u);
}
