// Round-trip time estimation and the retransmission timeout (RFC 6298) with Linux's bounds and,
// by default, Linux's RTO formula (tcp_rtt_estimator / tcp_set_rto in tcp_input.c).
//
// Two formulas, chosen per connection:
//  - RtoFormula::Linux (default): RTO = SRTT + max(mdev_max, rto_min), where mdev_max is the
//    largest 4*|err| smoothed deviation seen over the last flight (reset once per RTT) and rto_min
//    (200 ms) floors the *variance term*, not the RTO. So a 1 ms LAN RTT gives RTO ~= 201 ms, and
//    a drop in RTT does not shrink RTTVAR (Eifel-like damping). We follow Linux because tcpsim's
//    traces are compared with Linux captures and packetdrill scripts, and RFC 6298 (2.4) already
//    permits a lower minimum than 1 s; Linux's behaviour is the de-facto interpretation.
//  - RtoFormula::Rfc6298: RTO = SRTT + max(G, 4*RTTVAR), clamped to [rto_min, rto_max]; G = 1 ms.
// Both agree on the first sample R when 2R >= rto_min: RTO = 3R (RFC 6298 (2.2)).
//
// Karn's algorithm (RFC 6298 (3)) is the caller's duty: feed samples only from segments that were
// never retransmitted, or from timestamp echoes (RFC 7323 §4). Time is passed in; nothing here
// reads a clock.
#pragma once

#include <cstdint>

#include "link/base/time.hpp"
#include "tcp/config.hpp"
#include "tcp/seq.hpp"

namespace tcpsim::tcp {

enum class RtoFormula { Linux, Rfc6298 };

class RttEstimator {
public:
    // Linux: TCP_TIMEOUT_FALLBACK, the RTO after a handshake that needed retransmission and gave
    // no sample (RFC 6298 (5.7)).
    static constexpr Duration kFallbackRto = std::chrono::seconds(3);
    static constexpr Duration kClockGranularity = std::chrono::milliseconds(1);  // G (Linux: 1 jiffy at HZ=1000)

    explicit RttEstimator(const Config& config, RtoFormula formula = RtoFormula::Linux);

    // One RTT measurement. `snd_una`/`snd_nxt` after processing the ACK: Linux re-arms its
    // variance maximum once per flight (when snd_una passes the snd_nxt of the previous reset);
    // they are unused by the RFC formula. Non-positive samples count as 1 us (Linux: max(1, ...)).
    void sample(Duration rtt, SeqNum snd_una, SeqNum snd_nxt);
    // A sample also ends any backoff (Linux: tcp_ack_update_rtt sets icsk_backoff = 0).
    // Convenience for callers/tests that do not track flights: each sample is its own flight.
    void sample(Duration rtt);

    bool has_sample() const { return has_sample_; }
    Duration srtt() const;    // 0 before the first sample
    Duration rttvar() const;  // RFC RTTVAR (Linux: mdev/4 as tcpi_rttvar reports it)
    Duration min_rtt() const { return min_rtt_; }
    Duration latest_rtt() const { return latest_; }

    // The current timeout including backoff: min(base << backoff, rto_max).
    Duration rto() const;
    // Without backoff (Linux: what tcp_set_rto computes).
    Duration base_rto() const { return base_rto_; }
    // RFC 6298 (5.5): double on expiry, capped at rto_max. Returns the new rto().
    Duration backoff();
    // End the backoff without a sample (sample() already does it).
    void reset_backoff() { backoff_ = 0; }
    unsigned backoff_count() const { return backoff_; }
    // RFC 6298 (5.7): handshake retransmitted and no sample: RTO = 3 s (Linux TCP_TIMEOUT_FALLBACK)
    // unless a sample has been taken.
    void use_fallback_rto();

    // TCP_INFO (tcpi_rtt, tcpi_rttvar, tcpi_rto) in microseconds.
    std::uint32_t srtt_us() const;
    std::uint32_t rttvar_us() const;
    std::uint32_t rto_us() const;

private:
    void recompute_rto();

    Duration rto_min_;
    Duration rto_max_;
    RtoFormula formula_;
    bool has_sample_ = false;
    // Linux keeps srtt*8 and mdev*4 in microseconds; we keep the same scaled integers in ns so
    // the arithmetic (and rounding) matches tcp_rtt_estimator.
    std::int64_t srtt8_ = 0;     // 8 * SRTT, ns
    std::int64_t mdev4_ = 0;     // 4 * RTTVAR (RFC) / mdev_us (Linux), ns
    std::int64_t mdev_max4_ = 0; // Linux: mdev_max_us
    std::int64_t rttvar4_ = 0;   // Linux: rttvar_us (the variance term of the RTO)
    SeqNum rtt_seq_{};           // Linux: rtt_seq
    Duration min_rtt_{0};
    Duration latest_{0};
    Duration base_rto_;
    unsigned backoff_ = 0;
};

}  // namespace tcpsim::tcp
