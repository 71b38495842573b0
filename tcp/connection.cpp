// The TCP engine: one TCB and its state machine (RFC 9293 §3.10), with Linux's choices where the
// RFCs leave room. Layout: helpers (options, windows, timers), the output path, the input path
// (§3.10.7 "segment arrives" in RFC order), timers, user calls, queries.
#include "tcp/connection.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>

#include "tcp/byte_ring.hpp"
#include "tcp/congestion.hpp"
#include "tcp/prr.hpp"
#include "tcp/receive_buffer.hpp"
#include "tcp/rtt_estimator.hpp"
#include "tcp/sack_scoreboard.hpp"

namespace tcpsim::tcp {

const char* to_string(TimerKind k) {
    switch (k) {
        case TimerKind::Retransmission: return "retransmission";
        case TimerKind::Persist: return "persist";
        case TimerKind::DelayedAck: return "delayed-ack";
        case TimerKind::Keepalive: return "keepalive";
        case TimerKind::TimeWait: return "time-wait";
        case TimerKind::Cork: return "cork";
        case TimerKind::Linger: return "fin-wait2";
        case TimerKind::UserTimeout: return "user-timeout";
        case TimerKind::LossProbe: return "loss-probe";
    }
    return "?";
}

namespace {

constexpr std::size_t kTimerCount = 9;
constexpr std::uint32_t kTsOptionBytes = 12;
constexpr std::uint32_t kMinSendMss = 64;  // never let SACK blocks shrink a segment below this  // nop,nop,TS on every segment (RFC 7323 Appendix A)
constexpr std::uint8_t kMaxWindowScale = 14;  // RFC 7323 §2.3
constexpr Duration kPawsIdle = std::chrono::hours(24 * 24);  // RFC 7323 §5.5: TS.Recent expires after 24 days
constexpr std::uint32_t kMinMss = 88;         // Linux: TCP_MIN_MSS
constexpr std::uint32_t kDefaultRcvMss = 536; // Linux: TCP_MSS_DEFAULT seeds rcv_mss

std::error_code err(std::errc e) { return std::make_error_code(e); }

std::uint32_t ms_clock(Time now) {
    return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

// Linux picks the window scale from the largest buffer the socket may grow to:
// 65535 << wscale must cover it (tcp_select_initial_window), at most 14.
std::uint8_t choose_wscale(std::uint32_t space) {
    std::uint8_t ws = 0;
    while (space > 65535u && ws < kMaxWindowScale) {
        space >>= 1;
        ++ws;
    }
    return ws;
}

}  // namespace

struct Connection::Impl {
    Impl(Connection& s, const Config& c, ConnectionEnv& e)
        : self(s), env(e), cfg(c), rtt(c), cc(make_congestion_control(c.congestion, c.initial_cwnd)) {}

    Connection& self;
    ConnectionEnv& env;
    Config cfg;
    Time now{};

    State state = State::Closed;
    FourTuple tuple{};
    bool passive = false;  // opened from a listener (SYN_RECV child)

    // RFC 9293 §3.3.1 send sequence variables. snd.nxt may be pulled back to snd.una after an RTO
    // (go-back-N); snd.max is the highest sequence number ever sent (what an ACK may acknowledge).
    struct {
        SeqNum iss, una, nxt, max, wl1, wl2, up;
        std::uint32_t wnd = 0;
        std::uint32_t max_wnd = 0;  // largest window the peer ever offered (RFC 1122 SWS, RFC 5961)
        std::uint8_t wscale = 0;
        bool urgent = false;        // snd.up is meaningful (MSG_OOB sent, not yet acknowledged)
    } snd;
    // Receive sequence variables. adv_edge is the right edge we last advertised (rcv.nxt + wnd then);
    // acked is rcv.nxt as of the last ACK we sent (Linux rcv_wup, RFC 7323 Last.ACK.sent).
    struct {
        SeqNum irs, nxt, adv_edge, acked;
        std::uint8_t wscale = 0;
    } rcv;

    // Negotiated options.
    bool ts_ok = false, sack_ok = false, ws_ok = false;
    std::uint32_t ts_recent = 0;
    Time ts_recent_stamp{};
    std::uint16_t peer_mss = 536;
    std::uint16_t user_mss = 0;  // TCP_MAXSEG
    std::uint32_t mss_cache = 536;  // send MSS (payload bytes per segment)
    std::uint32_t rcv_mss = kDefaultRcvMss;

    // Queues. The send ring holds bytes from snd_data_seq (the first unacknowledged data byte).
    ByteRing sndq;
    SeqNum snd_data_seq;
    ReceiveBuffer rcvq;
    std::size_t urg_hole = 0;  // bytes of the in-order queue not readable (skipped OOB byte)

    // FIN bookkeeping.
    bool fin_queued = false;      // we will send FIN after the queued data
    bool fin_received = false;    // peer's FIN is in sequence (rcv.nxt counts it)
    bool ooo_fin = false;         // peer's FIN arrived beyond a hole
    SeqNum ooo_fin_seq;
    bool shut_rd = false;
    bool user_closed = false;     // close() was called: the socket is an orphan

    std::error_code error;

    // Timers, indexed by TimerKind.
    std::array<Time, kTimerCount> timers;

    // Retransmission (RFC 6298, Linux bounds).
    RttEstimator rtt;
    int retransmits = 0;           // consecutive RTO expiries (tcpi_retransmits)
    std::uint32_t total_retrans = 0;
    Time retrans_stamp = kTimeNever;  // first retransmission of the current episode
    bool timing = false;           // one segment is being timed (Karn's algorithm)
    // Tail loss probe (RFC 8985 §7; Linux tlp_high_seq/tlp_retrans). A probe episode lasts from the
    // probe until an ACK tells whether it repaired a loss (or an RTO/recovery ends it).
    bool tlp_out = false;          // a probe is outstanding (Linux: tlp_high_seq != 0)
    bool tlp_retrans = false;      // it retransmitted the last segment (not new data)
    SeqNum tlp_high_seq;           // SND.NXT when the probe went out
    SeqNum last_seg_seq;           // start of the newest segment of new data (what a probe resends)
    std::uint32_t loss_probes = 0, tlp_recoveries = 0;  // Linux: TCPLossProbes, TCPLossProbeRecovery
    SeqNum rtt_seq;
    Time rtt_sent{};

    // Loss recovery (Linux's icsk_ca_state): the engine owns the state machine; the algorithm
    // (tcp/congestion.hpp) owns window growth and decrease; PRR paces recovery; the scoreboard
    // tracks SACKed ranges (RFC 6675).
    using CaState = CongestionState;  // Linux TCP_CA_Open/Disorder/CWR/Recovery/Loss
    CaState ca = CaState::Open;
    std::unique_ptr<CongestionControl> cc;
    SackScoreboard sb;
    Prr prr;
    SeqNum recover;          // RFC 6582 / RFC 6675 RecoveryPoint (Linux high_seq)
    // Without SACK (Linux tcp_is_reno): each duplicate ACK stands for one segment that left the
    // network (sacked_out, tcp_add_reno_sack); the head is marked lost on entering recovery and on
    // each partial ACK (tcp_newreno_mark_lost) and retransmitted up to reno_rtx_end.
    std::uint32_t reno_sacked = 0;
    bool reno_lost = false;
    SeqNum reno_rtx_end;
    std::uint32_t reno_reordering = SackScoreboard::kDupThresh;
    // Linux tcp_cwnd_validate: whether the last window was cwnd-limited, and the most segments
    // in flight during it while it was not (max_packets_out), until snd.una passes cwnd_usage_seq.
    bool is_cwnd_limited = false;
    std::uint32_t max_packets_out = 0;
    SeqNum cwnd_usage_seq;
    Time last_send{};

    // Delayed ACK (Linux: icsk_ack).
    Duration ato{};
    int quickack = 0;
    Time last_data_rcv{};
    bool data_seen = false;
    bool ack_now = false;

    // Persist / keepalive.
    int probes = 0;
    Time probes_stamp = kTimeNever;  // first zero-window probe of this episode (Linux icsk_probes_tstamp)
    Time last_rcv{};

    // Sending policy.
    bool nodelay = false, cork = false;
    bool more = false;        // MSG_MORE: true only inside the send() call that carries it
    bool force_push = false;  // one push that overrides cork (Linux TCP_NAGLE_PUSH)
    SeqNum push_mark;         // end of the last write without MSG_MORE: PSH goes there
    SeqNum snd_sml;           // end of the last sub-MSS segment sent (Linux snd_sml, Nagle)

    // Urgent data received (Linux tcp_check_urg / tcp_urg).
    enum class UrgState { None, NotYet, Valid, Read } urg = UrgState::None;
    SeqNum urg_seq;
    std::byte urg_byte{};
    bool oob_inline = false;

    // Statistics for TCP_INFO.
    std::uint32_t segs_in = 0, segs_out = 0;
    std::uint64_t bytes_acked = 0, bytes_received = 0;
    Time reported_deadline = kTimeNever;

    // ---------------------------------------------------------------- helpers
    Time& timer(TimerKind k) { return timers[static_cast<std::size_t>(k)]; }
    Time timer(TimerKind k) const { return timers[static_cast<std::size_t>(k)]; }
    void arm(TimerKind k, Duration d) {
        timer(k) = now + d;
        if (k == TimerKind::Retransmission) rtx_armed_at = now;
    }
    Time rtx_armed_at{};
    void disarm(TimerKind k) { timer(k) = kTimeNever; }
    bool armed(TimerKind k) const { return timer(k) != kTimeNever; }

    void init() {
        timers.fill(kTimeNever);
        nodelay = cfg.nodelay;
        oob_inline = cfg.oob_inline;
        ato = cfg.delayed_ack_min;
    }

    // The send and receive rings are allocated when the connection synchronizes, not at
    // construction: a SYN flood keeps up to backlog + 256 SYN_RECV children, and each would
    // otherwise hold its full SO_SNDBUF + SO_RCVBUF (Linux also allocates per skb, not up front).
    // No data can be queued before then (send() waits for the handshake, SYN_RECV takes no text).
    bool rings_ready = false;
    void ensure_rings() {
        if (rings_ready) return;
        rings_ready = true;
        sndq.resize(cfg.send_buffer, 0);
        rcvq.resize(cfg.receive_buffer, rcv.nxt);
    }

    bool synchronized() const {
        switch (state) {
            case State::Closed:
            case State::Listen:
            case State::SynSent:
            case State::SynRecv: return false;
            case State::Established:
            case State::FinWait1:
            case State::FinWait2:
            case State::Closing:
            case State::TimeWait:
            case State::CloseWait:
            case State::LastAck: return true;
        }
        return false;
    }

    // Send-side sequence state at an open (active or passive), from our ISS.
    void open_send_sequence(SeqNum iss) {
        snd.iss = iss;
        snd.una = iss;
        snd.nxt = iss;
        snd.max = iss;
        snd_data_seq = iss + 1;
        push_mark = snd_sml = iss + 1;
        recover = iss;  // RFC 6582 recover starts at the ISS: a default 0 is "ahead" for half the ISNs
        reno_rtx_end = cwnd_usage_seq = iss;
        sb.set_linux_mode(true);  // Linux's loss marking (RACK) and retransmission choice
    }
    // The window scale we offer: Linux sizes it for the largest receive buffer we may grow to.
    std::uint8_t our_wscale() const {
        return cfg.window_scaling ? choose_wscale(std::max(cfg.receive_buffer, cfg.receive_buffer_max)) : 0;
    }

    void set_state(State next, std::string_view cause) {
        if (next == state) return;
        State from = state;
        state = next;
        if (synchronized()) ensure_rings();
        if (next == State::Closed || next == State::TimeWait) {
            for (auto k : {TimerKind::Retransmission, TimerKind::Persist, TimerKind::DelayedAck, TimerKind::Keepalive,
                           TimerKind::Cork, TimerKind::Linger, TimerKind::UserTimeout, TimerKind::LossProbe})
                disarm(k);
            if (next == State::Closed) disarm(TimerKind::TimeWait);
        }
        env.state_changed(self, from, next, cause);
        env.wake(self);
    }

    // The MSS we advertise: the interface MTU's, or TCP_MAXSEG (Linux: user_mss clamps advmss).
    std::uint16_t advmss() const { return user_mss ? std::min(user_mss, cfg.mss) : cfg.mss; }

    // Linux tcp_sync_mss: min(peer MSS, our MTU MSS, TCP_MAXSEG) less the options on every segment.
    void update_mss() {
        std::uint32_t m = std::min<std::uint32_t>(peer_mss, cfg.mss);
        if (user_mss) m = std::min<std::uint32_t>(m, user_mss);
        if (ts_ok) m -= kTsOptionBytes;
        mss_cache = std::max(m, kMinMss - (ts_ok ? kTsOptionBytes : 0));
    }

    // Receive space: Linux treats half of SO_RCVBUF as overhead (tcp_adv_win_scale = 1), so the
    // window reflects about half the buffer (socket(7) NOTES).
    std::uint32_t full_space() const { return cfg.receive_buffer / 2; }
    std::uint32_t free_space() const {
        std::size_t used = rcvq.readable() + rcvq.out_of_order_bytes();
        return used >= full_space() ? 0 : full_space() - static_cast<std::uint32_t>(used);
    }

    // Linux tcp_select_initial_window: the SYN's window is unscaled, a multiple of the MSS.
    std::uint32_t initial_window(std::uint32_t mss) const {
        std::uint32_t space = full_space();
        if (space > mss) space = space / mss * mss;
        return std::min<std::uint32_t>(space, 65535u);
    }

