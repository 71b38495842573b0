#include "ip/icmp.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "ip/checksum.hpp"

namespace tcpsim::ip {

const char* to_string(IcmpError e) {
    switch (e) {
        case IcmpError::TooShort: return "ICMP message shorter than 8 bytes";
        case IcmpError::BadChecksum: return "ICMP checksum mismatch";
        case IcmpError::NotAnError: return "ICMP message is not an error and quotes no datagram";
        case IcmpError::QuoteTooShort: return "ICMP error quotes less than an IPv4 header plus 8 bytes";
        case IcmpError::BadQuotedDatagram: return "ICMP error quotes a malformed IPv4 header";
    }
    return "unknown ICMP error";
}

namespace {
bool is_error_type(std::uint8_t type) {
    switch (type) {
        case 3: case 4: case 5: case 11: case 12: return true;
        default: return false;
    }
}

// The bytes of the original datagram to quote: up to its total length and the 576-byte cap.
Bytes quote_of(Bytes original) {
    std::size_t n = original.size();
    if (n >= 4) n = std::min<std::size_t>(n, load_be16(original, 2));
    return original.first(std::min(n, kIcmpErrorQuoteMax));
}
}  // namespace

bool IcmpMessage::is_error() const { return is_error_type(static_cast<std::uint8_t>(type)); }

IcmpMessage IcmpMessage::echo_request(std::uint16_t id, std::uint16_t seq, Bytes data) {
    return {IcmpType::EchoRequest, 0, 0, std::uint32_t{id} << 16 | seq, data};
}

IcmpMessage IcmpMessage::echo_reply(std::uint16_t id, std::uint16_t seq, Bytes data) {
    return {IcmpType::EchoReply, 0, 0, std::uint32_t{id} << 16 | seq, data};
}

IcmpMessage IcmpMessage::echo_reply_to(const IcmpMessage& request) {
    return echo_reply(request.echo_id(), request.echo_seq(), request.body);
}

IcmpMessage IcmpMessage::dest_unreachable(UnreachableCode code, Bytes original, std::uint16_t next_hop_mtu) {
    // RFC 1191: the MTU sits in the low 16 bits; the field is unused (zero) for other codes.
    std::uint32_t rest = code == UnreachableCode::FragmentationNeeded ? next_hop_mtu : 0;
    return {IcmpType::DestUnreachable, static_cast<std::uint8_t>(code), 0, rest, quote_of(original)};
}

IcmpMessage IcmpMessage::time_exceeded(TimeExceededCode code, Bytes original) {
    return {IcmpType::TimeExceeded, static_cast<std::uint8_t>(code), 0, 0, quote_of(original)};
}

IcmpMessage IcmpMessage::error(IcmpType type, std::uint8_t code, Bytes original, std::uint16_t next_hop_mtu) {
    return type == IcmpType::TimeExceeded ? time_exceeded(static_cast<TimeExceededCode>(code), original)
                                          : dest_unreachable(static_cast<UnreachableCode>(code), original, next_hop_mtu);
}

// Linux icmp_err_convert[] (net/ipv4/icmp.c): errno for each destination-unreachable code.
int unreachable_errno(std::uint8_t code) {
    switch (code) {
        case 0: return ENETUNREACH;   // net unreachable
        case 1: return EHOSTUNREACH;  // host unreachable
        case 2: return ENOPROTOOPT;   // protocol unreachable
        case 3: return ECONNREFUSED;  // port unreachable
        case 4: return EMSGSIZE;      // fragmentation needed
        case 5: return EOPNOTSUPP;    // source route failed
        case 6: return ENETUNREACH;
        case 7: return EHOSTDOWN;
        case 8: return ENONET;
        case 9: return ENETUNREACH;
        case 10: return EHOSTUNREACH;
        case 11: return ENETUNREACH;
        case 12: return EHOSTUNREACH;
        case 13: return EHOSTUNREACH;
        case 14: return EHOSTUNREACH;
        case 15: return EHOSTUNREACH;
        default: return 0;
    }
}

std::string icmp_error_text(std::uint8_t type, std::uint8_t code) {
    if (type == static_cast<std::uint8_t>(IcmpType::TimeExceeded)) return "ICMP time exceeded";
    switch (code) {
        case 0: return "ICMP net unreachable";
        case 1: return "ICMP host unreachable";
        case 2: return "ICMP protocol unreachable";
        case 3: return "ICMP port unreachable";
        case 4: return "ICMP fragmentation needed";
        default: return "ICMP unreachable code " + std::to_string(code);
    }
}

Expected<IcmpMessage, IcmpError> parse_icmp(Bytes wire, bool verify_checksum) {
    if (wire.size() < kIcmpHeaderSize) return unexpected(IcmpError::TooShort);
    if (verify_checksum && internet_checksum(wire) != 0) return unexpected(IcmpError::BadChecksum);
    IcmpMessage m;
    m.type = static_cast<IcmpType>(load_u8(wire, 0));
    m.code = load_u8(wire, 1);
    m.checksum = load_be16(wire, 2);
    m.rest = load_be32(wire, 4);
    m.body = wire.subspan(kIcmpHeaderSize);
    return m;
}

std::size_t encode_icmp(const IcmpMessage& m, MutableBytes out) {
    assert(out.size() >= m.wire_size());
    store_u8(out, 0, static_cast<std::uint8_t>(m.type));
    store_u8(out, 1, m.code);
    store_be16(out, 2, 0);
    store_be32(out, 4, m.rest);
    if (!m.body.empty()) std::memcpy(out.data() + kIcmpHeaderSize, m.body.data(), m.body.size());
    store_be16(out, 2, internet_checksum(out.first(m.wire_size())));
    return m.wire_size();
}

ByteVector encode_icmp(const IcmpMessage& m) {
    ByteVector out(m.wire_size());
    encode_icmp(m, out);
    return out;
}

Expected<Ipv4Packet, IcmpError> quoted_datagram(const IcmpMessage& m) {
    if (!m.is_error()) return unexpected(IcmpError::NotAnError);
    if (m.body.size() < kIpv4MinHeaderSize) return unexpected(IcmpError::QuoteTooShort);
    auto p = parse_ipv4(m.body, {.verify_checksum = false, .allow_truncated = true});
    if (!p) {
        // The IHL may point past a short quote; that is a short quote, not a bad header.
        if (p.error() == Ipv4Error::HeaderPastBuffer) return unexpected(IcmpError::QuoteTooShort);
        return unexpected(IcmpError::BadQuotedDatagram);
    }
    // At least 8 payload bytes (RFC 792), unless the datagram was shorter and is quoted whole.
    bool whole = p->header_size() + p->payload.size() == p->total_length;
    if (p->payload.size() < 8 && !whole) return unexpected(IcmpError::QuoteTooShort);
    return *p;
}

bool may_send_icmp_error(const Ipv4Packet& original, bool link_broadcast) {
    if (link_broadcast) return false;
    if (original.dst.is_broadcast() || original.dst.is_multicast()) return false;
    if (original.fragment_offset != 0) return false;
    const Ipv4Addr s = original.src;
    // Not a single host: zero, loopback, broadcast, multicast or class E (RFC 1122 §3.2.2).
    if (s.is_any() || s.is_loopback() || s.is_broadcast() || s.is_multicast() || (s.value >> 28) == 0xf) return false;
    if (original.protocol == Protocol::Icmp) {
        // Linux: an unreadable inner type is treated like an error (never answer it).
        if (original.payload.empty()) return false;
        std::uint8_t inner = load_u8(original.payload, 0);
        if (is_error_type(inner) || inner > 18) return false;
    }
    return true;
}

Ipv4Packet icmp_error_ipv4_header(const Ipv4Packet& original, Ipv4Addr our_address) {
    Ipv4Packet h;
    h.tos = static_cast<std::uint8_t>((original.tos & 0x1e) | kIcmpErrorTos);  // Linux: IPTOS_TOS_MASK
    h.ttl = 64;
    h.protocol = Protocol::Icmp;
    h.src = our_address;
    h.dst = original.src;
    return h;
}

}  // namespace tcpsim::ip
