#define BOOST_TEST_MODULE link_virtual_link
#include <boost/test/unit_test.hpp>

#include <vector>

#include "link/virtual/virtual_link.hpp"

using namespace tcpsim;
using namespace tcpsim::link;

namespace {

struct Delivered {
    Time at;
    Side to;
    ByteVector frame;
    std::uint8_t flags;
};
struct Dropped {
    Time now;
    Side from;
    DropReason reason;
    std::string fault;
};

struct RecordingSink : DeliverySink {
    std::vector<Delivered> delivered;
    std::vector<Dropped> dropped_frames;
    void deliver(Time at, Side to, Bytes frame, const DeliveryNote& note) override {
        delivered.push_back({at, to, to_vector(frame), note.flags});
    }
    void dropped(Time now, Side from, Bytes, const DropNote& note) override {
        dropped_frames.push_back({now, from, note.reason, std::string(note.fault)});
    }
};

ByteVector frame_of(std::size_t size, std::uint8_t fill = 0x5a) { return ByteVector(size, std::byte{fill}); }

Time at_ms(std::int64_t ms) { return kTimeZero + std::chrono::milliseconds(ms); }

}  // namespace

BOOST_AUTO_TEST_CASE(perfect_link_delivers_each_frame_unchanged_at_once_to_the_other_side) {
    VirtualLink link(1);
    RecordingSink sink;
    const ByteVector f = frame_of(60);
    link.transmit(at_ms(5), Side::A, f, sink);
    link.transmit(at_ms(6), Side::B, f, sink);
    BOOST_REQUIRE_EQUAL(sink.delivered.size(), 2u);
    BOOST_TEST((sink.delivered[0].at == at_ms(5)));
    BOOST_TEST((sink.delivered[0].to == Side::B));
    BOOST_TEST((sink.delivered[1].to == Side::A));
    BOOST_TEST((sink.delivered[0].frame == f));
    BOOST_TEST(sink.delivered[0].flags == 0);
    BOOST_TEST(sink.dropped_frames.empty());
    BOOST_TEST(link.counters(Side::A).sent == 1u);
    BOOST_TEST(link.counters(Side::A).delivered == 1u);
    BOOST_TEST(link.counters(Side::A).delivered_bytes == 60u);
}

BOOST_AUTO_TEST_CASE(constant_delay_is_added_per_direction) {
    VirtualLink link(1);
    Impairments imp;
    imp.delay.delay = 25ms;
    link.configure(Side::A, imp);
    RecordingSink sink;
    link.transmit(at_ms(100), Side::A, frame_of(60), sink);
    link.transmit(at_ms(100), Side::B, frame_of(60), sink);
    BOOST_REQUIRE_EQUAL(sink.delivered.size(), 2u);
    BOOST_TEST((sink.delivered[0].at == at_ms(125)));
    BOOST_TEST((sink.delivered[1].at == at_ms(100)));  // B -> A unimpaired
}

BOOST_AUTO_TEST_CASE(frames_longer_than_mtu_plus_ethernet_header_are_dropped) {
    VirtualLink link(1);
    Impairments imp;
    imp.mtu = 1500;
    link.configure_both(imp);
    RecordingSink sink;
    link.transmit(at_ms(0), Side::A, frame_of(1514), sink);
    link.transmit(at_ms(0), Side::A, frame_of(1515), sink);
    BOOST_TEST(sink.delivered.size() == 1u);
    BOOST_REQUIRE_EQUAL(sink.dropped_frames.size(), 1u);
    BOOST_TEST((sink.dropped_frames[0].reason == DropReason::ExceedsMtu));
    BOOST_TEST(to_string(DropReason::ExceedsMtu) == "exceeds MTU");
    BOOST_TEST(link.counters(Side::A).dropped_by(DropReason::ExceedsMtu) == 1u);
}

BOOST_AUTO_TEST_CASE(total_loss_drops_everything_with_reason_loss) {
    VirtualLink link(7);
    Impairments imp;
    imp.loss = RandomLoss{1.0, 0.0};
    link.configure(Side::A, imp);
    RecordingSink sink;
    for (int i = 0; i < 100; ++i) link.transmit(at_ms(i), Side::A, frame_of(60), sink);
    BOOST_TEST(sink.delivered.empty());
    BOOST_TEST(sink.dropped_frames.size() == 100u);
    BOOST_TEST((sink.dropped_frames[0].reason == DropReason::Loss));
    BOOST_TEST(link.counters(Side::A).dropped_by(DropReason::Loss) == 100u);
}

BOOST_AUTO_TEST_CASE(same_seed_gives_identical_schedule_and_different_seed_differs) {
    auto run = [](std::uint64_t seed) {
        VirtualLink link(seed);
        Impairments imp;
        imp.delay = {10ms, 5ms, 0.25, DelayDistribution::Normal};
        imp.loss = RandomLoss{0.1, 0.0};
        imp.duplicate = {0.05, 0};
        imp.corrupt = {0.05, 0};
        imp.reorder = {0.1, 0, 0};
        link.configure_both(imp);
        RecordingSink sink;
        for (int i = 0; i < 2000; ++i)
            link.transmit(at_ms(i), i % 3 == 0 ? Side::B : Side::A, frame_of(100 + i % 50, std::uint8_t(i)), sink);
        std::vector<std::tuple<std::int64_t, int, ByteVector, int>> out;
        for (auto& d : sink.delivered) out.emplace_back(d.at.time_since_epoch().count(), int(d.to), d.frame, d.flags);
        for (auto& d : sink.dropped_frames) out.emplace_back(d.now.time_since_epoch().count(), 10 + int(d.from), ByteVector{}, int(d.reason));
        return out;
    };
    const auto a = run(42), b = run(42), c = run(43);
    BOOST_TEST(a.size() > 1000u);
    BOOST_TEST((a == b));
    BOOST_TEST((a != c));
}

