#define BOOST_TEST_MODULE link_arp
#include <boost/test/unit_test.hpp>

#include "link/arp/arp.hpp"
#include "link/base/bytes.hpp"
#include "link/ethernet/ethernet.hpp"

using namespace tcpsim;
using namespace tcpsim::link;

// Captured from Linux 6.x: two network namespaces joined by a veth pair (192.0.2.1/24 on
// fa:20:a3:94:9d:d7, 192.0.2.2/24 on 2a:92:90:89:97:8c), `ping -c 1 192.0.2.2` from the first,
// `tcpdump -i vA -w` in the first. Whole Ethernet frames (veth does not pad to 60 bytes).
const char* const kRequestFrame =
    "ffffffffffff fa20a3949dd7 0806"
    "0001 0800 06 04 0001 fa20a3949dd7 c0000201 000000000000 c0000202";
const char* const kReplyFrame =
    "fa20a3949dd7 2a929089978c 0806"
    "0001 0800 06 04 0002 2a929089978c c0000202 fa20a3949dd7 c0000201";

const MacAddr kMacA{{0xfa, 0x20, 0xa3, 0x94, 0x9d, 0xd7}};
const MacAddr kMacB{{0x2a, 0x92, 0x90, 0x89, 0x97, 0x8c}};
const Ipv4Addr kA{192, 0, 2, 1};
const Ipv4Addr kB{192, 0, 2, 2};

ArpPacket parse_frame(const ByteVector& frame) {
    auto f = parse_ethernet(frame);
    BOOST_REQUIRE(f.has_value());
    BOOST_REQUIRE((f->header.type == EtherType::Arp));
    auto a = parse_arp(f->payload);
    BOOST_REQUIRE(a.has_value());
    return *a;
}

BOOST_AUTO_TEST_CASE(captured_request_parses_to_expected_fields_and_reencodes) {
    ByteVector frame = from_hex(kRequestFrame);
    ArpPacket a = parse_frame(frame);
    BOOST_TEST((a.op == ArpOp::Request));
    BOOST_TEST((a.sender_mac == kMacA));
    BOOST_TEST((a.sender_ip == kA));
    BOOST_TEST((a.target_mac == MacAddr{}));
    BOOST_TEST((a.target_ip == kB));
    BOOST_TEST(!a.is_gratuitous());
    BOOST_TEST(to_hex(encode_arp(a)) == to_hex(Bytes(frame).subspan(14)));
    // Our builder produces exactly what Linux sent.
    BOOST_TEST((ArpPacket::request(kMacA, kA, kB) == a));
}

BOOST_AUTO_TEST_CASE(captured_reply_parses_and_matches_our_reply_builder) {
    ByteVector frame = from_hex(kReplyFrame);
    ArpPacket r = parse_frame(frame);
    BOOST_TEST((r.op == ArpOp::Reply));
    BOOST_TEST((r.sender_mac == kMacB));
    BOOST_TEST((r.sender_ip == kB));
    BOOST_TEST((r.target_mac == kMacA));
    BOOST_TEST((r.target_ip == kA));
    BOOST_TEST(to_hex(encode_arp(r)) == to_hex(Bytes(frame).subspan(14)));
    ArpPacket req = parse_frame(from_hex(kRequestFrame));
    BOOST_TEST((ArpPacket::reply_to(req, kMacB) == r));
}

BOOST_AUTO_TEST_CASE(padded_frame_ignores_trailing_bytes) {
    ByteVector frame = from_hex(kRequestFrame);
    auto f = parse_ethernet(frame);
    BOOST_REQUIRE(f.has_value());
    ByteVector padded = encode_ethernet(f->header, f->payload, Padding::ToMinimum);
    BOOST_TEST(padded.size() == 60u);
    BOOST_TEST((parse_frame(padded) == parse_frame(frame)));
}

ArpError error_of(ByteVector wire) {
    auto a = parse_arp(wire);
    BOOST_REQUIRE(!a.has_value());
    return a.error();
}

BOOST_AUTO_TEST_CASE(each_malformed_packet_yields_its_typed_error) {
    ByteVector good = from_hex(kRequestFrame);
    good.erase(good.begin(), good.begin() + 14);
    auto with = [&](std::size_t off, std::uint8_t v) {
        ByteVector b = good;
        b[off] = std::byte{v};
        return b;
    };
    BOOST_TEST((error_of(ByteVector(good.begin(), good.end() - 1)) == ArpError::TooShort));
    BOOST_TEST((error_of({}) == ArpError::TooShort));
    BOOST_TEST((error_of(with(1, 6)) == ArpError::BadHardwareType));   // IEEE 802 (6)
    BOOST_TEST((error_of(with(2, 0x86)) == ArpError::BadProtocolType));  // 0x8600
    BOOST_TEST((error_of(with(4, 8)) == ArpError::BadHardwareLength));
    BOOST_TEST((error_of(with(5, 16)) == ArpError::BadProtocolLength));
    BOOST_TEST((error_of(with(7, 3)) == ArpError::BadOperation));  // RARP request
    BOOST_TEST((error_of(with(7, 0)) == ArpError::BadOperation));
    BOOST_TEST(std::string(to_string(ArpError::BadOperation)).find("request") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(gratuitous_arp_is_recognised) {
    ArpPacket g = ArpPacket::request(kMacA, kA, kA);
    BOOST_TEST(g.is_gratuitous());
    BOOST_TEST(to_hex(encode_arp(g)) == "0001080006040001fa20a3949dd7c0000201000000000000c0000201");
}
