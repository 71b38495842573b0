#define BOOST_TEST_MODULE link_impairments
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <vector>

#include "link/virtual/impairments.hpp"
#include "link/base/random.hpp"
#include "link/virtual/virtual_link.hpp"

// Statistical tests run with fixed seeds (so they are deterministic), but every bound below is
// derived from the parameters: an expected value plus or minus several standard deviations.

using namespace tcpsim;
using namespace tcpsim::link;

namespace {

struct Arrival {
    std::size_t index;  // which frame (its first payload bytes carry the index)
    Time sent;
    Time at;
    std::uint8_t flags;
    ByteVector frame;
};

struct Collector : DeliverySink {
    std::vector<Arrival> arrivals;
    std::vector<std::size_t> lost;  // indices
    std::vector<DropReason> reasons;
    Time now{};
    void deliver(Time at, Side, Bytes frame, const DeliveryNote& note) override {
        arrivals.push_back({index_of(frame), now, at, note.flags, to_vector(frame)});
    }
    void dropped(Time, Side, Bytes frame, const DropNote& note) override {
        lost.push_back(index_of(frame));
        reasons.push_back(note.reason);
    }
    static std::size_t index_of(Bytes f) { return f.size() >= 4 ? load_be32(f, 0) : 0; }
};

ByteVector numbered_frame(std::size_t i, std::size_t size) {
    ByteVector f(size, std::byte{0xa5});
    store_be32(f, 0, static_cast<std::uint32_t>(i));
    return f;
}

// Sends n frames from A, one every `spacing`, and returns what came out.
Collector run(const Impairments& imp, std::size_t n, Duration spacing, std::size_t size = 100, std::uint64_t seed = 1) {
    VirtualLink link(seed);
    link.configure(Side::A, imp);
    Collector c;
    for (std::size_t i = 0; i < n; ++i) {
        c.now = kTimeZero + spacing * static_cast<std::int64_t>(i);
        const ByteVector f = numbered_frame(i, size);
        link.transmit(c.now, Side::A, f, c);
    }
    return c;
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }
double stddev(const std::vector<double>& v) {
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size() - 1));
}
double lag1_correlation(const std::vector<double>& v) {
    const double m = mean(v);
    double num = 0, den = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        den += (v[i] - m) * (v[i] - m);
        if (i + 1 < v.size()) num += (v[i] - m) * (v[i + 1] - m);
    }
    return num / den;
}

// |observed - expected| within k standard deviations of a binomial proportion over n trials,
// inflated by `factor` for correlated trials.
bool within_binomial(double observed, double p, std::size_t n, double k = 5.0, double factor = 1.0) {
    const double sd = std::sqrt(p * (1 - p) / static_cast<double>(n) * factor);
    return std::abs(observed - p) <= k * sd;
}

std::vector<bool> loss_pattern(const Collector& c, std::size_t n) {
    std::vector<bool> lost(n, false);
    for (std::size_t i : c.lost) lost[i] = true;
    return lost;
}

}  // namespace

// ---------------------------------------------------------------- random numbers and tables

BOOST_AUTO_TEST_CASE(rng_is_reproducible_and_streams_are_independent) {
    Rng a(5), b(5), c(derive_seed(5, 1));
    for (int i = 0; i < 100; ++i) BOOST_TEST(a.next_u64() == b.next_u64());
    BOOST_TEST(Rng(5).next_u64() != c.next_u64());
    BOOST_TEST(derive_seed(5, 1) != derive_seed(5, 2));
    BOOST_TEST(derive_seed(5, 1) != derive_seed(6, 1));
}

BOOST_AUTO_TEST_CASE(rng_below_is_uniform_and_in_range) {
    Rng r(11);
    constexpr std::size_t n = 70000, buckets = 7;
    std::array<std::size_t, buckets> count{};
    for (std::size_t i = 0; i < n; ++i) {
        const auto v = r.uniform(buckets);
        BOOST_REQUIRE(v < buckets);
        ++count[v];
    }
    for (auto c : count) BOOST_TEST(within_binomial(double(c) / n, 1.0 / buckets, n));
}

BOOST_AUTO_TEST_CASE(box_muller_normal_and_pareto_have_their_moments) {
    Rng r(3);
    constexpr std::size_t n = 200000;
    std::vector<double> z(n), p(n);
    for (auto& x : z) x = r.normal();
    for (auto& x : p) x = r.pareto(1.0, 3.0);
    BOOST_TEST(std::abs(mean(z)) < 5.0 / std::sqrt(double(n)));
    BOOST_TEST(std::abs(stddev(z) - 1.0) < 0.01);
    // Pareto(x_m = 1, a = 3): minimum 1, mean a/(a-1) = 1.5, variance a/((a-1)^2 (a-2)) = 0.75 (the
    // fourth moment is infinite, so the mean's tolerance is loose).
    BOOST_TEST(*std::min_element(p.begin(), p.end()) >= 1.0);
    BOOST_TEST(std::abs(mean(p) - 1.5) < 0.02);
}

