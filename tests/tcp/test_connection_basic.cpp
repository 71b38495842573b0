#define BOOST_TEST_MODULE tcp_connection_basic
#include <boost/test/unit_test.hpp>

#include "transcript.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;
using namespace tcpsim::tcp::test;
using namespace std::chrono_literals;

namespace {

Config no_ts() {
    Config c;
    c.timestamps = false;
    return c;
}

}  // namespace

// ---- option layouts (Linux tcp_options_write) ----

BOOST_AUTO_TEST_CASE(syn_with_timestamps_uses_linux_layout_mss_sackok_ts_nop_wscale) {
    Harness h;
    h.c().connect(at(1s), h.tuple, h.our_iss);
    Options want;
    want.mss(1460).sack_permitted().timestamps(1000, 0).nop().window_scale(7);
    // 65535 << 7 >= 6291456 (tcp_rmem[2]); Linux's SYN window 64240 = 44 * 1460, unscaled.
    h.expect_sent({.seq = h.our_iss, .flags = Syn, .window = 64240, .options = want});
    BOOST_TEST(h.state() == State::SynSent);
}

BOOST_AUTO_TEST_CASE(syn_without_timestamps_uses_linux_layout_mss_nop_nop_sackok_nop_wscale) {
    Harness h(no_ts());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    Options want;
    want.mss(1460).nop().nop().sack_permitted().nop().window_scale(7);
    h.expect_sent({.flags = Syn, .options = want});
}

BOOST_AUTO_TEST_CASE(window_scale_covers_the_largest_receive_buffer) {
    Config cfg;
    cfg.receive_buffer_max = 16 << 20;  // 65535 << 8 < 16 MiB <= 65535 << 9
    Harness h(cfg);
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    auto s = h.expect_sent({.flags = Syn});
    BOOST_TEST(*s.seg.options.window_scale_value() == 9);
    cfg.receive_buffer_max = 1u << 31;
    Harness h2(cfg);
    h2.c().connect(at(0ms), h2.tuple, h2.our_iss);
    BOOST_TEST(*h2.expect_sent({.flags = Syn}).seg.options.window_scale_value() == 14);
}

BOOST_AUTO_TEST_CASE(synack_mirrors_peer_options_in_linux_order) {
    // packetdrill close-remote-fin-then-close: <mss 1000,sackOK,nop,nop,nop,wscale 7> ->
    // <mss 1460,nop,nop,sackOK,nop,wscale 8> (our wscale from tcp_rmem[2]).
    Config cfg;
    cfg.receive_buffer_max = 15 << 20;
    Harness h(cfg);
    Options peer;
    peer.mss(1000).sack_permitted().nop().nop().nop().window_scale(7);
    Segment syn = h.make({.seq = h.peer_iss, .flags = Syn, .window = 32792, .options = peer});
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss, syn);
    Options want;
    want.mss(1460).nop().nop().sack_permitted().nop().window_scale(8);
    h.expect_sent({.seq = h.our_iss, .ack = h.peer_iss + 1, .flags = Syn | Ack, .options = want});
    BOOST_TEST(h.c().effective_mss() == 1000);
}

BOOST_AUTO_TEST_CASE(synack_without_peer_wscale_omits_it_and_echoes_timestamp) {
    // packetdrill ts_recent/fin_tsval: <mss 1000,sackOK,TS val 100 ecr 0> -> <mss 1460,sackOK,TS val .. ecr 100>
    Harness h;
    Options peer;
    peer.mss(1000).sack_permitted().timestamps(100, 0);
    Segment syn = h.make({.seq = h.peer_iss, .flags = Syn, .window = 20000, .options = peer});
    h.c().accept_syn(at(100ms), h.tuple, h.our_iss, syn);
    Options want;
    want.mss(1460).sack_permitted().timestamps(100, 100);
    // 65160 = 45 * 1448: Linux rounds the SYN-ACK window to the MSS net of the TS option.
    h.expect_sent({.flags = Syn | Ack, .window = 65160, .options = want});
    BOOST_TEST(h.c().effective_mss() == 1000 - 12);
}

