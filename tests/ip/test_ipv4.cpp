#define BOOST_TEST_MODULE ip_ipv4
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>

#include "ip/checksum.hpp"
#include "ip/ipv4.hpp"
#include "link/base/bytes.hpp"
#include "link/ethernet/ethernet.hpp"
#include "linux_captures.hpp"

using namespace tcpsim;
using namespace tcpsim::ip;
using namespace tcpsim::testing::captures;

// More of the captures of linux_captures.hpp.
// The UDP datagram "hi\n" to port 9, as a 45-byte frame (veth does not pad).
const char* const kUdpFrame =
    "2a929089978cfa20a3949dd70800"
    "4500001fa07d40004011164dc0000201c0000202ad940009000b842068690a";
// Headers of the two fragments of the 2028-byte echo request (ICMP id 0x1fdd, seq 1).
const char* const kFragment1Header = "450005dc7c722000400154abc0000201c0000202";
const char* const kFragment2Header = "450002247c7200b9400177aac0000201c0000202";

// The ICMP message ping -s 2000 sent: header, 16-byte timeval, then bytes i & 0xff.
ByteVector big_echo_message() {
    ByteVector m = from_hex("080027901fdd0001 4bd4016b00000000 4a6a0d0000000000");
    for (std::size_t i = 16; i < 2000; ++i) m.push_back(std::byte(i & 0xff));
    return m;
}

BOOST_AUTO_TEST_CASE(captured_echo_request_parses_to_expected_fields_and_reencodes) {
    ByteVector wire = from_hex(kEchoRequest);
    auto p = parse_ipv4(wire);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->header_size() == 20u);
    BOOST_TEST(p->tos == 0);
    BOOST_TEST(p->total_length == 84);
    BOOST_TEST(p->id == 0x7c71);
    BOOST_TEST(p->dont_fragment);
    BOOST_TEST(!p->more_fragments);
    BOOST_TEST(!p->reserved_flag);
    BOOST_TEST(p->fragment_offset == 0);
    BOOST_TEST(!p->is_fragment());
    BOOST_TEST(p->ttl == 64);
    BOOST_TEST((p->protocol == Protocol::Icmp));
    BOOST_TEST(p->checksum == 0x3a34);
    BOOST_TEST((p->src == kA));
    BOOST_TEST((p->dst == kB));
    BOOST_TEST(p->payload.size() == 64u);
    BOOST_TEST(p->payload.data() == wire.data() + 20);
    BOOST_TEST(to_hex(encode_ipv4(*p)) == to_hex(wire));
}

BOOST_AUTO_TEST_CASE(captured_echo_reply_without_df_reencodes) {
    ByteVector wire = from_hex(kEchoReply);
    auto p = parse_ipv4(wire);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->id == 0x705e);
    BOOST_TEST(!p->dont_fragment);
    BOOST_TEST((p->src == kB));
    BOOST_TEST(to_hex(encode_ipv4(*p)) == to_hex(wire));
}

BOOST_AUTO_TEST_CASE(captured_fragments_parse_with_offsets_and_reencode) {
    ByteVector msg = big_echo_message();
    ByteVector f1 = from_hex(kFragment1Header);
    f1.insert(f1.end(), msg.begin(), msg.begin() + 1480);
    ByteVector f2 = from_hex(kFragment2Header);
    f2.insert(f2.end(), msg.begin() + 1480, msg.end());

    auto p1 = parse_ipv4(f1);
    BOOST_REQUIRE(p1.has_value());
    BOOST_TEST(p1->more_fragments);
    BOOST_TEST(!p1->dont_fragment);
    BOOST_TEST(p1->fragment_byte_offset() == 0u);
    BOOST_TEST(p1->is_fragment());
    BOOST_TEST(p1->total_length == 1500);
    BOOST_TEST(to_hex(encode_ipv4(*p1)) == to_hex(f1));

    auto p2 = parse_ipv4(f2);
    BOOST_REQUIRE(p2.has_value());
    BOOST_TEST(!p2->more_fragments);
    BOOST_TEST(p2->fragment_offset == 185);
    BOOST_TEST(p2->fragment_byte_offset() == 1480u);
    BOOST_TEST(p2->is_fragment());
    BOOST_TEST(p2->payload.size() == 528u);
    BOOST_TEST(to_hex(encode_ipv4(*p2)) == to_hex(f2));
}

