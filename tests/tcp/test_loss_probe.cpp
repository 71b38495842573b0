#define BOOST_TEST_MODULE tcp_loss_probe
#include <boost/test/unit_test.hpp>

// Tail loss probe (RFC 8985 §7, Linux tcp_schedule_loss_probe / tcp_send_loss_probe /
// tcp_process_tlp_ack) and the retransmission give-up rules around it (Linux tcp_write_timeout:
// TCP_USER_TIMEOUT, retries2 as a time budget, orphan retries), as transcripts in virtual time.

#include <algorithm>

#include "tcp/congestion.hpp"
#include "transcript.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;
using namespace tcpsim::tcp::test;
using namespace std::chrono_literals;

namespace {

Config plain() {
    Config c;
    c.timestamps = false;  // one RTT sample from the handshake, none from later ACKs unless timed
    return c;
}

// Active open whose SYN-ACK arrives `rtt` after the SYN: SRTT = rtt, RTO = rtt + max(2*rtt, 200 ms).
// MSS 1460, no window scaling (so `window` is in bytes), SACK when `sack`.
void open(Harness& h, Duration rtt, std::uint16_t window = 65535, bool sack = true) {
    h.c().connect(h.now, h.tuple, h.our_iss);
    h.check_deadline();
    h.expect_sent({.flags = Syn});
    Options o;
    o.mss(1460);
    if (sack) o.nop().nop().sack_permitted();
    h.deliver(h.now + rtt, {.seq = h.peer_iss, .ack = h.our_iss + 1, .flags = Syn | Ack, .window = window, .options = o});
    h.expect_sent({.flags = Ack});
    BOOST_TEST_REQUIRE(h.state() == State::Established);
}

SeqNum o(Harness& h, std::uint32_t rel) { return h.our_iss + rel; }  // relative to our ISS
SeqNum p(Harness& h, std::uint32_t rel) { return h.peer_iss + rel; }

std::size_t count(const Harness& h, TimerKind k) { return static_cast<std::size_t>(std::count(h.fired.begin(), h.fired.end(), k)); }

Options sack_blocks(std::initializer_list<SackBlock> blocks) {
    Options opt;
    opt.nop().nop().sack(std::span<const SackBlock>(blocks.begin(), blocks.size()));
    return opt;
}

}  // namespace

BOOST_AUTO_TEST_CASE(probe_resends_the_last_segment_two_srtt_after_the_tail) {
    Harness h(plain());
    open(h, 10ms);  // SRTT 10 ms, RTO 210 ms
    h.send(at(20ms), pattern(4000));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    h.expect_sent({.seq = o(h, 1461), .len = 1460});
    h.expect_sent({.seq = o(h, 2921), .len = 1080});
    // Three segments in flight: PTO = 2*SRTT + 2 ms (Linux TCP_TIMEOUT_MIN) = 22 ms.
    h.advance(at(41ms));
    h.expect_silence();
    h.advance(at(42ms));
    auto probe = h.expect_sent({.seq = o(h, 2921), .len = 1080});
    BOOST_TEST((probe.at == at(42ms)));
    BOOST_TEST(count(h, TimerKind::LossProbe) == 1u);
    BOOST_TEST(h.c().info(at(42ms)).total_retrans == 1u);
    // One probe per tail; the RTO restarts from the probe: 42 + 210 ms, and resends the head.
    h.advance(at(251ms));
    h.expect_silence();
    h.advance(at(252ms));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    BOOST_TEST(count(h, TimerKind::LossProbe) == 1u);
    BOOST_TEST(count(h, TimerKind::Retransmission) == 1u);
}

BOOST_AUTO_TEST_CASE(single_segment_probe_allows_for_a_delayed_ack) {
    Harness h(plain());
    open(h, 300ms);  // SRTT 300 ms, RTO 900 ms
    h.send(at(400ms), "hello");
    h.expect_sent({.seq = o(h, 1), .data = "hello"});
    // One segment in flight: the peer may sit on its ACK for a delayed-ACK timer, so
    // PTO = 2*SRTT + rto_min = 800 ms (Linux tcp_schedule_loss_probe), still before the RTO.
    h.advance(at(1199ms));
    h.expect_silence();
    h.advance(at(1200ms));
    auto probe = h.expect_sent({.seq = o(h, 1), .data = "hello"});
    BOOST_TEST((probe.at == at(1200ms)));
    // The ACK of the probe ends the episode: no loss was proven (ack == tlp_high_seq), nothing
    // more is sent and no timer is left.
    h.deliver(at(1500ms), {.seq = p(h, 1), .ack = o(h, 6), .flags = Ack});
    h.expect_silence();
    BOOST_TEST((h.c().next_deadline() == kTimeNever));
}

