#define BOOST_TEST_MODULE tcp_connection_states
#include <boost/test/unit_test.hpp>

// Every arc of RFC 9293 Figure 5 and the §3.10.7 "segment arrives" rules, as transcripts. The
// last test lists the arcs and fails when one has no test that walked it.

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

// The RTO alone: a tail loss probe would go out first (tests/tcp/test_loss_probe.cpp covers it).
Config no_tlp() {
    Config c = plain();
    c.tail_loss_probe = false;
    return c;
}

void cover(const std::string& arc) { covered_arcs().insert(arc); }

// ESTABLISHED at 10 ms via open_active(), then close() at 20 ms: FIN_WAIT1 with FIN = our_iss+1.
void to_fin_wait1(Harness& h) {
    h.open_active();
    h.close(at(20ms));
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Fin | Ack});
    BOOST_TEST_REQUIRE(h.state() == State::FinWait1);
}

void to_time_wait(Harness& h) {
    to_fin_wait1(h);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack});
    h.deliver(at(40ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Fin | Ack});
    h.expect_sent({.seq = h.our_iss + 2, .ack = h.peer_iss + 2, .flags = Ack});
    BOOST_TEST_REQUIRE(h.state() == State::TimeWait);
}

}  // namespace

// ---- opening arcs ----

BOOST_AUTO_TEST_CASE(closed_to_listen_on_passive_open_and_back_on_close) {
    Harness h(plain());
    h.c().listen(at(0ms), h.tuple.local);
    h.expect_transition(State::Closed, State::Listen);
    h.expect_silence();
    h.close(at(1ms));
    h.expect_transition(State::Listen, State::Closed);
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(listen_send_does_not_open_a_connection_linux_refuses_it) {
    // RFC 9293 Figure 5 LISTEN --SEND/snd SYN--> SYN_SENT is optional; Linux has no such path
    // (send() on a listener is ENOTCONN), so tcpsim refuses it the same way.
    Harness h(plain());
    h.c().listen(at(0ms), h.tuple.local);
    std::error_code ec;
    BOOST_TEST(h.c().send(at(1ms), as_bytes("x"), {}, ec) == 0u);
    BOOST_TEST((ec == std::errc::not_connected));
    BOOST_TEST(h.state() == State::Listen);
    h.expect_silence();
    cover("LISTEN->SYN_SENT");
}

BOOST_AUTO_TEST_CASE(listen_to_syn_recv_on_syn_via_accept_syn) {
    Harness h(plain());
    Segment syn = h.make({.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)});
    BOOST_TEST((listen_reply(syn) == ListenAction::NewConnection));
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss, syn);
    h.expect_sent({.seq = h.our_iss, .ack = h.peer_iss + 1, .flags = Syn | Ack});
    h.expect_transition(State::Closed, State::SynRecv);
    cover("LISTEN->SYN_RECV");  // the listener stays; its child starts in SYN_RECV
}

BOOST_AUTO_TEST_CASE(closed_to_syn_sent_on_active_open) {
    Harness h(plain());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.seq = h.our_iss, .flags = Syn});
    h.expect_transition(State::Closed, State::SynSent);
}

BOOST_AUTO_TEST_CASE(syn_sent_to_closed_on_close_sends_nothing) {
    Harness h(plain());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    h.close(at(5ms));
    h.expect_transition(State::SynSent, State::Closed);
    h.expect_silence();
    BOOST_TEST((h.c().next_deadline() == kTimeNever));
}

BOOST_AUTO_TEST_CASE(syn_sent_to_established_on_synack) {
    Harness h(plain());
    h.open_active();
    h.expect_transition(State::SynSent, State::Established);
}

BOOST_AUTO_TEST_CASE(simultaneous_open_goes_syn_sent_syn_recv_established) {
    // RFC 9293 Figure 8.
    Harness h(plain());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.seq = h.our_iss, .flags = Syn});
    h.deliver(at(5ms), {.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)});
    h.expect_sent({.seq = h.our_iss, .ack = h.peer_iss + 1, .flags = Syn | Ack});
    h.expect_transition(State::SynSent, State::SynRecv);
    // The peer's SYN-ACK (answering our SYN) completes it.
    h.deliver(at(6ms), {.seq = h.peer_iss, .ack = h.our_iss + 1, .flags = Syn | Ack, .window = 512});
    h.expect_transition(State::SynRecv, State::Established);
    h.send(at(7ms), "x");
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .data = "x"});
}