    // The window to advertise now (bytes), with receiver-side SWS avoidance (RFC 1122 4.2.3.3)
    // and without shrinking the right edge already offered (RFC 9293 §3.8.6.2.2).
    std::uint32_t select_window() {
        std::uint32_t cur = rcv.adv_edge > rcv.nxt ? static_cast<std::uint32_t>(rcv.adv_edge - rcv.nxt) : 0;
        std::uint32_t free = free_space();
        std::uint32_t unit = 1u << rcv.wscale;
        std::uint32_t win;
        if (free < std::min(full_space() / 2, std::max<std::uint32_t>(rcv_mss, advmss()))) {
            win = 0;  // SWS: don't open a tiny window; Linux __tcp_select_window
        } else {
            win = free / unit * unit;
        }
        win = std::min(win, std::uint32_t{65535} << rcv.wscale);
        if (win < cur) win = (cur + unit - 1) / unit * unit;
        return win;
    }

    std::uint32_t tsval() const { return ms_clock(now); }

    // ---------------------------------------------------------------- output
    Segment make_segment(SeqNum seq, Flags flags) {
        Segment s;
        s.src_port = tuple.local.port;
        s.dst_port = tuple.remote.port;
        s.seq = seq;
        s.flags = flags;
        if (flags.any(Ack)) s.ack = rcv.nxt;
        return s;
    }

    // SYN and SYN-ACK options in Linux's order (tcp_options_write): mss; sackOK+TS or nop,nop+TS;
    // nop,nop,sackOK when there is no TS; nop,wscale.
    void syn_options(Options& o, bool synack) {
        bool ts = synack ? ts_ok : cfg.timestamps;
        bool sack = synack ? sack_ok : cfg.sack;
        bool ws = synack ? ws_ok : cfg.window_scaling;
        o.mss(advmss());
        if (ts) {
            if (sack) {
                o.sack_permitted();
            } else {
                o.nop().nop();
            }
            o.timestamps(tsval(), synack ? ts_recent : 0);
        } else if (sack) {
            o.nop().nop().sack_permitted();
        }
        if (ws) o.nop().window_scale(rcv.wscale);
    }

    // Options on every other segment: nop,nop,TS then nop,nop,SACK blocks (Linux layout). A
    // pending D-SACK block goes first and is sent once (RFC 2883 §4; Linux tcp_options_write).
    void data_options(Options& o) {
        if (ts_ok) o.nop().nop().timestamps(tsval(), ts_recent);
        if (std::size_t due = sack_blocks_due()) {
            std::array<SackBlock, Options::kMaxSackBlocks> blocks{};
            std::size_t n = 0;
            if (dsack_pending) blocks[n++] = dsack_block;
            dsack_pending = false;
            n += rcvq.sack_blocks(std::span(blocks.data() + n, due - n));
            o.nop().nop().sack(std::span<const SackBlock>(blocks.data(), n));
        }
    }

    // SACK blocks the next segment carries, a pending D-SACK included: as many as fit beside the
    // timestamps (nop,nop,kind,len then 8 bytes a block; Linux tcp_established_options).
    std::size_t sack_blocks_due() const {
        if (!sack_ok || !synchronized()) return 0;
        std::size_t room = (Options::kMaxBytes - (ts_ok ? kTsOptionBytes : 0) - 4) / 8;
        return std::min({rcvq.range_count() + (dsack_pending ? 1 : 0), room, Options::kMaxSackBlocks});
    }

    // RFC 2883: remember [left, right) as received twice, for the next ACK. Linux tcp_dsack_set /
    // tcp_dsack_extend: a later duplicate before that ACK replaces or widens the block.
    void dsack_set(SeqNum left, SeqNum right) {
        if (!sack_ok || !cfg.dsack || !(left < right)) return;
        if (dsack_pending && left <= dsack_block.right && dsack_block.left <= right) {
            dsack_block = SackBlock{seq_min(left, dsack_block.left), seq_max(right, dsack_block.right)};
        } else {
            dsack_block = SackBlock{left, right};
        }
        dsack_pending = true;
    }
    // A segment reaching below rcv.nxt repeats what we already have (Linux tcp_send_dupack,
    // tcp_data_queue): report the part below rcv.nxt. SYNs and TIME_WAIT are answered without it.
    void dsack_old(const Segment& seg) {
        std::uint32_t len = seg.seq_len();
        if (len == 0 || seg.flags.any(Syn | Rst) || state == State::TimeWait || !(seg.seq < rcv.nxt)) return;
        dsack_set(seg.seq, seq_min(seg.seq + len, rcv.nxt));
    }
    bool dsack_pending = false;
    SackBlock dsack_block{};

    void emit(Segment& s) {
        if (s.flags.any(Ack)) {
            // Every ACK carries the current window and satisfies any pending ACK (Linux tcp_event_ack_sent).
            if (!s.flags.any(Syn)) {
                std::uint32_t win = select_window();
                rcv.adv_edge = rcv.nxt + win;
                s.window = static_cast<std::uint16_t>(win >> rcv.wscale);
            } else {
                rcv.adv_edge = seq_max(rcv.adv_edge, rcv.nxt + s.window);  // SYN-ACK: set by the caller, unscaled
            }
            rcv.acked = rcv.nxt;
            disarm(TimerKind::DelayedAck);
            ack_now = false;
            if (quickack > 0) --quickack;
        }
        ++segs_out;
        last_send = now;
        env.transmit(self, s);
    }

    void send_syn(bool synack) {
        Segment s = make_segment(snd.iss, synack ? (Syn | Ack) : Syn);
        syn_options(s.options, synack);
        // The SYN's window is unscaled (RFC 7323 §2.2); Linux rounds it to the MSS net of the
        // options on data segments (64240 in a SYN, 65160 in a SYN-ACK with timestamps).
        s.window = static_cast<std::uint16_t>(initial_window(synack ? advmss() - (ts_ok ? kTsOptionBytes : 0) : advmss()));
        emit(s);
        snd.nxt = snd.iss + 1;
        if (snd.max < snd.nxt) snd.max = snd.nxt;
        if (!armed(TimerKind::Retransmission)) arm(TimerKind::Retransmission, current_rto());
    }

    void send_ack() {
        // SND.NXT in the RFC sense: the highest number sent (ours may be pulled back after an RTO).
        Segment s = make_segment(snd.max, Ack);
        data_options(s.options);
        emit(s);
    }

    // Linux tcp_oow_rate_limited: ACKs provoked by out-of-window or invalid segments without data
    // (pure ACKs, SYNs, RSTs) go out at most once per tcp_invalid_ratelimit, so two confused
    // stacks cannot ACK each other in a loop. Segments carrying data (or FIN) are never limited:
    // their duplicate ACKs drive the peer's fast retransmit.
    bool oow_rate_limited(const Segment& seg) {
        if ((!seg.payload.empty() || seg.flags.any(Fin)) && !seg.flags.any(Syn)) return false;
        if (oow_ack_sent && now - last_oow_ack < cfg.invalid_ratelimit) return true;
        oow_ack_sent = true;
        last_oow_ack = now;
        return false;
    }
    Time last_oow_ack{};
    bool oow_ack_sent = false;

    // The ACK for an unacceptable segment (§3.10.7.4) or a challenge ACK (RFC 5961 §3.2, §4.2).
    void send_dupack(const Segment& seg) {
        if (!oow_rate_limited(seg)) send_ack();
    }
    void send_challenge_ack(const Segment& seg) { send_dupack(seg); }

    void send_rst(SeqNum seq) {
        Segment s = make_segment(seq, Rst);
        ++segs_out;
        env.transmit(self, s);
    }
    void send_rst_ack() {
        Segment s = make_segment(snd.max, Rst | Ack);
        s.ack = rcv.nxt;
        ++segs_out;
        env.transmit(self, s);
    }

    SeqNum data_end() const { return snd_data_seq + static_cast<std::uint32_t>(sndq.size()); }
    bool fin_sent() const { return fin_queued && snd.max > data_end(); }
    std::uint32_t flight() const { return static_cast<std::uint32_t>(snd.nxt - snd.una); }

    Duration current_rto() const {
        Duration r = rtt.rto();
        // Linux tcp_clamp_rto_to_user_timeout: don't sleep past TCP_USER_TIMEOUT.
        if (cfg.user_timeout > Duration::zero() && retrans_stamp != kTimeNever) {
            Duration left = retrans_stamp + cfg.user_timeout - now;
            if (left <= Duration::zero()) left = std::chrono::milliseconds(1);
            r = std::min(r, left);
        }
        return r;
    }

    bool can_send_data() const {
        switch (state) {
            case State::Established:
            case State::CloseWait:
            case State::FinWait1:
            case State::Closing:
            case State::LastAck: return true;
            case State::Closed:
            case State::Listen:
            case State::SynSent:
            case State::SynRecv:
            case State::FinWait2:
            case State::TimeWait: return false;
        }
        return false;
    }

    // Payload bytes the next segment can carry: the MSS less the SACK blocks (and a pending
    // D-SACK) it will carry beyond the timestamps (Linux tcp_current_mss), so that a data segment
    // that also reports holes still fits the path MTU.
    std::uint32_t send_mss() const {
        std::size_t n = sack_blocks_due();
        if (n == 0) return mss_cache;
        auto bytes = static_cast<std::uint32_t>(4 + 8 * n);
        return mss_cache > bytes + kMinSendMss ? mss_cache - bytes : mss_cache;
    }

    // Sends one segment [seq, seq+len) of queued data, FIN if it ends the stream.
    void send_data_segment(SeqNum seq, std::uint32_t len, bool retransmission) {
        std::uint32_t mss_now = send_mss();  // before data_options() consumes a D-SACK
        Flags flags = Ack;
        std::size_t off = static_cast<std::uint32_t>(seq - snd_data_seq);
        SeqNum end = seq + len;
        bool fin = fin_queued && end == data_end();
        if (fin) flags |= Fin;
        // PSH on the segment holding the end of a write (Linux tcp_mark_push).
        if (len > 0 && seq < push_mark && push_mark <= end) flags |= Psh;
        Segment s = make_segment(seq, flags);
        if (len) {
            auto [a, b] = sndq.view(off, len);
            s.payload = Payload{a, b};
        }
        if (snd.urgent && seq < snd.up) {
            // Linux/BSD urgent pointer: offset of the byte after the urgent byte.
            auto d = static_cast<std::uint32_t>(snd.up - seq);
            s.flags |= Urg;
            s.urgent = static_cast<std::uint16_t>(std::min<std::uint32_t>(d, 0xffff));
        }
        data_options(s.options);
        emit(s);
        SeqNum after = end + (fin ? 1 : 0);
        if (len < mss_now && len > 0 && !retransmission) snd_sml = end;
        if (!retransmission) last_seg_seq = seq;
        if (retransmission) {
            ++total_retrans;
            if (sack_ok && len > 0) sb.on_retransmit(seq, len);  // HighRxt: a later SACK of it is no reordering
            if (retrans_stamp == kTimeNever) retrans_stamp = now;
            if (timing && rtt_seq > seq) timing = false;  // Karn: no sample from a retransmitted range
        } else if (!timing && len > 0) {
            timing = true;
            rtt_seq = after;
            rtt_sent = now;
        }
        if (snd.nxt < after) snd.nxt = after;
        if (snd.max < snd.nxt) {
            if (!retransmission && snd.max < seq) {
                // unreachable: data is sent in order
            }
            snd.max = snd.nxt;
        }
        if (!armed(TimerKind::Retransmission)) arm(TimerKind::Retransmission, current_rto());
    }

    // In-flight bytes for the window check (Linux tcp_packets_in_flight: packets_out - sacked_out -
    // lost_out + retrans_out). With SACK the scoreboard's pipe (RFC 6675 SetPipe with Linux's loss
    // marks); without, FlightSize less one segment per duplicate ACK and the lost head, plus its
    // retransmission. After an RTO everything outstanding counts as lost (tcp_timeout_mark_lost):
    // in flight is what went out again from snd.una (go-back-N), less what the peer SACKed.
    std::uint32_t pipe_bytes() const {
        std::uint32_t f = flight();
        if (ca == CaState::Loss) {
            if (sack_ok) f -= sacked_between(snd.una, snd.nxt);
            return f;
        }
        if (sack_ok && sb.initialized()) return sb.pipe(snd.max, mss_cache);
        std::uint64_t gone = std::uint64_t{reno_sacked} * mss_cache + (reno_lost ? std::min(f, mss_cache) : 0);
        std::uint32_t in = f > gone ? f - static_cast<std::uint32_t>(gone) : 0;
        if (reno_rtx_end > snd.una) in += std::min(static_cast<std::uint32_t>(reno_rtx_end - snd.una), mss_cache);
        return std::min(in, f);
    }
    // SACKed octets in [from, to).
    std::uint32_t sacked_between(SeqNum from, SeqNum to) const {
        std::uint32_t n = 0;
        for (const SackBlock& b : sb.ranges()) {
            SeqNum l = seq_max(b.left, from), r = seq_min(b.right, to);
            if (l < r) n += static_cast<std::uint32_t>(r - l);
        }
        return n;
    }
    // Linux retrans_out (octets): retransmitted, not yet acknowledged or SACKed.
    std::uint32_t retrans_out_bytes() const {
        if (ca == CaState::Loss) {
            SeqNum top = seq_min(snd.nxt, recover);  // go-back-N resends [snd.una, recover)
            return top > snd.una ? static_cast<std::uint32_t>(top - snd.una) - sacked_between(snd.una, top) : 0;
        }
        if (sack_ok) return sb.initialized() ? sb.retransmitted_bytes() : 0;
        return reno_rtx_end > snd.una ? std::min(static_cast<std::uint32_t>(reno_rtx_end - snd.una), mss_cache) : 0;
    }
    // Linux lost_out (octets).
    std::uint32_t lost_out_bytes() const {
        if (ca == CaState::Loss) {
            std::uint32_t f = static_cast<std::uint32_t>(snd.max - snd.una);
            return f - (sack_ok ? sacked_between(snd.una, snd.max) : 0);
        }
        if (sack_ok) return sb.initialized() ? sb.lost_bytes(snd.max, mss_cache) : 0;
        return reno_lost && snd.una < snd.max ? std::min(static_cast<std::uint32_t>(snd.max - snd.una), mss_cache) : 0;
    }
    std::uint32_t sacked_out() const { return sack_ok ? segments(sb.sacked_bytes()) : reno_sacked; }
    std::uint32_t reordering() const { return sack_ok ? sb.reordering() : reno_reordering; }
    std::uint32_t cwnd_bytes() const { return cc->cwnd() * mss_cache; }

