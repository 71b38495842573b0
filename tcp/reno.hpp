// Reno congestion control (RFC 5681): slow start, congestion avoidance with Appropriate Byte
// Counting in segments, ssthresh = max(cwnd/2, 2) on loss (Linux: tcp_reno_* in tcp_cong.c).
// NewReno's partial-ACK rules (RFC 6582) live in the engine's recovery code, not here.
#pragma once

#include "tcp/congestion.hpp"

namespace tcpsim::tcp {

class Reno final : public CongestionControl {
public:
    explicit Reno(std::uint32_t initial_cwnd) : CongestionControl(initial_cwnd) {}
    CongestionAlgorithm algorithm() const override { return CongestionAlgorithm::Reno; }
    const char* name() const override { return "reno"; }

protected:
    void cong_avoid(Time now, std::uint32_t acked) override;
    std::uint32_t recalc_ssthresh(Time now) override;
};

}  // namespace tcpsim::tcp
