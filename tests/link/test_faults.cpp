#define BOOST_TEST_MODULE link_faults
#include <boost/test/unit_test.hpp>

#include <bit>
#include <string>
#include <vector>

#include "link/virtual/fault.hpp"
#include "link/base/random.hpp"
#include "link/virtual/virtual_link.hpp"

using namespace tcpsim;
using namespace tcpsim::link;
using namespace tcpsim::link::tcp_flag;

namespace {

const Ipv4Addr kAddrA{192, 0, 2, 1};
const Ipv4Addr kAddrB{192, 0, 2, 2};
constexpr std::uint16_t kPortA = 40000, kPortB = 80;

// Ethernet + IPv4 (no options) + TCP (no options) + payload, written by hand so that this test
// depends on nothing above link/. Checksums are left zero: the matcher does not look at them.
ByteVector tcp_frame(Side from, std::uint8_t flags, std::uint32_t seq, std::uint32_t ack, std::size_t payload = 0,
                     std::uint8_t fill = 0x61) {
    const bool a = from == Side::A;
    ByteVector f(14 + 20 + 20 + payload, std::byte{0});
    for (int i = 0; i < 6; ++i) {
        f[i] = std::byte(a ? 0x02 : 0x04);
        f[6 + i] = std::byte(a ? 0x04 : 0x02);
    }
    store_be16(f, 12, 0x0800);
    store_u8(f, 14, 0x45);
    store_be16(f, 16, static_cast<std::uint16_t>(40 + payload));
    store_u8(f, 22, 64);
    store_u8(f, 23, 6);
    store_be32(f, 26, (a ? kAddrA : kAddrB).value);
    store_be32(f, 30, (a ? kAddrB : kAddrA).value);
    store_be16(f, 34, a ? kPortA : kPortB);
    store_be16(f, 36, a ? kPortB : kPortA);
    store_be32(f, 38, seq);
    store_be32(f, 42, ack);
    store_u8(f, 46, 5 << 4);
    store_u8(f, 47, flags);
    store_be16(f, 48, 65535);
    for (std::size_t i = 0; i < payload; ++i) f[54 + i] = std::byte(fill + i);
    return f;
}

struct Event {
    bool delivered;
    Time at;
    Side side;  // to (delivered) or from (dropped)
    ByteVector frame;
    std::uint8_t flags = 0;
    DropReason reason = DropReason::Loss;
    std::string fault;
};

struct Sink : DeliverySink {
    std::vector<Event> events;
    void deliver(Time at, Side to, Bytes frame, const DeliveryNote& note) override {
        events.push_back({true, at, to, to_vector(frame), note.flags, DropReason::Loss, std::string(note.fault)});
    }
    void dropped(Time now, Side from, Bytes frame, const DropNote& note) override {
        events.push_back({false, now, from, to_vector(frame), 0, note.reason, std::string(note.fault)});
    }
    std::size_t delivered() const {
        return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [](const Event& e) { return e.delivered; }));
    }
};

Time ms(std::int64_t v) { return kTimeZero + std::chrono::milliseconds(v); }

FaultRule rule(std::string name, const char* matcher, FaultAction action, std::optional<Side> from = {},
               std::uint64_t nth = 1, std::uint64_t count = 1) {
    FaultRule r;
    r.name = std::move(name);
    r.match = *FrameMatcher::named(matcher);
    r.match.from = from;
    r.action = action;
    r.nth = nth;
    r.count = count;
    return r;
}

}  // namespace

// ---------------------------------------------------------------- frame summary

BOOST_AUTO_TEST_CASE(summary_decodes_ethernet_ipv4_tcp_fields) {
    const auto f = tcp_frame(Side::A, Syn | Ack, 0x01020304, 0x0a0b0c0d, 7);
    const auto s = summarize_frame(f);
    BOOST_TEST(s.ethertype == 0x0800);
    BOOST_TEST(s.ipv4);
    BOOST_TEST(s.tcp);
    BOOST_TEST((s.src == kAddrA));
    BOOST_TEST((s.dst == kAddrB));
    BOOST_TEST(s.src_port == kPortA);
    BOOST_TEST(s.dst_port == kPortB);
    BOOST_TEST(s.seq == 0x01020304u);
    BOOST_TEST(s.ack == 0x0a0b0c0du);
    BOOST_TEST(s.flags == (Syn | Ack));
    BOOST_TEST(s.tcp_offset == 34u);
    BOOST_TEST(s.payload_offset == 54u);
    BOOST_TEST(s.payload_len == 7u);
}

