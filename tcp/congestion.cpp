#include "tcp/congestion.hpp"

#include <algorithm>

#include "tcp/cubic.hpp"
#include "tcp/reno.hpp"

namespace tcpsim::tcp {

CongestionControl::CongestionControl(std::uint32_t initial_cwnd)
    : cwnd_(std::max<std::uint32_t>(initial_cwnd, 1)), initial_cwnd_(std::max<std::uint32_t>(initial_cwnd, 1)) {}

void CongestionControl::set_cwnd(std::uint32_t segments) {
    cwnd_ = std::clamp<std::uint32_t>(segments, 1, kCwndClamp);
}

void CongestionControl::set_ssthresh(std::uint32_t segments) {
    ssthresh_ = std::clamp<std::uint32_t>(segments, 2, kInfiniteSsthresh);
}

void CongestionControl::on_ack(Time now, std::uint32_t acked_segments, std::uint32_t in_flight_segments,
                               bool app_limited) {
    if (acked_segments == 0)
        return;
    // Linux: tcp_is_cwnd_limited. In slow start, grow while cwnd < 2 * what was in flight so an
    // application-limited sender still doubles into its own demand (RFC 7661 spirit).
    bool cwnd_limited = !app_limited;
    if (!cwnd_limited && in_slow_start())
        cwnd_limited = static_cast<std::uint64_t>(cwnd_) < 2ull * in_flight_segments;
    if (!cwnd_limited)
        return;
    cong_avoid(now, acked_segments);
}

void CongestionControl::on_enter_recovery(Time now, std::uint32_t /*in_flight_segments*/) {
    // Linux: tcp_init_cwnd_reduction -> prior_cwnd, ssthresh = ca_ops->ssthresh(); cwnd is left for
    // PRR to reduce. prior_ssthresh (for undo) is tcp_current_ssthresh() taken before.
    prior_ssthresh_ = current_ssthresh();
    prior_cwnd_ = cwnd_;
    ssthresh_ = std::max<std::uint32_t>(recalc_ssthresh(now), 2);
    cwnd_cnt_ = 0;
    in_reduction_ = true;
}

void CongestionControl::on_exit_recovery(Time /*now*/) {
    // Linux: tcp_end_cwnd_reduction — cwnd = ssthresh (unless ssthresh is still infinite).
    if (ssthresh_ < kInfiniteSsthresh)
        cwnd_ = std::max<std::uint32_t>(ssthresh_, 1);
    cwnd_cnt_ = 0;
    in_reduction_ = false;
}

void CongestionControl::on_rto(Time now, bool first_timeout) {
    // Linux: tcp_enter_loss. ssthresh only at the start of a loss episode, so repeated timeouts
    // of the same data do not collapse it to 2.
    if (first_timeout) {
        prior_ssthresh_ = current_ssthresh();
        prior_cwnd_ = cwnd_;
        ssthresh_ = std::max<std::uint32_t>(recalc_ssthresh(now), 2);
    }
    on_loss_state(now);
    // RFC 5681 (4): LW = 1 segment. Linux sets cwnd = packets_in_flight + 1, which is 1 once all
    // outstanding data has been marked lost.
    cwnd_ = 1;
    cwnd_cnt_ = 0;
    in_reduction_ = false;
}

void CongestionControl::undo(Time /*now*/) {
    if (prior_cwnd_ == 0)
        return;
    // Linux: tcp_undo_cwnd_reduction with tcp_reno_undo_cwnd (CUBIC uses it too).
    cwnd_ = std::max(cwnd_, prior_cwnd_);
    if (prior_ssthresh_ > ssthresh_)
        ssthresh_ = prior_ssthresh_;
    cwnd_cnt_ = 0;
    in_reduction_ = false;
}

void CongestionControl::on_idle_restart(Time now, Duration idle, Duration rto) {
    if (idle <= rto || rto <= Duration::zero())
        return;
    // Linux: tcp_cwnd_restart.
    on_cwnd_restart(now);
    ssthresh_ = current_ssthresh();
    std::uint32_t restart = std::min(initial_cwnd_, cwnd_);
    std::uint32_t cwnd = cwnd_;
    Duration delta = idle;
    while ((delta -= rto) > Duration::zero() && cwnd > restart)
        cwnd >>= 1;
    cwnd_ = std::max(cwnd, restart);
    cwnd_cnt_ = 0;
}

std::uint32_t CongestionControl::slow_start(std::uint32_t acked) {
    // Linux: tcp_slow_start (RFC 5681 (2) with RFC 3465 L = unlimited, as Linux does).
    std::uint64_t grown = std::min<std::uint64_t>(std::uint64_t{cwnd_} + acked, ssthresh_);
    acked -= static_cast<std::uint32_t>(grown - cwnd_);
    cwnd_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(grown, kCwndClamp));
    return acked;
}

void CongestionControl::cong_avoid_ai(std::uint32_t w, std::uint32_t acked) {
    // Linux: tcp_cong_avoid_ai. If w shrank below the credit already collected, spend it first.
    w = std::max<std::uint32_t>(w, 1);
    if (cwnd_cnt_ >= w) {
        cwnd_cnt_ = 0;
        ++cwnd_;
    }
    cwnd_cnt_ += acked;
    if (cwnd_cnt_ >= w) {
        std::uint32_t delta = cwnd_cnt_ / w;
        cwnd_cnt_ -= delta * w;
        cwnd_ += delta;
    }
    cwnd_ = std::min(cwnd_, kCwndClamp);
}

std::uint32_t CongestionControl::current_ssthresh() const {
    // Linux: tcp_current_ssthresh — in a reduction the new ssthresh stands; otherwise remember at
    // least 3/4 of the window we had.
    if (in_reduction_)
        return ssthresh_;
    return std::max(ssthresh_, (cwnd_ >> 1) + (cwnd_ >> 2));
}

std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algorithm, std::uint32_t initial_cwnd) {
    switch (algorithm) {
    case CongestionAlgorithm::Reno:
        return std::make_unique<Reno>(initial_cwnd);
    case CongestionAlgorithm::Cubic:
        return std::make_unique<Cubic>(initial_cwnd);
    }
    return std::make_unique<Cubic>(initial_cwnd);
}

const char* algorithm_name(CongestionAlgorithm algorithm) {
    switch (algorithm) {
    case CongestionAlgorithm::Reno: return "reno";
    case CongestionAlgorithm::Cubic: return "cubic";
    }
    return "?";
}

std::optional<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name) {
    if (name == "reno" || name == "newreno")
        return CongestionAlgorithm::Reno;
    if (name == "cubic")
        return CongestionAlgorithm::Cubic;
    return std::nullopt;
}

}  // namespace tcpsim::tcp