BOOST_AUTO_TEST_CASE(probe_never_fires_later_than_the_rto) {
    Harness h(plain());
    open(h, 10ms);  // PTO for one segment = 20 + 200 ms > RTO 210 ms
    h.send(at(20ms), "x");
    h.expect_sent({.data = "x"});
    h.advance(at(229ms));
    h.expect_silence();
    h.advance(at(230ms));
    h.expect_sent({.seq = o(h, 1), .data = "x"});
    // Linux keeps both in one timer slot: at the RTO's instant the probe goes out instead.
    BOOST_TEST(count(h, TimerKind::LossProbe) == 1u);
    BOOST_TEST(count(h, TimerKind::Retransmission) == 0u);
    h.advance(at(440ms));
    h.expect_sent({.seq = o(h, 1), .data = "x"});
    BOOST_TEST(count(h, TimerKind::Retransmission) == 1u);
}

BOOST_AUTO_TEST_CASE(probe_sends_new_data_when_the_peer_window_allows) {
    Harness h(plain());
    open(h, 10ms);
    // 16384 bytes (the default send buffer): cwnd 10 sends 14600, 1784 wait for cwnd.
    BOOST_TEST_REQUIRE(h.send(at(20ms), pattern(16384)) == 16384u);
    for (int i = 0; i < 10; ++i) h.expect_sent({.seq = o(h, 1 + 1460 * i), .len = 1460});
    h.expect_silence();
    h.advance(at(42ms));
    // RFC 8985 §7.3: a previously unsent segment is the better probe; cwnd does not hold it back.
    auto probe = h.expect_sent({.seq = o(h, 14601), .len = 1460});
    BOOST_TEST((probe.at == at(42ms)));
    BOOST_TEST(h.c().info(at(42ms)).total_retrans == 0u);
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(probe_resends_the_last_segment_when_the_window_is_full) {
    Harness h(plain());
    open(h, 10ms, 2920);  // the peer offers two segments
    h.send(at(20ms), pattern(5000));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    h.expect_sent({.seq = o(h, 1461), .len = 1460});
    h.expect_silence();
    h.advance(at(42ms));
    // New data does not fit the peer's window: the last segment goes again.
    h.expect_sent({.seq = o(h, 1461), .len = 1460});
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(no_probe_without_sack) {
    Harness h(plain());
    open(h, 10ms, 65535, false);  // Linux probes only SACK connections (tcp_is_sack)
    h.send(at(20ms), pattern(4000));
    for (int i = 0; i < 3; ++i) h.expect_sent({});
    h.advance(at(229ms));
    h.expect_silence();
    h.advance(at(230ms));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    BOOST_TEST(count(h, TimerKind::LossProbe) == 0u);
    BOOST_TEST(count(h, TimerKind::Retransmission) == 1u);
}

BOOST_AUTO_TEST_CASE(no_probe_when_disabled) {
    Config cfg = plain();
    cfg.tail_loss_probe = false;  // net.ipv4.tcp_early_retrans other than 3 or 4
    Harness h(cfg);
    open(h, 10ms);
    h.send(at(20ms), pattern(4000));
    for (int i = 0; i < 3; ++i) h.expect_sent({});
    h.advance(at(229ms));
    h.expect_silence();
    h.advance(at(230ms));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    BOOST_TEST(count(h, TimerKind::LossProbe) == 0u);
}

BOOST_AUTO_TEST_CASE(no_probe_during_sack_recovery) {
    Harness h(plain());
    open(h, 10ms);
    h.send(at(20ms), pattern(4 * 1460));
    for (int i = 0; i < 4; ++i) h.expect_sent({});
    // The first segment is lost; the peer SACKs the other three at 30 ms: fast retransmit.
    SeqNum l = o(h, 1461);
    h.deliver(at(30ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = sack_blocks({{l, l + 1460}})});
    h.deliver(at(30ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = sack_blocks({{l, l + 2920}})});
    h.deliver(at(30ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = sack_blocks({{l, l + 4380}})});
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    // In recovery only the RTO guards the retransmission: restarted when the head was resent at
    // 30 ms (Linux tcp_xmit_retransmit_queue), not from its first transmission at 20 ms.
    h.advance(at(239ms));
    h.expect_silence();
    h.advance(at(240ms));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    BOOST_TEST(count(h, TimerKind::LossProbe) == 0u);
    BOOST_TEST(count(h, TimerKind::Retransmission) == 1u);
}

BOOST_AUTO_TEST_CASE(ack_beyond_a_repairing_probe_reduces_cwnd_once) {
    Harness h(plain());
    open(h, 10ms);
    h.send(at(20ms), pattern(4000));
    for (int i = 0; i < 3; ++i) h.expect_sent({});
    h.advance(at(42ms));
    h.expect_sent({.seq = o(h, 2921), .len = 1080});
    // The peer had lost the last segment: the probe repairs it, the ACK covers everything.
    h.deliver(at(52ms), {.seq = p(h, 1), .ack = o(h, 4001), .flags = Ack});
    BOOST_TEST(h.c().info(at(52ms)).snd_ssthresh == kInfiniteSsthresh);  // undecided yet (Linux)
    // No D-SACK followed: the next ACK beyond the probe proves the loss (Linux
    // tcp_process_tlp_ack): CWR at once, cwnd = ssthresh.
    h.send(at(60ms), pattern(1000));
    h.expect_sent({.seq = o(h, 4001), .len = 1000});
    h.deliver(at(70ms), {.seq = p(h, 1), .ack = o(h, 5001), .flags = Ack});
    auto info = h.c().info(at(70ms));
    BOOST_TEST(info.snd_ssthresh < kInfiniteSsthresh);
    BOOST_TEST(info.snd_cwnd == info.snd_ssthresh);
    BOOST_TEST(info.total_retrans == 1u);
}

BOOST_AUTO_TEST_CASE(dsack_of_the_probe_means_no_loss_and_no_reduction) {
    Harness h(plain());
    open(h, 10ms);
    h.send(at(20ms), pattern(4000));
    for (int i = 0; i < 3; ++i) h.expect_sent({});
    h.advance(at(42ms));
    h.expect_sent({.seq = o(h, 2921), .len = 1080});
    // The original arrived after all (its ACK was slow), then the probe as a duplicate: D-SACK.
    h.deliver(at(45ms), {.seq = p(h, 1), .ack = o(h, 4001), .flags = Ack});
    h.deliver(at(52ms), {.seq = p(h, 1), .ack = o(h, 4001), .flags = Ack, .options = sack_blocks({{o(h, 2921), o(h, 4001)}})});
    h.send(at(60ms), pattern(1000));
    h.expect_sent({.seq = o(h, 4001), .len = 1000});
    h.deliver(at(70ms), {.seq = p(h, 1), .ack = o(h, 5001), .flags = Ack});
    BOOST_TEST(h.c().info(at(70ms)).snd_ssthresh == kInfiniteSsthresh);
}

BOOST_AUTO_TEST_CASE(fin_is_probed_then_retransmitted_until_the_user_timeout) {
    // packetdrill user_timeout.pkt: 100 ms RTT (RTO 300 ms), TCP_USER_TIMEOUT 3 s, close().
    Harness h(plain());
    open(h, 100ms);
    h.c().set_user_timeout(3s);
    h.close(at(2100ms));
    h.expect_sent({.seq = o(h, 1), .flags = Fin | Ack});
    // 2.4 s: the loss probe (PTO 2*100 + 200 ms, capped by the RTO); 2.7 s: the RTO; then
    // backoff 600 ms, 1.2 s. The user timeout counts from the first retransmission (2.7 s,
    // Linux retrans_stamp; a probe does not start it) and clamps the last RTO to 5.7 s.
    for (auto t : {2400ms, 2700ms, 3300ms, 4500ms}) {
        h.advance(at(t));
        auto s = h.expect_sent({.seq = o(h, 1), .flags = Fin | Ack});
        BOOST_TEST((s.at == at(t)));
    }
    h.advance(at(5699ms));
    BOOST_TEST(h.state() == State::FinWait1);
    h.advance(at(5700ms));
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::timed_out));
    h.expect_silence();  // Linux tcp_write_err: no RST
}