BOOST_AUTO_TEST_CASE(trailing_ethernet_padding_is_ignored_by_total_length) {
    ByteVector frame = from_hex(kUdpFrame);
    auto f = link::parse_ethernet(frame);
    BOOST_REQUIRE(f.has_value());
    ByteVector padded = link::encode_ethernet(f->header, f->payload, link::Padding::ToMinimum);
    BOOST_REQUIRE(padded.size() == 60u);
    auto g = link::parse_ethernet(padded);
    BOOST_REQUIRE(g.has_value());
    BOOST_TEST(g->payload.size() == 46u);
    auto p = parse_ipv4(g->payload);
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->total_length == 31);
    BOOST_TEST((p->protocol == Protocol::Udp));
    BOOST_TEST(p->payload.size() == 11u);  // UDP header + "hi\n", not the 15 padding bytes
    BOOST_TEST(to_hex(p->payload) == "ad940009000b842068690a");
    BOOST_TEST(to_hex(encode_ipv4(*p)) == to_hex(f->payload));
}

BOOST_AUTO_TEST_CASE(value_encodes_with_computed_length_and_checksum) {
    ByteVector payload = from_hex("0800f7ff00000000");
    Ipv4Packet p{.tos = 0x10, .id = 0x1234, .dont_fragment = true, .ttl = 7, .protocol = Protocol::Icmp,
                 .checksum = 0xdead /* ignored */, .total_length = 1 /* ignored */, .src = kA, .dst = kB, .options = {}, .payload = payload};
    ByteVector wire = encode_ipv4(p);
    BOOST_TEST(wire.size() == 28u);
    BOOST_TEST(to_hex(Bytes(wire).first(20)) == "4510001c123440000701" + to_hex(Bytes(wire).subspan(10, 2)) + "c0000201c0000202");
    BOOST_TEST(internet_checksum(Bytes(wire).first(20)) == 0);
    // Independent check of the checksum: RFC 1071 sum of the header words with checksum zero.
    std::uint32_t sum = 0x4510 + 0x001c + 0x1234 + 0x4000 + 0x0701 + 0xc000 + 0x0201 + 0xc000 + 0x0202;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    BOOST_TEST(load_be16(wire, 10) == static_cast<std::uint16_t>(~sum));
}

BOOST_AUTO_TEST_CASE(header_encodes_in_place_in_front_of_a_payload) {
    ByteVector wire = from_hex(kEchoRequest);
    auto p = parse_ipv4(wire);
    BOOST_REQUIRE(p.has_value());
    ByteVector buf(wire.size());
    std::memcpy(buf.data() + 20, p->payload.data(), p->payload.size());
    BOOST_TEST(encode_ipv4_header(*p, p->payload.size(), buf) == 20u);
    BOOST_TEST(to_hex(buf) == to_hex(wire));
}

BOOST_AUTO_TEST_CASE(options_are_skipped_by_ihl_and_kept_for_round_trip) {
    // IHL 6 with a Router Alert option (RFC 2113: 94 04 0000), as IGMP reports carry.
    ByteVector payload = from_hex("2200f9020000000104000000e00000fb");
    Ipv4Packet p{.ttl = 1, .protocol = Protocol{2}, .src = kA, .dst = Ipv4Addr{224, 0, 0, 22}, .options = {}, .payload = payload};
    p.options.assign(from_hex("94040000"));
    ByteVector wire = encode_ipv4(p);
    BOOST_TEST(std::to_integer<int>(wire[0]) == 0x46);
    auto q = parse_ipv4(wire);
    BOOST_REQUIRE(q.has_value());
    BOOST_TEST(q->header_size() == 24u);
    BOOST_TEST(to_hex(q->options.raw()) == "94040000");
    BOOST_TEST(to_hex(q->payload) == to_hex(payload));
    BOOST_TEST(to_hex(encode_ipv4(*q)) == to_hex(wire));
    // Odd-sized options are padded with EOL to a multiple of four.
    Ipv4Options o;
    o.assign(from_hex("0101 01"));
    BOOST_TEST(o.size == 4);
    BOOST_TEST(to_hex(o.raw()) == "01010100");
}

Ipv4Error parse_error(const ByteVector& wire, Ipv4ParseOptions opts = {}) {
    auto p = parse_ipv4(wire, opts);
    BOOST_REQUIRE(!p.has_value());
    return p.error();
}

// Rewrites the header checksum so that only the intended defect remains.
ByteVector with_fixed_checksum(ByteVector wire) {
    std::size_t hlen = std::size_t{std::to_integer<unsigned>(wire[0]) & 0xfu} * 4;
    store_be16(wire, 10, 0);
    store_be16(wire, 10, internet_checksum(Bytes(wire).first(std::min(hlen, wire.size()))));
    return wire;
}

