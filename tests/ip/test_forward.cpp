#define BOOST_TEST_MODULE ip_forward
#include <boost/test/unit_test.hpp>

#include "ip/checksum.hpp"
#include "ip/forward.hpp"
#include "ip/ipv4.hpp"

using namespace tcpsim;
using namespace tcpsim::ip;

namespace {

Ipv4Packet packet(std::uint8_t ttl, bool df) {
    Ipv4Packet p;
    p.ttl = ttl;
    p.dont_fragment = df;
    p.protocol = Protocol::Udp;
    p.src = Ipv4Addr{192, 0, 2, 1};
    p.dst = Ipv4Addr{198, 51, 100, 1};
    return p;
}

const NextHop kHop{1, Ipv4Addr{198, 51, 100, 1}};

}  // namespace

BOOST_AUTO_TEST_CASE(forwards_with_a_route_and_room) {
    const auto d = decide_forward(packet(64, true), 1500, kHop, 1500);
    BOOST_TEST((d.action == ForwardAction::Forward));
    BOOST_TEST(d.hop.ifindex == 1u);
    BOOST_TEST(d.hop.addr.value == kHop.addr.value);
    // Too big but fragmentable: forwarded (the output path fragments).
    BOOST_TEST((decide_forward(packet(64, false), 1501, kHop, 1500).action == ForwardAction::Forward));
}

BOOST_AUTO_TEST_CASE(ttl_of_one_is_time_exceeded_before_routing) {
    for (std::uint8_t ttl : {0, 1}) {
        const auto d = decide_forward(packet(ttl, false), 100, std::nullopt, 0);
        BOOST_TEST((d.action == ForwardAction::TtlExceeded));
        BOOST_TEST((d.icmp_type == IcmpType::TimeExceeded));
        BOOST_TEST(d.icmp_code == static_cast<std::uint8_t>(TimeExceededCode::TtlExceeded));
    }
}

BOOST_AUTO_TEST_CASE(no_route_is_net_unreachable) {
    const auto d = decide_forward(packet(64, false), 100, std::nullopt, 0);
    BOOST_TEST((d.action == ForwardAction::NoRoute));
    BOOST_TEST((d.icmp_type == IcmpType::DestUnreachable));
    BOOST_TEST(d.icmp_code == static_cast<std::uint8_t>(UnreachableCode::Net));
}

BOOST_AUTO_TEST_CASE(too_big_with_df_reports_the_next_hop_mtu) {
    const auto d = decide_forward(packet(64, true), 1400, kHop, 1280);
    BOOST_TEST((d.action == ForwardAction::FragmentationNeeded));
    BOOST_TEST((d.icmp_type == IcmpType::DestUnreachable));
    BOOST_TEST(d.icmp_code == static_cast<std::uint8_t>(UnreachableCode::FragmentationNeeded));
    BOOST_TEST(d.icmp_mtu == 1280);
}

BOOST_AUTO_TEST_CASE(decrement_ttl_keeps_the_header_checksum_valid) {
    const ByteVector payload(8);
    Ipv4Packet p0 = packet(64, true);
    p0.payload = payload;
    ByteVector wire = encode_ipv4(p0);
    decrement_ttl(wire);
    auto p = parse_ipv4(wire);  // verifies the checksum
    BOOST_REQUIRE(p.has_value());
    BOOST_TEST(p->ttl == 63);
    BOOST_TEST(internet_checksum(Bytes(wire).first(kIpv4MinHeaderSize)) == 0);
}