BOOST_AUTO_TEST_CASE(inverse_normal_cdf_matches_known_quantiles) {
    BOOST_TEST(std::abs(inverse_normal_cdf(0.5)) < 1e-12);
    BOOST_TEST(std::abs(inverse_normal_cdf(0.975) - 1.959963984540054) < 1e-9);
    BOOST_TEST(std::abs(inverse_normal_cdf(0.001) + 3.090232306167813) < 1e-9);
    BOOST_TEST(std::abs(inverse_normal_cdf(1e-9) + 5.997807015007686) < 1e-7);
}

BOOST_AUTO_TEST_CASE(netem_tables_have_the_shape_of_their_distributions) {
    for (auto d : {DelayDistribution::Normal, DelayDistribution::Pareto, DelayDistribution::ParetoNormal}) {
        const auto t = distribution_table(d);
        BOOST_REQUIRE_EQUAL(t.size(), 4096u);
        BOOST_TEST(std::is_sorted(t.begin(), t.end()));  // quantiles, ascending
    }
    BOOST_TEST(distribution_table(DelayDistribution::Uniform).empty());
    // Normal: symmetric quantiles of N(0,1) in units of 1/8192; the median entry is ~0.
    const auto n = distribution_table(DelayDistribution::Normal);
    BOOST_TEST(std::abs(n[2048]) <= 2);
    BOOST_TEST(std::abs(n[1] / 8192.0 - inverse_normal_cdf(4.5 / 16384)) < 1e-3);
    BOOST_TEST(n[0] == -32768);  // -4.009 sigma does not fit in 16 bits: clamped, as in iproute2
    BOOST_TEST(std::abs(n[4095] / 8192.0 - inverse_normal_cdf(16380.5 / 16384)) < 1e-3);
    // Pareto (a = 3) shifted by its mean 1.5 and scaled by 4/3: smallest (1 - 1.5) * 4/3 = -2/3,
    // capped at 32767 (4.0).
    const auto p = distribution_table(DelayDistribution::Pareto);
    BOOST_TEST(p[0] == std::lrint(-2.0 / 3.0 * 8192));
    BOOST_TEST(p[4095] == 32767);
}

BOOST_AUTO_TEST_CASE(tabledist_without_jitter_is_the_mean) {
    BOOST_TEST(netem_tabledist(1000, 0, 12345, DelayDistribution::Normal) == 1000);
    // Uniform: the extremes of the 32-bit draw map to mu - sigma and just below mu + sigma.
    BOOST_TEST(netem_tabledist(1000, 100, 0, DelayDistribution::Uniform) == 900);
    BOOST_TEST(netem_tabledist(1000, 100, 0xffffffffu, DelayDistribution::Uniform) == 1099);
}

// ---------------------------------------------------------------- loss

BOOST_AUTO_TEST_CASE(random_loss_rate_matches_probability) {
    Impairments imp;
    imp.loss = RandomLoss{0.1, 0};
    constexpr std::size_t n = 100000;
    const auto c = run(imp, n, 1ms);
    BOOST_TEST(within_binomial(double(c.lost.size()) / n, 0.1, n));
    BOOST_TEST(c.arrivals.size() + c.lost.size() == n);
    BOOST_TEST(std::all_of(c.reasons.begin(), c.reasons.end(), [](DropReason r) { return r == DropReason::Loss; }));
}

BOOST_AUTO_TEST_CASE(correlated_random_loss_is_bursty_and_as_in_linux_below_the_nominal_rate) {
    // netem's correlation averages the uniform draw with the previous one; the result is no longer
    // uniform, so fewer than P of the frames are lost, and a loss makes the next one likelier.
    Impairments imp;
    imp.loss = RandomLoss{0.1, 0.5};
    constexpr std::size_t n = 200000;
    const auto c = run(imp, n, 1ms);
    const auto lost = loss_pattern(c, n);
    const double rate = double(c.lost.size()) / n;
    std::size_t after_loss = 0, lost_after_loss = 0;
    for (std::size_t i = 1; i < n; ++i)
        if (lost[i - 1]) {
            ++after_loss;
            lost_after_loss += lost[i];
        }
    const double conditional = double(lost_after_loss) / double(after_loss);
    BOOST_TEST(rate > 0.0);
    BOOST_TEST(rate < 0.1 - 5 * std::sqrt(0.1 * 0.9 / n));
    BOOST_TEST(conditional > rate + 5 * std::sqrt(rate * (1 - rate) / double(after_loss)));
}

