// IPv4 header codec (RFC 791 §3.1): a value type the stack works with, parsed from and encoded to
// exact wire bytes. Parsing validates every length against the buffer and returns a typed error;
// it never reads out of bounds (DESIGN.md principle 4).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"

namespace tcpsim::ip {

// Protocol numbers (IANA); any 8-bit value may be carried.
enum class Protocol : std::uint8_t {
    Icmp = 1,
    Tcp = 6,
    Udp = 17,
};

inline constexpr std::size_t kIpv4MinHeaderSize = 20;
inline constexpr std::size_t kIpv4MaxHeaderSize = 60;
inline constexpr std::size_t kIpv4MaxDatagram = 65535;
// RFC 791: every host must accept 576-byte datagrams; RFC 1812 §4.3.2.3 caps ICMP errors there.
inline constexpr std::size_t kIpv4MinReassemblySize = 576;

// Header options kept as their exact wire bytes (IHL*4 - 20 of them, padding included), so a
// parsed header re-encodes byte for byte. The stack sends none; received ones are skipped.
struct Ipv4Options {
    static constexpr std::size_t kMaxBytes = 40;
    std::array<std::byte, kMaxBytes> bytes{};
    std::uint8_t size = 0;  // a multiple of 4

    Bytes raw() const { return {bytes.data(), size}; }
    bool empty() const { return size == 0; }
    // Sets the options from raw bytes (size <= 40), padding with EOL to a multiple of 4.
    void assign(Bytes raw);
    bool operator==(const Ipv4Options& o) const { return raw().size() == o.raw().size() && std::equal(raw().begin(), raw().end(), o.raw().begin()); }
};

struct Ipv4Packet {
    std::uint8_t tos = 0;  // DSCP (high 6 bits) and ECN (low 2 bits), RFC 2474 / RFC 3168
    std::uint16_t id = 0;
    bool reserved_flag = false;  // the "evil bit", must be zero; kept for exact round trips
    bool dont_fragment = false;
    bool more_fragments = false;
    std::uint16_t fragment_offset = 0;  // in 8-byte units, as on the wire (13 bits)
    std::uint8_t ttl = 64;              // Linux: net.ipv4.ip_default_ttl = 64
    Protocol protocol = Protocol::Tcp;
    std::uint16_t checksum = 0;      // as parsed; encode computes and ignores this
    std::uint16_t total_length = 0;  // as parsed; encode computes it from header and payload
    Ipv4Addr src{};
    Ipv4Addr dst{};
    Ipv4Options options{};
    // The payload: after parsing, a view of exactly total_length - header bytes of the input
    // (trailing bytes such as Ethernet padding excluded).
    Bytes payload{};

    std::size_t header_size() const { return kIpv4MinHeaderSize + options.size; }
    std::size_t wire_size() const { return header_size() + payload.size(); }
    std::size_t fragment_byte_offset() const { return std::size_t{fragment_offset} * 8; }
    // A fragment of a larger datagram (RFC 791: MF set or a nonzero offset).
    bool is_fragment() const { return more_fragments || fragment_offset != 0; }
};

enum class Ipv4Error {
    TooShort,               // fewer than 20 bytes
    BadVersion,             // version is not 4
    BadHeaderLength,        // IHL < 5
    HeaderPastBuffer,       // IHL*4 bytes are not all in the buffer
    TotalLengthTooSmall,    // total length < IHL*4
    TotalLengthPastBuffer,  // the buffer is shorter than the total length (truncated datagram)
    BadChecksum,
};
const char* to_string(Ipv4Error e);

struct Ipv4ParseOptions {
    // Verify the header checksum (RFC 791). Tracing tools turn this off to show corrupted packets.
    bool verify_checksum = true;
    // Accept a buffer shorter than the total length (the payload is then what is there). ICMP
    // errors quote a truncated datagram (RFC 792); never use this for received datagrams.
    bool allow_truncated = false;
};

// Parses the datagram at the start of `wire`. Bytes past the total length are ignored
// (Ethernet padding); the payload views `wire`.
Expected<Ipv4Packet, Ipv4Error> parse_ipv4(Bytes wire, Ipv4ParseOptions opts = {});

// Writes the header for a datagram of header_size() + payload_size bytes into `out` (which
// must hold header_size() bytes), computing total length and checksum; returns header_size().
// The payload itself is not touched: lets the caller build the datagram in place.
std::size_t encode_ipv4_header(const Ipv4Packet& p, std::size_t payload_size, MutableBytes out);

// Writes header and p.payload into `out` (which must hold p.wire_size() bytes); returns the size.
std::size_t encode_ipv4(const Ipv4Packet& p, MutableBytes out);
ByteVector encode_ipv4(const Ipv4Packet& p);

}  // namespace tcpsim::ip
