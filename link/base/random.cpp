#include "link/base/random.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tcpsim::link {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr double kPi = 3.14159265358979323846;

}  // namespace

void Rng::reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
    // An all-zero state is the one fixed point of xoshiro; splitmix64 cannot produce four zeros,
    // but be explicit.
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;
}

std::uint64_t Rng::next_u64() {
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
    const std::uint64_t a = splitmix64(x);
    std::uint64_t y = hash_purpose(purpose);
    const std::uint64_t b = splitmix64(y);
    return Rng(a ^ rotl(b, 17));
}

std::uint64_t Rng::uniform(std::uint64_t n) {
    if (n == 0) return 0;
    unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
        const std::uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = static_cast<unsigned __int128>(next_u64()) * n;
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

bool Rng::bernoulli(double p) {
    const double u = uniform01();
    if (p <= 0) return false;
    if (p >= 1) return true;
    return u < p;
}

double Rng::normal() {
    // 1 - U keeps the logarithm's argument in (0, 1].
    const double u1 = 1.0 - uniform01();
    const double u2 = uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double Rng::pareto(double scale, double shape) {
    const double u = 1.0 - uniform01();  // (0, 1]
    return scale / std::pow(u, 1.0 / shape);
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    splitmix64(x);
    return splitmix64(x);
}

std::uint32_t probability_to_u32(double p) {
    if (!(p > 0.0)) return 0;
    if (p >= 1.0) return std::numeric_limits<std::uint32_t>::max();
    return static_cast<std::uint32_t>(std::rint(p * 4294967295.0));
}

void CorrelatedRandom::reset(double correlation, Rng& rng) {
    rho_ = probability_to_u32(correlation);
    last_ = rng.next_u32();
}

std::uint32_t CorrelatedRandom::next(Rng& rng) {
    const std::uint64_t value = rng.next_u32();
    if (rho_ == 0) return static_cast<std::uint32_t>(value);
    // sch_netem.c get_crandom(): answer = (value * (2^32 - rho') + last * rho') >> 32, rho' = rho + 1.
    const std::uint64_t rho = std::uint64_t{rho_} + 1;
    const unsigned __int128 mixed =
        static_cast<unsigned __int128>(value) * ((std::uint64_t{1} << 32) - rho) + static_cast<unsigned __int128>(last_) * rho;
    last_ = static_cast<std::uint32_t>(mixed >> 32);
    return last_;
}

double inverse_normal_cdf(double p) {
    // P. J. Acklam's coefficients (relative error < 1.15e-9), then one Halley step with erfc.
    static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                   1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                   6.680131188771972e+01,  -1.328068155288572e+01};
    static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                   -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                   3.754408661907416e+00};
    constexpr double p_low = 0.02425;
    double x;
    if (p < p_low) {
        const double q = std::sqrt(-2 * std::log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - p_low) {
        const double q = p - 0.5;
        const double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        const double q = std::sqrt(-2 * std::log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    const double u = e * std::sqrt(2 * kPi) * std::exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

namespace {

constexpr int kTableSize = 4096;  // iproute2 writes every 4th of 16384 quantiles

std::int16_t clamp16(long v) {
    return static_cast<std::int16_t>(std::clamp<long>(v, std::numeric_limits<std::int16_t>::min(),
                                                      std::numeric_limits<std::int16_t>::max()));
}

// iproute2 normal.c: entry i (step 4 of 16384) is the largest x with rint(16384 Phi(x)) == i,
// i.e. the quantile at (i + 0.5) / 16384.
long normal_value(int k) {
    const double p = (4.0 * k + 0.5) / 16384.0;
    return std::lrint(inverse_normal_cdf(p) * kNetemDistScale);
}

// iproute2 pareto.c (shape a = 3, minimum 1): (u^(-1/3) - 1.5) * 4/3, u from 1 down, capped at 4.
long pareto_value(int k) {
    const double u = static_cast<double>(65536 - 16 * k) / 65536.0;
    double v = 1.0 / std::pow(u, 1.0 / 3.0);
    v -= 1.5;
    v *= (4.0 / 3.0) * static_cast<double>(kNetemDistScale);
    if (v > 32767) v = 32767;
    return std::lrint(v);
}

std::vector<std::int16_t> make_table(DelayDistribution d) {
    std::vector<std::int16_t> t(kTableSize);
    for (int k = 0; k < kTableSize; ++k) {
        switch (d) {
            case DelayDistribution::Uniform: t[k] = 0; break;
            case DelayDistribution::Normal: t[k] = clamp16(normal_value(k)); break;
            case DelayDistribution::Pareto: t[k] = clamp16(pareto_value(k)); break;
            // iproute2 paretonormal.c: (normal + 3 pareto) / 4 of the same quantile, C division.
            case DelayDistribution::ParetoNormal: t[k] = clamp16((normal_value(k) + 3 * pareto_value(k)) / 4); break;
        }
    }
    return t;
}

}  // namespace

std::span<const std::int16_t> distribution_table(DelayDistribution d) {
    static const std::vector<std::int16_t> normal = make_table(DelayDistribution::Normal);
    static const std::vector<std::int16_t> pareto = make_table(DelayDistribution::Pareto);
    static const std::vector<std::int16_t> paretonormal = make_table(DelayDistribution::ParetoNormal);
    switch (d) {
        case DelayDistribution::Uniform: return {};
        case DelayDistribution::Normal: return normal;
        case DelayDistribution::Pareto: return pareto;
        case DelayDistribution::ParetoNormal: return paretonormal;
    }
    return {};
}

std::int64_t netem_tabledist(std::int64_t mu, std::int64_t sigma, std::uint32_t rnd, DelayDistribution d) {
    if (sigma <= 0) return mu;
    if (d == DelayDistribution::Uniform) {
        const auto span = static_cast<unsigned __int128>(2 * static_cast<std::uint64_t>(sigma));
        return mu - sigma + static_cast<std::int64_t>((span * rnd) >> 32);
    }
    const auto table = distribution_table(d);
    const std::int64_t t = table[rnd % table.size()];
    // sch_netem.c tabledist(): split sigma to keep precision without overflow, round half away.
    std::int64_t x = (sigma % kNetemDistScale) * t;
    if (x >= 0)
        x += kNetemDistScale / 2;
    else
        x -= kNetemDistScale / 2;
    return x / kNetemDistScale + (sigma / kNetemDistScale) * t + mu;
}

}  // namespace tcpsim::link