BOOST_AUTO_TEST_CASE(syn_recv_to_established_on_ack) {
    Harness h(plain());
    h.open_passive();
    h.expect_transition(State::SynRecv, State::Established);
}

BOOST_AUTO_TEST_CASE(syn_recv_to_fin_wait1_on_close_sends_fin) {
    Harness h(plain());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    h.deliver(at(5ms), {.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)});
    h.expect_sent({.flags = Syn | Ack});
    h.close(at(6ms));
    h.expect_transition(State::SynRecv, State::FinWait1);
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Fin | Ack});
    // The peer's ACK of SYN and FIN ends in FIN_WAIT2.
    h.deliver(at(10ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack});
    h.expect_transition(State::FinWait1, State::FinWait2);
}

BOOST_AUTO_TEST_CASE(syn_recv_passive_child_is_dropped_on_rst_listener_stays) {
    Harness h(plain());
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss,
                     h.make({.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)}));
    h.expect_sent({.flags = Syn | Ack});
    h.deliver(at(5ms), {.seq = h.peer_iss + 1, .flags = Rst});
    h.expect_transition(State::SynRecv, State::Closed);
    BOOST_TEST(h.changes.back().cause.find("LISTEN") != std::string::npos);
    BOOST_TEST(!h.c().error());  // nobody accepted it: no error to report
    h.expect_silence();
    cover("SYN_RECV->LISTEN");
}

BOOST_AUTO_TEST_CASE(syn_recv_active_is_refused_on_rst) {
    Harness h(plain());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    h.deliver(at(5ms), {.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)});
    h.expect_sent({.flags = Syn | Ack});
    h.deliver(at(6ms), {.seq = h.peer_iss + 1, .flags = Rst});
    h.expect_transition(State::SynRecv, State::Closed);
    BOOST_TEST((h.c().error() == std::errc::connection_refused));
}

BOOST_AUTO_TEST_CASE(syn_recv_answers_a_bad_ack_with_rst) {
    Harness h(plain());
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss,
                     h.make({.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)}));
    h.expect_sent({.flags = Syn | Ack});
    h.deliver(at(5ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 50, .flags = Ack});
    h.expect_sent({.seq = h.our_iss + 50, .flags = Rst});
    BOOST_TEST(h.state() == State::SynRecv);
}

BOOST_AUTO_TEST_CASE(syn_recv_retransmitted_syn_gets_the_synack_again) {
    Harness h(plain());
    Segment syn = h.make({.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)});
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss, syn);
    h.expect_sent({.flags = Syn | Ack});
    h.deliver(at(500ms), {.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)});
    h.expect_sent({.seq = h.our_iss, .ack = h.peer_iss + 1, .flags = Syn | Ack});
    BOOST_TEST(h.state() == State::SynRecv);
}

BOOST_AUTO_TEST_CASE(synack_retries_then_child_dropped_at_63s) {
    Harness h(plain());
    h.c().accept_syn(at(0ms), h.tuple, h.our_iss,
                     h.make({.seq = h.peer_iss, .flags = Syn, .options = Harness::linux_syn_options(false)}));
    h.expect_sent({.flags = Syn | Ack});
    // tcp_synack_retries = 5: 1, 3, 7, 15, 31 s; dropped at 63 s.
    for (int i = 0, t = 0; i < 5; ++i) {
        t += 1 << i;
        h.advance(at(std::chrono::seconds(t)));
        auto s = h.expect_sent({.seq = h.our_iss, .flags = Syn | Ack});
        BOOST_TEST((s.at == at(std::chrono::seconds(t))));
    }
    h.advance(at(62s));
    BOOST_TEST(h.state() == State::SynRecv);
    h.advance(at(63s));
    BOOST_TEST(h.state() == State::Closed);
    h.expect_silence();
}

// ---- closing arcs ----

BOOST_AUTO_TEST_CASE(established_to_fin_wait1_to_fin_wait2_to_time_wait_to_closed) {
    Harness h(plain());
    to_time_wait(h);
    h.expect_transition(State::Established, State::FinWait1);
    h.expect_transition(State::FinWait1, State::FinWait2);
    h.expect_transition(State::FinWait2, State::TimeWait);
    h.advance(at(40ms + 60s));
    h.expect_transition(State::TimeWait, State::Closed);
    BOOST_TEST((*h.transition_time(State::Closed) == at(40ms + 60s)));
}