BOOST_AUTO_TEST_CASE(synack_without_sack_or_timestamps_is_mss_nop_wscale) {
    // packetdrill blocking-accept: <mss 1000,nop,wscale 7> -> <mss 1460,nop,wscale 8>
    Config cfg;
    cfg.receive_buffer_max = 15 << 20;
    Harness h(cfg);
    Options peer;
    peer.mss(1000).nop().window_scale(7);
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss, h.make({.seq = h.peer_iss, .flags = Syn, .options = peer}));
    Options want;
    want.mss(1460).nop().window_scale(8);
    h.expect_sent({.flags = Syn | Ack, .options = want});
}

BOOST_AUTO_TEST_CASE(data_segments_carry_nop_nop_timestamps_echoing_ts_recent) {
    Harness h;
    h.open_passive(true);
    h.send(at(20ms), "hi");
    Options want;
    want.nop().nop().timestamps(20, 510);
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Psh | Ack, .options = want, .data = "hi"});
}

BOOST_AUTO_TEST_CASE(effective_mss_is_min_of_both_less_timestamp_option) {
    Harness h;
    h.open_active(true);
    BOOST_TEST(h.c().effective_mss() == 1448);
    Harness h2(no_ts());
    h2.open_active(false);
    BOOST_TEST(h2.c().effective_mss() == 1460);
}

BOOST_AUTO_TEST_CASE(tcp_maxseg_before_connect_clamps_advertised_and_sending_mss) {
    // packetdrill mss-setsockopt-tcp_maxseg-client
    Harness h;
    h.c().set_max_segment(1100);
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    auto syn = h.expect_sent({.flags = Syn});
    BOOST_TEST(*syn.seg.options.mss_value() == 1100);
    Options peer;
    peer.mss(1460).nop().window_scale(7);
    h.deliver(at(100ms), {.seq = h.peer_iss, .ack = h.our_iss + 1, .flags = Syn | Ack, .window = 32792, .options = peer});
    h.expect_sent({.flags = Ack});
    BOOST_TEST(h.c().effective_mss() == 1100);
    h.send(at(200ms), pattern(12000));
    // 10 segments of 1100 (initial window 10), the last of the burst has PSH only if it empties the queue.
    for (int i = 0; i < 10; ++i) h.expect_sent({.seq = h.our_iss + 1 + 1100 * i, .len = 1100});
    h.expect_silence();
}

// ---- handshakes ----

BOOST_AUTO_TEST_CASE(active_open_acks_synack_and_reports_established) {
    Harness h(no_ts());
    h.open_active();
    h.expect_transition(State::Closed, State::SynSent);
    h.expect_transition(State::SynSent, State::Established);
    BOOST_TEST(h.changes.back().cause == "rcv SYN,ACK");
    BOOST_TEST(h.wakes > 0);
}

BOOST_AUTO_TEST_CASE(passive_open_reaches_established_on_ack_of_synack) {
    Harness h(no_ts());
    h.open_passive();
    h.expect_transition(State::Closed, State::SynRecv);
    h.expect_transition(State::SynRecv, State::Established);
}

BOOST_AUTO_TEST_CASE(listen_reply_classifies_segments_for_a_listener) {
    Harness h;
    BOOST_TEST((listen_reply(h.make({.flags = Syn})) == ListenAction::NewConnection));
    BOOST_TEST((listen_reply(h.make({.flags = Ack})) == ListenAction::Reset));
    BOOST_TEST((listen_reply(h.make({.flags = Syn | Ack})) == ListenAction::Reset));
    BOOST_TEST((listen_reply(h.make({.flags = Rst})) == ListenAction::Drop));
    BOOST_TEST((listen_reply(h.make({.flags = Fin})) == ListenAction::Drop));
}

BOOST_AUTO_TEST_CASE(reset_for_follows_rfc9293_3_10_7_1) {
    Harness h;
    auto r1 = reset_for(h.make({.seq = SeqNum(7), .ack = SeqNum(99), .flags = Ack}));
    BOOST_TEST_REQUIRE(r1.has_value());
    BOOST_TEST(r1->seq.raw() == 99u);
    BOOST_TEST(r1->flags.to_tcpdump() == Rst.to_tcpdump());
    BOOST_TEST(r1->src_port == h.tuple.local.port);
    auto r2 = reset_for(h.make({.seq = SeqNum(7), .flags = Syn, .data = "abc"}));
    BOOST_TEST_REQUIRE(r2.has_value());
    BOOST_TEST(r2->seq.raw() == 0u);
    BOOST_TEST(r2->ack.raw() == 7u + 4u);
    BOOST_TEST(r2->flags.to_tcpdump() == (Rst | Ack).to_tcpdump());
    BOOST_TEST(!reset_for(h.make({.flags = Rst})).has_value());
}

