#define BOOST_TEST_MODULE tcp_recovery_states
#include <boost/test/unit_test.hpp>

// Linux's congestion states (Open/Disorder/Recovery/Loss, as TCP_INFO tcpi_ca_state reports them),
// its loss marking and its window accounting around recovery, as transcripts in virtual time.
// The scenarios follow packetdrill's upstream tests (gtests/net/tcp): peer MSS 1000, IW10, CUBIC.

#include <initializer_list>
#include <utility>
#include <vector>

#include "transcript.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;
using namespace tcpsim::tcp::test;
using namespace std::chrono_literals;

namespace {

Config plain() {
    Config c;
    c.timestamps = false;
    return c;
}

Options reno_syn() {  // <mss 1000,nop,wscale 7>
    Options o;
    o.mss(1000).nop().window_scale(7);
    return o;
}

Options sack_syn() {  // <mss 1000,sackOK,nop,nop,nop,wscale 7> (same bytes, Linux order aside)
    Options o;
    o.mss(1000).nop().nop().sack_permitted().nop().window_scale(7);
    return o;
}

void open_pd(Harness& h, Options syn) {
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss, h.make({.seq = h.peer_iss, .flags = Syn, .window = 32792, .options = syn}));
    h.expect_sent({.flags = Syn | Ack});
    h.deliver(at(100ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .window = 320});
    BOOST_TEST_REQUIRE(h.state() == State::Established);
}

SeqNum o(Harness& h, std::uint32_t rel) { return h.our_iss + rel; }  // packetdrill-relative

// An ACK from the peer for `ack` (relative) with SACK blocks (relative).
void ack(Harness& h, Time t, std::uint32_t rel_ack, std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> blocks = {}) {
    Options opt;
    if (blocks.size()) {
        std::vector<SackBlock> v;
        for (auto [l, r] : blocks) v.push_back({o(h, l), o(h, r)});
        opt.nop().nop().sack(v);
    }
    h.deliver(t, {.seq = h.peer_iss + 1, .ack = o(h, rel_ack), .flags = Ack, .window = 320, .options = opt});
}

void expect_segments(Harness& h, std::uint32_t from, std::uint32_t count) {
    for (std::uint32_t i = 0; i < count; ++i) h.expect_sent({.seq = o(h, from + 1000 * i), .len = 1000});
}

CongestionState ca(Harness& h) { return h.c().info(h.now).ca_state; }

}  // namespace

BOOST_AUTO_TEST_CASE(sack_dupacks_go_open_disorder_recovery_and_back_to_open) {
    // packetdrill fast_recovery/prr-ss-10pkt-lost-1: segment 1 lost, 2-4 SACKed one by one.
    Harness h(plain());
    open_pd(h, sack_syn());
    BOOST_TEST((ca(h) == CongestionState::Open));
    h.send(at(100ms), pattern(10000));
    expect_segments(h, 1, 10);
    ack(h, at(210ms), 1, {{1001, 2001}});
    BOOST_TEST((ca(h) == CongestionState::Disorder));  // SACKed data out, no loss inferred yet
    h.expect_silence();                                  // nothing left to send
    ack(h, at(220ms), 1, {{1001, 3001}});
    BOOST_TEST((ca(h) == CongestionState::Disorder));
    ack(h, at(230ms), 1, {{1001, 4001}});
    // Three segments SACKed: RACK marks the hole lost and recovery starts (TCP_CA_Recovery = 3).
    BOOST_TEST((ca(h) == CongestionState::Recovery));
    BOOST_TEST(static_cast<int>(h.c().info(h.now).ca_state) == 3);
    h.expect_sent({.seq = o(h, 1), .len = 1000});
    auto i = h.c().info(h.now);
    BOOST_TEST(i.snd_ssthresh == 7u);  // CUBIC: 10 * 717 / 1024
    BOOST_TEST(i.snd_cwnd == 7u);      // PRR: 6 in flight + 1
    BOOST_TEST(i.sacked == 3u);
    BOOST_TEST(i.lost == 1u);
    BOOST_TEST(i.retrans == 1u);
    ack(h, at(330ms), 10001);
    i = h.c().info(h.now);
    BOOST_TEST((i.ca_state == CongestionState::Open));
    BOOST_TEST(i.snd_ssthresh == 7u);
    // cwnd = ssthresh at the end of the reduction, then CUBIC's first step on the 7 segments
    // this ACK delivered (the window was cwnd-limited).
    BOOST_TEST(i.snd_cwnd >= 7u);
    BOOST_TEST(i.snd_cwnd <= 8u);
    BOOST_TEST(i.sacked == 0u);
    BOOST_TEST(i.lost == 0u);
    BOOST_TEST(i.retrans == 0u);
    BOOST_TEST(i.unacked == 0u);
}

