#define BOOST_TEST_MODULE tcp_cubic
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "tcp/cubic.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;

namespace {
Time at(Duration d) { return kTimeZero + d; }

// Puts a fresh CUBIC into congestion avoidance after one loss at cwnd = w_max.
void lose_at(Cubic& c, std::uint32_t w_max, Time when) {
    c.set_cwnd(w_max);
    c.on_enter_recovery(when, w_max);
    c.on_exit_recovery(when);
}
}  // namespace

BOOST_AUTO_TEST_CASE(cube_root_is_exact_floor) {
    BOOST_TEST(Cubic::cube_root(0) == 0u);
    BOOST_TEST(Cubic::cube_root(7) == 1u);
    BOOST_TEST(Cubic::cube_root(8) == 2u);
    BOOST_TEST(Cubic::cube_root(999999) == 99u);
    BOOST_TEST(Cubic::cube_root(1000000) == 100u);
    BOOST_TEST(Cubic::cube_root(~std::uint64_t{0}) == 2642245u);
}

BOOST_AUTO_TEST_CASE(loss_multiplies_by_beta_717_over_1024) {
    // RFC 9438 §4.6 with Linux's beta = 717/1024.
    Cubic c(10);
    lose_at(c, 100, at(1s));
    BOOST_TEST(c.ssthresh() == 70u);  // floor(100 * 717 / 1024)
    BOOST_TEST(c.cwnd() == 70u);
    BOOST_TEST(c.w_max() == 100u);
}

BOOST_AUTO_TEST_CASE(fast_convergence_lowers_w_max_when_window_shrinks) {
    // RFC 9438 §4.7: a loss below the previous W_max sets W_max = cwnd * (1 + beta) / 2.
    Cubic c(10);
    lose_at(c, 100, at(1s));
    c.set_cwnd(90);
    c.on_enter_recovery(at(2s), 90);
    BOOST_TEST(c.w_max() == 76u);     // floor(90 * 1741 / 2048)
    BOOST_TEST(c.ssthresh() == 63u);  // floor(90 * 717 / 1024)
}

BOOST_AUTO_TEST_CASE(k_is_the_time_to_regain_w_max) {
    // RFC 9438 (2): K = cbrt((W_max - cwnd_epoch) / C) = cbrt(30 / 0.4) ~= 4.2158 s.
    Cubic c(10);
    lose_at(c, 100, at(1s));
    c.on_ack(at(1s), 1, 70, false);  // starts the epoch
    BOOST_REQUIRE(c.epoch_started());
    BOOST_TEST(c.k_units() == 4316u);  // floor(cbrt(30 * 2^40 / 410)), 1/1024 s units
    BOOST_TEST(std::abs(c.k_units() / 1024.0 - std::cbrt(30.0 / 0.4)) < 0.01);
    BOOST_TEST(c.origin_point() == 100u);
    // W_cubic(K) = W_max: the plateau is reached after K.
    Time epoch = c.epoch_start();
    BOOST_TEST(c.target_at(epoch + 4215ms) == 100u);
    // W_cubic(0) = cwnd_epoch = 70 in real numbers; Linux's integer K (floored) and the floored
    // cube make the drop 29.98 -> 29, so the curve starts at 71, as tcp_cubic.c computes.
    BOOST_TEST(c.target_at(epoch) == 71u);
}

BOOST_AUTO_TEST_CASE(target_follows_the_rfc9438_cubic_curve) {
    Cubic c(10);
    lose_at(c, 200, at(10s));
    c.on_ack(at(10s), 1, 140, false);
    BOOST_REQUIRE(c.epoch_started());
    const double C = 410.0 / 1024.0, w_max = 200.0, w_epoch = c.ssthresh();
    const double K = std::cbrt((w_max - w_epoch) / C);
    for (int ms = 0; ms <= 12000; ms += 250) {
        double t = ms / 1000.0;
        double expected = C * std::pow(t - K, 3) + w_max;  // RFC 9438 (1)
        double got = c.target_at(c.epoch_start() + std::chrono::milliseconds(ms));
        BOOST_TEST(std::abs(got - expected) <= 1.5, "t=" << t << " expected " << expected << " got " << got);
    }
}

