#define BOOST_TEST_MODULE ip_reassembly
#include <boost/test/unit_test.hpp>

#include <random>

#include "ip/icmp.hpp"
#include "ip/ipv4.hpp"
#include "ip/reassembly.hpp"
#include "link/base/bytes.hpp"

using namespace tcpsim;
using namespace tcpsim::ip;
using Outcome = ReassemblyOutcome;

// Captured from Linux 6.x: two network namespaces joined by a veth pair (MTU 1500),
// 192.0.2.1/24 and 192.0.2.2/24, `ping -c 1 -s 2000 192.0.2.2`, `tcpdump -i vA -w` in the first
// namespace. The echo request left as two fragments; these are their IPv4 headers. The data is
// ping's pattern, rebuilt by big_echo_message().
const char* const kFragment1Header = "450005dc7c722000400154abc0000201c0000202";
const char* const kFragment2Header = "450002247c7200b9400177aac0000201c0000202";

const Ipv4Addr kA{192, 0, 2, 1};
const Ipv4Addr kB{192, 0, 2, 2};

ByteVector big_echo_message() {
    ByteVector m = from_hex("080027901fdd0001 4bd4016b00000000 4a6a0d0000000000");
    for (std::size_t i = 16; i < 2000; ++i) m.push_back(std::byte(i & 0xff));
    return m;
}

struct Captured {
    ByteVector message = big_echo_message();
    ByteVector f1, f2, whole;
    Captured() {
        f1 = from_hex(kFragment1Header);
        f1.insert(f1.end(), message.begin(), message.begin() + 1480);
        f2 = from_hex(kFragment2Header);
        f2.insert(f2.end(), message.begin() + 1480, message.end());
        // The datagram ping handed to IP before fragmentation.
        Ipv4Packet p{.id = 0x7c72, .ttl = 64, .protocol = Protocol::Icmp, .src = kA, .dst = kB, .options = {}, .payload = message};
        whole = encode_ipv4(p);
    }
};

Ipv4Packet parsed(const ByteVector& wire) {
    auto p = parse_ipv4(wire);
    BOOST_REQUIRE(p.has_value());
    return *p;
}

// A datagram with a recognisable payload.
ByteVector make_datagram(std::size_t payload_size, std::uint16_t id = 0x4242, Ipv4Addr src = kA) {
    ByteVector payload(payload_size);
    for (std::size_t i = 0; i < payload_size; ++i) payload[i] = std::byte((i * 7 + i / 256) & 0xff);
    Ipv4Packet p{.id = id, .ttl = 64, .protocol = Protocol::Udp, .src = src, .dst = kB, .options = {}, .payload = payload};
    return encode_ipv4(p);
}

std::vector<ByteVector> fragment(const ByteVector& datagram, std::size_t mtu) {
    auto f = Fragmenter::create(parsed(datagram), mtu);
    BOOST_REQUIRE(f.has_value());
    std::vector<ByteVector> out;
    while (!f->done()) {
        ByteVector buf(f->next_size());
        BOOST_TEST(f->next(buf) == buf.size());
        out.push_back(std::move(buf));
    }
    BOOST_TEST(out.size() == f->count());
    return out;
}

// Fragment header (20 bytes) with `offset_bytes`, MF and a payload of `len` bytes of `fill`.
ByteVector frag(std::size_t offset_bytes, bool mf, std::size_t len, std::uint8_t fill = 0xab, std::uint16_t id = 7) {
    ByteVector payload(len, std::byte{fill});
    Ipv4Packet p{.id = id, .more_fragments = mf, .fragment_offset = static_cast<std::uint16_t>(offset_bytes / 8), .ttl = 64,
                 .protocol = Protocol::Udp, .src = kA, .dst = kB, .options = {}, .payload = payload};
    return encode_ipv4(p);
}

Reassembler::Result feed(Reassembler& r, const ByteVector& wire, Time now = kTimeZero) {
    return r.add(now, parsed(wire));
}