BOOST_AUTO_TEST_CASE(rack_marks_every_hole_below_the_highest_sack_lost_until_reordering_is_seen) {
    // packetdrill sack/sack-shift-sacked-2-6-8-3-9-nofack: SACKs for segments 3, 7, 9, then 4.
    Harness h(plain());
    open_pd(h, sack_syn());
    h.send(at(100ms), pattern(10000));
    expect_segments(h, 1, 10);
    ack(h, at(200ms), 1, {{2001, 3001}});
    ack(h, at(201ms), 1, {{2001, 3001}, {6001, 7001}});
    h.expect_silence();
    ack(h, at(202ms), 1, {{2001, 3001}, {6001, 7001}, {8001, 9001}});
    // All 6 unSACKed segments below 9001 are lost (RFC 6675's IsLost would say 2); PRR lets one go.
    BOOST_TEST((ca(h) == CongestionState::Recovery));
    BOOST_TEST(h.c().info(h.now).lost == 6u);
    h.expect_sent({.seq = o(h, 1), .len = 1000});
    h.expect_silence();
    BOOST_TEST(h.c().info(h.now).reordering == 3u);
    // Segment 4 arrives after 9: reordering of 6 segments (9001 - 3001). Its lost mark goes, the
    // others stay; the next lost hole is retransmitted.
    ack(h, at(209ms), 1, {{2001, 4001}, {6001, 7001}, {8001, 9001}});
    h.expect_sent({.seq = o(h, 1001), .len = 1000});
    h.expect_silence();
    BOOST_TEST(h.c().info(h.now).lost == 5u);
    BOOST_TEST(h.c().info(h.now).reordering == 6u);
    ack(h, at(219ms), 1, {{2001, 4001}, {6001, 7001}, {8001, 10001}});
    BOOST_TEST(h.c().info(h.now).lost == 5u);  // 9001:10001 was never lost
    ack(h, at(302ms), 1001, {{2001, 4001}, {6001, 7001}, {8001, 10001}});
    BOOST_TEST(h.c().info(h.now).lost == 4u);
    ack(h, at(319ms), 4001, {{6001, 7001}, {8001, 10001}});
    BOOST_TEST(h.c().info(h.now).lost == 3u);
    ack(h, at(329ms), 7001, {{8001, 10001}});
    ack(h, at(429ms), 10001);
    auto i = h.c().info(h.now);
    BOOST_TEST((i.ca_state == CongestionState::Open));
    BOOST_TEST(i.unacked == 0u);
    BOOST_TEST(i.sacked == 0u);
    BOOST_TEST(i.lost == 0u);
    BOOST_TEST(i.retrans == 0u);
}

BOOST_AUTO_TEST_CASE(reno_dupacks_count_as_delivered_so_the_cumulative_ack_grows_cwnd_once) {
    // packetdrill limited_transmit/limited-transmit-no-sack: two dupACKs (limited transmit sends
    // one new segment each), then an ACK of 3 segments, 2 of which the dupACKs already counted.
    Harness h(plain());
    open_pd(h, reno_syn());
    h.send(at(100ms), pattern(15000));
    expect_segments(h, 1, 10);
    h.expect_silence();
    ack(h, at(210ms), 1);
    h.expect_sent({.seq = o(h, 10001), .len = 1000});
    BOOST_TEST((ca(h) == CongestionState::Disorder));
    BOOST_TEST(h.c().info(h.now).sacked == 1u);
    ack(h, at(220ms), 1);
    h.expect_sent({.seq = o(h, 11001), .len = 1000});
    h.expect_silence();
    BOOST_TEST(h.c().info(h.now).sacked == 2u);
    ack(h, at(230ms), 3001);
    // One segment newly delivered: slow start takes cwnd from 10 to 11; 9 in flight -> 2 go out.
    BOOST_TEST(h.c().info(h.now).snd_cwnd == 11u);
    BOOST_TEST((ca(h) == CongestionState::Open));
    expect_segments(h, 12001, 2);
    h.expect_silence();
    ack(h, at(250ms), 5001);
    BOOST_TEST(h.c().info(h.now).snd_cwnd == 13u);
    h.expect_sent({.seq = o(h, 14001), .len = 1000});
}

