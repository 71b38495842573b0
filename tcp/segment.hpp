// TCP segment codec (RFC 9293 §3.1): a value type the state machine works with, parsed from and
// encoded to exact wire bytes. Parsing validates every length against the buffer and returns a
// typed error; it never reads out of bounds (DESIGN.md principle 4).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"
#include "tcp/seq.hpp"

namespace tcpsim::tcp {

// Control bits in wire order (high to low): CWR ECE URG ACK PSH RST SYN FIN.
struct Flags {
    std::uint8_t bits = 0;
    constexpr Flags operator|(Flags o) const { return Flags{static_cast<std::uint8_t>(bits | o.bits)}; }
    constexpr Flags operator&(Flags o) const { return Flags{static_cast<std::uint8_t>(bits & o.bits)}; }
    constexpr Flags operator~() const { return Flags{static_cast<std::uint8_t>(~bits)}; }
    constexpr Flags& operator|=(Flags o) { bits |= o.bits; return *this; }
    constexpr Flags& operator&=(Flags o) { bits &= o.bits; return *this; }
    constexpr bool has(Flags o) const { return (bits & o.bits) == o.bits; }
    constexpr bool any(Flags o) const { return (bits & o.bits) != 0; }
    constexpr bool none() const { return bits == 0; }
    constexpr bool operator==(const Flags&) const = default;
    // tcpdump's letters: "S.", "P.", "F.", "R", "." (ack only), "SEW" ...; see tcpdump print-tcp.c.
    std::string to_tcpdump() const;
};
inline constexpr Flags Fin{0x01};
inline constexpr Flags Syn{0x02};
inline constexpr Flags Rst{0x04};
inline constexpr Flags Psh{0x08};
inline constexpr Flags Ack{0x10};
inline constexpr Flags Urg{0x20};
inline constexpr Flags Ece{0x40};
inline constexpr Flags Cwr{0x80};

enum class OptionKind : std::uint8_t {
    End = 0,
    Nop = 1,
    Mss = 2,
    WindowScale = 3,
    SackPermitted = 4,
    Sack = 5,
    Timestamps = 8,
};

struct Timestamps {
    std::uint32_t value = 0;       // TSval
    std::uint32_t echo_reply = 0;  // TSecr
    bool operator==(const Timestamps&) const = default;
};

struct SackBlock {
    SeqNum left;   // first sequence number of the block
    SeqNum right;  // sequence number just past the block
    bool operator==(const SackBlock&) const = default;
};

// One option as it stands on the wire: its kind and the bytes after kind/length (empty for
// EOL/NOP). Yielded by Options iteration in wire order.
struct OptionItem {
    std::uint8_t kind = 0;
    Bytes data;
};

// TCP options kept as their exact wire bytes (so a parsed header re-encodes byte for byte) plus
// the decoded values. Builders append in call order; the caller chooses the layout (e.g. Linux's
// "mss, sackOK, TS, nop, wscale"). No heap: at most 40 bytes.
class Options {
public:
    static constexpr std::size_t kMaxBytes = 40;
    static constexpr std::size_t kMaxSackBlocks = 4;

    // Builders. Each returns *this; appending past 40 bytes is a programming error (asserts in
    // debug builds; in release builds the option is dropped) — use fits(n) to check first when
    // the layout is data dependent (SACK blocks).
    Options& eol();
    Options& nop();
    Options& mss(std::uint16_t value);
    Options& window_scale(std::uint8_t shift);
    Options& sack_permitted();
    Options& timestamps(std::uint32_t value, std::uint32_t echo_reply);
    Options& sack(std::span<const SackBlock> blocks);  // 1..4 blocks
    Options& unknown(std::uint8_t kind, Bytes data);   // any other kind, verbatim
    bool fits(std::size_t more_bytes) const { return size_ + more_bytes <= kMaxBytes; }

    // Decoded values. A repeated kind overwrites the earlier value (Linux: tcp_parse_options()
    // simply stores each option it meets). Options after EOL are not decoded.
    std::optional<std::uint16_t> mss_value() const { return mss_; }
    std::optional<std::uint8_t> window_scale_value() const { return wscale_; }
    bool has_sack_permitted() const { return sack_permitted_; }
    std::optional<Timestamps> timestamps_value() const { return ts_; }
    std::span<const SackBlock> sack_blocks() const { return {sack_.data(), sack_count_}; }

    // Exact wire bytes of the options (without header padding) and that length padded to 4.
    Bytes raw() const { return {bytes_.data(), size_}; }
    std::size_t size() const { return size_; }
    std::size_t padded_size() const { return (size_ + 3) & ~std::size_t{3}; }
    bool empty() const { return size_ == 0; }

