// Byte spans and big-endian field access shared by every codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tcpsim {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;
using ByteVector = std::vector<std::byte>;

// Callers must have checked off + N <= b.size(); codecs do so once per header.
inline std::uint8_t load_u8(Bytes b, std::size_t off) { return std::to_integer<std::uint8_t>(b[off]); }
inline std::uint16_t load_be16(Bytes b, std::size_t off) {
    return static_cast<std::uint16_t>((load_u8(b, off) << 8) | load_u8(b, off + 1));
}
inline std::uint32_t load_be32(Bytes b, std::size_t off) {
    return (std::uint32_t{load_u8(b, off)} << 24) | (std::uint32_t{load_u8(b, off + 1)} << 16) |
           (std::uint32_t{load_u8(b, off + 2)} << 8) | std::uint32_t{load_u8(b, off + 3)};
}
inline void store_u8(MutableBytes b, std::size_t off, std::uint8_t v) { b[off] = std::byte{v}; }
inline void store_be16(MutableBytes b, std::size_t off, std::uint16_t v) {
    b[off] = std::byte(v >> 8);
    b[off + 1] = std::byte(v & 0xff);
}
inline void store_be32(MutableBytes b, std::size_t off, std::uint32_t v) {
    b[off] = std::byte(v >> 24);
    b[off + 1] = std::byte((v >> 16) & 0xff);
    b[off + 2] = std::byte((v >> 8) & 0xff);
    b[off + 3] = std::byte(v & 0xff);
}

inline Bytes as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }
inline ByteVector to_vector(Bytes b) { return ByteVector(b.begin(), b.end()); }
inline std::string to_string(Bytes b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// Parses "45 00 00 3c" / "4500003c" (whitespace ignored); throws std::invalid_argument on bad hex.
ByteVector from_hex(std::string_view hex);
std::string to_hex(Bytes b);

}  // namespace tcpsim