    // Resends the first unacknowledged segment (fast retransmit, NewReno partial ACK).
    void retransmit_head() {
        SeqNum end = data_end();
        std::uint32_t len = snd.una < end ? std::min<std::uint32_t>(static_cast<std::uint32_t>(end - snd.una), send_mss()) : 1;
        retransmit_range(snd.una, len);
        reno_rtx_end = seq_max(reno_rtx_end, snd.una + len);
        if (sack_ok) sb.on_retransmit(snd.una, len);
    }

    // Linux tcp_cwnd_validate, after a transmission attempt with unsent data: remember whether
    // cwnd limited it, or else the most segments in flight, once per window (cwnd_usage_seq).
    void cwnd_validate(bool cwnd_limited) {
        std::uint32_t out = packets_out();
        if (snd.una >= cwnd_usage_seq || cwnd_limited || (!is_cwnd_limited && out > max_packets_out)) {
            is_cwnd_limited = cwnd_limited;
            max_packets_out = out;
            cwnd_usage_seq = snd.max;
        }
    }

    // Sends [seq, seq+len) again (len may include the FIN's sequence number).
    void retransmit_range(SeqNum seq, std::uint32_t len) {
        SeqNum end = data_end();
        std::uint32_t dlen = seq < end ? std::min<std::uint32_t>(static_cast<std::uint32_t>(end - seq), len) : 0;
        if (dlen == 0 && !(fin_queued && seq == end)) return;
        SeqNum save = snd.nxt;
        send_data_segment(seq, dlen, true);
        snd.nxt = seq_max(save, snd.nxt);
        // Linux tcp_xmit_retransmit_queue: resending the head restarts the RTO from now, so the
        // timer does not expire on the retransmission before an RTT has passed.
        if (seq == snd.una) arm(TimerKind::Retransmission, current_rto());
    }

    // Next new segment's length from snd.nxt under the peer's window (0: none allowed).
    std::uint32_t new_data_len() const {
        SeqNum end = data_end();
        std::uint32_t unsent = snd.nxt < end ? static_cast<std::uint32_t>(end - snd.nxt) : 0;
        SeqNum right = snd.una + snd.wnd;
        std::uint32_t room = right > snd.nxt ? static_cast<std::uint32_t>(right - snd.nxt) : 0;
        return std::min({unsent, send_mss(), room});
    }

    // RFC 6675 §5 (with SACK) / RFC 6582 (without): transmit while pipe leaves a segment of cwnd.
    bool recovery_send() {
        bool sent = false;
        for (int guard = 0; guard < 4096; ++guard) {
            if (pipe_bytes() + mss_cache > cwnd_bytes()) break;
            std::uint32_t nlen = new_data_len();
            bool fin_only = fin_queued && snd.nxt == data_end() && snd.max == snd.nxt;
            if (sack_ok) {
                auto ns = sb.next_seg(snd.max, mss_cache, nlen > 0 || fin_only);
                if (ns.kind == SackScoreboard::NextKind::None) break;
                if (ns.kind == SackScoreboard::NextKind::NewData) {
                    send_data_segment(snd.nxt, nlen, false);
                } else {
                    ns.len = std::min(ns.len, send_mss());
                    retransmit_range(ns.seq, ns.len);
                    sb.mark_sent(ns);
                }
            } else if (reno_lost && !(reno_rtx_end > snd.una)) {
                // NewReno: the head is lost (3 dupACKs or a partial ACK) and not yet resent.
                retransmit_head();
            } else {
                if (nlen == 0 && !fin_only) break;
                send_data_segment(snd.nxt, nlen, false);
            }
            prr.on_sent(1);
            sent = true;
        }
        return sent;
    }

    // tcp_write_xmit: send what the windows, Nagle, cork and SWS rules allow; force an ACK when asked.
    void output(bool force_ack = false) {
        bool sent = false;
        // Linux tcp_write_xmit runs (and validates cwnd use) only with unsent data queued.
        const bool had_unsent = can_send_data() && (snd.nxt < data_end() || (fin_queued && !fin_sent()));
        bool sent_new = false;  // new data or FIN (not a retransmission): re-arms the loss probe
        if (can_send_data() && ca == CaState::Recovery) {
            sent = recovery_send();
        } else if (can_send_data()) {
            for (;;) {
                SeqNum end = data_end();
                // After an RTO (go-back-N), skip what the peer SACKed (Linux: tcp_xmit_retransmit_queue).
                if (sack_ok && snd.nxt < snd.max) {
                    for (const SackBlock& b : sb.ranges()) {
                        if (b.left <= snd.nxt && snd.nxt < b.right) snd.nxt = seq_min(b.right, snd.max);
                    }
                }
                // Congestion window against what is in flight (Linux tcp_cwnd_test: duplicate ACKs
                // and SACKs make room, which is RFC 3042 limited transmit), and the peer's window
                // from snd.una (tcp_snd_wnd_test).
                std::uint64_t cw = cwnd_bytes();
                std::uint32_t in_flight = pipe_bytes();
                std::uint32_t cwnd_room = cw > in_flight ? static_cast<std::uint32_t>(cw - in_flight) : 0;
                SeqNum right = snd.una + snd.wnd;
                std::uint32_t rwnd_room = right > snd.nxt ? static_cast<std::uint32_t>(right - snd.nxt) : 0;
                std::uint32_t usable = std::min(cwnd_room, rwnd_room);
                std::uint32_t unsent = snd.nxt < end ? static_cast<std::uint32_t>(end - snd.nxt) : 0;
                if (unsent == 0) {
                    if (fin_queued && snd.nxt == end) {
                        sent_new = sent_new || snd.max <= end;
                        send_data_segment(snd.nxt, 0, snd.max > end);
                        sent = true;
                    }
                    break;
                }
                std::uint32_t mss_now = send_mss();
                std::uint32_t len = std::min({unsent, mss_now, usable});
                bool retrans = snd.nxt < snd.max;
                if (retrans && sack_ok) {
                    // Don't run into a SACKed range.
                    for (const SackBlock& b : sb.ranges()) {
                        if (b.left > snd.nxt) {
                            len = std::min<std::uint32_t>(len, static_cast<std::uint32_t>(b.left - snd.nxt));
                            break;
                        }
                    }
                }
                if (len == 0) break;
                if (!retrans && len < mss_now && len < unsent) {
                    // Window-limited small segment: sender SWS avoidance (RFC 1122 4.2.3.4) — send
                    // only if it is at least half the largest window the peer offered.
                    if (len < snd.max_wnd / 2) break;
                } else if (!retrans && len < mss_now) {
                    // The tail of the queue. TCP_CORK / MSG_MORE hold it (flushed by the cork timer);
                    // Nagle (RFC 896) holds it while data is unacknowledged, unless TCP_NODELAY.
                    bool fin_now = fin_queued;
                    if ((cork || more) && !fin_now && !force_push) {
                        // Linux flushes a held tail from the probe timer: max(RTO, 200 ms).
                        if (!armed(TimerKind::Cork)) arm(TimerKind::Cork, std::max(cfg.cork_flush, rtt.rto()));
                        break;
                    }
                    // Linux tcp_nagle_check with Minshall's rule: hold it only while an earlier
                    // small segment is unacknowledged.
                    if (!nodelay && !force_push && !fin_now && snd_sml > snd.una) break;
                }
                if (!retrans && snd.una == snd.max && last_send != Time{}) {
                    // First transmission after idle (RFC 5681 §4.1; Linux tcp_cwnd_restart).
                    Duration idle = now - last_send;
                    if (cfg.slow_start_after_idle) cc->on_idle_restart(now, idle, rtt.rto());
                    cc->on_tx_start(now, idle);
                }
                send_data_segment(snd.nxt, len, retrans);
                sent = true;
                sent_new = sent_new || !retrans;
                disarm(TimerKind::Persist);
                probes = 0;
            }
        }
        if (had_unsent && synchronized()) cwnd_validate(segments(pipe_bytes()) >= cc->cwnd());
        if (data_end() == snd.nxt) disarm(TimerKind::Cork);
        // Data waiting and nothing in flight: only the peer's window (zero, or too small for the
        // sender's SWS rule) can be holding it, and no ACK will come to reopen it. The persist
        // timer probes it (RFC 9293 §3.8.6.1; Linux tcp_check_probe_timer after tcp_write_xmit).
        if (can_send_data() && snd.una == snd.max && snd.nxt < data_end() && !armed(TimerKind::Persist) &&
            !armed(TimerKind::Retransmission) && !armed(TimerKind::Cork))
            arm(TimerKind::Persist, current_persist());
        if (!sent && (force_ack || ack_now)) send_ack();
        // Linux tcp_write_xmit: every transmission of new data pushes the probe out to PTO from now.
        if (sent_new) schedule_loss_probe();
    }

    // ---------------------------------------------------------------- tail loss probe
    // Segments in flight as Linux counts skbs (packets_out): the data segments, plus the FIN when
    // it went out on a segment of its own (the newest new segment started at the end of the data).
    std::uint32_t packets_out() const {
        SeqNum end = data_end();
        SeqNum data_hi = seq_min(snd.max, end);
        std::uint32_t data = data_hi > snd.una ? static_cast<std::uint32_t>(data_hi - snd.una) : 0;
        std::uint32_t n = (data + mss_cache - 1) / mss_cache;
        bool lone_fin = fin_sent() && snd.una <= end && (data == 0 || last_seg_seq == end);
        return n + (lone_fin ? 1 : 0);
    }

    // RFC 8985 §7.2 / Linux tcp_schedule_loss_probe: PTO = 2*SRTT, plus rto_min when a single
    // segment is in flight (the peer may be holding its ACK for a delayed-ACK timer), else plus
    // Linux's TCP_TIMEOUT_MIN (2 ms); 1 s without an RTT sample; never later than the RTO. Only
    // for SACK connections in the Open state (Linux also allows CWR, which tcpsim passes through
    // at once): not in Disorder (SACKed data outstanding), Recovery or Loss.
    bool schedule_loss_probe() {
        disarm(TimerKind::LossProbe);
        if (!cfg.tail_loss_probe || !sack_ok || !can_send_data() || snd.una == snd.max || snd.una == snd.iss ||
            (ca != CaState::Open && ca != CaState::Cwr) || !sb.empty())
            return false;
        Duration pto = cfg.rto_initial;  // Linux: TCP_TIMEOUT_INIT before any RTT sample
        if (rtt.has_sample()) pto = 2 * rtt.srtt() + (packets_out() == 1 ? cfg.rto_min : kTimeoutMin);
        // How far in the future the RTO is (Linux tcp_rto_delta_us; after an ACK the RTO was just
        // re-armed, so this is the full RTO, as with Linux's advancing_rto).
        if (armed(TimerKind::Retransmission) && timer(TimerKind::Retransmission) > now)
            pto = std::min(pto, timer(TimerKind::Retransmission) - now);
        arm(TimerKind::LossProbe, pto);
        return true;
    }
    static constexpr Duration kTimeoutMin = std::chrono::milliseconds(2);  // Linux: TCP_TIMEOUT_MIN_US

    void on_loss_probe_timeout();
    void process_tlp_ack(const Segment& seg, bool una_advanced, bool window_update, std::uint32_t newly_sacked,
                         const SackScoreboard::UpdateResult& su);

    Duration current_persist() const {
        Duration r = std::max(rtt.base_rto(), cfg.rto_min);
        for (int i = 0; i < probes && r < cfg.rto_max; ++i) r *= 2;
        return std::min(r, cfg.rto_max);
    }

    // ---------------------------------------------------------------- RTT / congestion
    void rtt_sample(Duration m) {
        rtt.sample(m, snd.una, snd.max);
        cc->on_rtt_sample(now, m);
    }

    std::uint32_t segments(std::uint32_t bytes) const { return (bytes + mss_cache - 1) / mss_cache; }
    std::uint32_t flight_segments() const { return segments(flight()); }