BOOST_AUTO_TEST_CASE(captured_linux_fragments_reassemble_in_either_order) {
    Captured c;
    for (bool reversed : {false, true}) {
        Reassembler r;
        auto first = feed(r, reversed ? c.f2 : c.f1);
        BOOST_TEST((first.outcome == Outcome::Pending));
        BOOST_TEST(r.datagrams_in_progress() == 1u);
        auto done = feed(r, reversed ? c.f1 : c.f2);
        BOOST_REQUIRE((done.outcome == Outcome::Complete));
        BOOST_TEST(to_hex(done.datagram) == to_hex(c.whole));
        BOOST_TEST(r.datagrams_in_progress() == 0u);
        BOOST_TEST(r.bytes_held() == 0u);
        BOOST_TEST((r.next_deadline() == kTimeNever));
        // The reassembled datagram is a valid ICMP echo request.
        auto icmp = parse_icmp(parsed(to_vector(done.datagram)).payload);
        BOOST_REQUIRE(icmp.has_value());
        BOOST_TEST(icmp->echo_id() == 0x1fdd);
    }
}

BOOST_AUTO_TEST_CASE(our_fragmenter_splits_like_linux_byte_for_byte) {
    Captured c;
    auto pieces = fragment(c.whole, 1500);
    BOOST_REQUIRE(pieces.size() == 2u);
    BOOST_TEST(to_hex(pieces[0]) == to_hex(c.f1));
    BOOST_TEST(to_hex(pieces[1]) == to_hex(c.f2));
}

BOOST_AUTO_TEST_CASE(random_fragmentation_orders_and_duplicates_reassemble_exactly) {
    std::mt19937 rng(20261121);  // fixed seed: the same cases on every run
    for (int round = 0; round < 200; ++round) {
        std::size_t size = 1 + rng() % 9000;
        std::size_t mtu = 68 + rng() % 1500;
        ByteVector datagram = make_datagram(size, static_cast<std::uint16_t>(round));
        auto pieces = fragment(datagram, mtu);
        // Fisher-Yates with our own draws (std::shuffle's algorithm is unspecified).
        for (std::size_t i = pieces.size(); i > 1; --i) std::swap(pieces[i - 1], pieces[rng() % i]);
        if (pieces.size() > 2) pieces.insert(pieces.begin() + 1, pieces[rng() % pieces.size()]);
        Reassembler r;
        int complete = 0;
        for (std::size_t i = 0; i < pieces.size(); ++i) {
            auto res = feed(r, pieces[i]);
            if (pieces.size() == 1) {
                BOOST_TEST((res.outcome == Outcome::NotAFragment));
                complete = 1;
                continue;
            }
            BOOST_TEST((res.outcome != Outcome::DroppedOverlap));
            if (res.outcome == Outcome::Complete) {
                ++complete;
                BOOST_TEST(to_hex(res.datagram) == to_hex(datagram), "round " << round << " size " << size << " mtu " << mtu);
            }
        }
        BOOST_TEST(complete == 1, "round " << round);
        // Only a copy arriving after completion (the original came last) can start a new entry.
        BOOST_TEST(r.datagrams_in_progress() <= 1u);
    }
}

BOOST_AUTO_TEST_CASE(exact_duplicate_is_ignored_and_the_datagram_kept) {
    Reassembler r;
    BOOST_TEST((feed(r, frag(0, true, 16)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(0, true, 16)).outcome == Outcome::Duplicate));
    BOOST_TEST((feed(r, frag(0, true, 8)).outcome == Outcome::Duplicate));  // inside held data
    BOOST_TEST(r.stats().duplicates == 2u);
    auto done = feed(r, frag(16, false, 4, 0xcd));
    BOOST_REQUIRE((done.outcome == Outcome::Complete));
    BOOST_TEST(done.datagram.size() == 20u + 20u);
}