    // Wire-order iteration over the options; stops at EOL (yielded) or the end.
    class Iterator;
    Iterator begin() const;
    Iterator end() const;

    // Parses the option area of a header; validates kind/length of every option.
    // The whole area is kept verbatim (EOL and the bytes after it included), so a parsed header
    // re-encodes to identical bytes.
    enum class Error { BadLength, PastHeader, BadSackLength, BadFixedLength };
    static Expected<Options, Error> parse(Bytes area);

    // Equal when both encode to the same wire bytes (trailing zero padding is not a difference).
    bool operator==(const Options& o) const;

private:
    std::array<std::byte, kMaxBytes> bytes_{};
    std::uint8_t size_ = 0;
    std::optional<std::uint16_t> mss_;
    std::optional<std::uint8_t> wscale_;
    bool sack_permitted_ = false;
    std::optional<Timestamps> ts_;
    std::array<SackBlock, kMaxSackBlocks> sack_{};
    std::uint8_t sack_count_ = 0;
};

class Options::Iterator {
public:
    using value_type = OptionItem;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(Bytes area, std::size_t pos) : area_(area), pos_(pos) {}
    OptionItem operator*() const;
    Iterator& operator++();
    Iterator operator++(int) { Iterator old = *this; ++*this; return old; }
    bool operator==(const Iterator& o) const { return pos_ == o.pos_; }

private:
    Bytes area_;
    std::size_t pos_ = 0;
};

// Payload as up to two spans, so a segment can carry bytes straight out of a ring buffer that
// wraps; encode copies both parts. Parse fills `first` only (a view into the parsed buffer).
struct Payload {
    Bytes first;
    Bytes second;
    std::size_t size() const { return first.size() + second.size(); }
    bool empty() const { return size() == 0; }
    ByteVector to_vector() const;
};

// The IPv4 pseudoheader fields the checksum covers (RFC 9293 §3.1): src, dst, zero, proto 6,
// TCP length; the length is computed from the segment.
struct PseudoHeader {
    Ipv4Addr src;
    Ipv4Addr dst;
};

struct Segment {
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    SeqNum seq;
    SeqNum ack;  // meaningful only with ACK set, but carried as on the wire
    Flags flags;
    std::uint16_t window = 0;  // as on the wire (not scaled)
    std::uint16_t urgent = 0;  // urgent pointer, meaningful only with URG
    Options options;
    Payload payload;
    std::uint8_t reserved = 0;   // the 4 reserved bits, kept for exact round trips
    std::uint16_t checksum = 0;  // as parsed; encode computes and ignores this

    std::size_t header_size() const { return 20 + options.padded_size(); }
    std::size_t wire_size() const { return header_size() + payload.size(); }
    // SEG.LEN: payload plus one for SYN and one for FIN (RFC 9293 §3.4).
    std::uint32_t seq_len() const {
        return static_cast<std::uint32_t>(payload.size()) + (flags.any(Syn) ? 1 : 0) + (flags.any(Fin) ? 1 : 0);
    }
};

enum class ParseError {
    TooShort,             // fewer than 20 bytes
    BadDataOffset,        // data offset < 5
    DataOffsetPastBuffer, // header longer than the buffer
    BadOptionLength,      // an option length of 0 or 1
    OptionPastHeader,     // an option running past the header
    BadOptionValue,       // a fixed-size option (MSS, WS, SACK-permitted, TS) with the wrong length, or a SACK length not 2+8n
    BadChecksum,
};
const char* to_string(ParseError e);
ParseError to_parse_error(Options::Error e);
const char* to_string(Options::Error e);

// Parses `wire` (the whole TCP segment: header and payload) and, unless told not to, verifies
// the checksum over the pseudoheader. The returned payload views `wire`.
Expected<Segment, ParseError> parse_segment(Bytes wire, const PseudoHeader& pseudo, bool verify_checksum = true);

// Encodes `seg` into `out` (which must hold seg.wire_size() bytes), computing the checksum;
// returns the number of bytes written. Options are padded with zero bytes (EOL) to a multiple of 4.
// A buffer too small (or a segment over 65535 bytes) is a caller bug: it asserts in debug builds
// and writes nothing, returning 0, in release builds.
std::size_t encode_segment(const Segment& seg, MutableBytes out, const PseudoHeader& pseudo);
ByteVector encode_segment(const Segment& seg, const PseudoHeader& pseudo);

}  // namespace tcpsim::tcp