BOOST_AUTO_TEST_CASE(summary_uses_ip_total_length_not_ethernet_padding) {
    auto f = tcp_frame(Side::A, Ack, 1, 1, 0);
    f.resize(60, std::byte{0xee});  // padded to the Ethernet minimum
    const auto s = summarize_frame(f);
    BOOST_TEST(s.tcp);
    BOOST_TEST(s.payload_len == 0u);
}

BOOST_AUTO_TEST_CASE(summary_of_malformed_or_truncated_frames_never_reads_out_of_bounds) {
    const auto good = tcp_frame(Side::A, Psh | Ack, 1, 1, 10);
    // Every prefix: fields are only reported when their bytes are there.
    for (std::size_t n = 0; n <= good.size(); ++n) {
        const auto s = summarize_frame(Bytes(good.data(), n));
        if (n < good.size()) BOOST_TEST(!s.tcp, "prefix " << n);
    }
    auto bad_ihl = good;
    store_u8(bad_ihl, 14, 0x44);
    BOOST_TEST(!summarize_frame(bad_ihl).ipv4);
    auto bad_version = good;
    store_u8(bad_version, 14, 0x65);
    BOOST_TEST(!summarize_frame(bad_version).ipv4);
    auto long_total = good;
    store_be16(long_total, 16, 2000);
    BOOST_TEST(!summarize_frame(long_total).ipv4);
    auto bad_doff = good;
    store_u8(bad_doff, 46, 15 << 4);  // 60-byte header in a 30-byte segment
    BOOST_TEST(summarize_frame(bad_doff).ipv4);
    BOOST_TEST(!summarize_frame(bad_doff).tcp);
    auto fragment = good;
    store_be16(fragment, 20, 0x0010);  // fragment offset 16*8: no TCP header here
    BOOST_TEST(!summarize_frame(fragment).tcp);
    auto arp = good;
    store_be16(arp, 12, 0x0806);
    BOOST_TEST(!summarize_frame(arp).ipv4);
    // Random garbage of random lengths.
    Rng r(5);
    for (int i = 0; i < 20000; ++i) {
        ByteVector junk(r.uniform(80));
        for (auto& b : junk) b = std::byte(r.next_u32());
        if (junk.size() > 24 && (i & 1)) {
            store_be16(junk, 12, 0x0800);
            store_u8(junk, 14, static_cast<std::uint8_t>(0x40 | r.uniform(16)));
            store_u8(junk, 23, 6);
        }
        const auto s = summarize_frame(junk);
        if (s.tcp) {
            BOOST_REQUIRE(s.payload_offset <= junk.size());
            BOOST_REQUIRE(s.payload_offset + s.payload_len <= junk.size());
        }
    }
}

BOOST_AUTO_TEST_CASE(named_matchers_cover_the_scenario_vocabulary) {
    for (const char* n : {"any", "ipv4", "tcp", "syn", "syn-ack", "ack", "data", "fin", "rst", "final-ack", "retransmission", "new-data"})
        BOOST_TEST(FrameMatcher::named(n).has_value(), n);
    BOOST_TEST(!FrameMatcher::named("synack").has_value());
}

// ---------------------------------------------------------------- targeted faults

BOOST_AUTO_TEST_CASE(drop_the_first_syn_ack_only) {
    VirtualLink link(1);
    link.add_fault(rule("drop-first-synack", "syn-ack", FaultAction::drop()));
    Sink sink;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Syn, 1000, 0), sink);
    link.transmit(ms(1), Side::B, tcp_frame(Side::B, Syn | Ack, 5000, 1001), sink);
    link.transmit(ms(1000), Side::A, tcp_frame(Side::A, Syn, 1000, 0), sink);
    link.transmit(ms(1001), Side::B, tcp_frame(Side::B, Syn | Ack, 5000, 1001), sink);
    BOOST_REQUIRE_EQUAL(sink.events.size(), 4u);
    BOOST_TEST(sink.events[0].delivered);
    BOOST_TEST(!sink.events[1].delivered);
    BOOST_TEST((sink.events[1].reason == DropReason::Fault));
    BOOST_TEST(sink.events[1].fault == "drop-first-synack");
    BOOST_TEST(sink.events[3].delivered);
    BOOST_TEST(link.counters(Side::B).dropped_by(DropReason::Fault) == 1u);
    BOOST_TEST(link.counters(Side::B).fault_hits == 1u);
    BOOST_TEST(link.faults().matches(0) == 2u);
    BOOST_TEST(link.faults().hits(0) == 1u);
}