BOOST_AUTO_TEST_CASE(partial_overlap_discards_the_whole_datagram) {
    Reassembler r;
    BOOST_TEST((feed(r, frag(0, true, 16)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(32, false, 8)).outcome == Outcome::Pending));
    // [8, 24) overlaps held [0, 16) without lying inside it.
    BOOST_TEST((feed(r, frag(8, true, 16, 0xee)).outcome == Outcome::DroppedOverlap));
    BOOST_TEST(r.datagrams_in_progress() == 0u);
    BOOST_TEST(r.bytes_held() == 0u);
    BOOST_TEST(r.stats().overlaps == 1u);
    // A fragment spanning two held runs is an overlap too.
    BOOST_TEST((feed(r, frag(0, true, 8)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(16, true, 8)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(0, true, 24)).outcome == Outcome::DroppedOverlap));
    // The gap itself fills fine after a fresh start.
    BOOST_TEST((feed(r, frag(0, true, 8)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(16, false, 8)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(8, true, 8)).outcome == Outcome::Complete));
}

BOOST_AUTO_TEST_CASE(length_conflicts_discard_the_datagram) {
    Reassembler r;
    BOOST_TEST((feed(r, frag(0, true, 64)).outcome == Outcome::Pending));
    // A last fragment ending before data already held.
    BOOST_TEST((feed(r, frag(16, false, 8)).outcome == Outcome::DroppedBadLength));
    BOOST_TEST(r.datagrams_in_progress() == 0u);

    BOOST_TEST((feed(r, frag(32, false, 8)).outcome == Outcome::Pending));
    // Two different last fragments.
    BOOST_TEST((feed(r, frag(48, false, 8)).outcome == Outcome::DroppedBadLength));

    BOOST_TEST((feed(r, frag(32, false, 8)).outcome == Outcome::Pending));
    // Data past the known end.
    BOOST_TEST((feed(r, frag(40, true, 8)).outcome == Outcome::DroppedBadLength));

    // A non-final fragment under 8 bytes carries nothing once cut to a multiple of 8.
    BOOST_TEST((feed(r, frag(0, true, 5)).outcome == Outcome::DroppedBadLength));
    BOOST_TEST(r.stats().bad_lengths == 4u);
}

BOOST_AUTO_TEST_CASE(non_final_fragment_is_cut_to_a_multiple_of_8) {
    Reassembler r;
    BOOST_TEST((feed(r, frag(0, true, 13, 0x11)).outcome == Outcome::Pending));  // keeps 8
    auto done = feed(r, frag(8, false, 3, 0x22));
    BOOST_REQUIRE((done.outcome == Outcome::Complete));
    BOOST_TEST(done.datagram.size() == 20u + 11u);
    BOOST_TEST(to_hex(done.datagram.subspan(20)) == "1111111111111111222222");
}

BOOST_AUTO_TEST_CASE(datagram_past_65535_bytes_is_discarded) {
    Reassembler r;
    BOOST_TEST((feed(r, frag(0, true, 64)).outcome == Outcome::Pending));
    // Offset 65512 + 20 header + 8 bytes = 65540 > 65535 (the "ping of death").
    BOOST_TEST((feed(r, frag(65512, false, 8)).outcome == Outcome::DroppedOversize));
    BOOST_TEST(r.datagrams_in_progress() == 0u);
    BOOST_TEST((feed(r, frag(65504, false, 8)).outcome == Outcome::Pending));  // 65532: allowed
}

