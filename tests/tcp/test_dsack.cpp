#define BOOST_TEST_MODULE tcp_dsack
#include <boost/test/unit_test.hpp>

// D-SACK (RFC 2883) as the receiver sends it, in transcripts: a segment we already have is
// reported in the first SACK block of the next ACK, once (Linux tcp_dsack_set, tcp_options_write).

#include <vector>

#include "transcript.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;
using namespace tcpsim::tcp::test;
using namespace std::chrono_literals;

namespace {

SeqNum o(Harness& h, std::uint32_t rel) { return h.our_iss + rel; }
SeqNum p(Harness& h, std::uint32_t rel) { return h.peer_iss + rel; }

Options ts(std::uint32_t val) {
    Options x;
    x.nop().nop().timestamps(val, 0);
    return x;
}

// The SACK blocks of a sent segment, relative to the peer's ISS, as "l-r" strings.
std::vector<std::string> blocks(Harness& h, const Sent& s) {
    std::vector<std::string> v;
    for (const SackBlock& b : s.seg.options.sack_blocks())
        v.push_back(std::to_string(b.left - h.peer_iss) + "-" + std::to_string(b.right - h.peer_iss));
    return v;
}
using Blocks = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_CASE(a_retransmission_of_delivered_data_is_acked_at_once_with_a_dsack_block) {
    Harness h;
    h.open_passive(true);
    h.deliver(at(20ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(600), .data = pattern(100)});
    h.expect_sent({.ack = p(h, 101), .flags = Ack});  // quick-ACK at start
    // Our ACK was lost; the peer retransmits the same bytes.
    h.deliver(at(300ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(700), .data = pattern(100)});
    auto a = h.expect_sent({.ack = p(h, 101), .flags = Ack});
    BOOST_TEST(blocks(h, a) == (Blocks{"1-101"}), "a D-SACK block lies below the cumulative ACK");
    BOOST_TEST((a.at == at(300ms)), "acked at once, not delayed");
    // The D-SACK is reported once: the next ACK carries no SACK option.
    h.deliver(at(310ms), {.seq = p(h, 101), .ack = o(h, 1), .flags = Ack, .options = ts(710), .data = pattern(100)});
    auto n = h.expect_sent({.ack = p(h, 201), .flags = Ack});
    BOOST_TEST(blocks(h, n).empty());
}

BOOST_AUTO_TEST_CASE(a_partly_old_segment_reports_only_the_part_below_rcv_nxt) {
    Harness h;
    h.open_passive(true);
    h.deliver(at(20ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(600), .data = pattern(100)});
    h.expect_sent({.ack = p(h, 101), .flags = Ack});
    h.deliver(at(30ms), {.seq = p(h, 51), .ack = o(h, 1), .flags = Ack, .options = ts(610), .data = pattern(100)});
    auto a = h.expect_sent({.ack = p(h, 151), .flags = Ack});
    BOOST_TEST(blocks(h, a) == (Blocks{"51-101"}));
}

BOOST_AUTO_TEST_CASE(a_duplicate_of_out_of_order_data_is_followed_by_the_block_that_holds_it) {
    Harness h;
    h.open_passive(true);
    h.deliver(at(20ms), {.seq = p(h, 101), .ack = o(h, 1), .flags = Ack, .options = ts(600), .data = pattern(200)});
    auto first = h.expect_sent({.ack = p(h, 1), .flags = Ack});
    BOOST_TEST(blocks(h, first) == (Blocks{"101-301"}));
    h.deliver(at(30ms), {.seq = p(h, 151), .ack = o(h, 1), .flags = Ack, .options = ts(610), .data = pattern(50)});
    auto a = h.expect_sent({.ack = p(h, 1), .flags = Ack});
    // RFC 2883 §4: the duplicate first, then the (larger) block containing it.
    BOOST_TEST(blocks(h, a) == (Blocks{"151-201", "101-301"}));
    // Filling the hole with a segment that overlaps the held data reports the overlap.
    h.deliver(at(40ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(620), .data = pattern(150)});
    auto f = h.expect_sent({.ack = p(h, 301), .flags = Ack});
    BOOST_TEST(blocks(h, f) == (Blocks{"101-151"}));
}

BOOST_AUTO_TEST_CASE(an_unacceptable_old_segment_draws_a_dupack_with_dsack) {
    Harness h;
    h.open_passive(true);
    h.deliver(at(20ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(600), .data = pattern(100)});
    h.expect_sent({.ack = p(h, 101), .flags = Ack});
    h.deliver(at(30ms), {.seq = p(h, 101), .ack = o(h, 1), .flags = Ack, .options = ts(610), .data = pattern(100)});
    h.expect_sent({.ack = p(h, 201), .flags = Ack});
    // Entirely left of the window (RFC 9293 §3.10.7.4 first check fails): ACK with D-SACK.
    h.deliver(at(40ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(620), .data = pattern(50)});
    auto a = h.expect_sent({.ack = p(h, 201), .flags = Ack});
    BOOST_TEST(blocks(h, a) == (Blocks{"1-51"}));
}

BOOST_AUTO_TEST_CASE(no_dsack_when_the_sysctl_is_off_or_sack_was_not_negotiated) {
    Config off;
    off.dsack = false;
    Harness h(off);
    h.open_passive(true);
    h.deliver(at(20ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(600), .data = pattern(100)});
    h.expect_sent({.ack = p(h, 101), .flags = Ack});
    h.deliver(at(30ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(610), .data = pattern(100)});
    auto a = h.expect_sent({.ack = p(h, 101), .flags = Ack});
    BOOST_TEST(blocks(h, a).empty());

    Config nosack;
    nosack.sack = false;
    Harness g(nosack);
    g.open_passive(true);
    g.deliver(at(20ms), {.seq = p(g, 1), .ack = o(g, 1), .flags = Ack, .options = ts(600), .data = pattern(100)});
    g.expect_sent({.ack = p(g, 101), .flags = Ack});
    g.deliver(at(30ms), {.seq = p(g, 1), .ack = o(g, 1), .flags = Ack, .options = ts(610), .data = pattern(100)});
    auto b = g.expect_sent({.ack = p(g, 101), .flags = Ack});
    BOOST_TEST(blocks(g, b).empty());
}

BOOST_AUTO_TEST_CASE(data_segments_carrying_sack_blocks_shrink_their_payload_to_fit_the_mtu) {
    // Linux tcp_current_mss: the option bytes of SACK blocks come out of the payload, so the
    // segment never exceeds MSS + timestamps (here 1448 + 12 option bytes in a 1500-byte packet).
    Harness h;
    h.open_passive(true);
    h.deliver(at(20ms), {.seq = p(h, 101), .ack = o(h, 1), .flags = Ack, .options = ts(600), .data = pattern(100)});
    h.expect_sent({.ack = p(h, 1), .flags = Ack});
    h.send(at(30ms), pattern(4000));
    auto first = h.expect_sent({.seq = o(h, 1), .flags = Ack});
    BOOST_TEST(blocks(h, first) == (Blocks{"101-201"}));
    BOOST_TEST(first.data.size() == 1448u - 12u, "one SACK block is 12 option bytes (nop,nop,kind,len,2x4)");
    BOOST_TEST(first.seg.options.size() + first.data.size() == 1448u + 12u);
    // Once the hole is filled there are no blocks to carry: full-sized segments again.
    h.deliver(at(40ms), {.seq = p(h, 1), .ack = o(h, 1), .flags = Ack, .options = ts(610), .data = pattern(100)});
    h.send(at(41ms), pattern(3000));
    std::size_t full = 0;
    while (!h.sent.empty()) {
        auto s = h.sent.front();
        h.sent.pop_front();
        if (s.data.size() == 1448u) ++full;
        BOOST_TEST(s.seg.options.size() + s.data.size() <= 1448u + 12u);
    }
    BOOST_TEST(full >= 1u);
}