BOOST_AUTO_TEST_CASE(established_to_close_wait_to_last_ack_to_closed) {
    Harness h(plain());
    h.open_passive();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Fin | Ack});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 2, .flags = Ack});
    h.expect_transition(State::Established, State::CloseWait);
    h.close(at(30ms));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Fin | Ack});
    h.expect_transition(State::CloseWait, State::LastAck);
    h.deliver(at(40ms), {.seq = h.peer_iss + 2, .ack = h.our_iss + 2, .flags = Ack});
    h.expect_transition(State::LastAck, State::Closed);
    BOOST_TEST(!h.c().error());
}

BOOST_AUTO_TEST_CASE(simultaneous_close_goes_fin_wait1_closing_time_wait) {
    Harness h(plain());
    to_fin_wait1(h);
    // The peer's FIN crosses ours (it does not acknowledge our FIN).
    h.deliver(at(25ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Fin | Ack});
    h.expect_sent({.seq = h.our_iss + 2, .ack = h.peer_iss + 2, .flags = Ack});
    h.expect_transition(State::FinWait1, State::Closing);
    h.deliver(at(30ms), {.seq = h.peer_iss + 2, .ack = h.our_iss + 2, .flags = Ack});
    h.expect_transition(State::Closing, State::TimeWait);
    h.expect_silence();
    h.advance(at(30ms + 60s));
    BOOST_TEST(h.state() == State::Closed);
}

BOOST_AUTO_TEST_CASE(fin_ack_in_fin_wait1_goes_straight_to_time_wait) {
    Harness h(plain());
    to_fin_wait1(h);
    h.deliver(at(25ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Fin | Ack});
    h.expect_sent({.seq = h.our_iss + 2, .ack = h.peer_iss + 2, .flags = Ack});
    h.expect_transition(State::FinWait1, State::TimeWait);
}

BOOST_AUTO_TEST_CASE(fin_is_retransmitted_on_rto) {
    Harness h(plain());
    to_fin_wait1(h);
    // RTO from the 10 ms handshake sample: 210 ms.
    h.advance(at(229ms));
    h.expect_silence();
    h.advance(at(230ms));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Fin | Ack});
    h.advance(at(650ms));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Fin | Ack});
}

BOOST_AUTO_TEST_CASE(orphan_fin_wait2_times_out_after_fin_timeout) {
    Harness h(plain());
    to_fin_wait1(h);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack});
    BOOST_TEST(h.state() == State::FinWait2);
    h.advance(at(30ms + 60s - 1ms));
    BOOST_TEST(h.state() == State::FinWait2);
    h.advance(at(30ms + 60s));
    BOOST_TEST(h.state() == State::Closed);
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(orphan_fin_wait2_with_keepalive_goes_away_silently_like_linux_timewait) {
    // Linux tcp_time_wait(sk, TCP_FIN_WAIT2, tcp_fin_timeout): the orphan is a timewait socket,
    // without the keepalive timer that would probe and then send RST. It still takes the FIN.
    Harness h(plain());
    h.open_active();
    h.c().set_keepalive_params(10s, 2s, 3);
    h.c().set_keepalive(at(15ms), true);
    h.close(at(20ms));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Fin | Ack});
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack});
    BOOST_TEST(h.state() == State::FinWait2);
    h.advance(at(30ms + 60s - 1ms));
    h.expect_silence();  // no keepalive probes, no RST
    BOOST_TEST(h.state() == State::FinWait2);
    h.advance(at(30ms + 60s));
    BOOST_TEST(h.state() == State::Closed);
    h.expect_silence();
    BOOST_TEST((h.c().next_deadline() == kTimeNever));
}

BOOST_AUTO_TEST_CASE(orphan_fin_wait2_takes_the_peers_fin_into_time_wait) {
    Harness h(plain());
    h.open_active();
    h.close(at(20ms));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Fin | Ack});
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack});
    h.deliver(at(30s), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Fin | Ack});
    h.expect_sent({.seq = h.our_iss + 2, .ack = h.peer_iss + 2, .flags = Ack});
    BOOST_TEST(h.state() == State::TimeWait);
    h.advance(at(30ms + 61s));
    BOOST_TEST(h.state() == State::TimeWait);  // 2MSL from the FIN, not fin_timeout
}