BOOST_AUTO_TEST_CASE(window_regains_w_max_around_k_then_probes_beyond) {
    // Drive ACKs with a 100 ms RTT; one ACK per segment. cwnd is concave below W_max, flat near
    // it, convex after it (RFC 9438 §4.2-4.5).
    Cubic c(10);
    lose_at(c, 100, at(1s));
    const Duration rtt = 100ms;
    Time now = at(1s);
    std::uint32_t at_2s = 0, at_k = 0, at_8s = 0;
    for (int round = 0; round < 80; ++round) {
        std::uint32_t w = c.cwnd();
        for (std::uint32_t i = 0; i < w; ++i)
            c.on_ack(now + rtt * i / w, 1, w, false);
        c.on_rtt_sample(now, rtt);
        now += rtt;
        Duration since = now - at(1s);
        if (since == 2s) at_2s = c.cwnd();
        if (since == 4200ms) at_k = c.cwnd();
        if (since == 8000ms) at_8s = c.cwnd();
    }
    BOOST_TEST(at_2s > 85u);   // concave: most of the gap closes early
    BOOST_TEST(at_2s < 100u);
    BOOST_TEST(at_k >= 98u);   // ~W_max at K
    BOOST_TEST(at_k <= 103u);
    // Convex probing beyond W_max: RFC 9438 (1) gives W(8 s) = 0.4 * (8 - 4.216)^3 + 100 ~= 121.7.
    BOOST_TEST(at_8s >= 119u);
    BOOST_TEST(at_8s <= 124u);
}

BOOST_AUTO_TEST_CASE(reno_friendly_region_dominates_on_short_rtt) {
    // RFC 9438 §4.3: with a 1 ms RTT the cubic curve barely moves in 200 RTTs, but the
    // Reno-friendly estimate grows 3(1-beta)/(1+beta) ~= 0.53 segments per RTT.
    Cubic c(10);
    lose_at(c, 100, at(1s));
    const Duration rtt = 1ms;
    Time now = at(1s);
    const std::uint32_t start = c.cwnd();
    const int rounds = 200;
    for (int round = 0; round < rounds; ++round) {
        std::uint32_t w = c.cwnd();
        for (std::uint32_t i = 0; i < w; ++i)
            c.on_ack(now, 1, w, false);
        now += rtt;
    }
    double per_rtt = double(c.cwnd() - start) / rounds;
    const double friendly = 3.0 * (1 - 717.0 / 1024) / (1 + 717.0 / 1024);
    BOOST_TEST(per_rtt > friendly * 0.8, "per_rtt " << per_rtt);
    BOOST_TEST(per_rtt < friendly * 1.25, "per_rtt " << per_rtt);
    // The pure cubic curve would have added only C*(K^3 - (K-0.2)^3) ~= 4 segments.
    BOOST_TEST(c.cwnd() > start + 60);
}

BOOST_AUTO_TEST_CASE(growth_never_exceeds_one_segment_per_two_acked) {
    Cubic c(10);
    lose_at(c, 100, at(1s));
    Time now = at(1s) + 30s;  // far beyond K: the curve wants a huge window
    c.on_ack(at(1s), 1, 70, false);
    std::uint32_t before = c.cwnd();
    for (int i = 0; i < 70; ++i)
        c.on_ack(now, 1, c.cwnd(), false);
    BOOST_TEST(c.cwnd() <= before + 35);
}

BOOST_AUTO_TEST_CASE(rto_forgets_w_max_and_restarts_from_one_segment) {
    // Linux: cubictcp_state(TCP_CA_Loss) -> bictcp_reset.
    Cubic c(10);
    c.set_cwnd(20);
    c.on_rto(at(1s));
    BOOST_TEST(c.ssthresh() == 14u);  // floor(20 * 717 / 1024)
    BOOST_TEST(c.cwnd() == 1u);
    BOOST_TEST(c.w_max() == 0u);
    BOOST_TEST(!c.epoch_started());
}

BOOST_AUTO_TEST_CASE(idle_time_does_not_count_as_growth_time) {
    Cubic c(10);
    lose_at(c, 100, at(1s));
    c.on_ack(at(1s), 1, 70, false);
    Time epoch = c.epoch_start();
    c.on_tx_start(at(11s), 10s);
    BOOST_TEST((c.epoch_start() - epoch) == Duration(10s));
    c.on_tx_start(at(12s), 100s);  // never into the future
    BOOST_TEST((c.epoch_start() == at(12s)));
}

BOOST_AUTO_TEST_CASE(first_epoch_without_loss_grows_at_least_five_percent_per_rtt) {
    // Linux: before any loss (W_max = 0) cnt is capped at 20.
    Cubic c(10);
    c.set_cwnd(100);
    c.set_ssthresh(100);
    c.on_ack(at(1s), 1, 100, false);
    BOOST_TEST(c.ack_count_per_increment() <= 20u);
}