    // Fast retransmit (RFC 5681 §3.2, RFC 6675 §5, RFC 6582; Linux tcp_enter_recovery): enter
    // Recovery; PRR (tcp_cwnd_reduction) then sets cwnd for this very ACK, and the lost head goes
    // out as what it allows (at least one segment), not as a burst at the old cwnd.
    void enter_recovery(std::uint32_t delivered, std::uint32_t newly_lost, bool una_advanced) {
        ca = CaState::Recovery;
        tlp_out = false;  // Linux tcp_init_cwnd_reduction ends a probe episode
        disarm(TimerKind::LossProbe);
        recover = snd.max;
        cc->on_enter_recovery(now, segments(pipe_bytes()));
        prr.start(cc->cwnd(), cc->ssthresh());
        if (sack_ok) sb.enter_recovery(snd.una, snd.max);
        if (!sack_ok) {
            reno_lost = true;  // Linux tcp_newreno_mark_lost
            newly_lost = 1;
        }
        cc->set_cwnd(std::max<std::uint32_t>(
            prr.cwnd_after_ack(cc->cwnd(), std::max<std::uint32_t>(delivered, 1), newly_lost, una_advanced, segments(pipe_bytes())), 1));
        if (!recovery_send()) {
            retransmit_head();  // nothing marked lost (cannot happen by the entry rule): force it
            prr.on_sent(1);
        }
        env.congestion_changed(self);
    }

    // Recovery or Loss is over (Linux tcp_end_cwnd_reduction after Recovery; cwnd = ssthresh).
    void exit_recovery() {
        if (ca == CaState::Recovery) cc->on_exit_recovery(now);
        ca = CaState::Open;
        prr.stop();
        sb.exit_recovery();
        reno_sacked = 0;
        reno_lost = false;
        env.congestion_changed(self);
    }

    // Linux tcp_limit_reno_sacked / tcp_check_reno_reordering: more duplicate ACKs than segments
    // in flight beyond the holes means the network reordered; remember how much.
    void limit_reno_sacked(std::uint32_t addend) {
        std::uint32_t out = packets_out();
        std::uint32_t holes = std::min(std::max<std::uint32_t>(reno_lost ? 1 : 0, 1), out);
        if (reno_sacked + holes <= out) return;
        reno_sacked = out - holes;
        reno_reordering = std::clamp<std::uint32_t>(out + addend, 1, SackScoreboard::kMaxReordering);
    }
    // Linux tcp_add_reno_sack: a duplicate ACK stands for one delivered segment. Returns how many
    // were counted (0 when the limit above caps it).
    std::uint32_t add_reno_sack() {
        std::uint32_t prior = reno_sacked;
        ++reno_sacked;
        limit_reno_sacked(0);
        return reno_sacked > prior ? reno_sacked - prior : 0;
    }

    // The congestion half of an ACK (Linux tcp_fastretrans_alert + tcp_cong_control), in segments.
    void congestion_on_ack(bool new_ack, bool dup, std::uint32_t acked_segs, const SackScoreboard::UpdateResult& su);

    // SYN / SYN-ACK retransmission.
    void retransmit_syn() {
        send_syn(state != State::SynSent);
        ++total_retrans;
        if (retrans_stamp == kTimeNever) retrans_stamp = now;
    }

    // ---------------------------------------------------------------- input
    void on_segment(const Segment& seg);
    void on_segment_syn_sent(const Segment& seg);
    bool process_ack(const Segment& seg);
    void process_data(const Segment& seg);
    void process_fin();
    void check_urgent(const Segment& seg);
    void parse_syn_options(const Segment& seg);
    void enter_time_wait(std::string_view cause);
    void enter_fin_wait2() {
        set_state(State::FinWait2, "rcv ACK of FIN");
        if (user_closed) orphan_fin_wait2();
    }
    // Linux tcp_time_wait(sk, TCP_FIN_WAIT2, tcp_fin_timeout): an orphan in FIN_WAIT2 becomes a
    // timewait socket that still takes the peer's FIN (-> TIME_WAIT) and goes away silently after
    // tcp_fin_timeout. Its keepalive timer is gone with the full socket: no probes, no RST.
    void orphan_fin_wait2() {
        disarm(TimerKind::Keepalive);
        arm(TimerKind::Linger, cfg.fin_timeout);
    }
    void reset_connection(std::errc e, std::string_view cause);
    void schedule_ack(const Segment& seg, std::uint32_t len);
    void restart_keepalive();

    // ---------------------------------------------------------------- timers
    void on_timer();
    void on_retransmission_timeout();
    Duration model_timeout(int boundary, Duration base) const;
    bool retransmits_timed_out(int boundary, Duration user_timeout) const;
    bool write_timed_out() const;
    void on_persist_timeout();
    void on_keepalive_timeout();

