#define BOOST_TEST_MODULE tcp_prr
#include <boost/test/unit_test.hpp>

#include "tcp/prr.hpp"

using namespace tcpsim::tcp;

BOOST_AUTO_TEST_CASE(proportional_reduction_sends_one_segment_per_two_acks_for_reno) {
    // RFC 6937 §5 example: RecoverFS 20, ssthresh 10 (Reno halving); while pipe > ssthresh every
    // ACK delivering one segment allows CEIL(prr_delivered * 10 / 20) - prr_out: the fast
    // retransmit on the first ACK, then one new segment on every second ACK.
    Prr p;
    p.start(20, 10);
    std::uint32_t in_flight = 20;  // stays above ssthresh for all 17 ACKs
    int sent_pattern[17] = {};
    std::uint32_t total = 0;
    for (int ack = 0; ack < 17; ++ack) {
        in_flight -= 1;
        auto s = p.on_ack(1, 0, false, in_flight);
        BOOST_REQUIRE(s.has_value());
        sent_pattern[ack] = static_cast<int>(*s);
        p.on_sent(*s);
        in_flight += *s;
        total += *s;
    }
    for (int ack = 0; ack < 17; ++ack)
        BOOST_TEST(sent_pattern[ack] == (ack % 2 == 0 ? 1 : 0), "ack " << ack);
    // 17 ACKs: CEIL(17 * 10 / 20) = 9 segments (the retransmission and 8 new ones).
    BOOST_TEST(total == 9u);
    BOOST_TEST(p.delivered() == 17u);
    BOOST_TEST(p.out() == 9u);
}

BOOST_AUTO_TEST_CASE(proportional_reduction_for_cubic_sends_seven_per_ten_acks) {
    // ssthresh = 14 of RecoverFS 20 (beta 0.7): sndcnt totals CEIL(delivered * 14 / 20).
    Prr p;
    p.start(20, 14);
    std::uint32_t total = 0;
    for (int ack = 1; ack <= 10; ++ack) {
        auto s = p.on_ack(1, 0, false, 18);
        BOOST_REQUIRE(s.has_value());
        p.on_sent(*s);
        total += *s;
    }
    BOOST_TEST(total == 7u);
}

BOOST_AUTO_TEST_CASE(ssrb_slow_starts_back_to_ssthresh_after_heavy_loss) {
    // RFC 6937 §3 PRR-SSRB: pipe <= ssthresh; each ACK that advances SND.UNA without new loss
    // allows delivered + 1, so pipe grows by one per ACK up to ssthresh.
    Prr p;
    p.start(20, 10);
    p.on_sent(1);  // the fast retransmit already went out
    std::uint32_t in_flight = 5;
    for (int ack = 0; ack < 5; ++ack) {
        in_flight -= 1;
        auto s = p.on_ack(1, 0, true, in_flight);
        BOOST_REQUIRE(s.has_value());
        BOOST_TEST(*s == 2u, "ack " << ack);
        p.on_sent(*s);
        in_flight += *s;
    }
    BOOST_TEST(in_flight == 10u);
    in_flight -= 1;
    auto s = p.on_ack(1, 0, true, in_flight);  // at ssthresh - 1: only refill to ssthresh
    BOOST_TEST(*s == 1u);
}

BOOST_AUTO_TEST_CASE(ssrb_without_una_advance_is_packet_conservation) {
    Prr p;
    p.start(20, 10);
    p.on_sent(1);
    auto s = p.on_ack(1, 0, false, 4);  // a SACK-only ACK: send what was delivered
    BOOST_TEST(*s == 1u);
    auto t = p.on_ack(1, 1, true, 4);  // new loss detected: no extra segment either
    BOOST_TEST(*t == 1u);
}

BOOST_AUTO_TEST_CASE(sndcnt_never_takes_pipe_above_ssthresh) {
    Prr p;
    p.start(20, 10);
    p.on_sent(1);
    auto s = p.on_ack(8, 0, true, 9);  // delivered a lot, but only one slot below ssthresh
    BOOST_TEST(*s == 1u);
}

BOOST_AUTO_TEST_CASE(first_ack_always_allows_the_fast_retransmit) {
    // Linux: sndcnt >= 1 while prr_out == 0, even with pipe already at ssthresh.
    Prr p;
    p.start(20, 10);
    auto s = p.on_ack(1, 0, false, 10);
    BOOST_TEST(*s == 1u);
}

BOOST_AUTO_TEST_CASE(ack_delivering_nothing_leaves_cwnd_alone) {
    Prr p;
    p.start(20, 10);
    BOOST_TEST(!p.on_ack(0, 0, false, 15).has_value());
    BOOST_TEST(p.cwnd_after_ack(17, 0, 0, false, 15) == 17u);
    BOOST_TEST(p.cwnd_after_ack(17, 1, 0, false, 15) == 16u);  // in_flight + sndcnt(1)
}

BOOST_AUTO_TEST_CASE(no_reduction_in_progress_returns_nothing) {
    Prr p;
    BOOST_TEST(!p.active());
    BOOST_TEST(!p.on_ack(1, 0, true, 5).has_value());
}
