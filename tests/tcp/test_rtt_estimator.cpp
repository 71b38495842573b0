#define BOOST_TEST_MODULE tcp_rtt_estimator
#include <boost/test/unit_test.hpp>

#include "tcp/rtt_estimator.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;

namespace {
bool eq(Duration a, Duration b) { return a == b; }
}  // namespace

BOOST_AUTO_TEST_CASE(initial_rto_is_one_second_before_any_sample) {
    // RFC 6298 (2.1).
    RttEstimator e{Config{}};
    BOOST_TEST(!e.has_sample());
    BOOST_TEST(eq(e.rto(), 1s));
    BOOST_TEST(e.rto_us() == 1000000u);
}

BOOST_AUTO_TEST_CASE(first_sample_gives_srtt_r_rttvar_half_r_and_rto_three_r) {
    // RFC 6298 (2.2): SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR = 3R.
    for (RtoFormula f : {RtoFormula::Linux, RtoFormula::Rfc6298}) {
        RttEstimator e{Config{}, f};
        e.sample(100ms);
        BOOST_TEST(eq(e.srtt(), 100ms));
        BOOST_TEST(eq(e.rttvar(), 50ms));
        BOOST_TEST(eq(e.rto(), 300ms));
        BOOST_TEST(e.srtt_us() == 100000u);
        BOOST_TEST(e.rttvar_us() == 50000u);
    }
}

BOOST_AUTO_TEST_CASE(second_sample_follows_alpha_one_eighth_beta_one_quarter) {
    // RFC 6298 (2.3): RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms;
    // SRTT = 7/8 * 100 + 1/8 * 200 = 112.5 ms; RTO = 112.5 + 4 * 62.5 = 362.5 ms.
    for (RtoFormula f : {RtoFormula::Linux, RtoFormula::Rfc6298}) {
        RttEstimator e{Config{}, f};
        e.sample(100ms);
        e.sample(200ms);
        BOOST_TEST(eq(e.srtt(), 112500us));
        BOOST_TEST(eq(e.rttvar(), 62500us));
        BOOST_TEST(eq(e.rto(), 362500us));
    }
}

BOOST_AUTO_TEST_CASE(rfc_formula_clamps_small_rto_to_rto_min) {
    // R = 10 ms: 3R = 30 ms, raised to rto_min 200 ms (RFC 6298 (2.4) with Linux's minimum).
    RttEstimator e{Config{}, RtoFormula::Rfc6298};
    e.sample(10ms);
    BOOST_TEST(eq(e.rto(), 200ms));
}

BOOST_AUTO_TEST_CASE(linux_formula_floors_the_variance_term_not_the_rto) {
    // Linux tcp_rtt_estimator: rttvar >= rto_min, RTO = srtt + rttvar -> 10 + 200 = 210 ms.
    RttEstimator e{Config{}};
    e.sample(10ms);
    BOOST_TEST(eq(e.rto(), 210ms));
    for (int i = 0; i < 50; ++i)
        e.sample(10ms);
    BOOST_TEST(eq(e.srtt(), 10ms));
    BOOST_TEST(eq(e.rto(), 210ms));
}

BOOST_AUTO_TEST_CASE(linux_formula_damps_variance_when_rtt_falls) {
    // RTT falls 100 -> 20 ms: |err| = 80, 80 - 50 = 30; Linux weighs it 1/8 -> mdev 203.75/4.
    RttEstimator lx{Config{}};
    RttEstimator rfc{Config{}, RtoFormula::Rfc6298};
    for (auto* e : {&lx, &rfc}) {
        e->sample(100ms);
        e->sample(20ms);
        BOOST_TEST(eq(e->srtt(), 90ms));
    }
    BOOST_TEST(eq(rfc.rttvar(), 57500us));        // 3/4 * 50 + 1/4 * 80
    BOOST_TEST(eq(lx.rttvar(), 50937500ns));      // 50 + 3.75 / 4
    BOOST_TEST(eq(rfc.rto(), 320ms));             // 90 + 230
}