BOOST_AUTO_TEST_CASE(gilbert_elliott_loss_rate_and_burst_length_follow_the_chain) {
    // Simple Gilbert (1-h = 1, 1-k = 0): a frame is lost iff the chain is Bad before it.
    // Stationary P(Bad) = p / (p + r); bursts are geometric with mean 1 / r.
    const double p = 0.05, r = 0.25;
    Impairments imp;
    imp.loss = GilbertElliottLoss{p, r, 1.0, 0.0};
    constexpr std::size_t n = 200000;
    const auto c = run(imp, n, 1ms);
    const auto lost = loss_pattern(c, n);
    const double pi_bad = p / (p + r);
    const double lambda = 1 - p - r;  // the chain's second eigenvalue inflates the variance
    BOOST_TEST(within_binomial(double(c.lost.size()) / n, pi_bad, n, 5.0, (1 + lambda) / (1 - lambda)));
    std::size_t bursts = 0, in_bursts = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (lost[i] && (i == 0 || !lost[i - 1])) ++bursts;
        in_bursts += lost[i];
    }
    const double mean_burst = double(in_bursts) / double(bursts);
    const double burst_sd = std::sqrt(1 - r) / r / std::sqrt(double(bursts));
    BOOST_TEST(std::abs(mean_burst - 1 / r) < 5 * burst_sd);
}

BOOST_AUTO_TEST_CASE(gilbert_elliott_with_partial_loss_in_both_states) {
    // Loss rate = pi_good (1-k) + pi_bad (1-h), the loss drawn with the state before the transition.
    const GilbertElliottLoss ge{0.02, 0.1, 0.6, 0.01};
    Impairments imp;
    imp.loss = ge;
    constexpr std::size_t n = 300000;
    const auto c = run(imp, n, 1ms);
    const double pi_bad = ge.p / (ge.p + ge.r);
    const double expected = (1 - pi_bad) * ge.loss_in_good + pi_bad * ge.loss_in_bad;
    const double lambda = 1 - ge.p - ge.r;
    BOOST_TEST(within_binomial(double(c.lost.size()) / n, expected, n, 5.0, (1 + lambda) / (1 - lambda)));
    BOOST_TEST((gilbert_elliott(0.02).r == 0.98));
    BOOST_TEST(gilbert_elliott(0.02).loss_in_bad == 1.0);
}

BOOST_AUTO_TEST_CASE(four_state_loss_rate_is_the_stationary_mass_of_the_loss_states) {
    const FourStateLoss gi{0.02, 0.3, 0.2, 0.1, 0.01};
    // Transition matrix over states 1..4 (index 0..3); losses are states 3 and 4.
    const double P[4][4] = {
        {1 - gi.p13 - gi.p14, 0, gi.p13, gi.p14},
        {0, 1 - gi.p23, gi.p23, 0},
        {gi.p31, gi.p32, 1 - gi.p31 - gi.p32, 0},
        {1, 0, 0, 0},
    };
    std::array<double, 4> pi{1, 0, 0, 0};
    for (int it = 0; it < 100000; ++it) {
        std::array<double, 4> next{};
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) next[j] += pi[i] * P[i][j];
        pi = next;
    }
    const double expected = pi[2] + pi[3];
    Impairments imp;
    imp.loss = gi;
    constexpr std::size_t n = 400000;
    const auto c = run(imp, n, 1ms);
    // Bursts in state 3 last 1 / (p31 + p32) = 2 frames on average: allow a generous factor 10.
    BOOST_TEST(within_binomial(double(c.lost.size()) / n, expected, n, 5.0, 10.0));
    const auto d = four_state(0.05);
    BOOST_TEST((d.p31 == 0.95 && d.p32 == 0 && d.p23 == 1 && d.p14 == 0));
}

BOOST_AUTO_TEST_CASE(four_state_isolated_losses_only_come_alone) {
    // With p13 = 0 only state 4 loses, and state 4 always returns to 1: no two losses in a row.
    Impairments imp;
    imp.loss = FourStateLoss{0.0, 1.0, 0.0, 1.0, 0.2};
    constexpr std::size_t n = 50000;
    const auto c = run(imp, n, 1ms);
    const auto lost = loss_pattern(c, n);
    for (std::size_t i = 1; i < n; ++i) BOOST_REQUIRE(!(lost[i] && lost[i - 1]));
    // Per frame: from state 1 lose w.p. 0.2, after a loss the next frame is always kept, so the
    // rate is 0.2 / 1.2.
    BOOST_TEST(within_binomial(double(c.lost.size()) / n, 0.2 / 1.2, n, 5.0, 2.0));
}

// ---------------------------------------------------------------- duplicate, corrupt

BOOST_AUTO_TEST_CASE(duplicate_rate_matches_probability_and_copies_are_flagged) {
    Impairments imp;
    imp.duplicate = {0.1, 0};
    constexpr std::size_t n = 100000;
    const auto c = run(imp, n, 1ms);
    const std::size_t dups = c.arrivals.size() - n;
    BOOST_TEST(within_binomial(double(dups) / n, 0.1, n));
    const auto flagged = std::count_if(c.arrivals.begin(), c.arrivals.end(),
                                       [](const Arrival& a) { return (a.flags & delivery_flag::Duplicate) != 0; });
    BOOST_TEST(std::size_t(flagged) == dups);
}

