// Link- and network-layer address types. Ipv4Addr lives here (the lowest layer) because ARP,
// in link/, maps IPv4 addresses to MAC addresses; ip/ and everything above use the same type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tcpsim {

struct MacAddr {
    std::array<std::uint8_t, 6> octets{};

    static constexpr MacAddr broadcast() { return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
    bool is_broadcast() const { return *this == broadcast(); }
    bool is_multicast() const { return (octets[0] & 1) != 0; }
    // "02:00:00:00:00:01"; nullopt on anything else.
    static std::optional<MacAddr> parse(std::string_view text);
    std::string to_string() const;
    auto operator<=>(const MacAddr&) const = default;
};

struct Ipv4Addr {
    std::uint32_t value = 0;  // host byte order: 192.0.2.1 == 0xc0000201

    constexpr Ipv4Addr() = default;
    constexpr explicit Ipv4Addr(std::uint32_t v) : value(v) {}
    constexpr Ipv4Addr(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
        : value(std::uint32_t{a} << 24 | std::uint32_t{b} << 16 | std::uint32_t{c} << 8 | d) {}

    static constexpr Ipv4Addr any() { return Ipv4Addr{}; }
    static constexpr Ipv4Addr broadcast() { return Ipv4Addr{0xffffffffu}; }
    bool is_any() const { return value == 0; }
    bool is_broadcast() const { return value == 0xffffffffu; }
    bool is_multicast() const { return (value >> 28) == 0xe; }
    bool is_loopback() const { return (value >> 24) == 127; }
    // Dotted quad, exactly four decimal parts each 0..255; nullopt otherwise.
    static std::optional<Ipv4Addr> parse(std::string_view text);
    std::string to_string() const;
    auto operator<=>(const Ipv4Addr&) const = default;
};

// An address with its prefix length: 192.0.2.2/24.
struct Ipv4Prefix {
    Ipv4Addr addr;
    int length = 32;
    std::uint32_t mask() const { return length == 0 ? 0 : ~std::uint32_t{0} << (32 - length); }
    bool contains(Ipv4Addr a) const { return (a.value & mask()) == (addr.value & mask()); }
    Ipv4Addr network() const { return Ipv4Addr{addr.value & mask()}; }
    static std::optional<Ipv4Prefix> parse(std::string_view text);  // "a.b.c.d/len"
    std::string to_string() const;
    auto operator<=>(const Ipv4Prefix&) const = default;
};

}  // namespace tcpsim

template <>
struct std::hash<tcpsim::Ipv4Addr> {
    std::size_t operator()(tcpsim::Ipv4Addr a) const noexcept { return std::hash<std::uint32_t>{}(a.value); }
};
