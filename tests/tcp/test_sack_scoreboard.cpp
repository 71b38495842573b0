#define BOOST_TEST_MODULE tcp_sack_scoreboard
#include <boost/test/unit_test.hpp>

#include <optional>
#include <vector>

#include "tcp/sack_scoreboard.hpp"

using namespace tcpsim::tcp;

namespace {
// Sequence space starts near the wrap so modular arithmetic is exercised everywhere.
constexpr std::uint32_t kBase = 0xffff'f000u;
SeqNum S(std::uint32_t off) { return SeqNum(kBase + off); }
SackBlock B(std::uint32_t l, std::uint32_t r) { return {S(l), S(r)}; }
constexpr std::uint32_t kMss = 1000;

using Blocks = std::vector<SackBlock>;
SackScoreboard::UpdateResult upd(SackScoreboard& sb, std::uint32_t una, std::uint32_t nxt, Blocks blocks,
                                 std::uint32_t smss = 0) {
    return sb.update(S(una), S(nxt), blocks, smss);
}
}  // namespace

BOOST_AUTO_TEST_CASE(records_new_blocks_and_counts_newly_sacked_bytes) {
    SackScoreboard sb;
    auto r = upd(sb, 0, 10000, {B(1000, 2000)});
    BOOST_TEST(r.newly_sacked_bytes == 1000u);
    BOOST_TEST(!r.dsack);
    r = upd(sb, 0, 10000, {B(1000, 3000)});  // grows the same range
    BOOST_TEST(r.newly_sacked_bytes == 1000u);
    r = upd(sb, 0, 10000, {B(1000, 3000)});  // repeated: nothing new
    BOOST_TEST(r.newly_sacked_bytes == 0u);
    BOOST_TEST(sb.sacked_bytes() == 2000u);
    BOOST_TEST(sb.ranges().size() == 1u);
}

BOOST_AUTO_TEST_CASE(adjacent_and_overlapping_blocks_merge) {
    SackScoreboard sb;
    upd(sb, 0, 20000, {B(1000, 2000), B(3000, 4000), B(5000, 6000)});
    BOOST_TEST(sb.ranges().size() == 3u);
    auto r = upd(sb, 0, 20000, {B(2000, 5500)});  // bridges all three
    BOOST_TEST(r.newly_sacked_bytes == 2000u);  // [2000,3000) and [4000,5000)
    BOOST_REQUIRE(sb.ranges().size() == 1u);
    BOOST_TEST((sb.ranges()[0] == B(1000, 6000)));
    BOOST_TEST(sb.sacked_bytes() == 5000u);
    BOOST_TEST((sb.highest_sacked() == S(6000)));
}

BOOST_AUTO_TEST_CASE(cumulative_ack_swallows_sacked_ranges) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 2000), B(3000, 4000)});
    auto r = upd(sb, 3500, 10000, {});
    BOOST_TEST(r.newly_acked_sacked_bytes == 1500u);
    BOOST_TEST(sb.sacked_bytes() == 500u);
    BOOST_REQUIRE(sb.ranges().size() == 1u);
    BOOST_TEST((sb.ranges()[0] == B(3500, 4000)));
    upd(sb, 2000, 10000, {});  // an old ACK never moves HighACK back
    BOOST_TEST((sb.snd_una() == S(3500)));
}

BOOST_AUTO_TEST_CASE(dsack_below_cumulative_ack_is_reported_not_recorded) {
    // RFC 2883 §4.1: first block below the ACK field is a D-SACK.
    SackScoreboard sb;
    auto r = upd(sb, 5000, 10000, {B(3000, 4000)});
    BOOST_TEST(r.dsack);
    BOOST_TEST((r.dsack_block == B(3000, 4000)));
    BOOST_TEST(r.newly_sacked_bytes == 0u);
    BOOST_TEST(sb.empty());
}

BOOST_AUTO_TEST_CASE(dsack_inside_the_second_block_is_detected) {
    // RFC 2883 §4.2: first block contained in the second.
    SackScoreboard sb;
    auto r = upd(sb, 0, 10000, {B(4000, 5000), B(3000, 6000)});
    BOOST_TEST(r.dsack);
    BOOST_TEST(r.newly_sacked_bytes == 3000u);
    BOOST_TEST(sb.sacked_bytes() == 3000u);
}

