// ICMP for IPv4 (RFC 792): echo, destination unreachable, time exceeded and the rest as a
// generic message. A value type over the bytes after the IPv4 header; checksum verified on
// parse and computed on encode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ip/ipv4.hpp"
#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"

namespace tcpsim::ip {

enum class IcmpType : std::uint8_t {
    EchoReply = 0,
    DestUnreachable = 3,
    SourceQuench = 4,
    Redirect = 5,
    EchoRequest = 8,
    TimeExceeded = 11,
    ParameterProblem = 12,
    TimestampRequest = 13,
    TimestampReply = 14,
};

// RFC 792 and RFC 1812 §5.2.7.1 codes for DestUnreachable.
enum class UnreachableCode : std::uint8_t {
    Net = 0,
    Host = 1,
    Protocol = 2,
    Port = 3,
    FragmentationNeeded = 4,  // with the next-hop MTU (RFC 1191)
    SourceRouteFailed = 5,
    NetUnknown = 6,
    HostUnknown = 7,
    NetProhibited = 9,
    HostProhibited = 10,
    AdminProhibited = 13,
};

enum class TimeExceededCode : std::uint8_t {
    TtlExceeded = 0,
    ReassemblyTimeExceeded = 1,
};

inline constexpr std::size_t kIcmpHeaderSize = 8;
// Linux quotes as much of the original as fits in a 576-byte error (RFC 1812 §4.3.2.3):
// 576 - 20 (IPv4) - 8 (ICMP). RFC 1122 §3.2.2 requires at least the header + 8 bytes.
inline constexpr std::size_t kIcmpErrorQuoteMax = kIpv4MinReassemblySize - kIpv4MinHeaderSize - kIcmpHeaderSize;
// Linux: IPTOS_PREC_INTERNETCONTROL, the precedence ICMP errors are sent with.
inline constexpr std::uint8_t kIcmpErrorTos = 0xc0;

struct IcmpMessage {
    IcmpType type = IcmpType::EchoRequest;
    std::uint8_t code = 0;
    std::uint16_t checksum = 0;  // as parsed; encode computes and ignores this
    // Bytes 4..7 of the header ("rest of header"), big-endian: id/seq for echo, unused + next-hop
    // MTU for fragmentation needed, pointer for parameter problem, gateway for redirect.
    std::uint32_t rest = 0;
    // Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    Bytes body{};

    std::uint16_t echo_id() const { return static_cast<std::uint16_t>(rest >> 16); }
    std::uint16_t echo_seq() const { return static_cast<std::uint16_t>(rest & 0xffff); }
    std::uint16_t next_hop_mtu() const { return static_cast<std::uint16_t>(rest & 0xffff); }
    std::uint8_t pointer() const { return static_cast<std::uint8_t>(rest >> 24); }
    // Error messages quote the datagram that caused them (RFC 792); they never cause another.
    bool is_error() const;
    std::size_t wire_size() const { return kIcmpHeaderSize + body.size(); }

    static IcmpMessage echo_request(std::uint16_t id, std::uint16_t seq, Bytes data);
    static IcmpMessage echo_reply(std::uint16_t id, std::uint16_t seq, Bytes data);
    // RFC 1122 §3.2.2.6: the reply carries the request's id, sequence number and data.
    static IcmpMessage echo_reply_to(const IcmpMessage& request);
    // An error quoting `original` (the whole offending datagram as received, IPv4 header first):
    // the quote stops at the datagram's total length (never Ethernet padding) and at
    // kIcmpErrorQuoteMax bytes. The body views `original`.
    static IcmpMessage dest_unreachable(UnreachableCode code, Bytes original, std::uint16_t next_hop_mtu = 0);
    static IcmpMessage time_exceeded(TimeExceededCode code, Bytes original);
    // Time exceeded when `type` says so, else destination unreachable with `code`.
    static IcmpMessage error(IcmpType type, std::uint8_t code, Bytes original, std::uint16_t next_hop_mtu = 0);
};

enum class IcmpError {
    TooShort,           // fewer than 8 bytes
    BadChecksum,
    NotAnError,         // asked for the quote of a non-error message (echo, timestamp ...)
    QuoteTooShort,      // the quote lacks a full IPv4 header plus 8 bytes (RFC 792)
    BadQuotedDatagram,  // the quoted IPv4 header does not parse
};
const char* to_string(IcmpError e);

// Parses an ICMP message (the IPv4 payload). The body views `wire`.
Expected<IcmpMessage, IcmpError> parse_icmp(Bytes wire, bool verify_checksum = true);

// Writes `m` into `out` (which must hold m.wire_size() bytes), computing the checksum; returns
// the size written.
std::size_t encode_icmp(const IcmpMessage& m, MutableBytes out);
ByteVector encode_icmp(const IcmpMessage& m);

// The datagram quoted by an error message: its IPv4 header and the first bytes of its payload
// (at least 8: the ports of TCP/UDP, RFC 792). The quoted checksum is not verified (Linux).
Expected<Ipv4Packet, IcmpError> quoted_datagram(const IcmpMessage& m);

// RFC 1122 §3.2.2 and RFC 1812 §4.3.2.7: an ICMP error must not be sent about an ICMP error, a
// datagram sent to a broadcast or multicast address (IP or link layer), a fragment other than
// the first, or a datagram whose source is not a single host.
bool may_send_icmp_error(const Ipv4Packet& original, bool link_broadcast = false);

// The IPv4 header for an error about `original`, sent from `our_address` back to its source.
// Linux: TOS keeps the original's TOS bits with precedence "internetwork control"; TTL 64; no
// DF. The caller sets the id. Encode with payload = the encoded ICMP message.
Ipv4Packet icmp_error_ipv4_header(const Ipv4Packet& original, Ipv4Addr our_address);

// Linux icmp_err_convert[] (net/ipv4/icmp.c): the errno a destination-unreachable code means for
// a socket; 0 for codes outside 0..15.
int unreachable_errno(std::uint8_t code);
// A short name for an ICMP error ("ICMP port unreachable"), used as the cause in traces.
std::string icmp_error_text(std::uint8_t type, std::uint8_t code);

}  // namespace tcpsim::ip
