#include "tcp/rtt_estimator.hpp"

#include <algorithm>
#include <chrono>

namespace tcpsim::tcp {

namespace {
std::uint32_t micros_u32(std::int64_t ns) {
    std::int64_t us = ns / 1000;
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, 0xffffffff));
}
}  // namespace

RttEstimator::RttEstimator(const Config& config, RtoFormula formula)
    : rto_min_(config.rto_min), rto_max_(config.rto_max), formula_(formula), base_rto_(config.rto_initial) {}

void RttEstimator::sample(Duration rtt) { sample(rtt, rtt_seq_ + 1, rtt_seq_ + 1); }

void RttEstimator::sample(Duration rtt, SeqNum snd_una, SeqNum snd_nxt) {
    std::int64_t m = std::max<std::int64_t>(rtt.count(), 1000);  // Linux: at least 1 us
    latest_ = Duration(m);
    if (min_rtt_ == Duration::zero() || latest_ < min_rtt_)
        min_rtt_ = latest_;
    const std::int64_t rto_min = rto_min_.count();

    if (!has_sample_) {
        // RFC 6298 (2.2): SRTT = R, RTTVAR = R/2 (so RTO = 3R).
        has_sample_ = true;
        srtt8_ = m << 3;
        mdev4_ = m << 1;
        // Linux: rttvar_us = max(mdev, rto_min) — the variance term is floored, not the RTO.
        rttvar4_ = std::max(mdev4_, rto_min);
        mdev_max4_ = rttvar4_;
        rtt_seq_ = snd_nxt;
    } else {
        // RFC 6298 (2.3) with beta = 1/4, alpha = 1/8, RTTVAR first (it uses the old SRTT).
        std::int64_t err = m - (srtt8_ >> 3);
        srtt8_ += err;
        std::int64_t abs_err = err < 0 ? -err : err;
        std::int64_t dm = abs_err - (mdev4_ >> 2);
        // Linux: when the RTT falls, weigh the deviation 8x less (Eifel-like), so a sudden drop in
        // RTT does not inflate RTTVAR and the RTO.
        if (formula_ == RtoFormula::Linux && err < 0 && dm > 0)
            dm >>= 3;
        mdev4_ += dm;
        if (formula_ == RtoFormula::Linux) {
            // Linux: rttvar follows the largest mdev of the current flight up at once, and decays a
            // quarter of the way towards it once per flight.
            if (mdev4_ > mdev_max4_) {
                mdev_max4_ = mdev4_;
                if (mdev_max4_ > rttvar4_)
                    rttvar4_ = mdev_max4_;
            }
            if (snd_una > rtt_seq_) {
                if (mdev_max4_ < rttvar4_)
                    rttvar4_ -= (rttvar4_ - mdev_max4_) >> 2;
                rtt_seq_ = snd_nxt;
                mdev_max4_ = rto_min;
            }
        }
    }
    srtt8_ = std::max<std::int64_t>(srtt8_, 1);
    // Linux tcp_ack_update_rtt: "RFC6298: only reset backoff on valid RTT measurement."
    backoff_ = 0;
    recompute_rto();
}

void RttEstimator::recompute_rto() {
    std::int64_t srtt = srtt8_ >> 3;
    std::int64_t rto = 0;
    if (formula_ == RtoFormula::Linux) {
        // Linux: __tcp_set_rto = srtt + rttvar, then tcp_bound_rto (upper bound only: rttvar is
        // already >= rto_min).
        rto = srtt + rttvar4_;
    } else {
        // RFC 6298 (2.3) then (2.4) (with Linux's 200 ms instead of 1 s) and (2.5).
        rto = srtt + std::max<std::int64_t>(kClockGranularity.count(), mdev4_);
        rto = std::max<std::int64_t>(rto, rto_min_.count());
    }
    base_rto_ = Duration(std::min<std::int64_t>(rto, rto_max_.count()));
}

Duration RttEstimator::srtt() const { return Duration(srtt8_ >> 3); }
Duration RttEstimator::rttvar() const { return Duration(mdev4_ >> 2); }

Duration RttEstimator::rto() const {
    Duration r = std::min(base_rto_, rto_max_);
    for (unsigned i = 0; i < backoff_ && r < rto_max_; ++i)
        r = std::min(r * 2, rto_max_);
    return r;
}

Duration RttEstimator::backoff() {
    // RFC 6298 (5.5); Linux: icsk_rto = min(icsk_rto << 1, TCP_RTO_MAX), icsk_backoff++ (u8).
    if (backoff_ < 255)
        ++backoff_;
    return rto();
}

void RttEstimator::use_fallback_rto() {
    if (!has_sample_)
        base_rto_ = std::min<Duration>(kFallbackRto, rto_max_);
}

std::uint32_t RttEstimator::srtt_us() const { return micros_u32(srtt8_ >> 3); }
std::uint32_t RttEstimator::rttvar_us() const { return micros_u32(mdev4_ >> 2); }
std::uint32_t RttEstimator::rto_us() const { return micros_u32(rto().count()); }

}  // namespace tcpsim::tcp