BOOST_AUTO_TEST_CASE(invalid_blocks_are_ignored) {
    SackScoreboard sb;
    upd(sb, 1000, 10000, {});
    auto r = upd(sb, 1000, 10000, {B(2000, 3000), B(9000, 11000), B(5000, 5000), B(500, 1500)});
    BOOST_TEST(!r.dsack);
    BOOST_TEST(r.invalid_blocks == 3u);  // past SND.NXT, empty, below SND.UNA (not first)
    BOOST_TEST(sb.sacked_bytes() == 1000u);
}

BOOST_AUTO_TEST_CASE(is_lost_needs_more_than_dupthresh_minus_one_segments_sacked_above) {
    // RFC 6675 §4 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above.
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 3000)});
    BOOST_TEST(!sb.is_lost(S(0), kMss));  // exactly 2 * SMSS above: not more
    upd(sb, 0, 10000, {B(1000, 3001)});
    BOOST_TEST(sb.is_lost(S(0), kMss));
    BOOST_TEST(!sb.is_lost(S(3001), kMss));
}

BOOST_AUTO_TEST_CASE(is_lost_with_dupthresh_discontiguous_ranges_above) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 1100), B(2000, 2100), B(3000, 3100)});
    BOOST_TEST(sb.is_lost(S(0), kMss));      // three ranges above
    BOOST_TEST(!sb.is_lost(S(1500), kMss));  // two ranges, 200 bytes
}

BOOST_AUTO_TEST_CASE(pipe_counts_unsacked_not_lost_and_retransmitted_bytes) {
    // Ten segments out, the first lost, segments 2-4 SACKed (RFC 6675 §4 SetPipe).
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 4000)});
    sb.enter_recovery(S(0), S(10000));
    BOOST_TEST(sb.is_lost(S(0), kMss));
    BOOST_TEST(sb.pipe(S(10000), kMss) == 6000u);  // segments 5-10 still in flight
    BOOST_TEST(sb.lost_bytes(S(10000), kMss) == 1000u);
    auto next = sb.next_seg(S(10000), kMss, true);
    BOOST_TEST((next == SackScoreboard::NextSeg{SackScoreboard::NextKind::Retransmit, S(0), 1000}));
    sb.mark_sent(next);
    BOOST_TEST(sb.pipe(S(10000), kMss) == 7000u);  // the retransmission is in flight
}

BOOST_AUTO_TEST_CASE(next_seg_walks_lost_holes_then_new_data) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 2000), B(2500, 6000)});
    sb.enter_recovery(S(0), S(10000));
    using K = SackScoreboard::NextKind;
    auto a = sb.next_seg(S(10000), kMss, true);
    BOOST_TEST((a == SackScoreboard::NextSeg{K::Retransmit, S(0), 1000}));
    sb.mark_sent(a);
    auto b = sb.next_seg(S(10000), kMss, true);
    BOOST_TEST((b == SackScoreboard::NextSeg{K::Retransmit, S(2000), 500}));  // hole is 500 bytes
    sb.mark_sent(b);
    auto c = sb.next_seg(S(10000), kMss, true);
    BOOST_TEST((c == SackScoreboard::NextSeg{K::NewData, S(10000), 1000}));  // rule (2)
}

BOOST_AUTO_TEST_CASE(next_seg_rule_three_retransmits_a_hole_not_yet_lost) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 2000)});
    sb.enter_recovery(S(0), S(10000));
    BOOST_TEST(!sb.is_lost(S(0), kMss));
    using K = SackScoreboard::NextKind;
    BOOST_TEST((sb.next_seg(S(10000), kMss, true).kind == K::NewData));
    BOOST_TEST((sb.next_seg(S(10000), kMss, false) == SackScoreboard::NextSeg{K::Retransmit, S(0), 1000}));
}