BOOST_AUTO_TEST_CASE(duplicate_copy_meets_loss_on_its_own) {
    // netem: with both, each copy is lost independently, except that a frame chosen for
    // duplication and hit by the first loss draw simply goes out once.
    Impairments imp;
    imp.duplicate = {1.0, 0};
    imp.loss = RandomLoss{0.5, 0};
    constexpr std::size_t n = 40000;
    const auto c = run(imp, n, 1ms);
    // Per frame: first draw lost -> 1 copy (no loss counted); kept -> the dup draws again.
    // Expected copies delivered per frame: 0.5 * 1 + 0.5 * (1 + 0.5) = 1.25; drops 0.25.
    BOOST_TEST(within_binomial(double(c.lost.size()) / n, 0.25, n));
    BOOST_TEST(std::abs(double(c.arrivals.size()) / n - 1.25) < 0.02);
}

BOOST_AUTO_TEST_CASE(corrupt_flips_exactly_one_bit_anywhere_in_the_frame) {
    Impairments imp;
    imp.corrupt = {0.2, 0};
    constexpr std::size_t n = 50000, size = 64;
    VirtualLink link(17);
    link.configure(Side::A, imp);
    Collector c;
    std::array<std::size_t, 8> bit_hits{};
    std::vector<std::size_t> byte_hits(size, 0);
    std::size_t corrupted = 0;
    for (std::size_t i = 0; i < n; ++i) {
        ByteVector f(size, std::byte{0});
        for (std::size_t k = 0; k < size; ++k) f[k] = std::byte(i * 7 + k);
        c.arrivals.clear();
        link.transmit(kTimeZero + 1ms * std::int64_t(i), Side::A, f, c);
        BOOST_REQUIRE_EQUAL(c.arrivals.size(), 1u);
        const auto& got = c.arrivals[0].frame;
        int differing_bits = 0;
        for (std::size_t k = 0; k < size; ++k) {
            const auto x = std::to_integer<unsigned>(got[k] ^ f[k]);
            if (x != 0) {
                ++byte_hits[k];
                bit_hits[std::countr_zero(x)] += 1;
            }
            differing_bits += std::popcount(x);
        }
        const bool flagged = (c.arrivals[0].flags & delivery_flag::Corrupted) != 0;
        BOOST_REQUIRE_EQUAL(differing_bits, flagged ? 1 : 0);
        corrupted += flagged;
    }
    BOOST_TEST(within_binomial(double(corrupted) / n, 0.2, n));
    BOOST_TEST(link.counters(Side::A).corrupted == corrupted);
    for (auto h : bit_hits) BOOST_TEST(within_binomial(double(h) / corrupted, 1.0 / 8, corrupted));
    for (auto h : byte_hits) BOOST_TEST(h > 0u);  // every byte, Ethernet header included
}

// ---------------------------------------------------------------- delay

BOOST_AUTO_TEST_CASE(uniform_jitter_stays_within_bounds_with_the_uniform_variance) {
    Impairments imp;
    imp.delay = {50ms, 10ms, 0, DelayDistribution::Uniform};
    constexpr std::size_t n = 100000;
    const auto c = run(imp, n, 1ms);
    std::vector<double> d;
    for (const auto& a : c.arrivals) d.push_back(std::chrono::duration<double, std::milli>(a.at - a.sent).count());
    BOOST_TEST(*std::min_element(d.begin(), d.end()) >= 40.0);
    BOOST_TEST(*std::max_element(d.begin(), d.end()) < 60.0);
    const double sd = 10.0 / std::sqrt(3.0);  // uniform on +-10 ms
    BOOST_TEST(std::abs(mean(d) - 50.0) < 5 * sd / std::sqrt(double(n)));
    BOOST_TEST(std::abs(stddev(d) - sd) < 0.02 * sd);
    BOOST_TEST(std::abs(lag1_correlation(d)) < 5 / std::sqrt(double(n)));
}

BOOST_AUTO_TEST_CASE(normal_jitter_has_mean_delay_and_sigma_jitter) {
    Impairments imp;
    imp.delay = {100ms, 10ms, 0, DelayDistribution::Normal};
    constexpr std::size_t n = 100000;
    const auto c = run(imp, n, 1ms);
    std::vector<double> d;
    for (const auto& a : c.arrivals) d.push_back(std::chrono::duration<double, std::milli>(a.at - a.sent).count());
    BOOST_TEST(std::abs(mean(d) - 100.0) < 5 * 10.0 / std::sqrt(double(n)) + 0.01);
    BOOST_TEST(std::abs(stddev(d) - 10.0) < 0.2);
    // The table's extremes are the 0.5/16384 quantiles: about 4 sigma.
    BOOST_TEST(*std::min_element(d.begin(), d.end()) > 100.0 - 4.1 * 10.0);
    BOOST_TEST(*std::max_element(d.begin(), d.end()) < 100.0 + 4.1 * 10.0);
}

