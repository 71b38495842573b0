// Congestion control behind a small sans-I/O interface (DESIGN.md principle 8). Windows count
// segments, like Linux's snd_cwnd/snd_ssthresh; the engine converts with its MSS. Every entry point
// takes `now`; nothing here reads a clock.
//
// Division of labour with the engine (tcp/connection.cpp), as in Linux's tcp_input.c vs tcp_cong.c:
// the engine owns the recovery state machine (Open/Disorder/Recovery/Loss, RFC 6582 NewReno rules,
// RFC 6675 SACK recovery, PRR) and calls in here at the transitions; this class owns the window
// growth and the multiplicative decrease the algorithm chooses.
//
// How the engine drives these classes (the order of Linux's tcp_ack; cc = CongestionControl,
// rtt = RttEstimator, sack = SackScoreboard, prr = Prr; "segments" = bytes / MSS rounded up):
//   every ACK:   sack.update(snd.una, snd.nxt, seg SACK blocks)       -> newly SACKed, D-SACK
//                rtt.sample(m, snd.una, snd.nxt); cc.on_rtt_sample(now, m)   (Karn-clean m only)
//                cc.on_ack_sequence(now, snd.una, snd.nxt)            (enables CUBIC HyStart)
//   Open/Disorder/Loss, ACK of new data: cc.on_ack(now, delivered_segments, max_packets_out,
//                !is_cwnd_limited)   (Linux tcp_cong_avoid after tcp_cwnd_validate's bookkeeping)
//   enter Recovery (3 dupACKs / RFC 6675 IsLost(snd.una)):
//                cc.on_enter_recovery(now, in_flight); prr.start(cc.prior_cwnd(), cc.ssthresh());
//                sack.enter_recovery(snd.una, snd.nxt); recovery point = snd.nxt
//   in Recovery: cc.set_cwnd(prr.cwnd_after_ack(cc.cwnd(), delivered, newly_lost, una_advanced,
//                in_flight)); send by sack.next_seg()/mark_sent() while pipe < cwnd; prr.on_sent(n)
//   snd.una >= recovery point: cc.on_exit_recovery(now); prr.stop()
//   RTO:         cc.on_rto(now, first_of_episode); rtt.backoff(); sack.clear() (RFC 6675 §5.1)
//   spurious (D-SACK/Eifel): cc.undo(now)
//   sending with nothing in flight: cc.on_tx_start(now, idle);
//                if slow_start_after_idle: cc.on_idle_restart(now, idle, rtt.rto())
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "link/base/time.hpp"
#include "tcp/config.hpp"
#include "tcp/seq.hpp"

namespace tcpsim::tcp {

// Linux: TCP_INFINITE_SSTHRESH.
inline constexpr std::uint32_t kInfiniteSsthresh = 0x7fffffff;

class CongestionControl {
public:
    explicit CongestionControl(std::uint32_t initial_cwnd);
    virtual ~CongestionControl() = default;
    CongestionControl(const CongestionControl&) = delete;
    CongestionControl& operator=(const CongestionControl&) = delete;

    virtual CongestionAlgorithm algorithm() const = 0;
    virtual const char* name() const = 0;  // "reno", "cubic" (as TCP_CONGESTION spells them)

    std::uint32_t cwnd() const { return cwnd_; }
    std::uint32_t ssthresh() const { return ssthresh_; }
    std::uint32_t initial_cwnd() const { return initial_cwnd_; }
    bool in_slow_start() const { return cwnd_ < ssthresh_; }  // Linux: tcp_in_slow_start
    // The engine writes cwnd directly during recovery (PRR, RFC 6937) and on RTO-less events.
    void set_cwnd(std::uint32_t segments);
    void set_ssthresh(std::uint32_t segments);

    // An ACK outside a window reduction that delivered `acked_segments` (Linux: the segments newly
    // ACKed or SACKed). `in_flight_segments`: the most segments in flight during the last window
    // that was not cwnd-limited (Linux max_packets_out, from tcp_cwnd_validate). `app_limited`: the
    // sender was NOT cwnd-limited over that window (Linux: !tp->is_cwnd_limited) — then the window
    // does not grow, except in slow start while cwnd < 2 * in_flight (tcp_is_cwnd_limited).
    void on_ack(Time now, std::uint32_t acked_segments, std::uint32_t in_flight_segments, bool app_limited);