BOOST_AUTO_TEST_CASE(rescue_retransmission_once_per_recovery) {
    // RFC 6675 §4 NextSeg (4): no hole below the highest SACK left and no new data: retransmit
    // the segment holding the highest unSACKed octet, once.
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 4000)});
    sb.enter_recovery(S(0), S(10000));
    sb.mark_sent(sb.next_seg(S(10000), kMss, false));  // hole [0,1000)
    using K = SackScoreboard::NextKind;
    auto rescue = sb.next_seg(S(10000), kMss, false);
    BOOST_TEST((rescue == SackScoreboard::NextSeg{K::Rescue, S(9000), 1000}));
    sb.mark_sent(rescue);
    BOOST_TEST((sb.high_rxt() == S(1000)));  // HighRxt MUST NOT move
    BOOST_TEST((sb.next_seg(S(10000), kMss, false).kind == K::None));
}

BOOST_AUTO_TEST_CASE(rescue_targets_the_highest_hole_below_a_sack_at_snd_nxt) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(8500, 10000)});
    sb.enter_recovery(S(0), S(10000));
    sb.on_retransmit(S(0), 8500);  // everything below already retransmitted
    auto rescue = sb.next_seg(S(10000), kMss, false);
    BOOST_TEST((rescue == SackScoreboard::NextSeg{SackScoreboard::NextKind::Rescue, S(7500), 1000}));
}

BOOST_AUTO_TEST_CASE(full_scoreboard_forgets_the_highest_range) {
    SackScoreboard sb;
    const std::uint32_t n = SackScoreboard::kMaxRanges;
    for (std::uint32_t i = 0; i < n; ++i)
        upd(sb, 0, 1000000, {B(1000 + 2000 * i, 2000 + 2000 * i)});
    BOOST_TEST(sb.ranges().size() == n);
    auto r = upd(sb, 0, 1000000, {B(500000, 501000)});  // above all: dropped
    BOOST_TEST(r.newly_sacked_bytes == 0u);
    BOOST_TEST(sb.ranges().size() == n);
    r = upd(sb, 0, 1000000, {B(100, 200)});  // below all: kept, the highest goes
    BOOST_TEST(r.newly_sacked_bytes == 100u);
    BOOST_TEST(sb.ranges().size() == n);
    BOOST_TEST(sb.sacked_bytes() == n * 1000u - 1000u + 100u);
    BOOST_TEST((sb.highest_sacked() == S(2000 + 2000 * (n - 2))));
}

BOOST_AUTO_TEST_CASE(clear_forgets_all_sacked_data) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(1000, 4000)});
    sb.clear();
    BOOST_TEST(sb.empty());
    BOOST_TEST(sb.sacked_bytes() == 0u);
    BOOST_TEST(!sb.is_lost(S(0), kMss));
    BOOST_TEST(sb.pipe(S(10000), kMss) == 10000u);
}

BOOST_AUTO_TEST_CASE(pipe_counts_holes_below_three_small_ranges_as_lost) {
    // Three discontiguous 100-byte SACKs: the hole below them is lost by the DupThresh-ranges
    // rule even though only 300 bytes are SACKed.
    SackScoreboard sb;
    upd(sb, 0, 4000, {B(1000, 1100), B(2000, 2100), B(3000, 3100)});
    sb.enter_recovery(S(0), S(4000));
    // Lost: [0,1000). Not lost: [1100,2000) [2100,3000) [3100,4000).
    BOOST_TEST(sb.lost_bytes(S(4000), kMss) == 1000u);
    BOOST_TEST(sb.pipe(S(4000), kMss) == 2700u);
}