BOOST_AUTO_TEST_CASE(app_limited_slow_start_grows_cwnd_to_twice_the_most_segments_in_flight) {
    // packetdrill slow_start/slow-start-app-limited-9-packets-out: IW10 but only 9 segments
    // written; Linux's tcp_is_cwnd_limited lets slow start grow while cwnd < 2 * max_packets_out.
    Harness h(plain());
    open_pd(h, sack_syn());
    h.send(at(100ms), pattern(9000));
    expect_segments(h, 1, 9);
    BOOST_TEST(h.c().info(h.now).snd_cwnd == 10u);
    const std::uint32_t acks[] = {2001, 4001, 6001, 8001, 9001};
    const std::uint32_t cwnd[] = {12, 14, 16, 18, 18};
    for (std::size_t k = 0; k < 5; ++k) {
        ack(h, at(205ms + 5ms * static_cast<int>(k)), acks[k]);
        BOOST_TEST(h.c().info(h.now).snd_cwnd == cwnd[k], "after ack " << acks[k]);
    }
}

BOOST_AUTO_TEST_CASE(cwnd_limited_window_is_remembered_until_it_is_acknowledged) {
    // A sender that filled cwnd keeps growing on the ACKs of that window even though fewer
    // segments are in flight by then (Linux is_cwnd_limited until snd_una passes cwnd_usage_seq).
    Harness h(plain());
    open_pd(h, sack_syn());
    h.send(at(100ms), pattern(10000));
    expect_segments(h, 1, 10);
    for (std::uint32_t k = 1; k <= 10; ++k) ack(h, at(200ms + 1ms * static_cast<int>(k)), 1 + 1000 * k);
    BOOST_TEST(h.c().info(h.now).snd_cwnd == 20u);
}