    // Runs at the end of every entry point: tells the owner when the next deadline moved.
    struct Guard {
        Impl* impl;
        ~Guard() { impl->report_deadline(); }
    };
    void report_deadline() {
        Time d = next_deadline();
        if (d != reported_deadline) {
            reported_deadline = d;
            env.deadline_changed(self);
        }
    }
    Time next_deadline() const {
        Time d = kTimeNever;
        for (Time t : timers) d = std::min(d, t);
        return d;
    }
};

// -------------------------------------------------------------------- input path

void Connection::Impl::parse_syn_options(const Segment& seg) {
    const Options& o = seg.options;
    peer_mss = o.mss_value().value_or(cfg.default_peer_mss);
    if (peer_mss == 0) peer_mss = cfg.default_peer_mss;
    // Each option is in use only if both sides offered it (RFC 7323 §2.2/§3.2, RFC 2018 §2).
    ws_ok = cfg.window_scaling && o.window_scale_value().has_value();
    if (ws_ok) {
        snd.wscale = std::min<std::uint8_t>(*o.window_scale_value(), kMaxWindowScale);  // RFC 7323 §2.3
    } else {
        snd.wscale = 0;
        rcv.wscale = 0;
    }
    sack_ok = cfg.sack && o.has_sack_permitted();
    ts_ok = cfg.timestamps && o.timestamps_value().has_value();
    if (ts_ok) {
        ts_recent = o.timestamps_value()->value;
        ts_recent_stamp = now;
    }
    update_mss();
}

void Connection::Impl::reset_connection(std::errc e, std::string_view cause) {
    error = err(e);
    set_state(State::Closed, cause);
}

void Connection::Impl::enter_time_wait(std::string_view cause) {
    set_state(State::TimeWait, cause);
    arm(TimerKind::TimeWait, 2 * cfg.msl);  // RFC 9293 §3.10.7.4; Linux TCP_TIMEWAIT_LEN
}

void Connection::Impl::restart_keepalive() {
    if (cfg.keepalive && synchronized() && state != State::TimeWait && !(state == State::FinWait2 && user_closed)) {
        arm(TimerKind::Keepalive, cfg.keepalive_idle);
        probes = armed(TimerKind::Persist) ? probes : 0;
    }
}

void Connection::Impl::on_segment(const Segment& seg) {
    ++segs_in;
    switch (state) {
        case State::Closed: {
            // RFC 9293 §3.10.7.1: no TCB here; answer as if none existed.
            if (auto r = reset_for(seg)) {
                ++segs_out;
                env.transmit(self, *r);
            }
            return;
        }
        case State::Listen:
            // A listener's segments are classified by listen_reply(); nothing reaches here.
            return;
        case State::SynSent:
            on_segment_syn_sent(seg);
            return;
        case State::SynRecv:
        case State::Established:
        case State::FinWait1:
        case State::FinWait2:
        case State::Closing:
        case State::TimeWait:
        case State::CloseWait:
        case State::LastAck: break;
    }
    last_rcv = now;

    // TIME_WAIT and a new SYN (Linux tcp_timewait_state_process): a SYN above the old rcv.nxt (or
    // with a newer timestamp) may reuse the tuple; the owner hands it to the listener.
    if (state == State::TimeWait && seg.flags.has(Syn) && !seg.flags.any(Rst | Ack)) {
        if (self.time_wait_accepts_syn(seg)) {
            set_state(State::Closed, "rcv SYN in TIME_WAIT (tuple reused)");
            return;
        }
        send_dupack(seg);  // Linux: TCP_TW_ACK
        return;
    }

    std::uint32_t seg_len = seg.seq_len();
    auto seg_ts = seg.options.timestamps_value();

    // A retransmission of the peer's SYN gets our SYN-ACK again (Linux tcp_check_req).
    if (state == State::SynRecv && seg.flags.has(Syn) && !seg.flags.any(Ack | Rst) && seg.seq == rcv.irs) {
        send_syn(true);
        return;
    }

    // Simultaneous open (RFC 9293 Figure 8): the peer's SYN-ACK reaches us in SYN_RECV. Its SYN is
    // old news; Linux (tcp_validate_incoming) lets its ACK complete the handshake.
    if (state == State::SynRecv && !passive && seg.flags.has(Syn | Ack) && !seg.flags.any(Rst) &&
        seg.seq + 1 == rcv.nxt && seg.ack == snd.max) {
        process_ack(seg);
        if (state != State::Closed) output();
        return;
    }

    // PAWS (RFC 7323 §5.3): a segment whose TSval is older than TS.Recent is a duplicate.
    if (ts_ok && seg_ts && !seg.flags.any(Rst) && static_cast<std::int32_t>(seg_ts->value - ts_recent) < 0 &&
        now - ts_recent_stamp < kPawsIdle) {
        dsack_old(seg);
        send_dupack(seg);
        return;
    }

    // First: sequence number acceptability (RFC 9293 §3.10.7.4, the four cases), against the
    // window we advertised (Linux tcp_sequence uses rcv_wup + rcv_wnd).
    std::uint32_t rwnd = rcv.adv_edge > rcv.nxt ? static_cast<std::uint32_t>(rcv.adv_edge - rcv.nxt) : 0;
    bool acceptable;
    if (seg_len == 0) {
        acceptable = rwnd == 0 ? seg.seq == rcv.nxt : seg.seq.in_window(rcv.nxt, rwnd);
        // Linux also accepts a zero-length segment at the left edge of an old ACK (rcv_wup).
        if (!acceptable && seg.seq == rcv.acked) acceptable = true;
    } else if (rwnd == 0) {
        acceptable = false;
    } else {
        SeqNum last = seg.seq + (seg_len - 1);
        acceptable = seg.seq.in_window(rcv.nxt, rwnd) || last.in_window(rcv.nxt, rwnd) ||
                     (seg.seq < rcv.nxt && last >= rcv.nxt + rwnd);
    }
    // With a zero window we still process ACK/RST/URG of a segment at rcv.nxt (RFC 9293 §3.10.7.4).
    bool zero_window_probe = !acceptable && rwnd == 0 && seg.seq == rcv.nxt;
    if (!acceptable && !zero_window_probe) {
        if (!seg.flags.any(Rst)) {
            dsack_old(seg);
            send_dupack(seg);  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
        }
        // A retransmitted FIN in TIME_WAIT restarts the 2MSL timeout (RFC 9293 §3.10.7.4).
        if (state == State::TimeWait && seg.flags.any(Fin)) arm(TimerKind::TimeWait, 2 * cfg.msl);
        return;
    }

    // Second: RST (RFC 5961 §3.2): exact match resets, in-window draws a challenge ACK.
    if (seg.flags.any(Rst)) {
        if (seg.seq != rcv.nxt) {
            send_challenge_ack(seg);
            return;
        }
        switch (state) {
            case State::SynRecv:
                if (passive) {
                    // RFC 9293 §3.10.7.4: a passive open returns to LISTEN; here the listener never
                    // left it, so the child simply goes away.
                    set_state(State::Closed, "rcv RST (child dropped; listener stays in LISTEN)");
                } else {
                    reset_connection(std::errc::connection_refused, "rcv RST");
                }
                return;
            case State::Established:
            case State::FinWait1:
            case State::FinWait2:
            case State::CloseWait:
                reset_connection(std::errc::connection_reset, "rcv RST");
                return;
            case State::Closing:
            case State::LastAck:
            case State::TimeWait:
                set_state(State::Closed, "rcv RST");  // Linux: tcp_rfc1337 = 0 ends TIME_WAIT too
                return;
            case State::Closed:
            case State::Listen:
            case State::SynSent: return;
        }
        return;
    }

    // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
    if (seg.flags.any(Syn)) {
        send_challenge_ack(seg);
        return;
    }

    // Fifth: ACK. Without it the segment is dropped (RFC 9293 §3.10.7.4).
    if (!seg.flags.any(Ack)) return;
    if (!process_ack(seg)) return;
    if (state == State::Closed) return;

    // RFC 7323 §4.3 (Linux tcp_replace_ts_recent): remember TSval of a segment covering Last.ACK.sent.
    if (ts_ok && seg_ts && seg.seq <= rcv.acked && static_cast<std::int32_t>(seg_ts->value - ts_recent) >= 0) {
        ts_recent = seg_ts->value;
        ts_recent_stamp = now;
    }

    // Sixth: URG; seventh: text; eighth: FIN.
    dsack_old(seg);
    check_urgent(seg);
    process_data(seg);
    if (state == State::Closed) return;
    if (seg.flags.any(Fin)) {
        SeqNum fin_seq = seg.seq + static_cast<std::uint32_t>(seg.payload.size());
        if (fin_seq == rcv.nxt && !fin_received) {
            process_fin();
        } else if (fin_seq > rcv.nxt && !fin_received) {
            ooo_fin = true;
            ooo_fin_seq = fin_seq;
            ack_now = true;
        } else if (fin_received && fin_seq + 1 == rcv.nxt) {
            // A retransmitted FIN: our ACK was lost. TIME_WAIT restarts 2MSL (RFC 9293 §3.10.7.4).
            ack_now = true;
            if (state == State::TimeWait) arm(TimerKind::TimeWait, 2 * cfg.msl);
        }
    }
    // Our FIN was acknowledged by a FIN segment whose FIN could not be taken (out of window).
    if (state == State::FinWait1 && fin_sent() && snd.una == data_end() + 1) enter_fin_wait2();
    restart_keepalive();
    output();
}

void Connection::Impl::on_segment_syn_sent(const Segment& seg) {
    // RFC 9293 §3.10.7.3.
    bool has_ack = seg.flags.any(Ack);
    if (has_ack && (seg.ack <= snd.iss || seg.ack > snd.max)) {
        if (!seg.flags.any(Rst)) send_rst(seg.ack);
        return;
    }
    if (seg.flags.any(Rst)) {
        if (has_ack) reset_connection(std::errc::connection_refused, "rcv RST");
        return;
    }
    if (!seg.flags.any(Syn)) return;

    last_rcv = now;
    rcv.irs = seg.seq;
    rcv.nxt = seg.seq + 1;
    rcv.acked = rcv.nxt;
    parse_syn_options(seg);
    rcv.adv_edge = rcv.nxt + initial_window(advmss());
    if (has_ack) {
        snd.una = seg.ack;
        snd_data_seq = snd.una;
        // The SYN-ACK's window is never scaled (RFC 7323 §2.2).
        snd.wnd = seg.window;
        snd.max_wnd = snd.wnd;
        snd.wl1 = seg.seq;
        snd.wl2 = seg.ack;
        if (sack_ok) sb.update(snd.una, snd.max, {}, mss_cache);  // HighACK from here on (DeliveredData)
        cc->on_ack_sequence(now, snd.una, snd.max);  // CUBIC HyStart rounds (tcp/congestion.hpp)
        // Karn: a retransmitted SYN gives no sample; RFC 6298 (5.7) then falls back to 3 s.
        if (retransmits == 0) {
            rtt_sample(now - last_send);
        } else {
            rtt.use_fallback_rto();
        }
        rtt.reset_backoff();
        retransmits = 0;
        retrans_stamp = kTimeNever;
        disarm(TimerKind::Retransmission);
        quickack = std::min<int>(cfg.quickack_segments, std::max<int>(1, initial_window(advmss()) / (2 * rcv_mss)));
        set_state(State::Established, "rcv SYN,ACK");
        restart_keepalive();
        if (!seg.payload.empty() || seg.flags.any(Fin)) {
            // Data on a SYN-ACK: process it as in ESTABLISHED (SYN consumed one number).
            Segment rest = seg;
            rest.flags &= ~Syn;
            rest.seq = seg.seq + 1;
            check_urgent(rest);
            process_data(rest);
            if (rest.flags.any(Fin) && rest.seq + static_cast<std::uint32_t>(rest.payload.size()) == rcv.nxt) process_fin();
        }
        ack_now = true;
        output(true);
        return;
    }
    // Simultaneous open (RFC 9293 §3.10.7.3 "fourth", Figure 8): SYN_SENT -> SYN_RECV, send SYN-ACK.
    snd.wnd = seg.window;
    snd.max_wnd = snd.wnd;
    snd.wl1 = seg.seq;
    set_state(State::SynRecv, "rcv SYN (simultaneous open)");
    send_syn(true);
}

bool Connection::Impl::process_ack(const Segment& seg) {
    if (state == State::SynRecv || (state == State::FinWait1 && snd.una == snd.iss)) {
        // RFC 9293 §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT completes the handshake.
        if (!(snd.una < seg.ack && seg.ack <= snd.max)) {
            send_rst(seg.ack);
            return false;
        }
        snd.una = seg.ack;
        snd_data_seq = snd.iss + 1;  // (an ACK of our FIN too leaves the data start alone)
        snd.wnd = std::uint32_t{seg.window} << snd.wscale;
        snd.max_wnd = std::max(snd.max_wnd, snd.wnd);
        snd.wl1 = seg.seq;
        snd.wl2 = seg.ack;
        cc->on_ack_sequence(now, snd.una, snd.max);
        if (retransmits == 0) {
            rtt_sample(now - last_send);
        } else {
            rtt.use_fallback_rto();
        }
        rtt.reset_backoff();
        retransmits = 0;
        retrans_stamp = kTimeNever;
        timing = false;
        disarm(TimerKind::Retransmission);
        quickack = std::min<int>(cfg.quickack_segments, std::max<int>(1, full_space() / (2 * rcv_mss)));
        if (state == State::SynRecv)
            set_state(State::Established, passive ? "rcv ACK (passive open)" : "rcv ACK (simultaneous open)");
        restart_keepalive();
        // fall through to the ESTABLISHED processing of this ACK (it may carry data or FIN)
    }

    // RFC 5961 §5.2 ACK validation: too old or acking unsent data.
    if (seg.ack > snd.max) {
        // Linux tcp_ack: acknowledges data we never sent — drop silently (RFC 9293 says ACK;
        // Linux FLAG_... discards to avoid ACK wars).
        return false;
    }
    if (seg.ack < snd.una - std::max(snd.max_wnd, 1u)) {
        send_challenge_ack(seg);
        return false;
    }

    std::uint32_t prior_wnd = snd.wnd;
    std::uint32_t new_wnd = std::uint32_t{seg.window} << snd.wscale;

    // Window update (RFC 9293 §3.10.7.4): from a newer segment, or the same one with a newer ACK.
    bool window_update = false;
    if (snd.wl1 < seg.seq || (snd.wl1 == seg.seq && snd.wl2 <= seg.ack)) {
        window_update = snd.wnd != new_wnd;
        snd.wnd = new_wnd;
        snd.max_wnd = std::max(snd.max_wnd, snd.wnd);
        snd.wl1 = seg.seq;
        snd.wl2 = seg.ack;
    }

    bool new_ack = seg.ack > snd.una;
    // Every ACK tells the algorithm where SND.UNA is before any RTT sample (tcp/congestion.hpp
    // call order): CUBIC's HyStart needs it to tell rounds apart (Linux bictcp_hystart_reset).
    cc->on_ack_sequence(now, seq_max(seg.ack, snd.una), snd.max);
    std::uint32_t acked = new_ack ? static_cast<std::uint32_t>(seg.ack - snd.una) : 0;
    if (new_ack) {
        SeqNum end = data_end();
        // Drop acknowledged bytes from the send queue (the FIN is not in the queue).
        if (seg.ack > snd_data_seq) {
            auto data_acked = static_cast<std::uint32_t>(seq_min(seg.ack, end) - snd_data_seq);
            sndq.pop(std::min<std::size_t>(data_acked, sndq.size()));
            snd_data_seq = seq_min(seg.ack, end);
        }
        snd.una = seg.ack;
        if (snd.nxt < snd.una) snd.nxt = snd.una;
        bytes_acked += acked;
        if (snd.urgent && snd.una >= snd.up) snd.urgent = false;

        // RTT sample (RFC 6298 (2)): Karn's rule — only from a segment never retransmitted.
        if (timing && seg.ack >= rtt_seq) {
            timing = false;
            rtt_sample(now - rtt_sent);
        } else if (ts_ok && seg.options.timestamps_value() && seg.options.timestamps_value()->echo_reply != 0) {
            // Linux feeds the congestion module an RTT on every ACK (ca_rtt_us), which HyStart's
            // ACK-train and delay detection need; the echoed timestamp gives one (RFC 7323 §4).
            auto ms = static_cast<std::int32_t>(tsval() - seg.options.timestamps_value()->echo_reply);
            if (ms >= 0) cc->on_rtt_sample(now, std::chrono::milliseconds(std::max(ms, 1)));
        }
        rtt.reset_backoff();
        retransmits = 0;
        retrans_stamp = kTimeNever;
        probes = 0;
    }

    // SACK blocks (RFC 2018, RFC 6675 §5 "Update").
    SackScoreboard::UpdateResult su{};
    if (sack_ok) su = sb.update(snd.una, snd.max, seg.options.sack_blocks(), mss_cache);
    std::uint32_t newly_sacked = su.newly_sacked_bytes;

    // Duplicate ACK (RFC 5681 §2), or (RFC 6675) an ACK carrying new SACK information.
    bool dup = !new_ack && seg.ack == snd.una && snd.una != snd.max &&
               ((seg.payload.empty() && !seg.flags.any(Fin | Syn) && new_wnd == prior_wnd) || newly_sacked > 0);
    process_tlp_ack(seg, new_ack, window_update, newly_sacked, su);
    congestion_on_ack(new_ack, dup, segments(acked), su);

    if (new_ack) {
        // RFC 6298 (5.2)/(5.3): stop the timer when all is acknowledged, else restart it.
        if (snd.una == snd.max) {
            disarm(TimerKind::Retransmission);
        } else {
            arm(TimerKind::Retransmission, current_rto());
        }
        schedule_loss_probe();  // Linux tcp_set_xmit_timer: the probe (if allowed) before the RTO
        env.wake(self);  // send space
    }

    if (window_update && snd.wnd > 0) {
        disarm(TimerKind::Persist);
        probes = 0;
        probes_stamp = kTimeNever;  // Linux tcp_ack_probe: the window opened
        env.wake(self);
    }

    // State transitions on our FIN being acknowledged.
    bool fin_acked = fin_sent() && snd.una == data_end() + 1;
    switch (state) {
        case State::FinWait1:
            // A FIN in this very segment takes FIN_WAIT1 straight to TIME_WAIT (eighth step).
            if (fin_acked && !(seg.flags.any(Fin) && seg.seq == rcv.nxt)) enter_fin_wait2();
            break;
        case State::Closing:
            if (fin_acked) enter_time_wait("rcv ACK of FIN");
            break;
        case State::LastAck:
            if (fin_acked) {
                set_state(State::Closed, "rcv ACK of FIN");
                return false;
            }
            break;
        case State::TimeWait:
            break;
        case State::Established:
        case State::FinWait2:
        case State::CloseWait:
        case State::SynRecv:
        case State::SynSent:
        case State::Closed:
        case State::Listen: break;
    }
    return true;
}

void Connection::Impl::congestion_on_ack(bool new_ack, bool dup, std::uint32_t acked_segs,
                                         const SackScoreboard::UpdateResult& su) {
    // DeliveredData (RFC 6937; Linux tp->delivered): with SACK from the scoreboard (data SACKed
    // earlier and now cumulatively ACKed counts once); without, each duplicate ACK counted one
    // segment already, so a cumulative ACK delivers the rest, at least one (tcp_remove_reno_sacks).
    std::uint32_t delivered = 0;
    std::uint32_t newly_lost = 0;
    if (sack_ok) {
        delivered = segments(su.delivered_bytes);
        newly_lost = segments(su.newly_lost_bytes);
    } else if (new_ack) {
        delivered = acked_segs > reno_sacked ? acked_segs - reno_sacked : 1;
        reno_sacked = acked_segs - 1 >= reno_sacked ? 0 : reno_sacked - (acked_segs - 1);
        limit_reno_sacked(acked_segs);
        reno_lost = false;  // the lost head is acknowledged
    }

    // Leaving Recovery or Loss once everything outstanding when it began is acknowledged (RFC
    // 6582 §3.2 (3), RFC 6675 §5). Linux tcp_try_undo_recovery: without SACK, hold the state
    // until something above that point is acknowledged, against false fast retransmits (RFC 6582
    // §4.1); cwnd is not restored until then.
    if ((ca == CaState::Recovery || ca == CaState::Loss) && snd.una >= recover) {
        reno_sacked = 0;
        if (sack_ok || snd.una != recover) {
            exit_recovery();
        } else {
            if (ca == CaState::Recovery) {
                cc->set_cwnd(std::max<std::uint32_t>(
                    prr.cwnd_after_ack(cc->cwnd(), delivered, newly_lost, new_ack, segments(pipe_bytes())), 1));
            } else if (new_ack) {
                cc->on_ack(now, delivered, max_packets_out, !is_cwnd_limited);
            }
            env.congestion_changed(self);
            return;
        }
    }

    switch (ca) {
        case CaState::Recovery:
            if (!sack_ok) {
                if (!new_ack) {
                    if (dup) delivered += add_reno_sack();
                } else {
                    reno_lost = true;  // NewReno partial ACK (RFC 6582 §3.2 (4)): the next hole is lost too
                    newly_lost = 1;
                }
            }
            break;
        case CaState::Loss:
            // Linux tcp_process_loss: new data beyond the RTO point draws duplicate ACKs that
            // clock out more (re)transmissions.
            if (!sack_ok && dup && snd.max > recover) delivered += add_reno_sack();
            break;
        case CaState::Open:
        case CaState::Disorder:
        case CaState::Cwr: {
            if (!sack_ok) {
                if (new_ack) reno_sacked = 0;  // Linux tcp_reset_reno_sack
                if (dup) delivered += add_reno_sack();
            }
            // Linux tcp_time_to_recover: loss is evident (SACK: lost marks from RACK/IsLost;
            // without SACK: DupThresh duplicate ACKs, tcp_newreno_mark_lost). RFC 6582 §3.2 (2):
            // not before `recover` is passed (right after an RTO).
            bool lost = sack_ok ? lost_out_bytes() > 0 : reno_sacked >= reno_reordering;
            if (lost && snd.una != snd.max && snd.una > recover) {
                enter_recovery(delivered, newly_lost, new_ack);
                return;
            }
            // Linux tcp_try_keep_open: Disorder while SACKed, lost or retransmitted data is out.
            CaState next = (sacked_out() > 0 || lost_out_bytes() > 0 || retrans_out_bytes() > 0) ? CaState::Disorder
                                                                                                : CaState::Open;
            if (ca != CaState::Cwr && next != ca) {
                ca = next;
                env.congestion_changed(self);
            }
            break;
        }
    }

    // Linux tcp_cong_control: PRR during a reduction; otherwise grow on ACKs of new data
    // (tcp_may_raise_cwnd: on any delivery once reordering exceeds the default DupThresh).
    if (ca == CaState::Recovery || ca == CaState::Cwr) {
        if (prr.active()) {
            cc->set_cwnd(std::max<std::uint32_t>(
                prr.cwnd_after_ack(cc->cwnd(), delivered, newly_lost, new_ack, segments(pipe_bytes())), 1));
            env.congestion_changed(self);
        }
    } else if (new_ack || (reordering() > SackScoreboard::kDupThresh && delivered > 0)) {
        cc->on_ack(now, delivered, max_packets_out, !is_cwnd_limited);
        env.congestion_changed(self);
    }
}

void Connection::Impl::check_urgent(const Segment& seg) {
    if (!seg.flags.any(Urg) || seg.urgent == 0) return;
    switch (state) {
        case State::Established:
        case State::FinWait1:
        case State::FinWait2: break;
        case State::Closed:
        case State::Listen:
        case State::SynSent:
        case State::SynRecv:
        case State::Closing:
        case State::TimeWait:
        case State::CloseWait:
        case State::LastAck: return;
    }
    // Linux tcp_check_urg: the pointer names the byte after the urgent byte (BSD reading).
    SeqNum ptr = seg.seq + (static_cast<std::uint32_t>(seg.urgent) - 1);
    if (ptr < rcv.nxt) return;  // already consumed
    if (urg != UrgState::None && urg != UrgState::Read && ptr == urg_seq) return;
    // A newer mark replaces an older one; an unread older OOB byte is lost from the OOB slot.
    urg = UrgState::NotYet;
    urg_seq = ptr;
    env.wake(self);
}

void Connection::Impl::schedule_ack(const Segment& seg, std::uint32_t len) {
    // Linux __tcp_ack_snd_check: ACK now in quick-ACK mode, for out-of-order data or when more
    // than one full-sized segment is unacknowledged; otherwise the delayed-ACK timer.
    if (len >= rcv_mss) {
        rcv_mss = std::min<std::uint32_t>(len, advmss());
    }
    // ATO estimation (Linux tcp_event_data_recv).
    Duration m = now - last_data_rcv;
    if (!data_seen) {
        data_seen = true;
        ato = cfg.delayed_ack_min;
    } else if (m <= cfg.delayed_ack_min / 2) {
        ato = ato / 2 + cfg.delayed_ack_min / 2;
    } else if (m < ato) {
        ato = std::min(ato / 2 + m, rtt.rto());
    } else if (m > rtt.rto()) {
        quickack = std::max(quickack, std::min<int>(cfg.quickack_segments, std::max<int>(1, full_space() / (2 * rcv_mss))));
    }
    ato = std::clamp(ato, cfg.delayed_ack_min, cfg.delayed_ack_max);
    last_data_rcv = now;
    (void)seg;
    std::uint32_t unacked = static_cast<std::uint32_t>(rcv.nxt - rcv.acked);
    if (quickack > 0 || unacked > rcv_mss || rcvq.has_out_of_order()) {
        ack_now = true;
    } else if (!armed(TimerKind::DelayedAck)) {
        arm(TimerKind::DelayedAck, ato);
    }
}

void Connection::Impl::process_data(const Segment& seg) {
    if (seg.payload.empty()) return;
    switch (state) {
        case State::Established:
        case State::FinWait1:
        case State::FinWait2: break;
        case State::CloseWait:
        case State::Closing:
        case State::LastAck:
        case State::TimeWait:
            // RFC 9293 §3.10.7.4 seventh: the peer already sent FIN; ignore the text.
            return;
        case State::Closed:
        case State::Listen:
        case State::SynSent:
        case State::SynRecv: return;
    }
    if (user_closed) {
        // Linux tcp_rcv_state_process: new data for a socket the user closed draws RST. The RST
        // answers the segment (tcp_v4_send_reset: <SEQ=SEG.ACK><CTL=RST>), like one for a
        // connection that no longer exists.
        SeqNum end = seg.seq + static_cast<std::uint32_t>(seg.payload.size());
        if (end > rcv.nxt) {
            if (auto r = reset_for(seg)) {
                ++segs_out;
                env.transmit(self, *r);
            }
            reset_connection(std::errc::connection_reset, "rcv data after close()");
            return;
        }
    }
    // Trim to [rcv.nxt, adv_edge): what precedes was received, what follows was not offered.
    SeqNum seq = seg.seq;
    Payload p = seg.payload;
    auto drop_front = [&p](std::size_t n) {
        std::size_t a = std::min(n, p.first.size());
        p.first = p.first.subspan(a);
        n -= a;
        p.second = p.second.subspan(std::min(n, p.second.size()));
    };
    if (seq < rcv.nxt) {
        auto skip = static_cast<std::uint32_t>(rcv.nxt - seq);
        if (skip >= p.size()) {
            ack_now = true;  // a pure duplicate: ACK at once (Linux: DSACK-style immediate ACK)
            return;
        }
        drop_front(skip);
        seq = rcv.nxt;
    }
    SeqNum edge = seq_max(rcv.adv_edge, rcv.nxt);
    if (seq >= edge) {
        ack_now = true;
        return;
    }
    auto room = static_cast<std::uint32_t>(edge - seq);
    if (p.size() > room) {
        std::size_t keep = room;
        if (keep <= p.first.size()) {
            p.first = p.first.first(keep);
            p.second = {};
        } else {
            p.second = p.second.first(keep - p.first.size());
        }
    }
    bool was_ooo = rcvq.has_out_of_order();
    // Data we already hold out of order arrived again (Linux tcp_data_queue_ofo, tcp_ofo_queue).
    if (was_ooo) {
        if (auto dup = rcvq.held_overlap(seq, seq + static_cast<std::uint32_t>(p.size()))) dsack_set(dup->left, dup->right);
    }
    std::uint32_t adv = rcvq.insert(rcv.nxt, seq, p);
    std::uint32_t len = static_cast<std::uint32_t>(p.size());
    bytes_received += adv;
    if (adv > 0) {
        rcv.nxt += adv;
        // Urgent byte now in sequence (Linux tcp_urg): copy it out unless SO_OOBINLINE.
        if (urg == UrgState::NotYet && urg_seq < rcv.nxt) {
            std::size_t off = static_cast<std::uint32_t>(urg_seq - (rcv.nxt - static_cast<std::uint32_t>(rcvq.readable())));
            urg_byte = rcvq.at(off);
            urg = UrgState::Valid;
        }
        if (ooo_fin && ooo_fin_seq == rcv.nxt) {
            ooo_fin = false;
            process_fin();
        }
        env.wake(self);
        if (was_ooo) ack_now = true;  // filled (part of) a hole: ACK at once (RFC 5681 §4.2)
    } else {
        ack_now = true;  // out of order: immediate duplicate ACK with SACK (RFC 5681 §4.2)
    }
    schedule_ack(seg, len);
}

void Connection::Impl::process_fin() {
    // RFC 9293 §3.10.7.4 eighth.
    fin_received = true;
    rcv.nxt += 1;
    ack_now = true;  // Linux ACKs a FIN at once
    env.wake(self);
    switch (state) {
        case State::SynRecv:
        case State::Established:
            set_state(State::CloseWait, "rcv FIN");
            break;
        case State::FinWait1:
            if (fin_sent() && snd.una == data_end() + 1) {
                enter_time_wait("rcv FIN,ACK");
            } else {
                set_state(State::Closing, "rcv FIN (simultaneous close)");
            }
            break;
        case State::FinWait2:
            disarm(TimerKind::Linger);
            enter_time_wait("rcv FIN");
            break;
        case State::TimeWait:
            arm(TimerKind::TimeWait, 2 * cfg.msl);
            break;
        case State::CloseWait:
        case State::Closing:
        case State::LastAck:
        case State::Closed:
        case State::Listen:
        case State::SynSent: break;
    }
}

// -------------------------------------------------------------------- timers

// Linux tcp_model_timeout: how long `boundary` retransmissions take when the RTO starts at `base`
// and doubles up to rto_max (the sum of the backed-off timeouts).
Duration Connection::Impl::model_timeout(int boundary, Duration base) const {
    base = std::max(base, Duration(std::chrono::milliseconds(1)));
    boundary = std::max(boundary, 0);
    int thresh = 0;  // ilog2(rto_max / base)
    for (auto q = cfg.rto_max / base; q > 1; q /= 2) ++thresh;
    if (boundary <= thresh) return ((std::int64_t{2} << boundary) - 1) * base;
    return ((std::int64_t{2} << thresh) - 1) * base + (boundary - thresh) * cfg.rto_max;
}

// Linux retransmits_timed_out: time since the first retransmission (retrans_stamp) against
// TCP_USER_TIMEOUT when set, else against the time `boundary` backed-off retransmissions from
// rto_min (SYN states: from the initial RTO) would take. Never before a retransmission timeout.
bool Connection::Impl::retransmits_timed_out(int boundary, Duration user_timeout) const {
    if (retransmits == 0 || retrans_stamp == kTimeNever) return false;
    Duration limit = user_timeout;
    if (limit <= Duration::zero()) {
        bool syn = state == State::SynSent || state == State::SynRecv;
        limit = model_timeout(boundary, syn ? cfg.rto_initial : cfg.rto_min);
    }
    return now - retrans_stamp >= limit;
}

// Linux tcp_write_timeout: give up on this retransmission timeout?
bool Connection::Impl::write_timed_out() const {
    if (state == State::SynSent || state == State::SynRecv) {
        int retries = state == State::SynSent ? cfg.syn_retries : cfg.synack_retries;
        // A passive child is still a request socket in Linux: a count, no user timeout.
        if (passive && state == State::SynRecv) return retransmits >= retries;
        return retransmits >= retries || retransmits_timed_out(retries, cfg.user_timeout);
    }
    int retry_until = cfg.retries2;
    if (user_closed) {
        // Linux tcp_orphan_retries: an orphan gets tcp_orphan_retries, 0 meaning 8 while the
        // RTO has not reached rto_max (about 100 s at rto_min), and none once it has.
        bool alive = rtt.rto() < cfg.rto_max;
        retry_until = cfg.orphan_retries;
        if (retry_until == 0 && alive) retry_until = 8;
    }
    return retransmits_timed_out(retry_until, cfg.user_timeout);
}

void Connection::Impl::on_retransmission_timeout() {
    env.timer_fired(self, TimerKind::Retransmission);
    switch (state) {
        case State::SynSent:
            if (write_timed_out()) {
                reset_connection(std::errc::timed_out, "SYN retries exhausted");
                return;
            }
            break;
        case State::SynRecv:
            if (write_timed_out()) {
                if (passive) {
                    set_state(State::Closed, "SYN-ACK retries exhausted (child dropped)");
                } else {
                    reset_connection(std::errc::timed_out, "SYN-ACK retries exhausted");
                }
                return;
            }
            break;
        case State::Established:
        case State::FinWait1:
        case State::Closing:
        case State::CloseWait:
        case State::LastAck:
            if (snd.una == snd.max) return;  // nothing outstanding
            if (write_timed_out()) {
                // Linux tcp_write_timeout -> tcp_write_err: ETIMEDOUT (no RST is sent).
                reset_connection(std::errc::timed_out, "retransmission retries exhausted");
                return;
            }
            break;
        case State::FinWait2:
        case State::TimeWait:
        case State::Closed:
        case State::Listen: return;
    }
    // RFC 6298 (5.4)-(5.6): retransmit the earliest unacknowledged segment, back off, restart.
    // RFC 5681 §3.1 (4) via the algorithm: ssthresh reduced once per loss episode, cwnd = 1.
    tlp_out = false;  // Linux tcp_retransmit_timer: tlp_high_seq = 0
    disarm(TimerKind::LossProbe);
    if (synchronized()) {
        cc->on_rto(now, ca != CaState::Loss);
        ca = CaState::Loss;
        prr.stop();
        sb.exit_recovery();
        reno_sacked = 0;
        reno_lost = false;
        recover = snd.max;  // RFC 6582 §3.2: no fast retransmit until this is acknowledged
        snd.nxt = snd.una;  // go-back-N: resend from snd.una as cwnd grows (Linux tcp_enter_loss)
        env.congestion_changed(self);
    }
    timing = false;  // Karn
    ++retransmits;
    rtt.backoff();
    // Linux retrans_stamp, where the user timeout and the retries2 time budget start: for a SYN,
    // when it was first sent (tcp_connect); for data, the first retransmission (tcp_retransmit_skb
    // stamps it with the retransmitted skb's new send time), set by send_data_segment below.
    if (retrans_stamp == kTimeNever && snd.una == snd.iss) retrans_stamp = rtx_armed_at;
    disarm(TimerKind::Retransmission);
    if (snd.una == snd.iss) {
        retransmit_syn();  // the SYN (or SYN-ACK) itself is unacknowledged
    } else {
        SeqNum end = data_end();
        std::uint32_t len = snd.una < end ? std::min<std::uint32_t>(static_cast<std::uint32_t>(end - snd.una), send_mss()) : 0;
        send_data_segment(snd.una, len, true);
    }
    arm(TimerKind::Retransmission, current_rto());
}

// RFC 8985 §7.3 / Linux tcp_send_loss_probe: one probe per tail. New data when there is some and
// the peer's window takes its first segment (cwnd, Nagle and cork do not hold a probe back), else
// the last segment sent again. The RTO is then restarted from now.
void Connection::Impl::on_loss_probe_timeout() {
    env.timer_fired(self, TimerKind::LossProbe);
    // The RTO stays armed: it is what Linux re-arms when no probe goes out (tcp_rearm_rto).
    // Entering Recovery or Loss replaced the probe by the RTO in Linux; Disorder (a SACK that
    // acknowledged nothing new) leaves an armed probe to fire (fr-4pkt-fack-last-byte.pkt).
    if (!can_send_data() || snd.una == snd.max || ca == CaState::Recovery || ca == CaState::Loss || tlp_out) return;
    SeqNum end = data_end();
    bool unsent_fin = fin_queued && snd.nxt == end && snd.max == end;
    // Never-sent data starts at SND.MAX (below it, after a go-back-N, would be a retransmission).
    std::uint32_t unsent = snd.nxt == snd.max && snd.nxt < end ? static_cast<std::uint32_t>(end - snd.nxt) : 0;
    std::uint32_t len = std::min(unsent, send_mss());
    SeqNum right = snd.una + snd.wnd;
    if ((unsent > 0 && snd.nxt + len <= right) || unsent_fin) {
        // Linux tcp_snd_wnd_test + tcp_write_xmit(push_one = 2).
        send_data_segment(snd.nxt, len, false);
        tlp_retrans = false;
    } else {
        // The newest segment: [last_seg_seq, SND.NXT), at most one MSS of data (plus the FIN).
        SeqNum data_hi = seq_min(snd.max, end);
        SeqNum from = seq_max(last_seg_seq, snd.una);
        if (data_hi > from && static_cast<std::uint32_t>(data_hi - from) > send_mss()) from = data_hi - send_mss();
        // Linux __tcp_retransmit_skb: counted in total_retrans, but retrans_stamp (the user
        // timeout's start) is left alone: a probe is not a retransmission timeout.
        Time stamp = retrans_stamp;
        SeqNum save = snd.nxt;
        retransmit_range(from, static_cast<std::uint32_t>(snd.max - from));
        snd.nxt = seq_max(save, snd.nxt);
        retrans_stamp = stamp;
        tlp_retrans = true;
    }
    tlp_out = true;
    tlp_high_seq = snd.max;
    ++loss_probes;
    arm(TimerKind::Retransmission, current_rto());
}

// RFC 8985 §7.4 / Linux tcp_process_tlp_ack: decide, from the first ACK at or beyond the probe,
// whether the probe repaired a loss. A probe of new data needs no decision. A D-SACK for the
// probe or a pure duplicate ACK at tlp_high_seq means the original and the probe both arrived.
// An ACK beyond tlp_high_seq without that evidence means the probe repaired a loss: reduce cwnd
// once, as a fast recovery would have (Linux: enter and end CWR at once, cwnd = ssthresh).
void Connection::Impl::process_tlp_ack(const Segment& seg, bool una_advanced, bool window_update,
                                       std::uint32_t newly_sacked, const SackScoreboard::UpdateResult& su) {
    if (!tlp_out || seg.ack < tlp_high_seq) return;
    if (!tlp_retrans) {
        tlp_out = false;
    } else if (su.dsack && su.dsack_block.right == tlp_high_seq) {
        tlp_out = false;
    } else if (seg.ack > tlp_high_seq) {
        tlp_out = false;
        ++tlp_recoveries;
        cc->on_enter_recovery(now, segments(pipe_bytes()));
        cc->on_exit_recovery(now);
        env.congestion_changed(self);
    } else if (!una_advanced && !window_update && newly_sacked == 0 && seg.payload.empty()) {
        tlp_out = false;
    }
}

void Connection::Impl::on_persist_timeout() {
    env.timer_fired(self, TimerKind::Persist);
    // Linux tcp_probe_timer: nothing to do once data is in flight (the RTO watches it) or sent.
    if (!can_send_data() || snd.una != snd.max || data_end() == snd.nxt) {
        probes = 0;
        probes_stamp = kTimeNever;
        return;
    }
    // Linux tcp_probe_timer: give up after tcp_retries2 unanswered probes, or once the window has
    // stayed shut for TCP_USER_TIMEOUT since the first probe - even when the peer answers every
    // probe (with a zero window). tcp_write_err: ETIMEDOUT, no RST.
    if (probes_stamp == kTimeNever) probes_stamp = now;
    bool user_timed_out = cfg.user_timeout > Duration::zero() && now - probes_stamp >= cfg.user_timeout;
    if (user_timed_out || probes >= cfg.retries2) {
        reset_connection(std::errc::timed_out, "zero-window probes unanswered");
        return;
    }
    // Linux tcp_write_wakeup: a window too small for the sender's SWS rule still takes what fits
    // (with PSH); the retransmission timer then takes over from the persist timer.
    SeqNum right = snd.una + snd.wnd;
    if (right > snd.nxt) {
        std::uint32_t len = std::min({static_cast<std::uint32_t>(right - snd.nxt),
                                      static_cast<std::uint32_t>(data_end() - snd.nxt), send_mss()});
        push_mark = seq_max(push_mark, snd.nxt + len);
        send_data_segment(snd.nxt, len, false);
        probes = 0;
        return;
    }
    // With a zero window: a probe with an old sequence number, no data.
    Segment s = make_segment(snd.una - 1, Ack);
    data_options(s.options);
    emit(s);
    ++probes;
    Duration next = current_persist();
    if (cfg.user_timeout > Duration::zero()) {
        // Linux tcp_clamp_probe0_to_user_timeout: not past the user timeout (at least 2 ms).
        Duration left = std::max<Duration>(probes_stamp + cfg.user_timeout - now, kTimeoutMin);
        next = std::min(next, left);
    }
    arm(TimerKind::Persist, next);
}

void Connection::Impl::on_keepalive_timeout() {
    env.timer_fired(self, TimerKind::Keepalive);
    if (!cfg.keepalive || !synchronized() || state == State::TimeWait || (state == State::FinWait2 && user_closed)) return;
    Duration idle = now - last_rcv;
    if (idle < cfg.keepalive_idle && probes == 0) {
        arm(TimerKind::Keepalive, cfg.keepalive_idle - idle);
        return;
    }
    if (snd.una != snd.max || data_end() != snd.nxt) {
        // Data in flight: the retransmission timer is the one watching the peer.
        arm(TimerKind::Keepalive, cfg.keepalive_idle);
        return;
    }
    if (probes >= cfg.keepalive_count ||
        (cfg.user_timeout > Duration::zero() && probes > 0 && idle >= cfg.user_timeout)) {
        send_rst_ack();  // Linux tcp_keepalive_timer: tcp_send_active_reset then ETIMEDOUT
        reset_connection(std::errc::timed_out, "keepalive probes unanswered");
        return;
    }
    // Keepalive probe: SEG.SEQ = SND.NXT-1 with no data (RFC 9293 §3.8.4, Linux tcp_xmit_probe_skb).
    Segment s = make_segment(snd.una - 1, Ack);
    data_options(s.options);
    emit(s);
    ++probes;
    arm(TimerKind::Keepalive, cfg.keepalive_interval);
}

void Connection::Impl::on_timer() {
    // Linux keeps the probe and the RTO in one timer slot: a probe due at the RTO's instant goes
    // out instead of the RTO (and re-arms it), so it must run before the Retransmission entry.
    if (timer(TimerKind::LossProbe) <= now) {
        disarm(TimerKind::LossProbe);
        on_loss_probe_timeout();
        if (state == State::Closed) return;
    }
    for (std::size_t i = 0; i < kTimerCount; ++i) {
        if (timers[i] > now) continue;
        auto kind = static_cast<TimerKind>(i);
        timers[i] = kTimeNever;
        switch (kind) {
            case TimerKind::Retransmission:
                on_retransmission_timeout();
                break;
            case TimerKind::Persist:
                on_persist_timeout();
                break;
            case TimerKind::DelayedAck:
                env.timer_fired(self, kind);
                if (synchronized() && rcv.acked != rcv.nxt) send_ack();
                break;
            case TimerKind::Keepalive:
                on_keepalive_timeout();
                break;
            case TimerKind::TimeWait:
                env.timer_fired(self, kind);
                if (state == State::TimeWait) set_state(State::Closed, "2MSL timeout");
                break;
            case TimerKind::Cork:
                env.timer_fired(self, kind);
                // TCP_CORK/MSG_MORE: flush the held tail (tcp(7): at most 200 ms), with PSH.
                push_mark = data_end();
                force_push = true;
                output();
                force_push = false;
                break;
            case TimerKind::Linger:
                env.timer_fired(self, kind);
                // Linux: an orphaned FIN_WAIT2 socket lives tcp_fin_timeout, then goes away silently.
                if (state == State::FinWait2) set_state(State::Closed, "FIN_WAIT2 timeout");
                break;
            case TimerKind::UserTimeout:
                env.timer_fired(self, kind);
                break;
            case TimerKind::LossProbe:
                on_loss_probe_timeout();
                break;
        }
        if (state == State::Closed) break;
    }
}

// -------------------------------------------------------------------- Connection

Connection::Connection(const Config& config, ConnectionEnv& env) : impl_(std::make_unique<Impl>(*this, config, env)) {
    impl_->init();
}
Connection::~Connection() = default;


void Connection::listen(Time now, Endpoint local) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    c.tuple.local = local;
    c.set_state(State::Listen, "listen()");
}

void Connection::connect(Time now, FourTuple tuple, SeqNum iss) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    c.tuple = tuple;
    c.passive = false;
    c.open_send_sequence(iss);
    c.rcv.wscale = c.our_wscale();
    c.set_state(State::SynSent, "connect()");
    c.send_syn(false);
}