BOOST_AUTO_TEST_CASE(pareto_jitter_is_right_skewed_with_netem_bounds) {
    Impairments imp;
    imp.delay = {100ms, 12ms, 0, DelayDistribution::Pareto};
    constexpr std::size_t n = 100000;
    const auto c = run(imp, n, 1ms);
    std::vector<double> d;
    for (const auto& a : c.arrivals) d.push_back(std::chrono::duration<double, std::milli>(a.at - a.sent).count());
    std::sort(d.begin(), d.end());
    // Table values run from -2/3 to 4 jitters: the pareto minimum is 1, its mean 1.5.
    BOOST_TEST(d.front() >= 100.0 - 12.0 * 2 / 3 - 1e-3);
    BOOST_TEST(d.back() <= 100.0 + 12.0 * 4 + 1e-3);
    const double median = d[n / 2];
    BOOST_TEST(median < mean(d));  // right tail
    // Median of Pareto(1, 3) is 2^(1/3): (2^(1/3) - 1.5) * 4/3 jitters.
    BOOST_TEST(std::abs(median - (100.0 + 12.0 * (std::cbrt(2.0) - 1.5) * 4 / 3)) < 0.2);
}

BOOST_AUTO_TEST_CASE(paretonormal_jitter_lies_between_its_components) {
    Impairments imp;
    imp.delay = {100ms, 10ms, 0, DelayDistribution::ParetoNormal};
    constexpr std::size_t n = 50000;
    const auto c = run(imp, n, 1ms);
    std::vector<double> d;
    for (const auto& a : c.arrivals) d.push_back(std::chrono::duration<double, std::milli>(a.at - a.sent).count());
    std::sort(d.begin(), d.end());
    // (normal + 3 pareto) / 4 quantile by quantile: the median is that of the mix.
    const double expected_median = 100.0 + 10.0 * (0.0 + 3 * (std::cbrt(2.0) - 1.5) * 4 / 3) / 4;
    BOOST_TEST(std::abs(d[n / 2] - expected_median) < 0.2);
    BOOST_TEST(d[n / 2] < mean(d));
}

BOOST_AUTO_TEST_CASE(delay_correlation_makes_successive_delays_correlated) {
    Impairments imp;
    imp.delay = {50ms, 10ms, 0.5, DelayDistribution::Uniform};
    constexpr std::size_t n = 50000;
    const auto c = run(imp, n, 100ms);  // spaced so arrivals stay in send order
    std::vector<double> d(n);
    for (const auto& a : c.arrivals) d[a.index] = std::chrono::duration<double, std::milli>(a.at - a.sent).count();
    // netem's recursion x' = (1-rho) u + rho x has lag-1 correlation rho.
    BOOST_TEST(std::abs(lag1_correlation(d) - 0.5) < 0.05);
    BOOST_TEST(std::abs(mean(d) - 50.0) < 0.5);
}

BOOST_AUTO_TEST_CASE(jitter_reorders_frames_without_a_rate_as_netem_tfifo_does) {
    Impairments imp;
    imp.delay = {10ms, 5ms, 0, DelayDistribution::Uniform};
    const auto c = run(imp, 2000, 1ms);
    const auto reordered = std::count_if(c.arrivals.begin(), c.arrivals.end(),
                                         [](const Arrival& a) { return (a.flags & delivery_flag::Reordered) != 0; });
    BOOST_TEST(reordered > 100);
}

// ---------------------------------------------------------------- reorder

BOOST_AUTO_TEST_CASE(reorder_gap_sends_every_nth_frame_at_once) {
    // tc ... delay 10ms reorder 100% gap 5: frames 5, 10, 15, ... go out immediately.
    Impairments imp;
    imp.delay.delay = 10ms;
    imp.reorder = {1.0, 0, 5};
    const auto c = run(imp, 100, 1ms);
    BOOST_REQUIRE_EQUAL(c.arrivals.size(), 100u);
    for (const auto& a : c.arrivals) {
        const bool immediate = a.at == a.sent;
        BOOST_TEST(immediate == ((a.index + 1) % 5 == 0), "frame " << a.index + 1);
        if (!immediate) BOOST_TEST((a.at - a.sent == 10ms));
    }
}

BOOST_AUTO_TEST_CASE(reorder_probability_without_gap_is_per_frame) {
    Impairments imp;
    imp.delay.delay = 10ms;
    imp.reorder = {0.25, 0, 0};
    constexpr std::size_t n = 100000;
    const auto c = run(imp, n, 1ms);
    const auto immediate = std::count_if(c.arrivals.begin(), c.arrivals.end(), [](const Arrival& a) { return a.at == a.sent; });
    BOOST_TEST(within_binomial(double(immediate) / n, 0.25, n));
    // Frames sent at once overtake the (up to 9) delayed ones still in flight.
    VirtualLink link(1);
    link.configure(Side::A, imp);
    Collector c2;
    for (std::size_t i = 0; i < 1000; ++i) {
        const ByteVector f = numbered_frame(i, 60);
        link.transmit(kTimeZero + 1ms * std::int64_t(i), Side::A, f, c2);
    }
    BOOST_TEST(link.counters(Side::A).reordered > 100u);
}

// ---------------------------------------------------------------- rate and queue