BOOST_AUTO_TEST_CASE(syn_sent_answers_unacceptable_ack_with_rst) {
    Harness h(no_ts());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    h.deliver(at(5ms), {.seq = h.peer_iss, .ack = h.our_iss + 77, .flags = Syn | Ack});
    h.expect_sent({.seq = h.our_iss + 77, .flags = Rst});
    BOOST_TEST(h.state() == State::SynSent);
}

BOOST_AUTO_TEST_CASE(syn_sent_rst_with_acceptable_ack_is_connection_refused) {
    Harness h(no_ts());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    h.deliver(at(5ms), {.seq = SeqNum(0), .ack = h.our_iss + 1, .flags = Rst | Ack});
    h.expect_silence();
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::connection_refused));
}

BOOST_AUTO_TEST_CASE(syn_retransmits_with_exponential_backoff_then_etimedout) {
    Harness h(no_ts());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    // Linux tcp_syn_retries = 6: retransmissions at 1, 3, 7, 15, 31, 63 s; give up at 127 s.
    Duration expect = 0s;
    for (int i = 0; i < 6; ++i) {
        expect += std::chrono::seconds(1 << i);
        h.advance(at(expect));
        auto s = h.expect_sent({.seq = h.our_iss, .flags = Syn});
        BOOST_TEST((s.at == at(expect)));
    }
    h.advance(at(126s));
    BOOST_TEST(h.state() == State::SynSent);
    h.advance(at(127s));
    h.expect_silence();
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::timed_out));
}

// ---- data ----

BOOST_AUTO_TEST_CASE(data_is_sent_with_psh_and_acked_cumulatively) {
    Harness h(no_ts());
    h.open_active();
    BOOST_TEST(h.send(at(20ms), "hello") == 5u);
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Psh | Ack, .data = "hello"});
    BOOST_TEST(h.c().send_queue_bytes() == 5u);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 6, .flags = Ack});
    h.expect_silence();
    BOOST_TEST(h.c().send_queue_bytes() == 0u);
    BOOST_TEST((h.c().next_deadline() == kTimeNever));
}

BOOST_AUTO_TEST_CASE(received_data_is_readable_and_acked_at_once_in_quickack_mode) {
    Harness h(no_ts());
    h.open_passive();
    h.deliver(at(100ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Psh | Ack, .data = "ping"});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 5, .flags = Ack});
    BOOST_TEST(h.c().readable_bytes() == 4u);
    BOOST_TEST(h.receive(at(101ms)) == "ping");
    std::error_code ec;
    h.receive(at(102ms), 10, {}, &ec);
    BOOST_TEST((ec == std::errc::resource_unavailable_try_again));
}

BOOST_AUTO_TEST_CASE(large_write_is_split_into_mss_segments_within_initial_window) {
    Harness h(no_ts());
    h.open_active();
    std::string data = pattern(20000);
    std::size_t n = h.send(at(20ms), data);
    BOOST_TEST(n == 16384u);  // the send buffer
    for (int i = 0; i < 10; ++i) {
        auto s = h.expect_sent({.seq = h.our_iss + 1 + 1460 * i, .len = 1460});
        BOOST_TEST(s.data == data.substr(1460 * i, 1460));
    }
    h.expect_silence();  // initial window of 10 segments
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1 + 2920, .flags = Ack, .window = 512});
    // Slow start: 2 acked -> cwnd 12, flight 8 segments.
    // 1784 bytes remain queued: one full segment and the 324-byte tail (no small segment is
    // outstanding, so Nagle/Minshall lets it go), with PSH at the end of the write.
    h.expect_sent({.seq = h.our_iss + 1 + 1460 * 10, .flags = Ack, .len = 1460});
    h.expect_sent({.seq = h.our_iss + 1 + 1460 * 11, .flags = Psh | Ack, .len = 324});
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(retransmission_timeout_is_one_second_then_doubles) {
    Config cfg = no_ts();
    cfg.tail_loss_probe = false;  // the RTO alone: a tail loss probe would go first (tests/tcp/test_loss_probe.cpp)
    Harness h(cfg);
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    // The handshake RTT sample (10 ms) gives RTO = 10 + max(4*5, 200) = 210 ms (Linux formula).
    h.deliver(at(10ms), {.seq = h.peer_iss, .ack = h.our_iss + 1, .flags = Syn | Ack, .options = Harness::linux_syn_options(false)});
    h.expect_sent({.flags = Ack});
    h.send(at(100ms), "abc");
    h.expect_sent({.seq = h.our_iss + 1, .data = "abc"});
    h.advance(at(309ms));
    h.expect_silence();
    h.advance(at(310ms));
    h.expect_sent({.seq = h.our_iss + 1, .data = "abc"});
    h.advance(at(729ms));
    h.expect_silence();
    h.advance(at(730ms));
    h.expect_sent({.seq = h.our_iss + 1, .data = "abc"});
    h.advance(at(1570ms));
    h.expect_sent({.seq = h.our_iss + 1, .data = "abc"});
    // An ACK of new data ends the backoff and stops the timer (RFC 6298 (5.2)).
    h.deliver(at(1600ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 4, .flags = Ack});
    BOOST_TEST((h.c().next_deadline() == kTimeNever));
    BOOST_TEST(h.c().info(at(1600ms)).total_retrans == 3u);
}