BOOST_AUTO_TEST_CASE(each_malformed_header_yields_its_typed_error) {
    ByteVector good = from_hex(kEchoRequest);

    BOOST_TEST((parse_error(ByteVector(good.begin(), good.begin() + 19)) == Ipv4Error::TooShort));
    BOOST_TEST((parse_error({}) == Ipv4Error::TooShort));

    ByteVector v6 = good;
    v6[0] = std::byte{0x65};
    BOOST_TEST((parse_error(with_fixed_checksum(v6)) == Ipv4Error::BadVersion));

    ByteVector ihl4 = good;
    ihl4[0] = std::byte{0x44};
    BOOST_TEST((parse_error(ihl4) == Ipv4Error::BadHeaderLength));

    // IHL 15 (60 bytes) in a 40-byte buffer.
    ByteVector ihl15(good.begin(), good.begin() + 40);
    ihl15[0] = std::byte{0x4f};
    BOOST_TEST((parse_error(ihl15) == Ipv4Error::HeaderPastBuffer));

    ByteVector small_total = good;
    store_be16(small_total, 2, 19);
    BOOST_TEST((parse_error(with_fixed_checksum(small_total)) == Ipv4Error::TotalLengthTooSmall));

    ByteVector truncated(good.begin(), good.end() - 1);
    BOOST_TEST((parse_error(truncated) == Ipv4Error::TotalLengthPastBuffer));

    ByteVector corrupt = good;
    corrupt[8] = std::byte{63};  // TTL changed without fixing the checksum
    BOOST_TEST((parse_error(corrupt) == Ipv4Error::BadChecksum));
    BOOST_TEST(std::string(to_string(Ipv4Error::BadChecksum)).find("checksum") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(checksum_verification_can_be_skipped_for_tracing) {
    ByteVector corrupt = from_hex(kEchoRequest);
    corrupt[8] = std::byte{63};
    auto p = parse_ipv4(corrupt, {.verify_checksum = false});
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->ttl == 63);
    BOOST_TEST(p->checksum == 0x3a34);  // the wrong checksum, as it was on the wire
}

BOOST_AUTO_TEST_CASE(truncated_datagram_is_accepted_only_when_asked) {
    ByteVector good = from_hex(kEchoRequest);
    ByteVector quoted(good.begin(), good.begin() + 28);  // header + 8 bytes, as ICMP errors quote
    BOOST_TEST((parse_error(quoted) == Ipv4Error::TotalLengthPastBuffer));
    auto p = parse_ipv4(quoted, {.allow_truncated = true});
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->total_length == 84);
    BOOST_TEST(p->payload.size() == 8u);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_valid_datagram_fails_cleanly) {
    ByteVector good = from_hex(kEchoRequest);
    for (std::size_t n = 0; n < good.size(); ++n) {
        ByteVector prefix(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        auto p = parse_ipv4(prefix);
        BOOST_TEST(!p.has_value());
    }
}

BOOST_AUTO_TEST_CASE(random_and_mutated_bytes_never_read_out_of_bounds) {
    // Run under ASan (TCPSIM_SANITIZE) this proves the bounds; here it checks the invariants.
    std::mt19937 rng(791);
    ByteVector good = from_hex(kEchoRequest);
    for (int round = 0; round < 20000; ++round) {
        ByteVector wire;
        if (round % 2 == 0) {
            wire.resize(rng() % 80);
            for (auto& b : wire) b = std::byte(rng() & 0xff);
            if (!wire.empty()) wire[0] = std::byte(0x40 | (rng() & 0xf));  // mostly version 4
        } else {
            wire = good;
            for (int flips = 1 + rng() % 4; flips > 0; --flips) wire[rng() % wire.size()] = std::byte(rng() & 0xff);
            wire.resize(rng() % (wire.size() + 1));
        }
        for (bool verify : {true, false}) {
            auto p = parse_ipv4(wire, {.verify_checksum = verify, .allow_truncated = !verify});
            if (!p) continue;
            BOOST_TEST(p->header_size() >= 20u);
            BOOST_TEST(p->payload.data() >= wire.data());
            BOOST_TEST(p->payload.data() + p->payload.size() <= wire.data() + wire.size());
            BOOST_TEST(p->header_size() + p->payload.size() <= std::size_t{p->total_length});
        }
    }
}
