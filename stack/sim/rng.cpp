#include "stack/sim/rng.hpp"

namespace tcpsim::stack {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(std::uint64_t seed) {
    // xoshiro's authors recommend splitmix64 to fill the state; it never yields all zeros.
    for (auto& w : s_) w = splitmix64(seed);
}

std::uint64_t Rng::hash_purpose(std::string_view purpose) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : purpose) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

Rng Rng::derive(std::uint64_t seed, std::string_view purpose) {
    std::uint64_t x = seed ^ 0x5851f42d4c957f2dull;
    std::uint64_t a = splitmix64(x);
    std::uint64_t y = hash_purpose(purpose);
    std::uint64_t b = splitmix64(y);
    return Rng(a ^ rotl(b, 17));
}

std::uint64_t Rng::next_u64() {
    // xoshiro256** 1.0 (Blackman & Vigna).
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

std::uint64_t Rng::uniform(std::uint64_t bound) {
    if (bound == 0) return 0;
    // Lemire's multiply-shift with rejection: unbiased, usually one draw.
    unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * bound;
    auto low = static_cast<std::uint64_t>(m);
    if (low < bound) {
        const std::uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = static_cast<unsigned __int128>(next_u64()) * bound;
            low = static_cast<std::uint64_t>(m);
        }
    }
    return static_cast<std::uint64_t>(m >> 64);
}

std::uint64_t Rng::uniform_between(std::uint64_t lo, std::uint64_t hi) {
    if (hi <= lo) return lo;
    const std::uint64_t span = hi - lo;
    if (span == ~std::uint64_t{0}) return next_u64();
    return lo + uniform(span + 1);
}

double Rng::uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

bool Rng::bernoulli(double p) {
    const double u = uniform01();
    if (p <= 0) return false;
    if (p >= 1) return true;
    return u < p;
}

}  // namespace tcpsim::stack
