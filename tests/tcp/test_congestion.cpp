#define BOOST_TEST_MODULE tcp_congestion
#include <boost/test/unit_test.hpp>

#include "tcp/congestion.hpp"
#include "tcp/cubic.hpp"
#include "tcp/reno.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;

namespace {
Time at(Duration d) { return kTimeZero + d; }
}  // namespace

BOOST_AUTO_TEST_CASE(factory_builds_the_configured_algorithm_with_infinite_ssthresh) {
    auto reno = make_congestion_control(CongestionAlgorithm::Reno, 10);
    auto cubic = make_congestion_control(CongestionAlgorithm::Cubic, 10);
    BOOST_TEST(std::string(reno->name()) == "reno");
    BOOST_TEST(std::string(cubic->name()) == "cubic");
    BOOST_TEST(reno->cwnd() == 10u);
    BOOST_TEST(cubic->ssthresh() == 0x7fffffffu);
    BOOST_TEST(reno->in_slow_start());
    BOOST_TEST((parse_congestion_algorithm("cubic") == CongestionAlgorithm::Cubic));
    BOOST_TEST((parse_congestion_algorithm("reno") == CongestionAlgorithm::Reno));
    BOOST_TEST(!parse_congestion_algorithm("bbr").has_value());
}

BOOST_AUTO_TEST_CASE(slow_start_grows_one_segment_per_acked_segment) {
    // RFC 5681 (2) / Linux tcp_slow_start: cwnd += acked.
    Reno r(10);
    for (int i = 0; i < 10; ++i)
        r.on_ack(at(1s), 1, 10, false);
    BOOST_TEST(r.cwnd() == 20u);
    r.on_ack(at(1s), 5, 20, false);  // a stretch ACK counts every segment it covers
    BOOST_TEST(r.cwnd() == 25u);
}

BOOST_AUTO_TEST_CASE(slow_start_stops_at_ssthresh_and_spends_the_rest_in_avoidance) {
    Reno r(10);
    r.set_ssthresh(15);
    r.on_ack(at(1s), 10, 10, false);  // 5 take cwnd to 15, 5 are credited to avoidance
    BOOST_TEST(r.cwnd() == 15u);
    BOOST_TEST(!r.in_slow_start());
    r.on_ack(at(1s), 9, 15, false);   // 5 + 9 = 14 < 15: not yet
    BOOST_TEST(r.cwnd() == 15u);
    r.on_ack(at(1s), 1, 15, false);   // 15th acked segment: +1
    BOOST_TEST(r.cwnd() == 16u);
}

BOOST_AUTO_TEST_CASE(congestion_avoidance_adds_one_segment_per_window_acked) {
    // RFC 5681 (3): one SMSS per RTT; Linux counts acked segments in snd_cwnd_cnt.
    Reno r(20);
    r.set_ssthresh(20);
    for (int i = 0; i < 19; ++i)
        r.on_ack(at(1s), 1, 20, false);
    BOOST_TEST(r.cwnd() == 20u);
    r.on_ack(at(1s), 1, 20, false);
    BOOST_TEST(r.cwnd() == 21u);
    for (int i = 0; i < 21; ++i)
        r.on_ack(at(2s), 1, 21, false);
    BOOST_TEST(r.cwnd() == 22u);
}

BOOST_AUTO_TEST_CASE(application_limited_sender_does_not_grow_in_avoidance) {
    // Linux tcp_is_cwnd_limited / RFC 7661: an unused window must not grow.
    Reno r(20);
    r.set_ssthresh(10);
    for (int i = 0; i < 100; ++i)
        r.on_ack(at(1s), 1, 5, true);
    BOOST_TEST(r.cwnd() == 20u);
}

BOOST_AUTO_TEST_CASE(slow_start_grows_while_cwnd_below_twice_what_was_in_flight) {
    Reno r(10);
    r.on_ack(at(1s), 1, 5, true);  // 10 < 2*5 fails: no growth
    BOOST_TEST(r.cwnd() == 10u);
    r.on_ack(at(1s), 1, 6, true);  // 10 < 12: grows
    BOOST_TEST(r.cwnd() == 11u);
}

