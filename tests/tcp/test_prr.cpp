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

// ---- The classes together, driven as tcp/congestion.hpp's recipe says ----------------------

#include <deque>
#include <vector>

#include "tcp/congestion.hpp"
#include "tcp/sack_scoreboard.hpp"

namespace {
using tcpsim::Time;
using tcpsim::kTimeZero;

// An ACK-clocked model: segments travel in send order; one is lost once; the receiver SACKs the
// block holding the segment that just arrived (RFC 2018 §4: most recent first).
struct Episode {
    static constexpr std::uint32_t kMss = 1000;
    std::unique_ptr<CongestionControl> cc = make_congestion_control(CongestionAlgorithm::Reno, 20);
    SackScoreboard sb;
    Prr prr;
    std::deque<std::uint32_t> wire;  // segment numbers in flight, in order
    std::vector<bool> received;
    std::uint32_t una = 0, nxt = 0;  // in segments
    bool recovery = false;
    std::uint32_t recovery_point = 0;
    std::uint32_t retransmissions = 0, new_in_recovery = 0, prr_out_at_exit = 0;
    std::vector<std::uint32_t> sent_per_ack;

    SeqNum seq(std::uint32_t segment) const { return SeqNum(segment * kMss); }
    std::uint32_t segs(std::uint32_t bytes) const { return (bytes + kMss - 1) / kMss; }
    std::uint32_t pipe() const { return segs(sb.pipe(seq(nxt), kMss)); }

    void send_new() {
        wire.push_back(nxt++);
        received.resize(nxt, false);
    }
    void ack_arrives(Time now, std::uint32_t cum, SackBlock block) {
        bool advanced = cum > una;
        una = std::max(una, cum);
        SackBlock blocks[1] = {block};
        auto r = sb.update(seq(una), seq(nxt), block.left < block.right ? std::span<const SackBlock>(blocks) : std::span<const SackBlock>(), kMss);
        std::uint32_t sent = 0;
        if (recovery && una >= recovery_point) {
            prr_out_at_exit = prr.out();
            cc->on_exit_recovery(now);
            prr.stop();
            recovery = false;
        }
        if (!recovery && una < nxt && sb.is_lost(seq(una), kMss)) {
            cc->on_enter_recovery(now, pipe());
            prr.start(cc->prior_cwnd(), cc->ssthresh());
            sb.enter_recovery(seq(una), seq(nxt));
            recovery = true;
            recovery_point = nxt;
        }
        if (recovery) {
            cc->set_cwnd(prr.cwnd_after_ack(cc->cwnd(), segs(r.delivered_bytes), segs(r.newly_lost_bytes), advanced, pipe()));
            while (pipe() + 1 <= cc->cwnd()) {
                auto ns = sb.next_seg(seq(nxt), kMss, true);
                if (ns.kind == SackScoreboard::NextKind::NewData) {
                    send_new();
                    ++new_in_recovery;
                } else if (ns.kind != SackScoreboard::NextKind::None) {
                    wire.push_back(static_cast<std::uint32_t>(ns.seq - SeqNum(0)) / kMss);
                    ++retransmissions;
                } else {
                    break;
                }
                sb.mark_sent(ns);
                prr.on_sent(1);
                ++sent;
            }
            sent_per_ack.push_back(sent);
        }
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(sack_recovery_episode_follows_prr_and_exits_at_ssthresh) {
    // RFC 6937 §5's scenario without limited transmit: 20 segments in flight, the first lost,
    // Reno (ssthresh 10, RecoverFS 20). Recovery starts on the 3rd duplicate ACK (RFC 6675
    // IsLost), the retransmission goes first, then one new segment per two ACKs while pipe >
    // ssthresh. Without the two limited-transmit segments of the RFC's table pipe reaches
    // ssthresh at the 15th ACK; from there PRR-SSRB sends one per ACK and holds it at ssthresh.
    // ACK k (m = k - 2 ACKs in recovery) sees pipe = (19 - k) + sent so far.
    Episode e;
    for (int i = 0; i < 20; ++i)
        e.send_new();
    bool lost_once = false;
    Time now = kTimeZero;
    int acks = 0;
    while (!e.wire.empty() && acks < 200) {
        std::uint32_t s = e.wire.front();
        e.wire.pop_front();
        if (s == 0 && !lost_once) {
            lost_once = true;
            continue;
        }
        e.received[s] = true;
        std::uint32_t cum = 0;
        while (cum < e.received.size() && e.received[cum])
            ++cum;
        std::uint32_t l = s, r = s + 1;
        while (l > cum && e.received[l - 1])
            --l;
        while (r < e.received.size() && e.received[r])
            ++r;
        SackBlock block = s >= cum ? SackBlock{e.seq(l), e.seq(r)} : SackBlock{};
        now += std::chrono::milliseconds(1);
        e.ack_arrives(now, cum, block);
        ++acks;
        if (!e.recovery && e.una == 20)
            break;  // the retransmission was ACKed: the episode is over
    }
    BOOST_TEST(e.una == 20u);
    BOOST_TEST(e.retransmissions == 1u);
    // ACKs 3..14: proportional, 1 0 1 0 ...; ACK 15: pipe = 10 = ssthresh, nothing; ACKs 16..19:
    // pipe 9, SSRB refills one each.
    const std::uint32_t expected[17] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1};
    BOOST_REQUIRE(e.sent_per_ack.size() == 17u);
    for (std::size_t i = 0; i < e.sent_per_ack.size(); ++i)
        BOOST_TEST(e.sent_per_ack[i] == expected[i], "ack " << i + 3);
    BOOST_TEST(e.prr_out_at_exit == 10u);  // the retransmission and 9 new segments
    BOOST_TEST(e.new_in_recovery == 9u);
    BOOST_TEST(e.cc->cwnd() == 10u);
    BOOST_TEST(e.cc->ssthresh() == 10u);
    BOOST_TEST(e.nxt - e.una <= 10u);
}
