// ARP for IPv4 over Ethernet (RFC 826): the only combination the stack speaks (htype 1,
// ptype 0x0800, hlen 6, plen 4); anything else is rejected with a typed error.
#pragma once

#include <cstddef>
#include <cstdint>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"

namespace tcpsim::link {

inline constexpr std::size_t kArpSize = 28;

enum class ArpOp : std::uint16_t {
    Request = 1,
    Reply = 2,
};

struct ArpPacket {
    ArpOp op = ArpOp::Request;
    MacAddr sender_mac{};
    Ipv4Addr sender_ip{};
    MacAddr target_mac{};  // all zeros in a request (Linux), ignored by receivers
    Ipv4Addr target_ip{};

    // "Who has target_ip? Tell sender_ip."
    static ArpPacket request(MacAddr sender_mac, Ipv4Addr sender_ip, Ipv4Addr target_ip) {
        return {ArpOp::Request, sender_mac, sender_ip, MacAddr{}, target_ip};
    }
    // The answer to `req` from the owner of req.target_ip.
    static ArpPacket reply_to(const ArpPacket& req, MacAddr our_mac) {
        return {ArpOp::Reply, our_mac, req.target_ip, req.sender_mac, req.sender_ip};
    }
    // Gratuitous ARP (RFC 5227 §3): sender and target IP are the same address.
    bool is_gratuitous() const { return sender_ip == target_ip; }
    bool operator==(const ArpPacket&) const = default;
};

enum class ArpError {
    TooShort,           // fewer than 28 bytes
    BadHardwareType,    // htype != 1 (Ethernet)
    BadProtocolType,    // ptype != 0x0800 (IPv4)
    BadHardwareLength,  // hlen != 6
    BadProtocolLength,  // plen != 4
    BadOperation,       // op not request (1) or reply (2), e.g. RARP's 3/4
};
const char* to_string(ArpError e);

// Parses the ARP packet at the start of `wire`; trailing bytes (Ethernet padding) are ignored.
Expected<ArpPacket, ArpError> parse_arp(Bytes wire);

// Writes the 28-byte packet into `out` (out.size() >= 28); returns 28.
std::size_t encode_arp(const ArpPacket& p, MutableBytes out);
ByteVector encode_arp(const ArpPacket& p);

}  // namespace tcpsim::link
