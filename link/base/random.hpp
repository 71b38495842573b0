// Seeded, platform-independent randomness for the virtual link (DESIGN.md principle 3).
// No std::random_device and no std:: distributions (their output differs between standard
// libraries): the generator and every distribution are written out here.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace tcpsim::link {

// The one random generator of tcpsim: xoshiro256** (Blackman & Vigna 2018), state filled from
// the seed by splitmix64. Same seed, same stream on every machine and compiler.
//
// Substreams: every consumer (a host's ISN secret, its ephemeral-port start, a link's loss) gets
// its own generator derived from (seed, purpose string), so adding a consumer or drawing more
// numbers in one place never shifts another consumer's stream.
class Rng {
public:
    // A generator seeded directly. Prefer Rng::derive(seed, purpose) for a named substream.
    explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
    void reseed(std::uint64_t seed);
    // The substream of `seed` for `purpose` (e.g. "isn/client", "link/l1/loss").
    static Rng derive(std::uint64_t seed, std::string_view purpose);
    // 64-bit FNV-1a of a purpose string, exposed so tests can check derivation stability.
    static std::uint64_t hash_purpose(std::string_view purpose);

    std::uint64_t next_u64();
    std::uint32_t next_u32() { return static_cast<std::uint32_t>(next_u64() >> 32); }
    // Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject); n = 0 returns 0.
    std::uint64_t uniform(std::uint64_t n);
    // Uniform in [lo, hi] inclusive.
    std::uint64_t uniform_between(std::uint64_t lo, std::uint64_t hi);
    // Uniform in [0, 1) with 53 random bits.
    double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    // True with probability p (p <= 0 never, p >= 1 always; draws one number either way so the
    // stream position does not depend on p).
    bool bernoulli(double p);
    // Standard normal by Box-Muller (one value per call; the second is discarded so that the
    // stream position depends only on the number of calls).
    double normal();
    // Pareto with minimum `scale` and tail index `shape` (inverse CDF: scale / U^(1/shape)).
    double pareto(double scale, double shape);

private:
    std::array<std::uint64_t, 4> s_{};
};

// A well-mixed seed for sub-stream `stream` of `seed`, so that independent consumers (each
// direction, each impairment) never share a sequence and adding one does not shift another.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

// A probability in [0, 1] on netem's 32-bit scale: rint(p * UINT32_MAX); 1.0 -> UINT32_MAX.
std::uint32_t probability_to_u32(double p);

// netem's correlated uniform source (sch_netem.c get_crandom): the next value is the weighted
// mean of a fresh uniform and the previous value, weight rho = correlation. Linux: with rho > 0
// the values are no longer uniform (they cluster around the middle), so "loss 10% 25%" loses
// fewer than 10% of frames; we keep that behaviour for fidelity and document it.
class CorrelatedRandom {
public:
    void reset(double correlation, Rng& rng);
    std::uint32_t next(Rng& rng);
    bool correlated() const { return rho_ != 0; }

private:
    std::uint32_t rho_ = 0;
    std::uint32_t last_ = 0;
};

// Delay distributions of tc-netem(8). Linux: tc-netem(8) calls Normal the default, but without a
// table the kernel's tabledist() is uniform, and that is what `delay 100ms 10ms` gives.
enum class DelayDistribution : std::uint8_t { Uniform, Normal, Pareto, ParetoNormal };

// netem's distribution tables (iproute2 netem/{normal,pareto,paretonormal}.c): 4096 quantiles of
// the distribution in units of 1/8192 (NETEM_DIST_SCALE) of the jitter, computed here once from
// the same formulas instead of being loaded from files. Empty for Uniform.
std::span<const std::int16_t> distribution_table(DelayDistribution d);
inline constexpr std::int64_t kNetemDistScale = 8192;

// netem's tabledist(): a delay with mean ~mu and spread sigma (ns), from one 32-bit uniform
// `rnd`. Uniform: mu - sigma + rnd * 2 sigma / 2^32 (netem uses rnd % 2sigma; the multiply avoids
// its bias and works for any sigma). Others: mu + sigma * table[rnd % 4096] / 8192 with netem's
// rounding.
std::int64_t netem_tabledist(std::int64_t mu, std::int64_t sigma, std::uint32_t rnd, DelayDistribution d);

// Quantile function of the standard normal distribution (Acklam's rational approximation refined
// by one Halley step), p in (0, 1).
double inverse_normal_cdf(double p);

}  // namespace tcpsim::link
