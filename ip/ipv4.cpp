#include "ip/ipv4.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "ip/checksum.hpp"

namespace tcpsim::ip {

const char* to_string(Ipv4Error e) {
    switch (e) {
        case Ipv4Error::TooShort: return "IPv4 datagram shorter than 20 bytes";
        case Ipv4Error::BadVersion: return "IP version is not 4";
        case Ipv4Error::BadHeaderLength: return "IPv4 header length (IHL) below 5";
        case Ipv4Error::HeaderPastBuffer: return "IPv4 header length runs past the buffer";
        case Ipv4Error::TotalLengthTooSmall: return "IPv4 total length smaller than the header";
        case Ipv4Error::TotalLengthPastBuffer: return "IPv4 total length runs past the buffer (truncated)";
        case Ipv4Error::BadChecksum: return "IPv4 header checksum mismatch";
    }
    return "unknown IPv4 error";
}

void Ipv4Options::assign(Bytes raw_bytes) {
    assert(raw_bytes.size() <= kMaxBytes);
    bytes.fill(std::byte{0});
    std::copy(raw_bytes.begin(), raw_bytes.end(), bytes.begin());
    size = static_cast<std::uint8_t>((raw_bytes.size() + 3) & ~std::size_t{3});
}

Expected<Ipv4Packet, Ipv4Error> parse_ipv4(Bytes wire, Ipv4ParseOptions opts) {
    if (wire.size() < kIpv4MinHeaderSize) return unexpected(Ipv4Error::TooShort);
    std::uint8_t vihl = load_u8(wire, 0);
    if ((vihl >> 4) != 4) return unexpected(Ipv4Error::BadVersion);
    std::size_t hlen = std::size_t{vihl & 0x0fu} * 4;
    if (hlen < kIpv4MinHeaderSize) return unexpected(Ipv4Error::BadHeaderLength);
    if (hlen > wire.size()) return unexpected(Ipv4Error::HeaderPastBuffer);
    // A correct header sums to 0xffff including its checksum field (RFC 1071). Linux's
    // ip_rcv_core checks it before the total length, so a corrupt header reports BadChecksum.
    if (opts.verify_checksum && internet_checksum(wire.first(hlen)) != 0) return unexpected(Ipv4Error::BadChecksum);
    std::uint16_t total = load_be16(wire, 2);
    if (total < hlen) return unexpected(Ipv4Error::TotalLengthTooSmall);
    std::size_t available = total;
    if (total > wire.size()) {
        if (!opts.allow_truncated) return unexpected(Ipv4Error::TotalLengthPastBuffer);
        available = wire.size();
    }

    Ipv4Packet p;
    p.tos = load_u8(wire, 1);
    p.total_length = total;
    p.id = load_be16(wire, 4);
    std::uint16_t frag = load_be16(wire, 6);
    p.reserved_flag = (frag & 0x8000) != 0;
    p.dont_fragment = (frag & 0x4000) != 0;
    p.more_fragments = (frag & 0x2000) != 0;
    p.fragment_offset = frag & 0x1fff;
    p.ttl = load_u8(wire, 8);
    p.protocol = static_cast<Protocol>(load_u8(wire, 9));
    p.checksum = load_be16(wire, 10);
    p.src = Ipv4Addr{load_be32(wire, 12)};
    p.dst = Ipv4Addr{load_be32(wire, 16)};
    p.options.assign(wire.subspan(kIpv4MinHeaderSize, hlen - kIpv4MinHeaderSize));
    p.payload = wire.subspan(hlen, available - hlen);
    return p;
}

std::size_t encode_ipv4_header(const Ipv4Packet& p, std::size_t payload_size, MutableBytes out) {
    std::size_t hlen = p.header_size();
    assert(out.size() >= hlen);
    assert(hlen + payload_size <= kIpv4MaxDatagram);
    store_u8(out, 0, static_cast<std::uint8_t>(0x40 | (hlen / 4)));
    store_u8(out, 1, p.tos);
    store_be16(out, 2, static_cast<std::uint16_t>(hlen + payload_size));
    store_be16(out, 4, p.id);
    std::uint16_t frag = static_cast<std::uint16_t>((p.reserved_flag ? 0x8000 : 0) | (p.dont_fragment ? 0x4000 : 0) |
                                                    (p.more_fragments ? 0x2000 : 0) | (p.fragment_offset & 0x1fff));
    store_be16(out, 6, frag);
    store_u8(out, 8, p.ttl);
    store_u8(out, 9, static_cast<std::uint8_t>(p.protocol));
    store_be16(out, 10, 0);
    store_be32(out, 12, p.src.value);
    store_be32(out, 16, p.dst.value);
    if (!p.options.empty()) std::memcpy(out.data() + kIpv4MinHeaderSize, p.options.bytes.data(), p.options.size);
    store_be16(out, 10, internet_checksum(out.first(hlen)));
    return hlen;
}

std::size_t encode_ipv4(const Ipv4Packet& p, MutableBytes out) {
    assert(out.size() >= p.wire_size());
    std::size_t hlen = encode_ipv4_header(p, p.payload.size(), out);
    if (!p.payload.empty()) std::memcpy(out.data() + hlen, p.payload.data(), p.payload.size());
    return hlen + p.payload.size();
}

ByteVector encode_ipv4(const Ipv4Packet& p) {
    ByteVector out(p.wire_size());
    encode_ipv4(p, out);
    return out;
}

}  // namespace tcpsim::ip