void Connection::accept_syn(Time now, FourTuple tuple, SeqNum iss, const Segment& syn) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    c.tuple = tuple;
    c.passive = true;
    c.open_send_sequence(iss);
    c.rcv.irs = syn.seq;
    c.rcv.nxt = syn.seq + 1;
    c.rcv.acked = c.rcv.nxt;
    c.last_rcv = now;
    c.rcv.wscale = c.our_wscale();
    c.parse_syn_options(syn);
    // The SYN's window is unscaled (RFC 7323 §2.2).
    c.snd.wnd = syn.window;
    c.snd.max_wnd = c.snd.wnd;
    c.snd.wl1 = syn.seq;
    c.snd.wl2 = iss;
    c.rcv.adv_edge = c.rcv.nxt;
    c.set_state(State::SynRecv, "rcv SYN");
    c.send_syn(true);
}

void Connection::on_segment(Time now, const Segment& seg) {
    Impl::Guard g{impl_.get()};
    impl_->now = now;
    impl_->on_segment(seg);
}

void Connection::on_timer(Time now) {
    Impl::Guard g{impl_.get()};
    impl_->now = now;
    impl_->on_timer();
}

Time Connection::next_deadline() const { return impl_->next_deadline(); }

std::size_t Connection::send(Time now, Bytes data, SendFlags flags, std::error_code& ec) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    ec.clear();
    if (c.error) {
        ec = std::exchange(c.error, {});
        return 0;
    }
    switch (c.state) {
        case State::Closed:
        case State::Listen:
            ec = (c.fin_queued || c.user_closed || c.bytes_acked || c.segs_in) ? err(std::errc::broken_pipe)
                                                                            : err(std::errc::not_connected);
            return 0;
        case State::SynSent:
        case State::SynRecv:
            ec = err(std::errc::resource_unavailable_try_again);  // Linux: waits for the handshake
            return 0;
        case State::Established:
        case State::CloseWait: break;
        case State::FinWait1:
        case State::FinWait2:
        case State::Closing:
        case State::TimeWait:
        case State::LastAck: ec = err(std::errc::broken_pipe); return 0;
    }
    if (c.fin_queued) {
        ec = err(std::errc::broken_pipe);
        return 0;
    }
    std::size_t n = c.sndq.push(data);
    if (n == 0) {
        ec = err(std::errc::resource_unavailable_try_again);
        return 0;
    }
    if (flags.oob) {
        // MSG_OOB: the last byte taken is urgent; the pointer names the byte after it (Linux/BSD).
        c.snd.up = c.data_end();
        c.snd.urgent = true;
    }
    // Linux: MSG_MORE holds this call's tail (TCP_NAGLE_CORK for this push only); the next ACK
    // or a later call without it releases it.
    if (!flags.more) c.push_mark = c.data_end();
    c.more = flags.more;
    c.output();
    c.more = false;
    return n;
}

