// The Internet checksum (RFC 1071) and its incremental update (RFC 1624). One routine shared by
// IPv4, ICMP and TCP.
#pragma once

#include <cstdint>

#include "link/base/bytes.hpp"

namespace tcpsim::ip {

// A running one's-complement sum. Feed it any number of spans (odd lengths are handled: a span
// that ends on an odd byte leaves the next span starting at the odd position), then finish().
class ChecksumAccumulator {
public:
    void add(Bytes data);
    void add_be16(std::uint16_t v) { add_word(v); }
    void add_be32(std::uint32_t v) { add_word(v >> 16); add_word(v & 0xffff); }
    // The final checksum: the one's complement of the folded sum, as stored on the wire.
    std::uint16_t finish() const;
    // The folded sum without the complement (0xffff for a correct packet including its checksum).
    std::uint16_t folded() const;

private:
    void add_word(std::uint32_t w) { sum_ += odd_ ? swap16(w) : w; }
    static std::uint32_t swap16(std::uint32_t w) { return ((w & 0xff) << 8) | (w >> 8); }
    std::uint64_t sum_ = 0;
    bool odd_ = false;  // true when an odd number of bytes has been added so far
};

// Checksum of one contiguous buffer.
std::uint16_t internet_checksum(Bytes data);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), updating checksum `hc` when a 16-bit field changes
// from `old_word` to `new_word`.
std::uint16_t checksum_update(std::uint16_t hc, std::uint16_t old_word, std::uint16_t new_word);
std::uint16_t checksum_update32(std::uint16_t hc, std::uint32_t old_value, std::uint32_t new_value);

}  // namespace tcpsim::ip