BOOST_AUTO_TEST_CASE(limits_refuse_new_fragments_instead_of_growing) {
    Reassembler r({.max_datagrams = 2, .max_bytes = 100, .timeout = std::chrono::seconds(30)});
    BOOST_TEST((feed(r, frag(0, true, 8, 1, /*id=*/1)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(0, true, 8, 1, /*id=*/2)).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, frag(0, true, 8, 1, /*id=*/3)).outcome == Outcome::DroppedNoRoom));
    BOOST_TEST(r.datagrams_in_progress() == 2u);
    // Datagrams already in progress still take fragments, up to the byte limit.
    BOOST_TEST((feed(r, frag(8, true, 80, 1, /*id=*/1)).outcome == Outcome::Pending));
    BOOST_TEST(r.bytes_held() == 96u);
    BOOST_TEST((feed(r, frag(8, true, 8, 1, /*id=*/2)).outcome == Outcome::DroppedNoRoom));
    BOOST_TEST(r.stats().no_room == 2u);
    BOOST_TEST((feed(r, frag(88, false, 4, 1, /*id=*/1)).outcome == Outcome::Complete));
    BOOST_TEST(r.bytes_held() == 8u);
}

BOOST_AUTO_TEST_CASE(fragments_of_different_sources_do_not_mix) {
    ByteVector a = make_datagram(3000, 99, kA);
    ByteVector b = make_datagram(3000, 99, Ipv4Addr{192, 0, 2, 3});
    auto pa = fragment(a, 1500), pb = fragment(b, 1500);
    BOOST_REQUIRE((pa.size() == 3u && pb.size() == 3u));
    Reassembler r;
    BOOST_TEST((feed(r, pa[0]).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, pb[0]).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, pb[1]).outcome == Outcome::Pending));
    BOOST_TEST((feed(r, pa[2]).outcome == Outcome::Pending));
    BOOST_TEST(r.datagrams_in_progress() == 2u);
    auto ra = feed(r, pa[1]);
    BOOST_REQUIRE((ra.outcome == Outcome::Complete));
    BOOST_TEST(to_hex(ra.datagram) == to_hex(a));
    auto rb = feed(r, pb[2]);
    BOOST_REQUIRE((rb.outcome == Outcome::Complete));
    BOOST_TEST(to_hex(rb.datagram) == to_hex(b));
}

BOOST_AUTO_TEST_CASE(incomplete_datagram_expires_after_30_seconds_with_its_first_fragment) {
    Captured c;
    Reassembler r;
    const Time t0 = kTimeZero + 5s;
    BOOST_TEST((feed(r, c.f1, t0).outcome == Outcome::Pending));
    BOOST_TEST((r.next_deadline() == t0 + 30s));
    // A later fragment of another datagram does not move this deadline, nor do later arrivals.
    BOOST_TEST((feed(r, frag(0, true, 8), t0 + 10s).outcome == Outcome::Pending));
    BOOST_TEST((r.next_deadline() == t0 + 30s));
    BOOST_TEST(!r.expire(t0 + 30s - 1ns).has_value());
    auto x = r.expire(t0 + 30s);
    BOOST_REQUIRE(x.has_value());
    BOOST_TEST(x->key.id == 0x7c72);
    BOOST_TEST((x->key.src == kA));
    // The first fragment, exactly as it arrived, ready to quote in ICMP time exceeded.
    BOOST_TEST(to_hex(x->first_fragment) == to_hex(c.f1));
    IcmpMessage m = IcmpMessage::time_exceeded(TimeExceededCode::ReassemblyTimeExceeded, x->first_fragment);
    BOOST_TEST(m.body.size() == kIcmpErrorQuoteMax);
    BOOST_TEST(!r.expire(t0 + 30s).has_value());
    BOOST_TEST((r.next_deadline() == t0 + 40s));
    BOOST_TEST(r.stats().timeouts == 1u);
}

BOOST_AUTO_TEST_CASE(expiry_without_the_first_fragment_owes_no_icmp) {
    Captured c;
    Reassembler r;
    BOOST_TEST((feed(r, c.f2).outcome == Outcome::Pending));
    auto x = r.expire(kTimeZero + 31s);
    BOOST_REQUIRE(x.has_value());
    BOOST_TEST(x->first_fragment.empty());
    BOOST_TEST(r.datagrams_in_progress() == 0u);
    BOOST_TEST(r.bytes_held() == 0u);
}

