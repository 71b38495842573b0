#include "link/arp/arp.hpp"

#include <cassert>

#include "link/ethernet/ethernet.hpp"

namespace tcpsim::link {

namespace {
constexpr std::uint16_t kHtypeEthernet = 1;
constexpr std::uint16_t kPtypeIpv4 = 0x0800;

}  // namespace

const char* to_string(ArpError e) {
    switch (e) {
        case ArpError::TooShort: return "ARP packet shorter than 28 bytes";
        case ArpError::BadHardwareType: return "ARP hardware type is not Ethernet (1)";
        case ArpError::BadProtocolType: return "ARP protocol type is not IPv4 (0x0800)";
        case ArpError::BadHardwareLength: return "ARP hardware address length is not 6";
        case ArpError::BadProtocolLength: return "ARP protocol address length is not 4";
        case ArpError::BadOperation: return "ARP operation is neither request (1) nor reply (2)";
    }
    return "unknown ARP error";
}

Expected<ArpPacket, ArpError> parse_arp(Bytes wire) {
    if (wire.size() < kArpSize) return unexpected(ArpError::TooShort);
    if (load_be16(wire, 0) != kHtypeEthernet) return unexpected(ArpError::BadHardwareType);
    if (load_be16(wire, 2) != kPtypeIpv4) return unexpected(ArpError::BadProtocolType);
    if (load_u8(wire, 4) != 6) return unexpected(ArpError::BadHardwareLength);
    if (load_u8(wire, 5) != 4) return unexpected(ArpError::BadProtocolLength);
    std::uint16_t op = load_be16(wire, 6);
    if (op != 1 && op != 2) return unexpected(ArpError::BadOperation);
    ArpPacket p;
    p.op = static_cast<ArpOp>(op);
    p.sender_mac = load_mac(wire, 8);
    p.sender_ip = Ipv4Addr{load_be32(wire, 14)};
    p.target_mac = load_mac(wire, 18);
    p.target_ip = Ipv4Addr{load_be32(wire, 24)};
    return p;
}

std::size_t encode_arp(const ArpPacket& p, MutableBytes out) {
    assert(out.size() >= kArpSize);
    store_be16(out, 0, kHtypeEthernet);
    store_be16(out, 2, kPtypeIpv4);
    store_u8(out, 4, 6);
    store_u8(out, 5, 4);
    store_be16(out, 6, static_cast<std::uint16_t>(p.op));
    store_mac(out, 8, p.sender_mac);
    store_be32(out, 14, p.sender_ip.value);
    store_mac(out, 18, p.target_mac);
    store_be32(out, 24, p.target_ip.value);
    return kArpSize;
}

ByteVector encode_arp(const ArpPacket& p) {
    ByteVector out(kArpSize);
    encode_arp(p, out);
    return out;
}

}  // namespace tcpsim::link