BOOST_AUTO_TEST_CASE(drop_the_third_data_segment_from_a) {
    VirtualLink link(1);
    link.add_fault(rule("third-data-from-A", "data", FaultAction::drop(), Side::A, 3));
    Sink sink;
    std::uint32_t seq = 1001;
    for (int i = 0; i < 5; ++i) {
        link.transmit(ms(10 * i), Side::B, tcp_frame(Side::B, Psh | Ack, 5001 + 100 * i, seq, 100), sink);  // not from A
        link.transmit(ms(10 * i), Side::A, tcp_frame(Side::A, Ack, seq, 5001, 0), sink);                    // no data
        link.transmit(ms(10 * i + 1), Side::A, tcp_frame(Side::A, Psh | Ack, seq, 5001, 100), sink);
        seq += 100;
    }
    std::vector<std::uint32_t> dropped_seqs;
    for (const auto& e : sink.events)
        if (!e.delivered) dropped_seqs.push_back(summarize_frame(e.frame).seq);
    BOOST_TEST((dropped_seqs == std::vector<std::uint32_t>{1201}));
}

BOOST_AUTO_TEST_CASE(drop_the_final_ack_of_an_active_close_and_let_its_retransmission_through) {
    VirtualLink link(1);
    link.add_fault(rule("lose-last-ack", "final-ack", FaultAction::drop()));
    Sink sink;
    // Established; A closes first: FIN(A) -> ACK(B) -> FIN(B) -> ACK(A) = the final ACK.
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Fin | Ack, 2000, 6000), sink);
    link.transmit(ms(1), Side::B, tcp_frame(Side::B, Ack, 6000, 2001), sink);  // acks a FIN, B has not closed
    link.transmit(ms(2), Side::B, tcp_frame(Side::B, Fin | Ack, 6000, 2001), sink);
    link.transmit(ms(3), Side::A, tcp_frame(Side::A, Ack, 2001, 6001), sink);  // final ACK
    // B retransmits its FIN after an RTO; A (TIME_WAIT) re-ACKs: rule count 1, so it passes.
    link.transmit(ms(300), Side::B, tcp_frame(Side::B, Fin | Ack, 6000, 2001), sink);
    link.transmit(ms(301), Side::A, tcp_frame(Side::A, Ack, 2001, 6001), sink);
    BOOST_REQUIRE_EQUAL(sink.events.size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) BOOST_TEST(sink.events[i].delivered == (i != 3), "event " << i);
    BOOST_TEST(sink.events[3].fault == "lose-last-ack");
    BOOST_TEST(link.faults().matches(0) == 2u);
}

BOOST_AUTO_TEST_CASE(final_ack_matches_both_sides_of_a_simultaneous_close_and_handles_data_in_fins) {
    VirtualLink link(1);
    auto r = rule("every-final-ack", "final-ack", FaultAction::drop(), {}, 1, 0);
    link.add_fault(r);
    Sink sink;
    // Both FINs cross; A's FIN carries 10 bytes of data (FIN seq = 2010).
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Fin | Psh | Ack, 2000, 6000, 10), sink);
    link.transmit(ms(0), Side::B, tcp_frame(Side::B, Fin | Ack, 6000, 2000), sink);
    link.transmit(ms(5), Side::B, tcp_frame(Side::B, Ack, 6001, 2010), sink);  // acks the data only
    link.transmit(ms(6), Side::B, tcp_frame(Side::B, Ack, 6001, 2011), sink);  // acks A's FIN: final
    link.transmit(ms(6), Side::A, tcp_frame(Side::A, Ack, 2011, 6001), sink);  // acks B's FIN: final
    BOOST_REQUIRE_EQUAL(sink.events.size(), 5u);
    BOOST_TEST(sink.events[2].delivered);
    BOOST_TEST(!sink.events[3].delivered);
    BOOST_TEST(!sink.events[4].delivered);
}

BOOST_AUTO_TEST_CASE(a_new_syn_on_the_same_four_tuple_forgets_old_fins) {
    VirtualLink link(1);
    link.add_fault(rule("final", "final-ack", FaultAction::drop(), {}, 1, 0));
    Sink sink;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Fin | Ack, 2000, 6000), sink);
    link.transmit(ms(1), Side::B, tcp_frame(Side::B, Fin | Ack, 6000, 2001), sink);
    link.transmit(ms(100), Side::A, tcp_frame(Side::A, Syn, 9000, 0), sink);  // new incarnation
    link.transmit(ms(101), Side::A, tcp_frame(Side::A, Ack, 2001, 6001), sink);
    BOOST_TEST(sink.delivered() == 4u);
}