BOOST_AUTO_TEST_CASE(reno_recovery_halves_ssthresh_and_exit_sets_cwnd_to_it) {
    Reno r(10);
    r.set_cwnd(20);
    r.on_enter_recovery(at(1s), 20);
    BOOST_TEST(r.ssthresh() == 10u);  // max(cwnd/2, 2)
    BOOST_TEST(r.cwnd() == 20u);      // PRR lowers it, not the algorithm
    r.on_exit_recovery(at(2s));
    BOOST_TEST(r.cwnd() == 10u);
    BOOST_TEST(!r.in_slow_start());
}

BOOST_AUTO_TEST_CASE(reno_ssthresh_never_below_two_segments) {
    Reno r(1);
    r.set_cwnd(3);
    r.on_enter_recovery(at(1s), 3);
    BOOST_TEST(r.ssthresh() == 2u);
}

BOOST_AUTO_TEST_CASE(rto_collapses_cwnd_to_one_and_keeps_ssthresh_on_repeated_timeouts) {
    Reno r(10);
    r.set_cwnd(40);
    r.on_rto(at(1s), true);
    BOOST_TEST(r.cwnd() == 1u);
    BOOST_TEST(r.ssthresh() == 20u);
    r.on_rto(at(3s), false);  // backoff of the same episode: ssthresh would become 2 otherwise
    BOOST_TEST(r.cwnd() == 1u);
    BOOST_TEST(r.ssthresh() == 20u);
    // Slow start from 1 up to 20 after the RTO.
    r.on_ack(at(4s), 1, 1, false);
    BOOST_TEST(r.cwnd() == 2u);
}

BOOST_AUTO_TEST_CASE(undo_restores_window_after_spurious_recovery) {
    Reno r(10);
    r.set_cwnd(30);
    r.set_ssthresh(25);
    r.on_enter_recovery(at(1s), 30);
    r.set_cwnd(18);  // PRR brought it down
    BOOST_TEST(r.ssthresh() == 15u);
    r.undo(at(2s));
    BOOST_TEST(r.cwnd() == 30u);
    BOOST_TEST(r.ssthresh() == 25u);  // prior_ssthresh = max(25, 3/4 * 30 = 22)
}

BOOST_AUTO_TEST_CASE(idle_restart_halves_once_per_rto_down_to_initial_window) {
    // RFC 2861 / Linux tcp_cwnd_restart.
    Reno r(10);
    r.set_cwnd(40);
    r.set_ssthresh(30);
    r.on_idle_restart(at(5s), 1500ms, 1s);
    BOOST_TEST(r.cwnd() == 20u);
    BOOST_TEST(r.ssthresh() == 30u);  // max(30, 3/4 * 40 = 30)

    Reno q(10);
    q.set_cwnd(40);
    q.on_idle_restart(at(5s), 2500ms, 1s);
    BOOST_TEST(q.cwnd() == 10u);
    BOOST_TEST(q.ssthresh() == 0x7fffffffu);

    Reno big(10);
    big.set_cwnd(400);
    big.on_idle_restart(at(60s), 30s, 1s);  // never below the restart window
    BOOST_TEST(big.cwnd() == 10u);

    Reno small(10);
    small.set_cwnd(4);
    small.on_idle_restart(at(60s), 30s, 1s);  // restart window = min(IW, cwnd)
    BOOST_TEST(small.cwnd() == 4u);
}

BOOST_AUTO_TEST_CASE(idle_shorter_than_rto_keeps_the_window) {
    Reno r(10);
    r.set_cwnd(40);
    r.on_idle_restart(at(5s), 1s, 1s);
    BOOST_TEST(r.cwnd() == 40u);
}

BOOST_AUTO_TEST_CASE(set_cwnd_and_ssthresh_are_bounded) {
    Reno r(10);
    r.set_cwnd(0);
    BOOST_TEST(r.cwnd() == 1u);
    r.set_ssthresh(0);
    BOOST_TEST(r.ssthresh() == 2u);
}
