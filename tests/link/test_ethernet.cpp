#define BOOST_TEST_MODULE link_ethernet
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "link/base/bytes.hpp"
#include "link/ethernet/ethernet.hpp"

using namespace tcpsim;
using namespace tcpsim::link;

// Captured from Linux 6.x: two network namespaces joined by a veth pair (192.0.2.1/24 on
// fa:20:a3:94:9d:d7, 192.0.2.2/24 on 2a:92:90:89:97:8c), `ping -c 1 192.0.2.2` from the first,
// `tcpdump -i vA -w` in the first. veth does not pad, so the ARP frames are 42 bytes.
const char* const kArpRequestFrame =
    "ffffffffffff fa20a3949dd7 0806 0001080006040001fa20a3949dd7c0000201000000000000c0000202";
const char* const kEchoRequestFrame =
    "2a929089978c fa20a3949dd7 0800"
    "450000547c71400040013a34c0000201c0000202"
    "080091b41fdc00014bd4016b000000002d5c0d0000000000"
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

const MacAddr kMacA{{0xfa, 0x20, 0xa3, 0x94, 0x9d, 0xd7}};
const MacAddr kMacB{{0x2a, 0x92, 0x90, 0x89, 0x97, 0x8c}};

BOOST_AUTO_TEST_CASE(captured_ipv4_frame_parses_and_reencodes_byte_for_byte) {
    ByteVector wire = from_hex(kEchoRequestFrame);
    auto f = parse_ethernet(wire);
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(f->header.dst.to_string() == "2a:92:90:89:97:8c");
    BOOST_TEST(f->header.src.to_string() == "fa:20:a3:94:9d:d7");
    BOOST_TEST(static_cast<unsigned>(f->header.type) == 0x0800u);
    BOOST_TEST(f->payload.size() == 84u);
    BOOST_TEST(f->payload.data() == wire.data() + 14);  // a view, not a copy
    BOOST_TEST(to_hex(encode_ethernet(f->header, f->payload)) == to_hex(wire));
}

BOOST_AUTO_TEST_CASE(captured_broadcast_arp_frame_parses_and_reencodes) {
    ByteVector wire = from_hex(kArpRequestFrame);
    auto f = parse_ethernet(wire);
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST(f->header.dst.is_broadcast());
    BOOST_TEST((f->header.src == kMacA));
    BOOST_TEST((f->header.type == EtherType::Arp));
    BOOST_TEST(f->payload.size() == 28u);
    BOOST_TEST(to_hex(encode_ethernet(f->header, f->payload)) == to_hex(wire));
}

BOOST_AUTO_TEST_CASE(value_encodes_to_exact_bytes) {
    EthernetHeader h{.dst = kMacB, .src = kMacA, .type = EtherType::Ipv4};
    ByteVector payload = from_hex("deadbeef");
    BOOST_TEST(to_hex(encode_ethernet(h, payload)) == "2a929089978cfa20a3949dd70800deadbeef");
}

BOOST_AUTO_TEST_CASE(frame_shorter_than_header_is_too_short) {
    ByteVector wire = from_hex(kArpRequestFrame);
    for (std::size_t n = 0; n < kEthernetHeaderSize; ++n) {
        auto f = parse_ethernet(Bytes(wire).first(n));
        BOOST_REQUIRE(!f.has_value());
        BOOST_TEST((f.error() == EthernetError::TooShort));
    }
    auto header_only = parse_ethernet(Bytes(wire).first(kEthernetHeaderSize));
    BOOST_REQUIRE(header_only.has_value());
    BOOST_TEST(header_only->payload.empty());
}

BOOST_AUTO_TEST_CASE(ieee_802_3_length_field_is_not_ethernet_ii) {
    // An 802.3/LLC frame (STP BPDU style): length 0x0026 where the EtherType would be.
    ByteVector wire = from_hex("0180c2000000 fa20a3949dd7 0026 424203000000");
    auto f = parse_ethernet(wire);
    BOOST_REQUIRE(!f.has_value());
    BOOST_TEST((f.error() == EthernetError::NotEthernetII));
    BOOST_TEST(std::string(to_string(f.error())).find("802.3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_ethertypes_are_carried_verbatim) {
    ByteVector wire = from_hex("3333000000fb fa20a3949dd7 86dd 6000");
    auto f = parse_ethernet(wire);
    BOOST_REQUIRE(f.has_value());
    BOOST_TEST((f->header.type == EtherType::Ipv6));
    ByteVector odd = from_hex("3333000000fb fa20a3949dd7 88cc 01");
    auto g = parse_ethernet(odd);
    BOOST_REQUIRE(g.has_value());
    BOOST_TEST(static_cast<unsigned>(g->header.type) == 0x88ccu);
    BOOST_TEST(to_hex(encode_ethernet(g->header, g->payload)) == to_hex(odd));
}

BOOST_AUTO_TEST_CASE(short_frames_are_padded_to_60_bytes_on_request) {
    ByteVector arp = from_hex(kArpRequestFrame);
    auto f = parse_ethernet(arp);
    BOOST_REQUIRE(f.has_value());
    ByteVector padded = encode_ethernet(f->header, f->payload, Padding::ToMinimum);
    BOOST_TEST(padded.size() == kEthernetMinFrameSize);
    BOOST_TEST(ethernet_frame_size(28, Padding::ToMinimum) == 60u);
    BOOST_TEST(ethernet_frame_size(28) == 42u);
    BOOST_TEST(to_hex(Bytes(padded).first(42)) == to_hex(arp));
    BOOST_TEST(std::all_of(padded.begin() + 42, padded.end(), [](std::byte b) { return b == std::byte{0}; }));
    // The padded frame's payload includes the padding: upper layers use their own length.
    auto g = parse_ethernet(padded);
    BOOST_REQUIRE(g.has_value());
    BOOST_TEST(g->payload.size() == kEthernetMinPayload);

    // Frames at or above the minimum are never padded.
    ByteVector big = from_hex(kEchoRequestFrame);
    auto h = parse_ethernet(big);
    BOOST_REQUIRE(h.has_value());
    BOOST_TEST(encode_ethernet(h->header, h->payload, Padding::ToMinimum).size() == big.size());
}

BOOST_AUTO_TEST_CASE(padding_overwrites_stale_buffer_bytes_with_zeros) {
    ByteVector buf(64, std::byte{0xaa});
    EthernetHeader h{.dst = kMacB, .src = kMacA, .type = EtherType::Arp};
    std::size_t n = encode_ethernet(h, from_hex("0102"), buf, Padding::ToMinimum);
    BOOST_TEST(n == 60u);
    BOOST_TEST(std::all_of(buf.begin() + 16, buf.begin() + 60, [](std::byte b) { return b == std::byte{0}; }));
    BOOST_TEST((buf[60] == std::byte{0xaa}));  // nothing written past the frame
}