BOOST_AUTO_TEST_CASE(no_timer_stays_armed_once_closed) {
    // next_deadline() must be kTimeNever in CLOSED, or the owner wakes for a dead connection.
    {
        Harness h(plain());  // SYN refused
        h.c().connect(at(0ms), h.tuple, h.our_iss);
        h.expect_sent({.flags = Syn});
        h.deliver(at(2ms), {.seq = SeqNum(0), .ack = h.our_iss + 1, .flags = Rst | Ack, .window = 0});
        BOOST_TEST(h.state() == State::Closed);
        BOOST_TEST((h.c().next_deadline() == kTimeNever));
        h.close(at(3ms));
        BOOST_TEST((h.c().next_deadline() == kTimeNever));
    }
    {
        Harness h(plain());  // reset with data, delayed ACK, keepalive and persist pending
        h.open_active();
        h.c().set_keepalive(at(10ms), true);
        h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .window = 0, .data = "x"});
        h.send(at(21ms), "abc");
        h.deliver(at(22ms), {.seq = h.peer_iss + 2, .ack = h.our_iss + 1, .flags = Rst});
        BOOST_TEST(h.state() == State::Closed);
        BOOST_TEST((h.c().next_deadline() == kTimeNever));
    }
}

BOOST_AUTO_TEST_CASE(data_arriving_after_close_is_answered_with_rst) {
    // Linux tcp_rcv_state_process: nobody can read it any more.
    Harness h(plain());
    to_fin_wait1(h);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack, .data = "late"});
    // The RST answers the segment (tcp_v4_send_reset): <SEQ=SEG.ACK><CTL=RST>, as packetdrill's
    // user_timeout.pkt expects (`> R 1:1(0)`).
    h.expect_sent({.seq = h.our_iss + 2, .flags = Rst});
    BOOST_TEST(h.state() == State::Closed);
}

BOOST_AUTO_TEST_CASE(half_closed_side_still_receives_data) {
    Harness h(plain());
    h.open_active();
    h.c().shutdown_send(at(20ms));
    h.expect_sent({.seq = h.our_iss + 1, .flags = Fin | Ack});
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Ack, .data = "more"});
    h.expect_sent({.ack = h.peer_iss + 5, .flags = Ack});
    BOOST_TEST(h.receive(at(31ms)) == "more");
    BOOST_TEST(h.state() == State::FinWait2);
}

// ---- TIME_WAIT ----

BOOST_AUTO_TEST_CASE(time_wait_reacks_retransmitted_fin_and_restarts_2msl) {
    Harness h(plain());
    to_time_wait(h);
    h.deliver(at(10s), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Fin | Ack});
    h.expect_sent({.seq = h.our_iss + 2, .ack = h.peer_iss + 2, .flags = Ack});
    BOOST_TEST((h.c().next_deadline() == at(10s + 60s)));
    h.advance(at(65s));
    BOOST_TEST(h.state() == State::TimeWait);
    h.advance(at(70s));
    BOOST_TEST(h.state() == State::Closed);
}

BOOST_AUTO_TEST_CASE(time_wait_accepts_new_syn_above_old_rcv_nxt) {
    Harness h(plain());
    to_time_wait(h);
    Segment syn = h.make({.seq = h.peer_iss + 100000, .flags = Syn});
    BOOST_TEST(h.c().time_wait_accepts_syn(syn));
    BOOST_TEST(h.c().time_wait_next_iss().raw() == (h.our_iss + 2 + 65537).raw());
    h.deliver(at(1s), {.seq = h.peer_iss + 100000, .flags = Syn});
    h.expect_silence();  // the owner hands the SYN to the listener
    h.expect_transition(State::TimeWait, State::Closed);
}

BOOST_AUTO_TEST_CASE(time_wait_answers_old_syn_with_ack) {
    Harness h(plain());
    to_time_wait(h);
    Segment syn = h.make({.seq = h.peer_iss - 10, .flags = Syn});
    BOOST_TEST(!h.c().time_wait_accepts_syn(syn));
    h.deliver(at(1s), {.seq = h.peer_iss - 10, .flags = Syn});
    h.expect_sent({.seq = h.our_iss + 2, .ack = h.peer_iss + 2, .flags = Ack});
    BOOST_TEST(h.state() == State::TimeWait);
}