BOOST_AUTO_TEST_CASE(whole_datagrams_are_not_fragments) {
    Reassembler r;
    auto res = feed(r, make_datagram(100));
    BOOST_TEST((res.outcome == Outcome::NotAFragment));
    BOOST_TEST(r.datagrams_in_progress() == 0u);
}

BOOST_AUTO_TEST_CASE(reassembled_datagram_keeps_df_if_a_fragment_had_it) {
    // Linux (ip_frag_queue's max_size): DF on any fragment, not only the first, marks the whole.
    for (bool df_on_first : {true, false}) {
        Reassembler r;
        ByteVector first = frag(0, true, 8), last = frag(8, false, 8);
        Ipv4Packet a = parsed(first), b = parsed(last);
        (df_on_first ? a : b).dont_fragment = true;
        BOOST_TEST((r.add(kTimeZero, a).outcome == Outcome::Pending));
        auto done = r.add(kTimeZero, b);
        BOOST_REQUIRE((done.outcome == Outcome::Complete));
        auto q = parse_ipv4(done.datagram);
        BOOST_REQUIRE(q.has_value());
        BOOST_TEST(q->dont_fragment);
        BOOST_TEST(!q->more_fragments);
        BOOST_TEST(q->fragment_offset == 0);
    }
    // Without DF anywhere, none.
    Reassembler r;
    BOOST_TEST((feed(r, frag(0, true, 8)).outcome == Outcome::Pending));
    auto done = feed(r, frag(8, false, 8));
    BOOST_REQUIRE((done.outcome == Outcome::Complete));
    auto q = parse_ipv4(done.datagram);
    BOOST_REQUIRE(q.has_value());
    BOOST_TEST(!q->dont_fragment);
}

BOOST_AUTO_TEST_CASE(fragmenter_respects_df_and_minimum_mtu) {
    ByteVector big = make_datagram(1480);  // 1500 bytes on the wire
    Ipv4Packet p = parsed(big);
    p.dont_fragment = true;
    auto fits = Fragmenter::create(p, 1500);
    BOOST_REQUIRE(fits.has_value());
    BOOST_TEST(fits->count() == 1u);
    auto df = Fragmenter::create(p, 1400);
    BOOST_REQUIRE(!df.has_value());
    BOOST_TEST((df.error() == FragmentError::DontFragment));
    p.dont_fragment = false;
    auto tiny = Fragmenter::create(p, 27);
    BOOST_REQUIRE(!tiny.has_value());
    BOOST_TEST((tiny.error() == FragmentError::MtuTooSmall));
    BOOST_TEST(Fragmenter::create(p, 28).has_value());
    // RFC 791's minimum MTU of 68: 48 bytes of data per fragment.
    auto pieces = fragment(big, 68);
    BOOST_TEST(pieces.size() == 31u);  // 30 * 48 + 40
    BOOST_TEST(pieces.front().size() == 68u);
    BOOST_TEST(pieces.back().size() == 60u);
}

BOOST_AUTO_TEST_CASE(datagram_that_fits_is_produced_unchanged) {
    ByteVector d = make_datagram(100);
    auto pieces = fragment(d, 1500);
    BOOST_REQUIRE(pieces.size() == 1u);
    BOOST_TEST(to_hex(pieces[0]) == to_hex(d));
    ByteVector empty = make_datagram(0);
    auto e = fragment(empty, 68);
    BOOST_REQUIRE(e.size() == 1u);
    BOOST_TEST(to_hex(e[0]) == to_hex(empty));
}

