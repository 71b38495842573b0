// Sequence numbers as a modular type (RFC 9293 §3.4): comparisons are mod 2^32, so raw integer
// arithmetic on sequence numbers never appears elsewhere.
#pragma once

#include <cstdint>
#include <string>

namespace tcpsim::tcp {

class SeqNum {
public:
    constexpr SeqNum() = default;
    constexpr explicit SeqNum(std::uint32_t raw) : v_(raw) {}
    constexpr std::uint32_t raw() const { return v_; }

    constexpr SeqNum operator+(std::uint32_t n) const { return SeqNum(v_ + n); }
    constexpr SeqNum operator-(std::uint32_t n) const { return SeqNum(v_ - n); }
    constexpr SeqNum& operator+=(std::uint32_t n) { v_ += n; return *this; }
    constexpr SeqNum& operator-=(std::uint32_t n) { v_ -= n; return *this; }
    // Signed distance from `other` to this (positive when this is "after" other).
    constexpr std::int32_t operator-(SeqNum other) const { return static_cast<std::int32_t>(v_ - other.v_); }

    constexpr bool operator==(const SeqNum&) const = default;
    friend constexpr bool operator<(SeqNum a, SeqNum b) { return (a - b) < 0; }
    friend constexpr bool operator<=(SeqNum a, SeqNum b) { return (a - b) <= 0; }
    friend constexpr bool operator>(SeqNum a, SeqNum b) { return (a - b) > 0; }
    friend constexpr bool operator>=(SeqNum a, SeqNum b) { return (a - b) >= 0; }

    // start <= this < start + size (RFC 9293 §3.4 acceptability tests).
    constexpr bool in_window(SeqNum start, std::uint32_t size) const {
        return static_cast<std::uint32_t>(v_ - start.v_) < size;
    }
    // lo <= this <= hi
    constexpr bool between(SeqNum lo, SeqNum hi) const { return lo <= *this && *this <= hi; }

    std::string to_string() const { return std::to_string(v_); }

private:
    std::uint32_t v_ = 0;
};

constexpr SeqNum seq_max(SeqNum a, SeqNum b) { return a < b ? b : a; }
constexpr SeqNum seq_min(SeqNum a, SeqNum b) { return a < b ? a : b; }

}  // namespace tcpsim::tcp
