#include "link/base/addr.hpp"

#include <charconv>
#include <cstdio>

namespace tcpsim {

namespace {
// Parses an unsigned decimal in [0, max] occupying the whole of `s`.
std::optional<unsigned> parse_uint(std::string_view s, unsigned max, int base = 10) {
    if (s.empty()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc{} || p != s.data() + s.size() || v > max) return std::nullopt;
    return v;
}
}  // namespace

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
    MacAddr m;
    for (int i = 0; i < 6; ++i) {
        if (text.size() < 2) return std::nullopt;
        auto v = parse_uint(text.substr(0, 2), 0xff, 16);
        if (!v) return std::nullopt;
        m.octets[i] = static_cast<std::uint8_t>(*v);
        text.remove_prefix(2);
        if (i < 5) {
            if (text.empty() || (text[0] != ':' && text[0] != '-')) return std::nullopt;
            text.remove_prefix(1);
        }
    }
    if (!text.empty()) return std::nullopt;
    return m;
}

std::string MacAddr::to_string() const {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", octets[0], octets[1], octets[2], octets[3],
                  octets[4], octets[5]);
    return buf;
}

std::optional<Ipv4Addr> Ipv4Addr::parse(std::string_view text) {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        auto dot = text.find('.');
        std::string_view part = i < 3 ? text.substr(0, dot) : text;
        if (i < 3 && dot == std::string_view::npos) return std::nullopt;
        if (part.size() > 3) return std::nullopt;
        auto v = parse_uint(part, 255);
        if (!v) return std::nullopt;
        value = value << 8 | *v;
        if (i < 3) text.remove_prefix(dot + 1);
    }
    return Ipv4Addr{value};
}

std::string Ipv4Addr::to_string() const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                  value & 0xff);
    return buf;
}

std::optional<Ipv4Prefix> Ipv4Prefix::parse(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = Ipv4Addr::parse(text.substr(0, slash));
    auto len = parse_uint(text.substr(slash + 1), 32);
    if (!addr || !len) return std::nullopt;
    return Ipv4Prefix{*addr, static_cast<int>(*len)};
}

std::string Ipv4Prefix::to_string() const { return addr.to_string() + "/" + std::to_string(length); }

}  // namespace tcpsim
