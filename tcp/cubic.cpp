#include "tcp/cubic.hpp"

#include <algorithm>

namespace tcpsim::tcp {

namespace {

// Linux measures CUBIC time in jiffies; we use HZ = 1000 (1 ms ticks) so the once-per-tick rules
// behave as on a HZ=1000 kernel, then convert to the 1/1024 s units of the cubic function.
constexpr std::int64_t kTickNs = 1'000'000;
constexpr unsigned kBictcpHz = 10;  // time unit 2^-10 s

std::int64_t ticks(Time t) { return t.time_since_epoch().count() / kTickNs; }

// (wmax - cwnd) * cube_factor = (wmax - cwnd) / C in (1/1024 s)^3 units. Linux: cube_factor.
constexpr std::uint64_t kCubeFactor = (std::uint64_t{1} << (10 + 3 * kBictcpHz)) / Cubic::kCubeRttScale;

// Linux: beta_scale = 8 * (1024 + beta) / 3 / (1024 - beta) — the Reno-friendly window grows by one
// segment per cwnd * beta_scale / 8 acked segments, i.e. 3(1-beta)/(1+beta) per RTT (RFC 9438 §4.3).
constexpr std::uint32_t kBetaScaleFriendly =
    8 * (Cubic::kBetaScale + Cubic::kBeta) / 3 / (Cubic::kBetaScale - Cubic::kBeta);

}  // namespace

std::uint32_t Cubic::cube_root(std::uint64_t a) {
    // Floor of the real cube root, by binary search on 21 bits (2^21 cubed exceeds 2^63).
    std::uint64_t lo = 0, hi = 2642245;  // floor(cbrt(2^64 - 1)) = 2642245
    while (lo < hi) {
        std::uint64_t mid = (lo + hi + 1) / 2;
        if (mid * mid * mid <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    return static_cast<std::uint32_t>(lo);
}

void Cubic::hystart_reset(Time now) {
    round_start_ = last_ack_ = now;
    end_seq_ = snd_nxt_;
    curr_rtt_ = Duration::max();
    sample_cnt_ = 0;
}

void Cubic::on_ack_sequence(Time now, SeqNum snd_una, SeqNum snd_nxt) {
    snd_una_ = snd_una;
    snd_nxt_ = snd_nxt;
    if (!rounds_known_) {
        rounds_known_ = true;
        hystart_reset(now);  // Linux: cubictcp_init
    }
}

void Cubic::hystart_update(Time now, Duration delay) {
    // Linux: hystart_update.
    if (snd_una_ > end_seq_)
        hystart_reset(now);
    // ACK train: ACKs keep arriving closely spaced for longer than half the minimum RTT, so the
    // pipe is full (the train is as long as the bottleneck queue drains it).
    if (now - last_ack_ <= kHystartAckDelta) {
        last_ack_ = now;
        if (now - round_start_ > delay_min_ / 2) {
            found_ = true;
            ssthresh_ = cwnd_;
        }
    }
    // Delay increase: the round's smallest RTT exceeds the minimum by delay_min/8 in [4, 16] ms.
    if (curr_rtt_ > delay)
        curr_rtt_ = delay;
    if (sample_cnt_ < kHystartMinSamples) {
        ++sample_cnt_;
    } else if (curr_rtt_ > delay_min_ + std::clamp<Duration>(delay_min_ / 8, kHystartDelayMin, kHystartDelayMax)) {
        found_ = true;
        ssthresh_ = cwnd_;
    }
}

void Cubic::reset() {
    cnt_ = 0;
    last_max_cwnd_ = 0;
    last_cwnd_ = 0;
    last_time_ = Time{};
    origin_point_ = 0;
    k_ = 0;
    delay_min_ = Duration::zero();
    epoch_started_ = false;
    epoch_start_ = Time{};
    ack_cnt_ = 0;
    tcp_cwnd_ = 0;
    found_ = false;
}

void Cubic::on_rtt_sample(Time now, Duration rtt) {
    // Linux: cubictcp_acked. Delay samples right after a reduction are inflated by the queue the
    // old window built; ignore them for the first second of an epoch.
    if (epoch_started_ && ticks(now) - ticks(epoch_start_) < 1000)
        return;
    if (rtt <= Duration::zero())
        rtt = std::chrono::microseconds(1);
    if (delay_min_ == Duration::zero() || rtt < delay_min_)
        delay_min_ = rtt;
    // HyStart triggers only once the window is worth protecting.
    if (hystart_ && rounds_known_ && !found_ && in_slow_start() && cwnd_ >= kHystartLowWindow)
        hystart_update(now, rtt);
}

void Cubic::on_tx_start(Time now, Duration idle) {
    // Linux: cubictcp_cwnd_event(CA_EVENT_TX_START) — the idle period is not growth time (the
    // window was not probed), so move the epoch forward by it, never past now.
    if (!epoch_started_ || idle <= Duration::zero())
        return;
    epoch_start_ += idle;
    if (epoch_start_ > now)
        epoch_start_ = now;
}

std::uint32_t Cubic::target_at(Time now) const {
    if (!epoch_started_)
        return cwnd_;
    // t = elapsed + min RTT: the window reached one RTT from now (RFC 9438 §4.2 uses t + RTT).
    std::int64_t delay_ticks = (std::chrono::duration_cast<std::chrono::microseconds>(delay_min_).count() + 999) / 1000;
    std::int64_t tj = std::max<std::int64_t>(ticks(now) - ticks(epoch_start_), 0) + delay_ticks;
    std::uint64_t t = (static_cast<std::uint64_t>(tj) << kBictcpHz) / 1000;
    std::uint64_t offs = t < k_ ? k_ - t : t - k_;
    unsigned __int128 d = static_cast<unsigned __int128>(kCubeRttScale) * offs * offs * offs;
    d >>= (10 + 3 * kBictcpHz);
    std::uint64_t delta = d > kCwndClamp ? kCwndClamp : static_cast<std::uint64_t>(d);
    if (t < k_)
        return origin_point_ > delta ? static_cast<std::uint32_t>(origin_point_ - delta) : 0;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(origin_point_ + delta, kCwndClamp));
}

void Cubic::update(Time now, std::uint32_t acked) {
    // Linux: bictcp_update.
    const std::uint32_t cwnd = cwnd_;
    ack_cnt_ += acked;
    if (last_cwnd_ == cwnd && ticks(now) - ticks(last_time_) <= 1000 / 32)  // HZ/32
        return;
    if (!(epoch_started_ && ticks(now) == ticks(last_time_))) {
        last_cwnd_ = cwnd;
        last_time_ = now;
        if (!epoch_started_) {
            epoch_started_ = true;
            epoch_start_ = now;
            ack_cnt_ = acked;
            tcp_cwnd_ = cwnd;
            if (last_max_cwnd_ <= cwnd) {
                k_ = 0;
                origin_point_ = cwnd;
            } else {
                // RFC 9438 (2): K = cbrt((W_max - cwnd_epoch) / C).
                k_ = cube_root(kCubeFactor * (last_max_cwnd_ - cwnd));
                origin_point_ = last_max_cwnd_;
            }
        }
        std::uint32_t target = target_at(now);
        // RFC 9438 §4.4: cwnd grows by (target - cwnd)/cwnd per ACKed segment.
        cnt_ = target > cwnd ? cwnd / (target - cwnd) : 100 * cwnd;
        // Linux: before the first loss the available bandwidth is unknown; grow at least 5%/RTT.
        if (last_max_cwnd_ == 0 && cnt_ > 20)
            cnt_ = 20;
    }
    // RFC 9438 §4.3 Reno-friendly region: track the window Reno with beta 0.7 would have and
    // never grow slower than it.
    std::uint32_t per_segment = std::max<std::uint32_t>((cwnd * kBetaScaleFriendly) >> 3, 1);
    while (ack_cnt_ > per_segment) {
        ack_cnt_ -= per_segment;
        ++tcp_cwnd_;
    }
    if (tcp_cwnd_ > cwnd) {
        std::uint32_t max_cnt = cwnd / (tcp_cwnd_ - cwnd);
        if (cnt_ > max_cnt)
            cnt_ = max_cnt;
    }
    // At most one segment per two ACKed: 1.5x per RTT.
    cnt_ = std::max<std::uint32_t>(cnt_, 2);
}

void Cubic::cong_avoid(Time now, std::uint32_t acked) {
    // Linux: cubictcp_cong_avoid.
    if (in_slow_start()) {
        if (hystart_ && rounds_known_ && snd_una_ > end_seq_)
            hystart_reset(now);
        acked = slow_start(acked);
        if (acked == 0)
            return;
    }
    update(now, acked);
    cong_avoid_ai(cnt_, acked);
}

std::uint32_t Cubic::recalc_ssthresh(Time /*now*/) {
    // Linux: cubictcp_recalc_ssthresh; RFC 9438 §4.6 (W_max) and §4.7 (fast convergence).
    epoch_started_ = false;
    if (cwnd_ < last_max_cwnd_)
        last_max_cwnd_ = static_cast<std::uint32_t>((std::uint64_t{cwnd_} * (kBetaScale + kBeta)) / (2 * kBetaScale));
    else
        last_max_cwnd_ = cwnd_;
    return std::max<std::uint32_t>(static_cast<std::uint32_t>((std::uint64_t{cwnd_} * kBeta) / kBetaScale), 2);
}

void Cubic::on_loss_state(Time now) {
    // Linux: cubictcp_state(TCP_CA_Loss) -> bictcp_reset. After an RTO CUBIC starts from scratch
    // (W_max forgotten); RFC 9438 §4.8 instead keeps W_max — Linux wins here.
    reset();
    if (rounds_known_)
        hystart_reset(now);
}

}  // namespace tcpsim::tcp