BOOST_AUTO_TEST_CASE(delay_fault_postpones_one_segment_without_holding_back_the_next) {
    Impairments imp;
    imp.delay.delay = 10ms;
    VirtualLink link(1);
    link.configure_both(imp);
    link.add_fault(rule("late", "data", FaultAction::delay_by(std::chrono::seconds(2)), Side::A, 2));
    Sink sink;
    for (int i = 0; i < 3; ++i) link.transmit(ms(i), Side::A, tcp_frame(Side::A, Psh | Ack, 1000 + 10 * i, 1, 10), sink);
    BOOST_REQUIRE_EQUAL(sink.events.size(), 3u);
    BOOST_TEST((sink.events[0].at == ms(10)));
    BOOST_TEST((sink.events[1].at == ms(2011)));
    BOOST_TEST((sink.events[1].flags & delivery_flag::FaultDelayed) != 0);
    BOOST_TEST((sink.events[2].at == ms(12)));
    BOOST_TEST((sink.events[2].flags & delivery_flag::Reordered) != 0);  // overtakes the delayed one
    BOOST_TEST(link.counters(Side::A).reordered == 1u);
}

BOOST_AUTO_TEST_CASE(corrupt_fault_flips_the_requested_bit_of_the_payload) {
    VirtualLink link(1);
    link.add_fault(rule("flip", "data", FaultAction::corrupt(FaultAction::Base::Payload, 5, 3)));
    Sink sink;
    const auto small = tcp_frame(Side::A, Psh | Ack, 1000, 1, 4);  // no payload byte 5: not matched
    const auto big = tcp_frame(Side::A, Psh | Ack, 1004, 1, 20);
    link.transmit(ms(0), Side::A, small, sink);
    link.transmit(ms(1), Side::A, big, sink);
    link.transmit(ms(2), Side::A, big, sink);  // count 1: untouched
    BOOST_REQUIRE_EQUAL(sink.events.size(), 3u);
    BOOST_TEST((sink.events[0].frame == small));
    BOOST_TEST((sink.events[2].frame == big));
    auto expected = big;
    expected[54 + 5] ^= std::byte{1 << 3};
    BOOST_TEST((sink.events[1].frame == expected));
    BOOST_TEST((sink.events[1].flags & delivery_flag::Corrupted) != 0);
    BOOST_TEST(link.counters(Side::A).corrupted == 1u);
}

BOOST_AUTO_TEST_CASE(corrupt_fault_without_position_flips_one_random_bit_in_the_region) {
    VirtualLink link(3);
    link.add_fault(rule("flip-tcp", "tcp", FaultAction::corrupt(FaultAction::Base::Tcp), {}, 1, 0));
    Sink sink;
    const auto f = tcp_frame(Side::A, Ack, 1, 1, 30);
    for (int i = 0; i < 500; ++i) link.transmit(ms(i), Side::A, f, sink);
    for (const auto& e : sink.events) {
        int bits = 0;
        std::size_t where = 0;
        for (std::size_t k = 0; k < f.size(); ++k) {
            const auto x = std::to_integer<unsigned>(e.frame[k] ^ f[k]);
            if (x) where = k;
            bits += std::popcount(x);
        }
        BOOST_REQUIRE_EQUAL(bits, 1);
        BOOST_REQUIRE(where >= 34u);  // inside the TCP header or payload
    }
}

BOOST_AUTO_TEST_CASE(duplicate_fault_sends_a_copy_after_the_original) {
    VirtualLink link(1);
    link.add_fault(rule("dup", "data", FaultAction::duplicate(std::chrono::milliseconds(500)), Side::A));
    Sink sink;
    const auto f = tcp_frame(Side::A, Psh | Ack, 1000, 1, 10);
    link.transmit(ms(0), Side::A, f, sink);
    link.transmit(ms(1), Side::A, f, sink);
    BOOST_REQUIRE_EQUAL(sink.events.size(), 3u);
    BOOST_TEST((sink.events[0].at == ms(0)));
    BOOST_TEST((sink.events[1].at == ms(500)));
    BOOST_TEST((sink.events[1].flags & delivery_flag::Duplicate) != 0);
    BOOST_TEST((sink.events[1].frame == f));
    BOOST_TEST((sink.events[2].at == ms(1)));
    const auto& c = link.counters(Side::A);
    BOOST_TEST(c.duplicated == 1u);
    BOOST_TEST(c.sent + c.duplicated == c.delivered + c.dropped_total());
}

