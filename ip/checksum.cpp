#include "ip/checksum.hpp"

#include <cstring>

namespace tcpsim::ip {

namespace {
std::uint16_t fold(std::uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}
}  // namespace

void ChecksumAccumulator::add(Bytes data) {
    const std::byte* p = data.data();
    std::size_t n = data.size();
    if (n == 0) return;
    if (odd_) {  // complete the pending 16-bit word with this span's first byte (its low half)
        sum_ += std::to_integer<std::uint32_t>(*p);
        ++p;
        --n;
        odd_ = false;
    }
    // Wide accumulation: sum 32-bit big-endian loads into a 64-bit accumulator; the carries
    // are folded at the end (RFC 1071 §2(C) "deferred carries").
    std::uint64_t sum = 0;
    while (n >= 8) {
        std::uint32_t a, b;
        std::memcpy(&a, p, 4);
        std::memcpy(&b, p + 4, 4);
        sum += __builtin_bswap32(a);
        sum += __builtin_bswap32(b);
        p += 8;
        n -= 8;
    }
    while (n >= 2) {
        sum += (std::to_integer<std::uint32_t>(p[0]) << 8) | std::to_integer<std::uint32_t>(p[1]);
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        sum += std::to_integer<std::uint32_t>(p[0]) << 8;
        odd_ = true;
    }
    // 32-bit words sum as two 16-bit words: fold them to 16-bit quantities before adding.
    sum_ += (sum & 0xffffffff) + (sum >> 32);
    sum_ = (sum_ & 0xffffffffffff) + (sum_ >> 48);
}

std::uint16_t ChecksumAccumulator::folded() const { return fold(sum_); }
std::uint16_t ChecksumAccumulator::finish() const { return static_cast<std::uint16_t>(~fold(sum_)); }

std::uint16_t internet_checksum(Bytes data) {
    ChecksumAccumulator acc;
    acc.add(data);
    return acc.finish();
}

std::uint16_t checksum_update(std::uint16_t hc, std::uint16_t old_word, std::uint16_t new_word) {
    std::uint32_t sum = std::uint32_t{static_cast<std::uint16_t>(~hc)} + static_cast<std::uint16_t>(~old_word) + new_word;
    return static_cast<std::uint16_t>(~fold(sum));
}

std::uint16_t checksum_update32(std::uint16_t hc, std::uint32_t old_value, std::uint32_t new_value) {
    hc = checksum_update(hc, static_cast<std::uint16_t>(old_value >> 16), static_cast<std::uint16_t>(new_value >> 16));
    return checksum_update(hc, static_cast<std::uint16_t>(old_value & 0xffff), static_cast<std::uint16_t>(new_value & 0xffff));
}

}  // namespace tcpsim::ip