BOOST_AUTO_TEST_CASE(pipe_and_next_seg_agree_with_an_octet_by_octet_reference) {
    // RFC 6675 §4 defines SetPipe and NextSeg octet by octet via IsLost(); compare the range
    // arithmetic against that literal definition on many seeded random scoreboards.
    std::uint32_t state = 12345;
    auto rnd = [&](std::uint32_t n) {
        state = state * 1103515245u + 12345u;
        return (state >> 8) % n;
    };
    const std::uint32_t mss = 100;
    for (int round = 0; round < 300; ++round) {
        SackScoreboard sb;
        const std::uint32_t nxt = 500 + rnd(2000);
        upd(sb, 0, nxt, {});
        sb.enter_recovery(S(0), S(nxt));
        for (int k = rnd(8); k > 0; --k) {
            std::uint32_t l = 1 + rnd(nxt - 1);
            std::uint32_t r = l + 1 + rnd(std::min<std::uint32_t>(300, nxt - l));
            upd(sb, 0, nxt, {B(l, std::min(r, nxt))});
        }
        if (rnd(2))
            sb.on_retransmit(S(0), rnd(nxt));
        std::uint32_t ref_pipe = 0;
        for (std::uint32_t o = 0; o < nxt; ++o) {
            if (sb.is_sacked(S(o)))
                continue;
            if (!sb.is_lost(S(o), mss))
                ++ref_pipe;
            if (S(o) < sb.high_rxt())
                ++ref_pipe;
        }
        BOOST_TEST(sb.pipe(S(nxt), mss) == ref_pipe, "round " << round);
        // NextSeg rule (1): smallest unSACKed, lost octet at or above HighRxt, below the highest SACK.
        std::optional<std::uint32_t> rule1;
        for (std::uint32_t o = 0; o < nxt; ++o) {
            SeqNum s = S(o);
            if (s >= sb.high_rxt() && s < sb.highest_sacked() && !sb.is_sacked(s) && sb.is_lost(s, mss)) {
                rule1 = o;
                break;
            }
        }
        auto next = sb.next_seg(S(nxt), mss, true);
        if (rule1) {
            BOOST_TEST((next.kind == SackScoreboard::NextKind::Retransmit), "round " << round);
            BOOST_TEST((next.seq == S(*rule1)), "round " << round);
            BOOST_TEST(next.len >= 1u);
            BOOST_TEST(next.len <= mss);
            BOOST_TEST(!sb.is_sacked(next.seq + (next.len - 1)));
        } else {
            BOOST_TEST((next.kind == SackScoreboard::NextKind::NewData), "round " << round);
        }
    }
}

BOOST_AUTO_TEST_CASE(delivered_counts_sacked_then_acked_data_once) {
    // RFC 6937 DeliveredData = delta(snd.una) + delta(SACKed): data SACKed earlier and now
    // covered by the cumulative ACK was already delivered.
    SackScoreboard sb;
    upd(sb, 0, 10000, {});
    auto a = upd(sb, 0, 10000, {B(1000, 3000)});
    BOOST_TEST(a.delivered_bytes == 2000u);
    auto b = upd(sb, 3000, 10000, {B(4000, 5000)});  // the hole [0,1000) arrives + a new SACK
    BOOST_TEST(b.acked_bytes == 3000u);
    BOOST_TEST(b.newly_acked_sacked_bytes == 2000u);
    BOOST_TEST(b.delivered_bytes == 2000u);  // 1000 newly ACKed + 1000 newly SACKed
}

BOOST_AUTO_TEST_CASE(newly_lost_reports_only_fresh_losses) {
    SackScoreboard sb;
    upd(sb, 0, 10000, {}, kMss);
    auto a = upd(sb, 0, 10000, {B(1000, 2000)}, kMss);
    BOOST_TEST(a.newly_lost_bytes == 0u);
    auto b = upd(sb, 0, 10000, {B(2000, 4000)}, kMss);  // 3000 SACKed above [0,1000): lost
    BOOST_TEST(b.newly_lost_bytes == 1000u);
    auto c = upd(sb, 0, 10000, {B(5000, 8000)}, kMss);  // now [4000,5000) is lost too
    BOOST_TEST(c.newly_lost_bytes == 1000u);
    auto d = upd(sb, 500, 10000, {}, kMss);  // half of the first hole arrives: nothing new lost
    BOOST_TEST(d.newly_lost_bytes == 0u);
    BOOST_TEST(sb.lost_bytes(S(10000), kMss) == 1500u);
}