BOOST_AUTO_TEST_CASE(prr_sends_new_data_after_the_lost_segments_not_a_rescue_retransmission) {
    // packetdrill fast_recovery/prr-ss-30pkt-lost1_4: segments 1-4 lost, 5-10 SACKed. Each SACK
    // lets one lost segment go; the ACKs of the retransmissions send nothing more (Linux has no
    // RFC 6675 rescue retransmission), and at the end cwnd = ssthresh = 7 opens for new data.
    Harness h(plain());
    open_pd(h, sack_syn());
    h.send(at(100ms), pattern(10000));
    expect_segments(h, 1, 10);
    ack(h, at(110ms), 1, {{4001, 5001}});
    ack(h, at(112ms), 1, {{4001, 6001}});
    h.expect_silence();
    ack(h, at(112ms), 1, {{4001, 7001}});
    h.expect_sent({.seq = o(h, 1), .len = 1000});
    h.expect_silence();
    BOOST_TEST(h.c().info(h.now).lost == 4u);
    ack(h, at(112ms), 1, {{4001, 8001}});
    h.expect_sent({.seq = o(h, 1001), .len = 1000});
    ack(h, at(112ms), 1, {{4001, 9001}});
    h.expect_sent({.seq = o(h, 2001), .len = 1000});
    ack(h, at(112ms), 1, {{4001, 10001}});
    h.expect_sent({.seq = o(h, 3001), .len = 1000});
    h.expect_silence();
    ack(h, at(122ms), 1001, {{4001, 10001}});
    ack(h, at(122ms), 2001, {{4001, 10001}});
    ack(h, at(122ms), 3001, {{4001, 10001}});
    h.expect_silence();  // 3001:4001 is already retransmitted: no second copy
    ack(h, at(122ms), 10001);
    BOOST_TEST((ca(h) == CongestionState::Open));
    BOOST_TEST(h.c().info(h.now).snd_cwnd == 7u);
    h.send(at(132ms), pattern(10000));
    expect_segments(h, 10001, 7);
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(reno_recovery_holds_until_an_ack_beyond_the_recovery_point) {
    // Linux tcp_try_undo_recovery without SACK: an ACK of exactly the recovery point keeps the
    // Recovery state (RFC 6582 §4.1 false fast retransmits); the next ACK above it ends it.
    Harness h(plain());
    open_pd(h, reno_syn());
    h.send(at(100ms), pattern(4000));
    expect_segments(h, 1, 4);
    for (int k = 0; k < 3; ++k) ack(h, at(200ms), 1);
    h.expect_sent({.seq = o(h, 1), .len = 1000});
    BOOST_TEST((ca(h) == CongestionState::Recovery));
    BOOST_TEST(h.c().info(h.now).lost == 1u);
    BOOST_TEST(h.c().info(h.now).retrans == 1u);
    ack(h, at(300ms), 4001);
    BOOST_TEST((ca(h) == CongestionState::Recovery));
    h.send(at(310ms), pattern(1000));
    h.expect_sent({.seq = o(h, 4001), .len = 1000});
    ack(h, at(410ms), 5001);
    auto i = h.c().info(h.now);
    BOOST_TEST((i.ca_state == CongestionState::Open));
    BOOST_TEST(i.snd_cwnd == i.snd_ssthresh);
    BOOST_TEST(i.snd_ssthresh == 7u);
}

BOOST_AUTO_TEST_CASE(newreno_partial_ack_marks_the_next_hole_lost_and_prr_resends_it) {
    Harness h(plain());
    open_pd(h, reno_syn());
    h.send(at(100ms), pattern(6000));
    expect_segments(h, 1, 6);
    // Segments 1 and 3 lost: three dupACKs, then a partial ACK up to 3.
    for (int k = 0; k < 3; ++k) ack(h, at(200ms), 1);
    h.expect_sent({.seq = o(h, 1), .len = 1000});
    ack(h, at(300ms), 2001);
    h.expect_sent({.seq = o(h, 2001), .len = 1000});
    BOOST_TEST((ca(h) == CongestionState::Recovery));
    BOOST_TEST(h.c().info(h.now).lost == 1u);
    ack(h, at(400ms), 6001);
    BOOST_TEST((ca(h) == CongestionState::Recovery));  // exactly the recovery point: held (no SACK)
    BOOST_TEST(h.c().info(h.now).lost == 0u);
    BOOST_TEST(h.c().info(h.now).total_retrans == 2u);
}

BOOST_AUTO_TEST_CASE(retransmission_timeout_enters_loss_and_full_ack_returns_to_open) {
    Config c = plain();
    c.tail_loss_probe = false;  // the RTO itself, not a probe before it
    Harness h(c);
    open_pd(h, sack_syn());
    h.send(at(100ms), pattern(3000));
    expect_segments(h, 1, 3);
    Time rto = h.c().next_deadline();
    h.advance(rto);
    h.expect_sent({.seq = o(h, 1), .len = 1000});
    auto i = h.c().info(h.now);
    BOOST_TEST((i.ca_state == CongestionState::Loss));
    BOOST_TEST(static_cast<int>(i.ca_state) == 4);  // TCP_CA_Loss
    BOOST_TEST(i.snd_cwnd == 1u);
    BOOST_TEST(i.lost == 3u);     // everything outstanding is marked lost
    BOOST_TEST(i.retrans == 1u);
    ack(h, rto + 10ms, 1001);
    expect_segments(h, 1001, 2);  // slow start from cwnd 2, go-back-N
    ack(h, rto + 20ms, 3001);
    BOOST_TEST((ca(h) == CongestionState::Open));
    BOOST_TEST(h.c().info(h.now).lost == 0u);
}