BOOST_AUTO_TEST_CASE(orphan_gives_up_after_orphan_retries) {
    // Linux tcp_orphan_retries: a closed socket uses tcp_orphan_retries, not retries2, as its
    // time budget: 2 doublings from rto_min = (2^3 - 1) * 200 ms = 1.4 s from the first
    // retransmission.
    Config cfg = plain();
    cfg.tail_loss_probe = false;
    cfg.orphan_retries = 2;
    Harness h(cfg);
    open(h, 10ms);  // RTO 210 ms
    h.close(at(20ms));
    h.expect_sent({.flags = Fin | Ack});
    for (auto t : {230ms, 650ms, 1490ms}) {  // 1490 - 230 = 1.26 s: within
        h.advance(at(t));
        auto s = h.expect_sent({.flags = Fin | Ack});
        BOOST_TEST((s.at == at(t)));
    }
    h.advance(at(3169ms));
    BOOST_TEST(h.state() == State::FinWait1);
    h.advance(at(3170ms));
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::timed_out));
}

BOOST_AUTO_TEST_CASE(half_closed_socket_keeps_the_retries2_budget) {
    // The same FIN after shutdown(SHUT_WR) (not an orphan) is retried on the retries2 budget.
    Config cfg = plain();
    cfg.tail_loss_probe = false;
    cfg.orphan_retries = 2;
    Harness h(cfg);
    open(h, 10ms);
    h.c().shutdown_send(at(20ms));
    h.expect_sent({.flags = Fin | Ack});
    h.advance(at(3170ms));
    BOOST_TEST(h.state() == State::FinWait1);
    BOOST_TEST(h.sent.size() == 4u);  // 230, 650, 1490, 3170 ms
}

