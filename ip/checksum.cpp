#include "ip/checksum.hpp"

#include <bit>
#include <cstring>

namespace tcpsim::ip {

namespace {
std::uint16_t fold(std::uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

// Sum of the native-endian 32-bit words of [p, p + n) in 64-bit accumulators: no carries to
// handle (RFC 1071 §2(C) deferred carries; 2^32 words before one could overflow), no byte
// swaps (§2(B) byte-order independence: on a little-endian machine the folded result is the
// byte-swapped sum, swapped back once by the caller), and four independent chains.
std::uint64_t sum_native(const std::byte* p, std::size_t n) {
    std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    while (n >= 16) {
        std::uint32_t w[4];
        std::memcpy(w, p, 16);
        s0 += w[0];
        s1 += w[1];
        s2 += w[2];
        s3 += w[3];
        p += 16;
        n -= 16;
    }
    std::uint64_t sum = s0 + s1 + s2 + s3;
    while (n >= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        sum += w;
        p += 4;
        n -= 4;
    }
    if (n > 0) {  // the 1-3 byte tail, zero-padded in place: bytes keep their lanes
        std::uint32_t w = 0;
        std::memcpy(&w, p, n);
        sum += w;
    }
    return sum;
}

std::uint32_t fold_to_16(std::uint64_t sum) {
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint32_t>(sum);
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
        if (n == 0) return;
    }
    std::uint32_t s = fold_to_16(sum_native(p, n));
    if constexpr (std::endian::native == std::endian::little) s = ((s & 0xff) << 8) | (s >> 8);
    sum_ += s;
    // An odd length leaves its last byte as the high half of a word the next span completes.
    odd_ = (n & 1) != 0;
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
