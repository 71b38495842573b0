// Deterministic pseudo-random numbers (DESIGN.md principle 3). xoshiro256** seeded through
// splitmix64: same seed, same stream on every machine and compiler (no <random> distributions,
// whose output is implementation-defined). std::random_device is never used.
//
// Substreams: every consumer (a host's ISN secret, its ephemeral-port start, a link's loss) gets
// its own generator derived from (world seed, purpose string), so adding a consumer or drawing
// more numbers in one place never shifts another consumer's stream.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace tcpsim::stack {

class Rng {
public:
    // A generator seeded directly. Prefer Rng::derive(seed, purpose) for a named substream.
    explicit Rng(std::uint64_t seed = 0);
    // The substream of `seed` for `purpose` (e.g. "isn/client", "link/l1/loss").
    static Rng derive(std::uint64_t seed, std::string_view purpose);

    std::uint64_t next_u64();
    std::uint32_t next_u32() { return static_cast<std::uint32_t>(next_u64() >> 32); }
    // Uniform in [0, bound); bound 0 returns 0. Unbiased (rejection on the low product).
    std::uint64_t uniform(std::uint64_t bound);
    // Uniform in [lo, hi] inclusive.
    std::uint64_t uniform_between(std::uint64_t lo, std::uint64_t hi);
    // Uniform in [0, 1) with 53 random bits.
    double uniform01();
    // True with probability p (p <= 0 never, p >= 1 always; draws one number either way so the
    // stream position does not depend on p).
    bool bernoulli(double p);

    // 64-bit FNV-1a of a purpose string, exposed so tests can check derivation stability.
    static std::uint64_t hash_purpose(std::string_view purpose);

private:
    std::array<std::uint64_t, 4> s_{};
};

}  // namespace tcpsim::stack