// ---- close ----

BOOST_AUTO_TEST_CASE(local_close_then_remote_fin_goes_through_time_wait_for_2msl) {
    // packetdrill close-local-close-then-remote-fin
    Harness h(no_ts());
    h.open_active();
    h.send(at(20ms), pattern(1000));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Psh | Ack, .len = 1000});
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1001, .flags = Ack, .window = 257});
    h.close(at(40ms));
    h.expect_sent({.seq = h.our_iss + 1001, .ack = h.peer_iss + 1, .flags = Fin | Ack});
    h.expect_transition(State::Established, State::FinWait1);
    h.deliver(at(50ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1002, .flags = Ack, .window = 257});
    h.expect_transition(State::FinWait1, State::FinWait2);
    h.expect_silence();
    h.deliver(at(60ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1002, .flags = Fin | Ack, .window = 257});
    h.expect_sent({.seq = h.our_iss + 1002, .ack = h.peer_iss + 2, .flags = Ack});
    h.expect_transition(State::FinWait2, State::TimeWait);
    h.advance(at(60ms + 59999ms));
    BOOST_TEST(h.state() == State::TimeWait);
    h.advance(at(60ms + 60s));
    BOOST_TEST(h.state() == State::Closed);
    h.expect_transition(State::TimeWait, State::Closed);
    BOOST_TEST(h.changes.back().cause == "2MSL timeout");
}

BOOST_AUTO_TEST_CASE(remote_fin_then_close_goes_through_last_ack_and_then_resets_strays) {
    // packetdrill close-remote-fin-then-close
    Harness h(no_ts());
    h.open_passive();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Fin | Ack, .window = 257});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 2, .flags = Ack});
    BOOST_TEST(h.state() == State::CloseWait);
    BOOST_TEST(h.c().at_eof());
    BOOST_TEST(h.receive(at(21ms)).empty());
    h.close(at(30ms));
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 2, .flags = Fin | Ack});
    h.expect_transition(State::CloseWait, State::LastAck);
    h.deliver(at(40ms), {.seq = h.peer_iss + 2, .ack = h.our_iss + 2, .flags = Ack, .window = 257});
    h.expect_transition(State::LastAck, State::Closed);
    h.expect_silence();
    h.deliver(at(50ms), {.seq = h.peer_iss + 2, .ack = h.our_iss + 2, .flags = Ack, .window = 257});
    h.expect_sent({.seq = h.our_iss + 2, .flags = Rst});
}

BOOST_AUTO_TEST_CASE(close_with_unread_data_sends_rst_instead_of_fin) {
    Harness h(no_ts());
    h.open_passive();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Psh | Ack, .data = "unread"});
    h.expect_sent({.flags = Ack});
    h.close(at(30ms));
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 7, .flags = Rst | Ack});
    BOOST_TEST(h.state() == State::Closed);
}

BOOST_AUTO_TEST_CASE(rst_in_established_is_connection_reset) {
    Harness h(no_ts());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .flags = Rst});
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::connection_reset));
    std::error_code ec;
    h.c().send(at(21ms), as_bytes("x"), {}, ec);
    BOOST_TEST((ec == std::errc::connection_reset));
    h.c().send(at(22ms), as_bytes("x"), {}, ec);
    BOOST_TEST((ec == std::errc::broken_pipe));
}