BOOST_AUTO_TEST_CASE(min_rtt_ignores_samples_in_the_first_second_of_an_epoch) {
    Cubic c(10);
    c.on_rtt_sample(at(1s), 50ms);
    BOOST_TEST((c.min_rtt() == Duration(50ms)));
    lose_at(c, 100, at(2s));
    c.on_ack(at(2s), 1, 70, false);
    c.on_rtt_sample(at(2500ms), 10ms);
    BOOST_TEST((c.min_rtt() == Duration(50ms)));
    c.on_rtt_sample(at(3500ms), 10ms);
    BOOST_TEST((c.min_rtt() == Duration(10ms)));
}

BOOST_AUTO_TEST_CASE(hystart_delay_increase_ends_slow_start_at_current_cwnd) {
    // Linux hystart_update: after 8 samples in a round, a round minimum above
    // delay_min + clamp(delay_min/8, 4 ms, 16 ms) sets ssthresh = cwnd.
    Cubic c(10);
    c.set_cwnd(32);
    Time now = at(1s);
    std::uint32_t una = 0, nxt = 32000;
    c.on_ack_sequence(now, SeqNum(una), SeqNum(nxt));
    for (int i = 0; i < 9; ++i) {  // round 1: 100 ms baseline, samples 5 ms apart (no ACK train)
        now += 5ms;
        c.on_rtt_sample(now, 100ms);
    }
    BOOST_TEST(!c.hystart_found());
    una = nxt + 1;  // round 2 starts: RTT now 110 ms (< 100 + 12.5 ms threshold)
    nxt += 32000;
    c.on_ack_sequence(now, SeqNum(una), SeqNum(nxt));
    for (int i = 0; i < 12; ++i) {
        now += 5ms;
        c.on_rtt_sample(now, 110ms);
    }
    BOOST_TEST(!c.hystart_found());
    BOOST_TEST(c.in_slow_start());
    una = nxt + 1;  // round 3: 113 ms > 112.5 ms
    nxt += 32000;
    c.on_ack_sequence(now, SeqNum(una), SeqNum(nxt));
    for (int i = 0; i < 8; ++i) {
        now += 5ms;
        c.on_rtt_sample(now, 113ms);
    }
    BOOST_TEST(!c.hystart_found());  // needs more than HYSTART_MIN_SAMPLES
    now += 5ms;
    c.on_rtt_sample(now, 113ms);
    BOOST_TEST(c.hystart_found());
    BOOST_TEST(c.ssthresh() == 32u);
    BOOST_TEST(!c.in_slow_start());
}

BOOST_AUTO_TEST_CASE(hystart_ack_train_longer_than_half_min_rtt_ends_slow_start) {
    Cubic c(10);
    c.set_cwnd(20);
    Time now = at(1s);
    c.on_ack_sequence(now, SeqNum(0), SeqNum(20000));
    // ACKs 1 ms apart (within hystart_ack_delta 2 ms), RTT 20 ms: the train passes 10 ms.
    for (int i = 1; i <= 10; ++i) {
        c.on_rtt_sample(now + std::chrono::milliseconds(i), 20ms);
        BOOST_TEST(!c.hystart_found(), "ack " << i);
    }
    c.on_rtt_sample(now + 11ms, 20ms);
    BOOST_TEST(c.hystart_found());
    BOOST_TEST(c.ssthresh() == 20u);
}

BOOST_AUTO_TEST_CASE(hystart_waits_for_the_low_window_and_for_round_information) {
    Cubic small(10);
    Time now = at(1s);
    small.on_ack_sequence(now, SeqNum(0), SeqNum(10000));
    for (int i = 1; i <= 50; ++i)  // cwnd 10 < 16: no HyStart however long the train
        small.on_rtt_sample(now + std::chrono::milliseconds(i), 20ms);
    BOOST_TEST(!small.hystart_found());

    Cubic blind(10);
    blind.set_cwnd(64);
    for (int i = 1; i <= 50; ++i)  // never told about rounds: HyStart stays off
        blind.on_rtt_sample(now + std::chrono::milliseconds(i), 20ms);
    BOOST_TEST(!blind.hystart_found());
    BOOST_TEST(blind.in_slow_start());

    Cubic off(10, false);
    off.set_cwnd(64);
    off.on_ack_sequence(now, SeqNum(0), SeqNum(64000));
    for (int i = 1; i <= 50; ++i)
        off.on_rtt_sample(now + std::chrono::milliseconds(i), 20ms);
    BOOST_TEST(!off.hystart_found());
}