BOOST_AUTO_TEST_CASE(time_wait_with_timestamps_accepts_syn_with_newer_tsval) {
    Harness h;
    h.open_passive(true);  // TS.Recent = 510
    h.close(at(20ms));
    h.expect_sent({.flags = Fin | Ack});
    Options ts;
    ts.nop().nop().timestamps(600, 0);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 2, .flags = Fin | Ack, .options = ts});
    h.expect_sent({.flags = Ack});
    BOOST_TEST_REQUIRE(h.state() == State::TimeWait);
    Options newer;
    newer.timestamps(700, 0);
    BOOST_TEST(h.c().time_wait_accepts_syn(h.make({.seq = h.peer_iss - 5, .flags = Syn, .options = newer})));
    Options older;
    older.timestamps(100, 0);
    BOOST_TEST(!h.c().time_wait_accepts_syn(h.make({.seq = h.peer_iss + 9999, .flags = Syn, .options = older})));
}

// ---- §3.10.7.4 checks and RFC 5961 ----

BOOST_AUTO_TEST_CASE(in_window_rst_that_is_not_exact_draws_challenge_ack) {
    Harness h(plain());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 100, .flags = Rst});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Ack});
    BOOST_TEST(h.state() == State::Established);
}

BOOST_AUTO_TEST_CASE(out_of_window_rst_is_ignored_silently) {
    Harness h(plain());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1000000, .flags = Rst});
    h.expect_silence();
    BOOST_TEST(h.state() == State::Established);
}

BOOST_AUTO_TEST_CASE(exact_rst_resets_each_synchronized_state) {
    for (State target : {State::Established, State::FinWait1, State::FinWait2, State::CloseWait, State::Closing,
                         State::LastAck, State::TimeWait}) {
        Harness h(plain());
        h.open_active();
        SeqNum rcv = h.peer_iss + 1;
        switch (target) {
            case State::FinWait1: h.close(at(20ms)); break;
            case State::FinWait2:
                h.close(at(20ms));
                h.deliver(at(21ms), {.seq = rcv, .ack = h.our_iss + 2, .flags = Ack});
                break;
            case State::CloseWait:
                h.deliver(at(20ms), {.seq = rcv, .ack = h.our_iss + 1, .flags = Fin | Ack});
                rcv = rcv + 1;
                break;
            case State::Closing:
                h.close(at(20ms));
                h.deliver(at(21ms), {.seq = rcv, .ack = h.our_iss + 1, .flags = Fin | Ack});
                rcv = rcv + 1;
                break;
            case State::LastAck:
                h.deliver(at(20ms), {.seq = rcv, .ack = h.our_iss + 1, .flags = Fin | Ack});
                rcv = rcv + 1;
                h.close(at(21ms));
                break;
            case State::TimeWait:
                h.close(at(20ms));
                h.deliver(at(21ms), {.seq = rcv, .ack = h.our_iss + 2, .flags = Fin | Ack});
                rcv = rcv + 1;
                break;
            default: break;
        }
        BOOST_TEST_REQUIRE(h.state() == target);
        h.sent.clear();
        h.deliver(at(30ms), {.seq = rcv, .flags = Rst});
        BOOST_TEST(h.state() == State::Closed, "from " << to_string(target));
        h.expect_silence();
        bool reports_reset = target == State::Established || target == State::FinWait1 ||
                             target == State::FinWait2 || target == State::CloseWait;
        BOOST_TEST((h.c().error() == std::errc::connection_reset) == reports_reset, "from " << to_string(target));
    }
}

BOOST_AUTO_TEST_CASE(syn_in_established_draws_challenge_ack_and_changes_nothing) {
    Harness h(plain());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 7, .flags = Syn});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Ack});
    BOOST_TEST(h.state() == State::Established);
}

BOOST_AUTO_TEST_CASE(ack_of_unsent_data_is_dropped_like_linux) {
    // packetdrill ts_recent/invalid_ack: no reply, and the segment's FIN is not processed.
    Harness h(plain());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 9999, .flags = Fin | Ack});
    h.expect_silence();
    BOOST_TEST(h.state() == State::Established);
}