BOOST_AUTO_TEST_CASE(nth_and_count_select_a_run_of_matches) {
    VirtualLink link(1);
    link.add_fault(rule("2nd-to-4th", "ack", FaultAction::drop(), Side::B, 2, 3));
    Sink sink;
    for (int i = 0; i < 6; ++i) link.transmit(ms(i), Side::B, tcp_frame(Side::B, Ack, 1, 100 + i), sink);
    std::vector<bool> delivered;
    for (const auto& e : sink.events) delivered.push_back(e.delivered);
    BOOST_TEST((delivered == std::vector<bool>{true, false, false, false, true, true}));
}

BOOST_AUTO_TEST_CASE(active_window_limits_when_a_rule_sees_frames) {
    VirtualLink link(1);
    auto r = rule("windowed", "syn", FaultAction::drop(), {}, 1, 0);
    r.active_from = ms(100);
    r.active_until = ms(200);
    link.add_fault(r);
    Sink sink;
    for (int t : {0, 100, 150, 200}) link.transmit(ms(t), Side::A, tcp_frame(Side::A, Syn, 1, 0), sink);
    std::vector<bool> delivered;
    for (const auto& e : sink.events) delivered.push_back(e.delivered);
    BOOST_TEST((delivered == std::vector<bool>{true, false, false, true}));
    BOOST_TEST(link.faults().matches(0) == 2u);
}

BOOST_AUTO_TEST_CASE(rules_apply_in_order_and_a_drop_hides_the_frame_from_later_rules) {
    VirtualLink link(1);
    link.add_fault(rule("drop-syn", "syn", FaultAction::drop()));
    link.add_fault(rule("count-tcp", "tcp", FaultAction::delay_by(1ms), {}, 1, 0));
    Sink sink;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Syn, 1, 0), sink);
    link.transmit(ms(1), Side::A, tcp_frame(Side::A, Syn, 1, 0), sink);
    BOOST_TEST(link.faults().matches(1) == 1u);
    BOOST_TEST((sink.events[1].at == ms(2)));
}

BOOST_AUTO_TEST_CASE(a_corrupt_target_outside_the_frame_means_no_match) {
    VirtualLink link(1);
    link.add_fault(rule("payload-of-anything", "any", FaultAction::corrupt(FaultAction::Base::Payload, 0, 0), {}, 1, 0));
    Sink sink;
    ByteVector arp(42, std::byte{0});
    store_be16(arp, 12, 0x0806);
    link.transmit(ms(0), Side::A, arp, sink);                                  // no TCP payload
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Ack, 1, 1, 0), sink);     // empty payload
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Ack, 1, 1, 2), sink);     // matches
    BOOST_TEST((sink.events[0].frame == arp));
    BOOST_TEST(link.faults().matches(0) == 1u);
    BOOST_TEST((sink.events[2].flags & delivery_flag::Corrupted) != 0);
}

BOOST_AUTO_TEST_CASE(non_tcp_frames_do_not_match_tcp_rules) {
    VirtualLink link(1);
    link.add_fault(rule("all-tcp", "tcp", FaultAction::drop(), {}, 1, 0));
    Sink sink;
    ByteVector arp(42, std::byte{0});
    store_be16(arp, 12, 0x0806);
    link.transmit(ms(0), Side::A, arp, sink);
    link.transmit(ms(0), Side::A, ByteVector(3, std::byte{1}), sink);  // runt
    BOOST_TEST(sink.delivered() == 2u);
}

BOOST_AUTO_TEST_CASE(invalid_rules_are_rejected_with_the_rule_named) {
    VirtualLink link(1);
    auto zero_nth = rule("bad", "syn", FaultAction::drop(), {}, 0);
    BOOST_CHECK_EXCEPTION(link.add_fault(zero_nth), std::invalid_argument, [](const std::invalid_argument& e) {
        return std::string(e.what()).find("'bad'") != std::string::npos;
    });
    auto bad_bit = rule("bit", "data", FaultAction::corrupt(FaultAction::Base::Payload, 0, 8));
    BOOST_CHECK_THROW(link.add_fault(bad_bit), std::invalid_argument);
    auto contradiction = rule("c", "syn", FaultAction::drop());
    contradiction.match.flags_clear |= Syn;
    BOOST_CHECK_THROW(link.add_fault(contradiction), std::invalid_argument);
    BOOST_CHECK_THROW(link.add_fault(rule("d", "syn", FaultAction::delay_by(Duration::zero()))), std::invalid_argument);
    BOOST_TEST(link.faults().empty());
}

