// CUBIC congestion control (RFC 9438) as Linux's tcp_cubic.c behaves: beta 717/1024, C = 410/1024
// (~0.4), fast convergence, the Reno-friendly region, time in 1/1024 s units and 1 ms ticks
// (HZ=1000). Integer arithmetic only, so a scenario gives identical windows on every machine.
// One deliberate difference: K uses an exact floor cube root, where Linux's cubic_root() is a
// table lookup plus one Newton step (within ~0.2%); windows can differ by a segment near K.
//
// HyStart (Linux's hystart=1, both ACK-train and delay detection) leaves slow start early by
// setting ssthresh = cwnd once cwnd >= 16. It needs round-trip boundaries, so it only runs when the
// engine calls on_ack_sequence() on every ACK; otherwise (or with hystart=false, Linux's module
// parameter hystart=0) slow start runs until loss or ssthresh. Linux's pacing-aware ACK-train
// threshold is taken as delay_min/2 (FQ built in, socket not paced), its default.
#pragma once

#include <cstdint>

#include "tcp/congestion.hpp"

namespace tcpsim::tcp {

class Cubic final : public CongestionControl {
public:
    // Linux: beta = 717 (BICTCP_BETA_SCALE 1024), bic_scale 41 -> C = 41*10/1024.
    static constexpr std::uint32_t kBeta = 717;
    static constexpr std::uint32_t kBetaScale = 1024;
    static constexpr std::uint32_t kCubeRttScale = 41 * 10;  // C * 1024

    // Linux HyStart constants: hystart_low_window, hystart_ack_delta_us, HYSTART_MIN_SAMPLES,
    // HYSTART_DELAY_MIN/MAX.
    static constexpr std::uint32_t kHystartLowWindow = 16;
    static constexpr Duration kHystartAckDelta = std::chrono::microseconds(2000);
    static constexpr std::uint32_t kHystartMinSamples = 8;
    static constexpr Duration kHystartDelayMin = std::chrono::milliseconds(4);
    static constexpr Duration kHystartDelayMax = std::chrono::milliseconds(16);

    explicit Cubic(std::uint32_t initial_cwnd, bool hystart = true)
        : CongestionControl(initial_cwnd), hystart_(hystart) {}
    CongestionAlgorithm algorithm() const override { return CongestionAlgorithm::Cubic; }
    const char* name() const override { return "cubic"; }

    void on_rtt_sample(Time now, Duration rtt) override;
    void on_tx_start(Time now, Duration idle) override;
    void on_ack_sequence(Time now, SeqNum snd_una, SeqNum snd_nxt) override;

    // Observability and tests.
    std::uint32_t w_max() const { return last_max_cwnd_; }        // W_max (Linux: last_max_cwnd)
    std::uint32_t k_units() const { return k_; }                  // K in 1/1024 s
    std::uint32_t origin_point() const { return origin_point_; }
    std::uint32_t ack_count_per_increment() const { return cnt_; }  // Linux: ca->cnt
    std::uint32_t reno_window() const { return tcp_cwnd_; }       // W_est of RFC 9438 §4.3
    bool epoch_started() const { return epoch_started_; }
    Time epoch_start() const { return epoch_start_; }
    Duration min_rtt() const { return delay_min_; }
    bool hystart_found() const { return found_; }  // HyStart ended slow start

    // W_cubic target for the current epoch at `now` (what update() aims at), in segments.
    std::uint32_t target_at(Time now) const;

    // Integer cube root, exact floor for all 64-bit inputs.
    static std::uint32_t cube_root(std::uint64_t a);

protected:
    void cong_avoid(Time now, std::uint32_t acked) override;
    std::uint32_t recalc_ssthresh(Time now) override;
    void on_loss_state(Time now) override;

private:
    void update(Time now, std::uint32_t acked);  // Linux: bictcp_update
    void reset();                                // Linux: bictcp_reset
    void hystart_reset(Time now);                // Linux: bictcp_hystart_reset
    void hystart_update(Time now, Duration delay);  // Linux: hystart_update

    std::uint32_t cnt_ = 0;            // ACKed segments per cwnd increment
    std::uint32_t last_max_cwnd_ = 0;  // W_max
    std::uint32_t last_cwnd_ = 0;
    Time last_time_{};
    std::uint32_t origin_point_ = 0;
    std::uint32_t k_ = 0;              // K, 1/1024 s
    Duration delay_min_{0};
    bool epoch_started_ = false;
    Time epoch_start_{};
    std::uint32_t ack_cnt_ = 0;
    std::uint32_t tcp_cwnd_ = 0;       // estimated Reno window

    // HyStart.
    bool hystart_;
    bool rounds_known_ = false;        // on_ack_sequence() has been called
    bool found_ = false;
    SeqNum snd_una_{};
    SeqNum snd_nxt_{};
    SeqNum end_seq_{};                 // the current round ends when snd_una passes it
    Time round_start_{};
    Time last_ack_{};
    Duration curr_rtt_ = Duration::max();  // smallest RTT of the current round
    std::uint32_t sample_cnt_ = 0;
};

}  // namespace tcpsim::tcp