BOOST_AUTO_TEST_CASE(rate_serialises_back_to_back_frames_exactly) {
    Impairments imp;
    imp.rate.bits_per_second = 1'000'000;
    imp.delay.delay = 5ms;
    VirtualLink link(1);
    link.configure(Side::A, imp);
    Collector c;
    for (std::size_t i = 0; i < 3; ++i) link.transmit(kTimeZero, Side::A, numbered_frame(i, 1250), c);  // 10 ms each
    BOOST_REQUIRE_EQUAL(c.arrivals.size(), 3u);
    BOOST_TEST((c.arrivals[0].at == kTimeZero + 15ms));
    BOOST_TEST((c.arrivals[1].at == kTimeZero + 25ms));
    BOOST_TEST((c.arrivals[2].at == kTimeZero + 35ms));
    // An idle serialiser starts at once.
    link.transmit(kTimeZero + 100ms, Side::A, numbered_frame(3, 1250), c);
    BOOST_TEST((c.arrivals[3].at == kTimeZero + 115ms));
}

BOOST_AUTO_TEST_CASE(rate_counts_packet_overhead_and_cells) {
    RateConfig r;
    r.bits_per_second = 1'000'000;
    BOOST_TEST(serialisation_time(r, 1250).count() == 10'000'000);
    r.packet_overhead = 24;  // preamble + SFD + FCS + inter-frame gap
    BOOST_TEST(serialisation_time(r, 1250).count() == (1250 + 24) * 8 * 1000);
    r.packet_overhead = 0;
    r.cell_size = 48;  // ATM: 100 bytes need 3 cells of 48 + 5 header bytes
    r.cell_overhead = 5;
    BOOST_TEST(serialisation_time(r, 100).count() == 3 * 53 * 8 * 1000);
    BOOST_TEST(serialisation_time(r, 96).count() == 2 * 53 * 8 * 1000);
    RateConfig fast;
    fast.bits_per_second = 3'000'000'000ull;  // truncation as in netem: 1500 B -> 4000 ns exactly
    BOOST_TEST(serialisation_time(fast, 1500).count() == 4000);
    BOOST_TEST(serialisation_time(fast, 1).count() == 2);  // 8/3 ns, truncated
}

BOOST_AUTO_TEST_CASE(queue_limit_in_packets_drops_tail_and_drains_with_time) {
    Impairments imp;
    imp.rate.bits_per_second = 1'000'000;
    imp.rate.queue_packets = 2;
    VirtualLink link(1);
    link.configure(Side::A, imp);
    Collector c;
    for (std::size_t i = 0; i < 5; ++i) link.transmit(kTimeZero, Side::A, numbered_frame(i, 1250), c);
    // Frame 0 serialises at once, 1 and 2 wait, 3 and 4 find the queue full.
    BOOST_TEST(c.arrivals.size() == 3u);
    BOOST_TEST((c.lost == std::vector<std::size_t>{3, 4}));
    BOOST_TEST((c.reasons[0] == DropReason::QueueFull));
    BOOST_TEST(link.queued_packets(Side::A, kTimeZero) == 2u);
    // At 10 ms frame 1 starts serialising: one slot frees.
    BOOST_TEST(link.queued_packets(Side::A, kTimeZero + 10ms) == 1u);
    link.transmit(kTimeZero + 10ms, Side::A, numbered_frame(5, 1250), c);
    link.transmit(kTimeZero + 10ms, Side::A, numbered_frame(6, 1250), c);
    BOOST_TEST(c.arrivals.size() == 4u);
    BOOST_TEST((c.arrivals.back().at == kTimeZero + 40ms));
    BOOST_TEST((c.lost == std::vector<std::size_t>{3, 4, 6}));
}

BOOST_AUTO_TEST_CASE(queue_limit_in_bytes_counts_waiting_bytes) {
    Impairments imp;
    imp.rate.bits_per_second = 8'000'000;
    imp.rate.queue_bytes = 3000;
    VirtualLink link(1);
    link.configure(Side::A, imp);
    Collector c;
    // 1500 B in serialisation (not counted), 1500 + 1000 waiting = 2500, then 600 more > 3000.
    link.transmit(kTimeZero, Side::A, numbered_frame(0, 1500), c);
    link.transmit(kTimeZero, Side::A, numbered_frame(1, 1500), c);
    link.transmit(kTimeZero, Side::A, numbered_frame(2, 1000), c);
    link.transmit(kTimeZero, Side::A, numbered_frame(3, 600), c);
    link.transmit(kTimeZero, Side::A, numbered_frame(4, 500), c);  // exactly 3000: fits
    BOOST_TEST((c.lost == std::vector<std::size_t>{3}));
    BOOST_TEST(c.arrivals.size() == 4u);
}

BOOST_AUTO_TEST_CASE(rate_keeps_fifo_order_even_with_jitter) {
    Impairments imp;
    imp.rate.bits_per_second = 100'000'000;
    imp.delay = {10ms, 5ms, 0, DelayDistribution::Uniform};
    const auto c = run(imp, 5000, 100us, 1000);
    for (std::size_t i = 1; i < c.arrivals.size(); ++i) BOOST_REQUIRE((c.arrivals[i].at >= c.arrivals[i - 1].at));
    for (const auto& a : c.arrivals) BOOST_REQUIRE((a.flags & delivery_flag::Reordered) == 0);
}