BOOST_AUTO_TEST_CASE(too_old_ack_draws_challenge_ack) {
    Harness h(plain());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss - 200000, .flags = Ack, .data = "zz"});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Ack});
    BOOST_TEST(h.c().readable_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(segment_without_ack_is_dropped) {
    // packetdrill validate-established-no-flags
    Harness h(plain());
    h.open_passive();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .data = "abcd"});
    h.expect_silence();
    BOOST_TEST(h.c().readable_bytes() == 0u);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .data = "abcd"});
    BOOST_TEST(h.c().readable_bytes() == 4u);
}

BOOST_AUTO_TEST_CASE(unacceptable_segment_beyond_window_is_acked_and_dropped) {
    Harness h(plain());
    h.open_passive();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1 + 10000000, .ack = h.our_iss + 1, .flags = Ack, .data = "far"});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Ack});
    BOOST_TEST(h.c().readable_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(acks_for_invalid_segments_without_data_are_rate_limited_like_linux) {
    // Linux tcp_oow_rate_limited: one reply per 500 ms (tcp_invalid_ratelimit), so two stacks
    // that disagree cannot ping-pong ACKs forever.
    Harness h(plain());
    h.open_active();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1000000, .ack = h.our_iss + 1, .flags = Ack});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Ack});
    h.deliver(at(30ms), {.seq = h.peer_iss + 1000000, .ack = h.our_iss + 1, .flags = Ack});
    h.deliver(at(40ms), {.seq = h.peer_iss + 7, .flags = Syn});
    h.expect_silence();
    // Out-of-window data is never limited: its duplicate ACKs matter to the sender.
    h.deliver(at(50ms), {.seq = h.peer_iss + 1000000, .ack = h.our_iss + 1, .flags = Ack, .data = "x"});
    h.expect_sent({.ack = h.peer_iss + 1, .flags = Ack});
    h.deliver(at(520ms), {.seq = h.peer_iss + 1000000, .ack = h.our_iss + 1, .flags = Ack});
    h.expect_sent({.ack = h.peer_iss + 1, .flags = Ack});
}

BOOST_AUTO_TEST_CASE(old_duplicate_data_is_acked_at_once) {
    Harness h(plain());
    h.open_passive();
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .data = "abcd"});
    h.sent.clear();
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .data = "abcd"});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 5, .flags = Ack});
    BOOST_TEST(h.c().readable_bytes() == 4u);
}

BOOST_AUTO_TEST_CASE(paws_drops_segment_with_old_timestamp_and_acks) {
    Harness h;
    h.open_passive(true);  // TS.Recent = 510
    Options old;
    old.nop().nop().timestamps(400, 0);
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .options = old, .data = "stale"});
    h.expect_sent({.seq = h.our_iss + 1, .ack = h.peer_iss + 1, .flags = Ack});
    BOOST_TEST(h.c().readable_bytes() == 0u);
    Options fresh;
    fresh.nop().nop().timestamps(520, 0);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .options = fresh, .data = "fresh"});
    BOOST_TEST(h.c().readable_bytes() == 5u);
    // Our ACK echoes the newest TSval (TS.Recent updated, RFC 7323 §4.3).
    auto a = h.expect_sent({.ack = h.peer_iss + 6, .flags = Ack});
    BOOST_TEST(a.seg.options.timestamps_value()->echo_reply == 520u);
}

BOOST_AUTO_TEST_CASE(invalid_ack_does_not_update_ts_recent) {
    // packetdrill ts_recent/invalid_ack
    Harness h;
    h.open_passive(true);
    Options big;
    big.nop().nop().timestamps(200000, 100);
    h.deliver(at(20ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 9999, .flags = Fin | Ack, .options = big});
    h.expect_silence();
    Options next;
    next.nop().nop().timestamps(511, 100);
    h.deliver(at(30ms), {.seq = h.peer_iss + 1, .ack = h.our_iss + 1, .flags = Ack, .options = next, .data = pattern(1000)});
    auto a = h.expect_sent({.ack = h.peer_iss + 1001, .flags = Ack});
    BOOST_TEST(a.seg.options.timestamps_value()->echo_reply == 511u);
}

// ---- retransmission limits ----