BOOST_AUTO_TEST_CASE(backoff_doubles_and_caps_at_rto_max) {
    // RFC 6298 (5.5) and (2.5); Linux TCP_RTO_MAX = 120 s.
    RttEstimator e{Config{}};
    BOOST_TEST(eq(e.backoff(), 2s));
    BOOST_TEST(eq(e.backoff(), 4s));
    for (int i = 0; i < 4; ++i)
        e.backoff();
    BOOST_TEST(eq(e.rto(), 64s));
    BOOST_TEST(eq(e.backoff(), 120s));  // 128 s capped
    BOOST_TEST(eq(e.backoff(), 120s));
    BOOST_TEST(e.backoff_count() == 8u);
    e.reset_backoff();
    BOOST_TEST(eq(e.rto(), 1s));
}

BOOST_AUTO_TEST_CASE(backoff_applies_to_the_measured_rto) {
    RttEstimator e{Config{}};
    e.sample(100ms);
    e.backoff();
    BOOST_TEST(eq(e.rto(), 600ms));
    BOOST_TEST(eq(e.base_rto(), 300ms));
    e.reset_backoff();
    BOOST_TEST(eq(e.rto(), 300ms));
}

BOOST_AUTO_TEST_CASE(huge_rtt_is_capped_at_rto_max) {
    RttEstimator e{Config{}};
    e.sample(100s);
    BOOST_TEST(eq(e.rto(), 120s));
}

BOOST_AUTO_TEST_CASE(fallback_rto_after_handshake_retransmission_without_sample) {
    // RFC 6298 (5.7); Linux TCP_TIMEOUT_FALLBACK.
    RttEstimator e{Config{}};
    e.use_fallback_rto();
    BOOST_TEST(eq(e.rto(), 3s));
    RttEstimator s{Config{}};
    s.sample(100ms);
    s.use_fallback_rto();
    BOOST_TEST(eq(s.rto(), 300ms));
}

BOOST_AUTO_TEST_CASE(configured_bounds_are_honoured) {
    Config c;
    c.rto_min = 50ms;
    c.rto_max = 10s;
    c.rto_initial = 2s;
    RttEstimator e{c};
    BOOST_TEST(eq(e.rto(), 2s));
    for (int i = 0; i < 5; ++i)
        e.backoff();
    BOOST_TEST(eq(e.rto(), 10s));
    e.reset_backoff();
    e.sample(5ms);
    BOOST_TEST(eq(e.rto(), 55ms));  // 5 + max(10, 50)
}

BOOST_AUTO_TEST_CASE(linux_variance_decays_once_per_flight) {
    // One jittery flight lifts rttvar; it then decays by 1/4 of the excess per flight, not per
    // sample, so many ACKs in one window do not wash it out.
    RttEstimator e{Config{}};
    SeqNum una{1000}, nxt{1000};
    e.sample(100ms, una, nxt + 10000);  // flight ends at 11000
    e.sample(400ms, una + 100, nxt + 10000);
    Duration high = e.rto();
    for (int i = 0; i < 20; ++i)  // same flight: no decay
        e.sample(100ms, una + 200 + i, nxt + 10000);
    Duration same_flight = e.rto();
    BOOST_TEST((same_flight.count() <= high.count()));
    e.sample(100ms, SeqNum{11001}, SeqNum{21000});  // next flight: decay step
    BOOST_TEST((e.rto() < same_flight));
}

BOOST_AUTO_TEST_CASE(min_and_latest_rtt_are_tracked) {
    RttEstimator e{Config{}};
    e.sample(30ms);
    e.sample(20ms);
    e.sample(40ms);
    BOOST_TEST(eq(e.min_rtt(), 20ms));
    BOOST_TEST(eq(e.latest_rtt(), 40ms));
}

BOOST_AUTO_TEST_CASE(valid_sample_ends_the_backoff) {
    // Linux tcp_ack_update_rtt: only a valid RTT measurement resets icsk_backoff.
    RttEstimator e{Config{}};
    e.backoff();
    e.backoff();
    BOOST_TEST(eq(e.rto(), 4s));
    e.sample(100ms);
    BOOST_TEST(e.backoff_count() == 0u);
    BOOST_TEST(eq(e.rto(), 300ms));
}