BOOST_AUTO_TEST_CASE(adding_jitter_does_not_change_which_frames_are_lost) {
    Impairments a;
    a.loss = RandomLoss{0.2, 0};
    Impairments b = a;
    b.delay = {20ms, 10ms, 0, DelayDistribution::Normal};
    b.duplicate = {0, 0};
    const auto ca = run(a, 5000, 1ms, 100, 77);
    const auto cb = run(b, 5000, 1ms, 100, 77);
    BOOST_TEST((ca.lost == cb.lost));
}

// ---------------------------------------------------------------- netem limit and ecn

BOOST_AUTO_TEST_CASE(netem_limit_caps_frames_held_including_delayed_ones) {
    Impairments imp;
    imp.delay.delay = 100ms;
    imp.limit = 10;
    VirtualLink link(1);
    link.configure(Side::A, imp);
    Collector c;
    // 15 frames within 15 ms: the first 10 are held (in their 100 ms delay), 5 are dropped.
    for (std::size_t i = 0; i < 15; ++i) link.transmit(kTimeZero + 1ms * std::int64_t(i), Side::A, numbered_frame(i, 60), c);
    BOOST_TEST(c.arrivals.size() == 10u);
    BOOST_TEST((c.lost == std::vector<std::size_t>{10, 11, 12, 13, 14}));
    BOOST_TEST((c.reasons[0] == DropReason::QueueFull));
    // At 100 ms frame 0 has arrived: one frame fits again.
    link.transmit(kTimeZero + 100ms, Side::A, numbered_frame(15, 60), c);
    link.transmit(kTimeZero + 100ms, Side::A, numbered_frame(16, 60), c);
    BOOST_TEST(c.arrivals.size() == 11u);
    BOOST_TEST(c.lost.back() == 16u);
}