BOOST_AUTO_TEST_CASE(only_copied_options_repeat_in_later_fragments) {
    // Record Route (7, not copied) and a copied option (Security-like type 0x82, length 4).
    ByteVector payload(100, std::byte{0x33});
    Ipv4Packet p{.id = 5, .protocol = Protocol::Udp, .src = kA, .dst = kB, .options = {}, .payload = payload};
    p.options.assign(from_hex("070704000000008204abcd00"));  // RR len 7, copied 0x82 len 4, EOL
    ByteVector wire = encode_ipv4(p);
    auto pieces = fragment(wire, 80);  // header 32 -> 48 bytes per fragment
    BOOST_REQUIRE(pieces.size() == 3u);
    auto first = parsed(pieces[0]);
    auto second = parsed(pieces[1]);
    BOOST_TEST(to_hex(first.options.raw()) == "070704000000008204abcd00");
    BOOST_TEST(to_hex(second.options.raw()) == "010101010101018204abcd00");
    BOOST_TEST(second.header_size() == first.header_size());
    // Reassembly uses the first fragment's header, options included.
    Reassembler r;
    Reassembler::Result res{Outcome::Pending, {}};
    for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) res = feed(r, *it);
    BOOST_REQUIRE((res.outcome == Outcome::Complete));
    BOOST_TEST(to_hex(res.datagram) == to_hex(wire));
}

BOOST_AUTO_TEST_CASE(fragments_can_be_fragmented_again_on_a_smaller_link) {
    Captured c;
    // The captured first fragment (offset 0, MF) crosses a 576-byte link.
    auto again = fragment(c.f1, 576);
    BOOST_REQUIRE(again.size() == 3u);  // 552 + 552 + 376
    auto last = parsed(again.back());
    BOOST_TEST(last.more_fragments);  // still not the datagram's end
    BOOST_TEST(last.fragment_byte_offset() == 1104u);
    // The captured last fragment split too: offsets continue from 1480, the final one ends it.
    auto again2 = fragment(c.f2, 300);
    BOOST_REQUIRE(again2.size() == 2u);  // 280 + 248
    BOOST_TEST(parsed(again2[0]).fragment_byte_offset() == 1480u);
    BOOST_TEST(parsed(again2[0]).more_fragments);
    BOOST_TEST(parsed(again2[1]).fragment_byte_offset() == 1760u);
    BOOST_TEST(!parsed(again2[1]).more_fragments);
    Reassembler r;
    Reassembler::Result res{Outcome::Pending, {}};
    for (auto* v : {&again, &again2})
        for (auto& piece : *v) res = feed(r, piece);
    BOOST_REQUIRE((res.outcome == Outcome::Complete));
    BOOST_TEST(to_hex(res.datagram) == to_hex(c.whole));
}

BOOST_AUTO_TEST_CASE(random_fragment_soup_keeps_limits_and_never_yields_garbage) {
    std::mt19937 rng(5722);
    const ReassemblyLimits limits{.max_datagrams = 4, .max_bytes = 20000, .timeout = std::chrono::seconds(30)};
    Reassembler r(limits);
    Time now = kTimeZero;
    int completed = 0;
    for (int round = 0; round < 20000; ++round) {
        now += std::chrono::milliseconds(rng() % 50);
        std::size_t offset = (rng() % 64) * 8;
        std::size_t len = rng() % 600;
        bool mf = rng() % 3 != 0;
        auto id = static_cast<std::uint16_t>(rng() % 6);
        ByteVector f = frag(offset, mf, len, static_cast<std::uint8_t>(rng()), id);
        auto res = feed(r, f, now);
        if (res.outcome == Outcome::Complete) {
            ++completed;
            auto q = parse_ipv4(res.datagram);
            BOOST_REQUIRE(q.has_value());
            BOOST_TEST(!q->is_fragment());
            BOOST_TEST(q->id == id);
        }
        BOOST_TEST(r.datagrams_in_progress() <= limits.max_datagrams);
        BOOST_TEST(r.bytes_held() <= limits.max_bytes);
        while (auto x = r.expire(now)) BOOST_TEST(x->first_fragment.size() <= 20u + 65535u);
        BOOST_TEST((r.next_deadline() > now));
    }
    BOOST_TEST(completed > 0);  // the soup does sometimes make whole datagrams
}