    // An RTT sample from an unambiguous segment (Karn) or a timestamp echo. CUBIC keeps its minimum.
    virtual void on_rtt_sample(Time /*now*/, Duration /*rtt*/) {}
    // Optional, on every ACK before on_ack()/on_rtt_sample(): SND.UNA after the ACK and SND.NXT,
    // so the algorithm can tell round trips apart (CUBIC's HyStart needs it; without these calls
    // CUBIC runs without HyStart).
    virtual void on_ack_sequence(Time /*now*/, SeqNum /*snd_una*/, SeqNum /*snd_nxt*/) {}

    // Fast retransmit / entering Recovery (or CWR): ssthresh from the algorithm; cwnd unchanged —
    // PRR brings it down (Linux: tcp_init_cwnd_reduction). Remembers prior_cwnd for undo.
    void on_enter_recovery(Time now, std::uint32_t in_flight_segments);
    // Leaving Recovery/CWR: cwnd = ssthresh (Linux: tcp_end_cwnd_reduction).
    void on_exit_recovery(Time now);
    // Retransmission timeout. `first_timeout`: this RTO starts a new loss episode (Linux's
    // tcp_enter_loss condition: state was Open/Disorder, or the previous recovery finished);
    // only then is ssthresh recomputed — repeated backoffs keep it. cwnd = 1 (RFC 5681 (4)).
    void on_rto(Time now, bool first_timeout = true);
    // The retransmissions were spurious (D-SACK / timestamps, RFC 2883/3522): restore the window
    // saved at the last reduction (Linux: tcp_undo_cwnd_reduction, tcp_reno_undo_cwnd).
    void undo(Time now);

    // First transmission after the sender was idle (nothing in flight) for `idle`. CUBIC shifts
    // its epoch so the idle time does not count as growth time (Linux: CA_EVENT_TX_START).
    virtual void on_tx_start(Time /*now*/, Duration /*idle*/) {}
    // RFC 2861 / RFC 5681 §4.1 restart after idle (Linux: tcp_cwnd_restart). The engine calls it
    // when slow_start_after_idle is on, nothing is in flight and idle > rto; cwnd halves once per
    // RTO of idle time, down to min(initial_cwnd, cwnd). No-op when idle <= rto.
    void on_idle_restart(Time now, Duration idle, Duration rto);

    // For tracing/TCP_INFO.
    std::uint32_t prior_cwnd() const { return prior_cwnd_; }
    std::uint32_t prior_ssthresh() const { return prior_ssthresh_; }

protected:
    // Algorithm hooks (Linux's tcp_congestion_ops).
    virtual void cong_avoid(Time now, std::uint32_t acked) = 0;   // cwnd-limited Open-state ACK
    virtual std::uint32_t recalc_ssthresh(Time now) = 0;          // ->ssthresh()
    virtual void on_loss_state(Time /*now*/) {}                   // ->set_state(TCP_CA_Loss)
    virtual void on_cwnd_restart(Time /*now*/) {}                 // CA_EVENT_CWND_RESTART

    // Linux: tcp_slow_start. Grows cwnd by `acked` up to ssthresh; returns what is left over.
    std::uint32_t slow_start(std::uint32_t acked);
    // Linux: tcp_cong_avoid_ai. One segment per `w` acked segments, counted in cwnd_cnt_.
    void cong_avoid_ai(std::uint32_t w, std::uint32_t acked);
    // Linux: tcp_current_ssthresh outside a reduction: max(ssthresh, 3/4 cwnd).
    std::uint32_t current_ssthresh() const;

    std::uint32_t cwnd_;
    std::uint32_t ssthresh_ = kInfiniteSsthresh;
    std::uint32_t cwnd_cnt_ = 0;  // Linux: snd_cwnd_cnt
    std::uint32_t initial_cwnd_;
    std::uint32_t prior_cwnd_ = 0;
    std::uint32_t prior_ssthresh_ = 0;
    bool in_reduction_ = false;
};

// Linux's snd_cwnd_clamp default; cwnd never exceeds it.
inline constexpr std::uint32_t kCwndClamp = 0xffff'ffffu / 2;

std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algorithm, std::uint32_t initial_cwnd);
// "reno", "cubic" (Linux's names, as TCP_CONGESTION and net.ipv4.tcp_congestion_control take them).
const char* algorithm_name(CongestionAlgorithm algorithm);
std::optional<CongestionAlgorithm> parse_congestion_algorithm(std::string_view name);

}  // namespace tcpsim::tcp