BOOST_AUTO_TEST_CASE(data_retransmissions_give_up_after_retries2_with_etimedout) {
    Config cfg = no_tlp();
    cfg.retries2 = 3;
    Harness h(cfg);
    h.open_active();
    h.send(at(100ms), "abc");
    h.expect_sent({.data = "abc"});
    // Linux retransmits_timed_out: retries2 is a time budget, what 3 doublings from rto_min take
    // ((2^4 - 1) * 200 ms = 3 s), counted from the first retransmission (310 ms). RTO 210 ms from
    // the handshake sample, doubling: 310, 730, 1570, 3250 ms (2.94 s: still within), then
    // 6610 ms gives up.
    for (auto t : {310ms, 730ms, 1570ms, 3250ms}) {
        h.advance(at(t));
        auto s = h.expect_sent({.seq = h.our_iss + 1, .data = "abc"});
        BOOST_TEST((s.at == at(t)));
    }
    h.advance(at(6609ms));
    BOOST_TEST(h.state() == State::Established);
    h.advance(at(6610ms));
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::timed_out));
    h.expect_silence();
}

BOOST_AUTO_TEST_CASE(user_timeout_bounds_the_retransmission_time) {
    Harness h(no_tlp());
    h.open_active();
    h.c().set_user_timeout(1s);
    h.send(at(100ms), "abc");
    h.expect_sent({.data = "abc"});
    h.advance(at(310ms));
    h.expect_sent({.data = "abc"});
    h.advance(at(730ms));
    h.expect_sent({.data = "abc"});
    // The next RTO (840 ms) is clamped (Linux tcp_clamp_rto_to_user_timeout) so the connection
    // gives up 1 s after the first retransmission (Linux retrans_stamp), at 1310 ms.
    h.advance(at(1309ms));
    BOOST_TEST(h.state() == State::Established);
    h.expect_silence();
    h.advance(at(1310ms));
    BOOST_TEST(h.state() == State::Closed);
    BOOST_TEST((h.c().error() == std::errc::timed_out));
}

BOOST_AUTO_TEST_CASE(rto_after_retransmitted_syn_falls_back_to_3s) {
    // RFC 6298 (5.7): SYN retransmitted, no RTT sample -> RTO 3 s once data flows.
    Harness h(no_tlp());
    h.c().connect(at(0ms), h.tuple, h.our_iss);
    h.expect_sent({.flags = Syn});
    h.advance(at(1s));
    h.expect_sent({.flags = Syn});
    h.deliver(at(1010ms), {.seq = h.peer_iss, .ack = h.our_iss + 1, .flags = Syn | Ack, .options = Harness::linux_syn_options(false)});
    h.expect_sent({.flags = Ack});
    h.send(at(1100ms), "x");
    h.expect_sent({.data = "x"});
    h.advance(at(4099ms));
    h.expect_silence();
    h.advance(at(4100ms));
    h.expect_sent({.data = "x"});
}

// ---- Figure 5 coverage ----

BOOST_AUTO_TEST_CASE(every_figure5_arc_has_a_test) {
    // RFC 9293 Figure 5 (plus FIN_WAIT1 -> TIME_WAIT on FIN+ACK and SYN_RECV -> CLOSED for an
    // active open, which §3.10.7.4 adds). Runs last: the cases above register what they walked.
    const char* arcs[] = {
        "CLOSED->LISTEN",        "CLOSED->SYN_SENT",      "LISTEN->CLOSED",         "LISTEN->SYN_RECV",
        "LISTEN->SYN_SENT",      "SYN_SENT->CLOSED",      "SYN_SENT->SYN_RECV",     "SYN_SENT->ESTABLISHED",
        "SYN_RECV->ESTABLISHED", "SYN_RECV->FIN_WAIT1",   "SYN_RECV->LISTEN",       "SYN_RECV->CLOSED",
        "ESTABLISHED->FIN_WAIT1", "ESTABLISHED->CLOSE_WAIT", "FIN_WAIT1->FIN_WAIT2", "FIN_WAIT1->CLOSING",
        "FIN_WAIT1->TIME_WAIT",  "FIN_WAIT2->TIME_WAIT",  "CLOSING->TIME_WAIT",     "TIME_WAIT->CLOSED",
        "CLOSE_WAIT->LAST_ACK",  "LAST_ACK->CLOSED",
    };
    for (const char* arc : arcs) BOOST_TEST(covered_arcs().count(arc) == 1u, "no test walks " << arc);
}