namespace {
ByteVector ipv4_frame(std::uint8_t tos) {
    ByteVector f(60, std::byte{0});
    store_be16(f, 12, 0x0800);
    store_u8(f, 14, 0x45);
    store_u8(f, 15, tos);
    store_be16(f, 16, 46);
    store_u8(f, 22, 64);
    store_u8(f, 23, 17);
    store_be32(f, 26, 0xc0000201);
    store_be32(f, 30, 0xc0000202);
    // Header checksum (RFC 791): ones' complement of the ones' complement sum of the header.
    std::uint32_t sum = 0;
    for (std::size_t i = 14; i < 34; i += 2) sum += load_be16(f, i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    store_be16(f, 24, static_cast<std::uint16_t>(~sum));
    return f;
}
bool ip_checksum_ok(Bytes f) {
    std::uint32_t sum = 0;
    for (std::size_t i = 14; i < 34; i += 2) sum += load_be16(f, i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}
}  // namespace

BOOST_AUTO_TEST_CASE(ecn_marks_capable_frames_ce_instead_of_dropping_them) {
    Impairments imp;
    imp.loss = RandomLoss{1.0, 0};
    imp.ecn = true;
    VirtualLink link(1);
    link.configure(Side::A, imp);
    Collector c;
    const auto ect0 = ipv4_frame(0x02 | 0xb8);  // DSCP EF + ECT(0)
    const auto not_ect = ipv4_frame(0xb8);
    BOOST_REQUIRE(ip_checksum_ok(ect0));
    link.transmit(kTimeZero, Side::A, ect0, c);
    link.transmit(kTimeZero, Side::A, not_ect, c);
    BOOST_REQUIRE_EQUAL(c.arrivals.size(), 1u);
    const auto& got = c.arrivals[0].frame;
    BOOST_TEST(load_u8(got, 15) == (0xb8 | 0x03));  // CE, DSCP untouched
    BOOST_TEST(ip_checksum_ok(got));                // header checksum patched
    BOOST_TEST((c.arrivals[0].flags & delivery_flag::CeMarked) != 0);
    BOOST_TEST(c.lost.size() == 1u);  // the Not-ECT frame is lost as usual
    BOOST_TEST(link.counters(Side::A).ecn_marked == 1u);
    Impairments ecn_without_loss;
    ecn_without_loss.ecn = true;
    BOOST_CHECK_THROW(validate(ecn_without_loss), std::invalid_argument);
}

// ---------------------------------------------------------------- tc syntax

BOOST_AUTO_TEST_CASE(parse_netem_reads_tc_command_lines) {
    const auto a = parse_netem("delay 100ms 10ms 25% distribution normal loss 1% duplicate 0.1 rate 10mbit 24");
    BOOST_TEST((a.delay.delay == 100ms));
    BOOST_TEST((a.delay.jitter == 10ms));
    BOOST_TEST(a.delay.correlation == 0.25);
    BOOST_TEST((a.delay.distribution == DelayDistribution::Normal));
    BOOST_TEST((std::get<RandomLoss>(a.loss) == RandomLoss{0.01, 0}));
    BOOST_TEST(a.duplicate.probability == 0.001);  // "0.1" without % is 0.1%, as in tc
    BOOST_TEST(a.rate.bits_per_second == 10'000'000u);
    BOOST_TEST(a.rate.packet_overhead == 24);

    const auto ge = parse_netem("loss gemodel 1% delay 5ms");
    BOOST_TEST((std::get<GilbertElliottLoss>(ge.loss) == gilbert_elliott(0.01)));
    const auto gi = parse_netem("loss state 1% 30% 20% 10% 1%");
    BOOST_TEST((std::get<FourStateLoss>(gi.loss) == FourStateLoss{0.01, 0.3, 0.2, 0.1, 0.01}));
    const auto gi_default = parse_netem("loss state 2%");
    BOOST_TEST((std::get<FourStateLoss>(gi_default.loss) == four_state(0.02)));
    const auto r = parse_netem("delay 10ms reorder 25% 50% gap 5 limit 100 queue 50 queue 64kb mtu 1500 rate 1.5mbps");
    BOOST_TEST((r.reorder == ReorderConfig{0.25, 0.5, 5}));
    BOOST_TEST(r.limit == 100u);
    BOOST_TEST(r.rate.queue_packets == 50u);
    BOOST_TEST(r.rate.queue_bytes == 65536u);
    BOOST_TEST(r.mtu == 1500u);
    BOOST_TEST(r.rate.bits_per_second == 12'000'000u);  // 1.5 megabytes per second
    BOOST_TEST(parse_netem("rate 1kibit -4 48 5").rate.cell_overhead == 5);
    BOOST_TEST(parse_netem("rate 1kibit -4 48 5").rate.packet_overhead == -4);
    BOOST_TEST(parse_netem("").is_perfect());
    BOOST_TEST((parse_netem("DELAY 1.5MS").delay.delay == 1500us));
}

BOOST_AUTO_TEST_CASE(parse_netem_rejects_bad_input_with_the_token_named) {
    auto message = [](std::string_view text) {
        try {
            (void)parse_netem(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    BOOST_TEST(message("lose 1%").find("'lose'") != std::string::npos);
    BOOST_TEST(message("delay 100").find("unit") != std::string::npos);
    BOOST_TEST(message("delay").find("expects") != std::string::npos);
    BOOST_TEST(message("loss 101%").find("100%") != std::string::npos);
    BOOST_TEST(message("loss 1x").find("'1x'") != std::string::npos);
    BOOST_TEST(message("rate 10furlongs").find("unit") != std::string::npos);
    BOOST_TEST(message("reorder 10%").find("delay") != std::string::npos);  // validate(), like tc
    BOOST_TEST(message("distribution experimental").find("not supported") != std::string::npos);
    BOOST_TEST(message("seed 5").find("scenario seed") != std::string::npos);
    BOOST_TEST(message("limit -1") != "accepted");
    BOOST_TEST(message("queue 1.5") != "accepted");
    BOOST_TEST(message("delay 1e3ms") != "accepted");
}

BOOST_AUTO_TEST_CASE(to_netem_string_round_trips) {
    for (const char* text : {
             "delay 100ms 10ms 25% distribution pareto loss random 1% 10% ecn corrupt 0.1% duplicate 5% 50%",
             "limit 1000 delay 2s loss gemodel 1% 10% 70% 0.1%",
             "delay 10ms reorder 25% gap 3 rate 10mbit 24 48 5 queue 50 queue 3000b mtu 9000",
             "loss state 1.5% 30% 20% 10% 1%",
             "delay 1234567ns 1us",
             "delay 10ms 5ms fifo",
             "rate 1500bit",
         }) {
        const Impairments imp = parse_netem(text);
        const std::string printed = to_netem_string(imp);
        BOOST_TEST((parse_netem(printed) == imp), text << " -> " << printed);
    }
    BOOST_TEST(to_netem_string(Impairments{}).empty());
    BOOST_TEST(to_netem_string(parse_netem("delay 100ms loss 1%")) == "delay 100ms loss random 1%");
}

BOOST_AUTO_TEST_CASE(keep_order_jitter_varies_delay_without_reordering) {
    Impairments imp;
    imp.delay = {10ms, 5ms, 0, DelayDistribution::Uniform};
    imp.delay.keep_order = true;
    const auto c = run(imp, 5000, 1ms);
    std::vector<double> d;
    for (std::size_t i = 0; i < c.arrivals.size(); ++i) {
        BOOST_REQUIRE_EQUAL(c.arrivals[i].index, i);
        if (i > 0) BOOST_REQUIRE((c.arrivals[i].at >= c.arrivals[i - 1].at));
        BOOST_REQUIRE((c.arrivals[i].flags & delivery_flag::Reordered) == 0);
        d.push_back(std::chrono::duration<double, std::milli>(c.arrivals[i].at - c.arrivals[i].sent).count());
    }
    // Delays still vary within [delay - jitter, delay + jitter + the wait for a predecessor).
    BOOST_TEST(*std::min_element(d.begin(), d.end()) >= 5.0);
    BOOST_TEST(*std::max_element(d.begin(), d.end()) < 15.0);
    BOOST_TEST(stddev(d) > 1.0);
    BOOST_TEST(parse_netem("delay 10ms 5ms fifo").delay.keep_order);
}