BOOST_AUTO_TEST_CASE(user_timeout_ends_a_zero_window_even_when_probes_are_answered) {
    // Linux tcp_probe_timer (icsk_probes_tstamp): TCP_USER_TIMEOUT counts from the first
    // zero-window probe; a peer that answers every probe but never opens its window is dropped
    // (ETIMEDOUT, no RST), and the probe interval is clamped to the time left.
    Harness h(plain());
    open(h, 10ms, 2920);
    h.c().set_user_timeout(1s);
    h.send(at(20ms), pattern(5000));
    h.expect_sent({.seq = o(h, 1), .len = 1460});
    h.expect_sent({.seq = o(h, 1461), .len = 1460});
    h.deliver(at(30ms), {.seq = p(h, 1), .ack = o(h, 2921), .flags = Ack, .window = 0});
    h.expect_silence();
    // Probes at 240 ms (RTO 210 ms) and 660 ms (backed off), each answered with window 0.
    for (auto t : {240ms, 660ms}) {
        h.advance(at(t));
        auto probe = h.expect_sent({.seq = o(h, 2920), .len = 0});
        BOOST_TEST((probe.at == at(t)));
        h.deliver(at(t) + 10ms, {.seq = p(h, 1), .ack = o(h, 2921), .flags = Ack, .window = 0});
    }
    // The next probe would be at 1500 ms; the user timeout (1 s from 240 ms) ends it at 1240 ms.
    h.advance(at(1239ms));
    BOOST_TEST(h.state() == State::Established);
    h.advance(at(1240ms));
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::timed_out));
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(probe_armed_before_a_sack_still_fires) {
    // packetdrill fr-4pkt-fack-last-byte.pkt: a SACK that acknowledges nothing new (Disorder)
    // does not re-arm the timers, so the probe armed when the tail was sent goes out on time.
    Harness h(plain());
    open(h, 10ms);
    h.send(at(20ms), pattern(4000));
    for (int i = 0; i < 3; ++i) h.expect_sent({});
    h.deliver(at(30ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = sack_blocks({{o(h, 3920), o(h, 4001)}})});
    h.expect_silence();
    h.advance(at(42ms));
    auto probe = h.expect_sent({.seq = o(h, 2921), .len = 1080});
    BOOST_TEST((probe.at == at(42ms)));
}