BOOST_AUTO_TEST_CASE(ranges_match_a_bitmap_model_under_random_acks_and_sacks) {
    // Invariants after every update: ranges sorted, disjoint, non-adjacent, above SND.UNA; the
    // SACKed set equals a per-octet model; newly SACKed / delivered bytes equal the model's deltas.
    std::uint32_t state = 777;
    auto rnd = [&](std::uint32_t n) {
        state = state * 1103515245u + 12345u;
        return (state >> 8) % n;
    };
    const std::uint32_t nxt = 3000;
    for (int round = 0; round < 50; ++round) {
        SackScoreboard sb;
        std::vector<bool> sacked(nxt, false);
        std::uint32_t una = 0;
        upd(sb, 0, nxt, {});
        for (int step = 0; step < 60 && una < nxt; ++step) {
            std::uint32_t new_una = una + (rnd(4) == 0 ? rnd(std::min<std::uint32_t>(400, nxt - una)) : 0);
            Blocks blocks;
            for (int k = rnd(4); k > 0; --k) {
                std::uint32_t l = new_una + rnd(nxt - new_una);
                std::uint32_t r = std::min(nxt, l + 1 + rnd(200));
                if (l < r) blocks.push_back(B(l, r));
            }
            // Model.
            std::uint32_t model_swallowed = 0, model_new = 0;
            for (std::uint32_t o = una; o < new_una; ++o)
                if (sacked[o]) ++model_swallowed;
            std::size_t first = 0;
            if (!blocks.empty() && blocks.size() > 1 && blocks[0].left >= blocks[1].left && blocks[0].right <= blocks[1].right)
                first = 1;  // contained in the second block: a D-SACK
            for (std::size_t k = first; k < blocks.size(); ++k)
                for (SeqNum o = blocks[k].left; o < blocks[k].right; o += 1) {
                    std::uint32_t i = static_cast<std::uint32_t>(o - S(0));
                    if (!sacked[i] && i >= new_una) {
                        sacked[i] = true;
                        ++model_new;
                    }
                }
            auto r = upd(sb, new_una, nxt, blocks);
            BOOST_TEST(r.newly_sacked_bytes == model_new, "round " << round << " step " << step);
            BOOST_TEST(r.newly_acked_sacked_bytes == model_swallowed);
            BOOST_TEST(r.delivered_bytes == (new_una - una) - model_swallowed + model_new);
            una = new_una;
            // Invariants.
            std::uint32_t total = 0;
            auto rs = sb.ranges();
            for (std::size_t k = 0; k < rs.size(); ++k) {
                BOOST_TEST((rs[k].left < rs[k].right));
                BOOST_TEST((rs[k].left >= S(una)));
                if (k > 0)
                    BOOST_TEST((rs[k - 1].right < rs[k].left));  // disjoint and not touching
                total += static_cast<std::uint32_t>(rs[k].right - rs[k].left);
            }
            BOOST_TEST(sb.sacked_bytes() == total);
            std::uint32_t model_total = 0;
            bool same = true;
            for (std::uint32_t o = una; o < nxt; ++o) {
                model_total += sacked[o];
                same = same && sb.is_sacked(S(o)) == bool(sacked[o]);
            }
            BOOST_TEST(same, "round " << round << " step " << step);
            BOOST_TEST(total == model_total);
        }
    }
}

BOOST_AUTO_TEST_CASE(ack_stopping_at_a_sacked_range_reports_reneging) {
    // Linux FLAG_SACK_RENEGING: the peer SACKed [2000,3000) but now ACKs only up to 2000 (or
    // into the range): it discarded the SACKed data.
    SackScoreboard sb;
    upd(sb, 0, 10000, {B(2000, 3000), B(5000, 6000)});
    BOOST_TEST(!upd(sb, 1000, 10000, {}).reneged);  // an honest partial ACK
    BOOST_TEST(upd(sb, 2000, 10000, {}).reneged);
    SackScoreboard into;
    upd(into, 0, 10000, {B(2000, 3000)});
    BOOST_TEST(into.update(S(2500), S(10000), {}).reneged);
    SackScoreboard past;
    upd(past, 0, 10000, {B(2000, 3000)});
    BOOST_TEST(!past.update(S(3000), S(10000), {}).reneged);  // covered the whole range
    BOOST_TEST(!upd(past, 3000, 10000, {}).reneged);          // no advance, no verdict
}