BOOST_AUTO_TEST_CASE(schedule_takes_the_link_down_and_up_per_direction) {
    VirtualLink link(1);
    link.add_schedule(ScheduleEntry::down(at_ms(100), Side::A));
    link.add_schedule(ScheduleEntry::up(at_ms(200), Side::A));
    BOOST_TEST((link.next_schedule_time() == std::optional<Time>(at_ms(100))));
    RecordingSink sink;
    link.transmit(at_ms(99), Side::A, frame_of(60), sink);   // up
    link.transmit(at_ms(100), Side::A, frame_of(60), sink);  // down from exactly t1
    link.transmit(at_ms(150), Side::B, frame_of(60), sink);  // other direction unaffected
    link.transmit(at_ms(199), Side::A, frame_of(60), sink);  // still down
    link.transmit(at_ms(200), Side::A, frame_of(60), sink);  // up again at t2
    BOOST_TEST(sink.delivered.size() == 3u);
    BOOST_REQUIRE_EQUAL(sink.dropped_frames.size(), 2u);
    BOOST_TEST((sink.dropped_frames[0].reason == DropReason::LinkDown));
    BOOST_TEST((sink.dropped_frames[1].now == at_ms(199)));
    BOOST_TEST(to_string(DropReason::LinkDown) == "link down");
    BOOST_TEST(!link.next_schedule_time().has_value());
}

BOOST_AUTO_TEST_CASE(schedule_replaces_impairments_at_the_given_time_in_both_directions) {
    VirtualLink link(1);
    Impairments lossy;
    lossy.loss = RandomLoss{1.0, 0};
    lossy.delay.delay = 3ms;
    link.add_schedule(ScheduleEntry::set(at_ms(50), lossy));
    link.add_schedule(ScheduleEntry::set(at_ms(60), Impairments{}));
    RecordingSink sink;
    link.transmit(at_ms(49), Side::A, frame_of(60), sink);
    link.transmit(at_ms(50), Side::A, frame_of(60), sink);
    link.transmit(at_ms(55), Side::B, frame_of(60), sink);
    link.transmit(at_ms(60), Side::B, frame_of(60), sink);
    BOOST_REQUIRE_EQUAL(sink.delivered.size(), 2u);
    BOOST_TEST((sink.delivered[0].at == at_ms(49)));
    BOOST_TEST((sink.delivered[1].at == at_ms(60)));
    BOOST_TEST(sink.dropped_frames.size() == 2u);
    BOOST_TEST(link.impairments(Side::A).is_perfect());
}

BOOST_AUTO_TEST_CASE(advance_applies_due_entries_without_traffic) {
    VirtualLink link(1);
    link.add_schedule(ScheduleEntry::down(at_ms(10)));
    BOOST_TEST(link.is_up(Side::A));
    link.advance(at_ms(10));
    BOOST_TEST(!link.is_up(Side::A));
    BOOST_TEST(!link.is_up(Side::B));
}

BOOST_AUTO_TEST_CASE(invalid_impairments_are_rejected_with_the_field_named) {
    VirtualLink link(1);
    Impairments imp;
    imp.loss = RandomLoss{1.5, 0};
    BOOST_CHECK_EXCEPTION(link.configure(Side::A, imp), std::invalid_argument, [](const std::invalid_argument& e) {
        return std::string(e.what()).find("loss") != std::string::npos;
    });
    Impairments reorder_without_delay;
    reorder_without_delay.reorder.probability = 0.5;
    BOOST_CHECK_THROW(link.configure(Side::A, reorder_without_delay), std::invalid_argument);
    Impairments queue_without_rate;
    queue_without_rate.rate.queue_packets = 10;
    BOOST_CHECK_THROW(link.add_schedule(ScheduleEntry::set(at_ms(1), queue_without_rate)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(counters_conserve_frames_sent_plus_duplicated_equals_delivered_plus_dropped) {
    VirtualLink link(99);
    Impairments imp;
    imp.delay = {5ms, 2ms, 0, DelayDistribution::Uniform};
    imp.loss = RandomLoss{0.2, 0};
    imp.duplicate = {0.2, 0};
    imp.corrupt = {0.1, 0};
    imp.rate.bits_per_second = 10'000'000;
    imp.rate.queue_packets = 5;
    link.configure(Side::A, imp);
    RecordingSink sink;
    for (int i = 0; i < 5000; ++i) link.transmit(kTimeZero + std::chrono::microseconds(100 * i), Side::A, frame_of(500), sink);
    const auto& c = link.counters(Side::A);
    BOOST_TEST(c.sent == 5000u);
    BOOST_TEST(c.sent + c.duplicated == c.delivered + c.dropped_total());
    BOOST_TEST(c.delivered == sink.delivered.size());
    BOOST_TEST(c.dropped_total() == sink.dropped_frames.size());
    BOOST_TEST(c.dropped_by(DropReason::QueueFull) > 0u);  // 500 B at 10 Mbit/s = 400 us > 100 us spacing
    for (const auto& d : sink.delivered) BOOST_TEST((d.at >= kTimeZero));
}

BOOST_AUTO_TEST_CASE(absurd_delays_are_rejected_before_they_can_overflow_the_clock) {
    Impairments imp;
    imp.delay.delay = std::chrono::hours(24 * 366);
    BOOST_CHECK_THROW(validate(imp), std::invalid_argument);
    FaultRule r;
    r.name = "late";
    r.action = FaultAction::delay_by(std::chrono::hours(24 * 366));
    VirtualLink link(1);
    BOOST_CHECK_THROW(link.add_fault(r), std::invalid_argument);
}