BOOST_AUTO_TEST_CASE(faulted_copies_still_meet_the_random_impairments) {
    Impairments lossy;
    lossy.loss = RandomLoss{1.0, 0};
    VirtualLink link(1);
    link.configure(Side::A, lossy);
    link.add_fault(rule("dup", "syn", FaultAction::duplicate(), Side::A));
    Sink sink;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Syn, 1, 0), sink);
    BOOST_REQUIRE_EQUAL(sink.events.size(), 2u);
    BOOST_TEST(!sink.events[0].delivered);
    BOOST_TEST(!sink.events[1].delivered);
    BOOST_TEST((sink.events[1].reason == DropReason::Loss));
}

BOOST_AUTO_TEST_CASE(retransmission_matcher_tells_resent_sequence_space_from_new_data) {
    VirtualLink link(1);
    link.add_fault(rule("drop-first-retx", "retransmission", FaultAction::drop(), Side::A));
    link.add_fault(rule("dup-2nd-new", "new-data", FaultAction::duplicate(), Side::A, 2));
    Sink sink;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Syn, 999, 0), sink);
    link.transmit(ms(1000), Side::A, tcp_frame(Side::A, Syn, 999, 0), sink);        // SYN retransmission: dropped
    link.transmit(ms(3000), Side::A, tcp_frame(Side::A, Syn, 999, 0), sink);        // again: count 1, passes
    link.transmit(ms(3001), Side::A, tcp_frame(Side::A, Ack, 1000, 5001), sink);    // pure ACK: neither
    link.transmit(ms(3002), Side::A, tcp_frame(Side::A, Psh | Ack, 1000, 5001, 100), sink);  // new
    link.transmit(ms(3003), Side::A, tcp_frame(Side::A, Psh | Ack, 1100, 5001, 100), sink);  // new, 2nd: dup
    link.transmit(ms(3300), Side::A, tcp_frame(Side::A, Psh | Ack, 1000, 5001, 100), sink);  // retransmission
    link.transmit(ms(3301), Side::A, tcp_frame(Side::A, Psh | Ack, 1150, 5001, 100), sink);  // partly new: retx
    BOOST_TEST(link.faults().matches(0) == 4u);  // 2 SYN retransmissions + 2 data retransmissions
    BOOST_TEST(link.faults().matches(1) == 2u);
    BOOST_REQUIRE_EQUAL(sink.events.size(), 9u);
    BOOST_TEST(!sink.events[1].delivered);
    BOOST_TEST(sink.events[2].delivered);
    BOOST_TEST((sink.events[6].flags & delivery_flag::Duplicate) != 0);
}

BOOST_AUTO_TEST_CASE(retransmission_tracking_survives_sequence_number_wrap) {
    VirtualLink link(1);
    link.add_fault(rule("retx", "retransmission", FaultAction::drop(), {}, 1, 0));
    Sink sink;
    const std::uint32_t near_wrap = 0xffffff00u;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Psh | Ack, near_wrap, 1, 512), sink);     // ends past 2^32
    link.transmit(ms(1), Side::A, tcp_frame(Side::A, Psh | Ack, near_wrap + 512, 1, 512), sink);  // new, seq ~0x100
    link.transmit(ms(2), Side::A, tcp_frame(Side::A, Psh | Ack, near_wrap, 1, 512), sink);     // resent
    BOOST_TEST(sink.delivered() == 2u);
    BOOST_TEST(!sink.events[2].delivered);
}

BOOST_AUTO_TEST_CASE(seq_and_ack_matchers_pick_one_exact_segment) {
    VirtualLink link(1);
    auto r = rule("that-one", "tcp", FaultAction::drop(), {}, 1, 0);
    r.match.seq = 1100;
    r.match.ack = 5001;
    link.add_fault(r);
    Sink sink;
    link.transmit(ms(0), Side::A, tcp_frame(Side::A, Psh | Ack, 1000, 5001, 100), sink);
    link.transmit(ms(1), Side::A, tcp_frame(Side::A, Psh | Ack, 1100, 5000, 100), sink);
    link.transmit(ms(2), Side::A, tcp_frame(Side::A, Psh | Ack, 1100, 5001, 100), sink);
    BOOST_TEST(sink.delivered() == 2u);
    BOOST_TEST(!sink.events[2].delivered);
}