std::size_t Connection::receive(Time now, MutableBytes out, ReceiveFlags flags, std::error_code& ec) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    ec.clear();
    if (flags.oob) {
        // Linux tcp_recv_urg.
        if (c.oob_inline || c.urg == Impl::UrgState::None || c.urg == Impl::UrgState::Read) {
            ec = err(std::errc::invalid_argument);
            return 0;
        }
        if (c.urg == Impl::UrgState::NotYet) {
            ec = err(std::errc::resource_unavailable_try_again);
            return 0;
        }
        if (out.empty()) return 0;
        out[0] = c.urg_byte;
        if (!flags.peek) c.urg = Impl::UrgState::Read;
        return 1;
    }
    std::size_t avail = c.rcvq.readable();
    // Sequence number of the first readable byte.
    SeqNum head = c.rcv.nxt - static_cast<std::uint32_t>(avail) - (c.fin_received ? 1u : 0u);
    bool has_mark = (c.urg == Impl::UrgState::Valid || c.urg == Impl::UrgState::Read) && avail > 0 &&
                    c.urg_seq >= head && c.urg_seq < head + static_cast<std::uint32_t>(avail);
    std::size_t skip = 0;
    if (has_mark && c.urg_seq == head && !c.oob_inline) {
        // At the mark: the urgent byte is out of band, not part of the stream (Linux tcp_recvmsg).
        skip = 1;
        if (!flags.peek) {
            c.rcvq.consume(1);
            skip = 0;
        }
        --avail;
        head += 1;
        has_mark = false;
    }
    if (avail == 0) {
        if (c.error) {
            ec = std::exchange(c.error, {});
            return 0;
        }
        if (c.fin_received || c.state == State::Closed) return 0;
        if (c.state == State::Listen) {
            ec = err(std::errc::not_connected);
            return 0;
        }
        ec = err(std::errc::resource_unavailable_try_again);
        return 0;
    }
    std::size_t want = std::min(out.size(), avail);
    // Reading stops at the mark so SIOCATMARK can tell the application where it is.
    if (has_mark && c.urg_seq > head) want = std::min<std::size_t>(want, static_cast<std::uint32_t>(c.urg_seq - head));
    if (want) c.rcvq.copy_out(skip, out.first(want));
    if (!flags.peek) {
        std::uint32_t old_win = c.rcv.adv_edge > c.rcv.nxt ? static_cast<std::uint32_t>(c.rcv.adv_edge - c.rcv.nxt) : 0;
        c.rcvq.consume(want);
        // Linux tcp_cleanup_rbuf: announce a window that at least doubled (and opened by an MSS).
        if (c.synchronized() && !c.fin_received) {
            std::uint32_t nw = c.select_window();
            if (nw >= 2 * old_win && nw - old_win >= std::min<std::uint32_t>(c.advmss(), c.full_space() / 2)) c.send_ack();
        }
        c.env.wake(c.self);
    }
    return want;
}

void Connection::shutdown_send(Time now) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    switch (c.state) {
        case State::Established:
            c.fin_queued = true;
            c.set_state(State::FinWait1, "shutdown(SHUT_WR)");
            c.output();
            return;
        case State::CloseWait:
            c.fin_queued = true;
            c.set_state(State::LastAck, "shutdown(SHUT_WR)");
            c.output();
            return;
        case State::SynRecv:
            // RFC 9293 Figure 5 SYN_RECV -> FIN_WAIT1; Linux sends the FIN right away.
            c.fin_queued = true;
            c.set_state(State::FinWait1, "shutdown(SHUT_WR)");
            c.output();
            return;
        case State::SynSent:
        case State::Listen:
            c.set_state(State::Closed, "shutdown(SHUT_WR)");
            return;
        case State::Closed:
        case State::FinWait1:
        case State::FinWait2:
        case State::Closing:
        case State::TimeWait:
        case State::LastAck: return;
    }
}

void Connection::shutdown_receive(Time now) {
    Impl::Guard g{impl_.get()};
    impl_->now = now;
    impl_->shut_rd = true;  // Linux: later data is still queued and readable (SEEDS-CHECKLIST)
    impl_->env.wake(*this);
}

void Connection::close(Time now) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    c.user_closed = true;
    // RFC 2525 §2.17 / Linux tcp_close: unread data means the peer's data was lost: RST, not FIN.
    if (c.rcvq.readable() > 0 && c.synchronized() && c.state != State::TimeWait) {
        c.send_rst_ack();
        c.set_state(State::Closed, "close() with unread data");
        return;
    }
    switch (c.state) {
        case State::Listen:
        case State::SynSent:
            c.set_state(State::Closed, "close()");
            return;
        case State::SynRecv:
        case State::Established:
            c.fin_queued = true;
            c.set_state(State::FinWait1, "close()");
            c.output();
            return;
        case State::CloseWait:
            c.fin_queued = true;
            c.set_state(State::LastAck, "close()");
            c.output();
            return;
        case State::FinWait2:
            c.orphan_fin_wait2();
            return;
        case State::Closed:
        case State::FinWait1:
        case State::Closing:
        case State::TimeWait:
        case State::LastAck: return;
    }
}

void Connection::abort(Time now) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    switch (c.state) {
        case State::SynRecv:
        case State::Established:
        case State::FinWait1:
        case State::FinWait2:
        case State::CloseWait:
            // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>; Linux sends RST,ACK.
            c.send_rst_ack();
            break;
        case State::Closed:
        case State::Listen:
        case State::SynSent:
        case State::Closing:
        case State::TimeWait:
        case State::LastAck: break;
    }
    c.user_closed = true;
    c.set_state(State::Closed, "abort()");
}

void Connection::set_nodelay(Time now, bool on) {
    Impl::Guard g{impl_.get()};
    impl_->now = now;
    impl_->nodelay = on;
    if (on) {
        // Linux: setting TCP_NODELAY pushes pending data, even past TCP_CORK (TCP_NAGLE_PUSH),
        // without marking PSH: only the end of a write without MSG_MORE carries it (tcp_mark_push).
        impl_->force_push = true;
        impl_->output();
        impl_->force_push = false;
    }
}

void Connection::set_cork(Time now, bool on) {
    Impl::Guard g{impl_.get()};
    impl_->now = now;
    impl_->cork = on;
    if (!on) {
        // Linux: uncorking pushes what was held (tcp_push_pending_frames); PSH stays where the
        // writes without MSG_MORE put it.
        impl_->disarm(TimerKind::Cork);
        impl_->output();
    }
}

void Connection::set_keepalive(Time now, bool on) {
    Impl::Guard g{impl_.get()};
    auto& c = *impl_;
    c.now = now;
    c.cfg.keepalive = on;
    if (on) {
        c.probes = 0;
        c.restart_keepalive();
    } else {
        c.disarm(TimerKind::Keepalive);
    }
}

void Connection::set_keepalive_params(Duration idle, Duration interval, int count) {
    impl_->cfg.keepalive_idle = idle;
    impl_->cfg.keepalive_interval = interval;
    impl_->cfg.keepalive_count = count;
}

void Connection::set_user_timeout(Duration timeout) { impl_->cfg.user_timeout = timeout; }

void Connection::set_receive_buffer(std::uint32_t bytes) {
    auto& c = *impl_;
    c.cfg.receive_buffer = bytes;
    if (c.rings_ready && bytes > c.rcvq.capacity()) c.rcvq.resize(bytes, c.rcv.nxt);
}

void Connection::set_send_buffer(std::uint32_t bytes) {
    auto& c = *impl_;
    c.cfg.send_buffer = bytes;
    if (c.rings_ready && bytes >= c.sndq.size()) c.sndq.resize(bytes, c.sndq.size());
}

void Connection::set_oob_inline(bool on) { impl_->oob_inline = on; }

void Connection::set_max_segment(std::uint16_t mss) {
    impl_->user_mss = mss;
    if (impl_->state == State::Established) impl_->update_mss();
}

State Connection::state() const { return impl_->state; }
const FourTuple& Connection::tuple() const { return impl_->tuple; }
const Config& Connection::config() const { return impl_->cfg; }

std::size_t Connection::readable_bytes() const {
    auto& c = *impl_;
    std::size_t n = c.rcvq.readable();
    // The out-of-band byte is not part of the stream (unless SO_OOBINLINE).
    if (!c.oob_inline && (c.urg == Impl::UrgState::Valid || c.urg == Impl::UrgState::Read) && n > 0) {
        SeqNum head = c.rcv.nxt - static_cast<std::uint32_t>(n) - (c.fin_received ? 1u : 0u);
        if (c.urg_seq >= head && c.urg_seq < head + static_cast<std::uint32_t>(n)) --n;
    }
    return n;
}

bool Connection::at_eof() const { return impl_->fin_received && impl_->rcvq.readable() == 0; }
bool Connection::peer_closed() const { return impl_->fin_received; }

std::size_t Connection::send_space() const {
    auto& c = *impl_;
    switch (c.state) {
        case State::Established:
        case State::CloseWait: return c.fin_queued ? 0 : c.sndq.free();
        case State::Closed:
        case State::Listen:
        case State::SynSent:
        case State::SynRecv:
        case State::FinWait1:
        case State::FinWait2:
        case State::Closing:
        case State::TimeWait:
        case State::LastAck: return 0;
    }
    return 0;
}

std::size_t Connection::send_queue_bytes() const { return impl_->sndq.size(); }

std::size_t Connection::unsent_bytes() const {
    auto& c = *impl_;
    SeqNum end = c.data_end();
    return c.snd.max < end ? static_cast<std::uint32_t>(end - seq_max(c.snd.max, c.snd_data_seq)) : 0;
}

bool Connection::has_urgent_data() const { return impl_->urg == Impl::UrgState::Valid && !impl_->oob_inline; }

bool Connection::at_urgent_mark() const {
    auto& c = *impl_;
    if (c.urg == Impl::UrgState::None || c.urg == Impl::UrgState::NotYet) return false;
    std::size_t avail = c.rcvq.readable();
    SeqNum head = c.rcv.nxt - static_cast<std::uint32_t>(avail) - (c.fin_received ? 1u : 0u);
    return c.urg_seq == head && avail > 0;
}

std::error_code Connection::error() const { return impl_->error; }
std::error_code Connection::take_error() { return std::exchange(impl_->error, {}); }
std::uint16_t Connection::effective_mss() const {
    auto& c = *impl_;
    if (c.state == State::Closed || c.state == State::Listen || c.state == State::SynSent)
        return c.user_mss ? c.user_mss : static_cast<std::uint16_t>(c.cfg.default_peer_mss);
    return static_cast<std::uint16_t>(c.mss_cache);
}

ConnectionInfo Connection::info(Time now) const {
    (void)now;
    auto& c = *impl_;
    ConnectionInfo i;
    i.state = c.state;
    i.retransmits = static_cast<std::uint8_t>(std::min(c.retransmits, 255));
    i.probes = static_cast<std::uint8_t>(std::min(c.probes, 255));
    i.backoff = static_cast<std::uint8_t>(std::min(c.rtt.backoff_count(), 255u));
    i.options = static_cast<std::uint8_t>((c.ts_ok ? 1 : 0) | (c.sack_ok ? 2 : 0) | (c.ws_ok ? 4 : 0));
    i.snd_wscale = c.snd.wscale;
    i.rcv_wscale = c.rcv.wscale;
    i.rto_us = static_cast<std::uint32_t>(to_micros(c.current_rto()));
    i.ato_us = static_cast<std::uint32_t>(to_micros(c.ato));
    i.snd_mss = c.mss_cache;
    i.rcv_mss = c.rcv_mss;
    i.ca_state = c.ca;
    i.unacked = c.packets_out();
    i.total_retrans = c.total_retrans;
    i.rtt_us = c.rtt.srtt_us();
    i.rttvar_us = c.rtt.rttvar_us();
    i.sacked = c.sacked_out();
    i.lost = c.segments(c.lost_out_bytes());
    i.retrans = c.segments(c.retrans_out_bytes());
    i.reordering = c.reordering();
    i.snd_ssthresh = c.cc->ssthresh();
    i.snd_cwnd = c.cc->cwnd();
    i.advmss = c.advmss();
    i.rcv_space = c.full_space();
    i.bytes_acked = c.bytes_acked;
    i.bytes_received = c.bytes_received;
    i.segs_out = c.segs_out;
    i.segs_in = c.segs_in;
    return i;
}

bool Connection::time_wait_accepts_syn(const Segment& syn) const {
    auto& c = *impl_;
    if (c.state != State::TimeWait) return false;
    // Linux tcp_timewait_state_process: a SYN above rcv.nxt, or with a newer timestamp, may
    // start a new incarnation of the tuple.
    auto ts = syn.options.timestamps_value();
    if (c.ts_ok && ts) return static_cast<std::int32_t>(ts->value - c.ts_recent) > 0;
    return syn.seq > c.rcv.nxt;
}

SeqNum Connection::time_wait_next_iss() const {
    // Linux: the new ISS is the old snd_nxt + 65535 + 2, clear of the old incarnation's numbers.
    return impl_->snd.nxt + 65537;
}

// -------------------------------------------------------------------- free functions

ListenAction listen_reply(const Segment& seg) {
    // RFC 9293 §3.10.7.2: RST ignored; ACK -> reset; SYN -> new connection; else drop.
    if (seg.flags.any(Rst)) return ListenAction::Drop;
    if (seg.flags.any(Ack)) return ListenAction::Reset;
    if (seg.flags.any(Syn)) return ListenAction::NewConnection;
    return ListenAction::Drop;
}

std::optional<Segment> reset_for(const Segment& seg) {
    if (seg.flags.any(Rst)) return std::nullopt;
    Segment r;
    r.src_port = seg.dst_port;
    r.dst_port = seg.src_port;
    if (seg.flags.any(Ack)) {
        r.seq = seg.ack;
        r.flags = Rst;
    } else {
        r.seq = SeqNum(0);
        r.ack = seg.seq + seg.seq_len();
        r.flags = Rst | Ack;
    }
    return r;
}

}  // namespace tcpsim::tcp
