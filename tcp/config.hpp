// Per-connection TCP parameters. Defaults are the Linux personality's (tcp(7), ip-sysctl.txt);
// a host's configuration (scenario `stack:` block, packetdrill sysctls) overrides them.
#pragma once

#include <cstdint>

#include "link/base/time.hpp"

namespace tcpsim::tcp {

enum class CongestionAlgorithm { Reno, Cubic };

struct Config {
    // Segment sizes.
    std::uint16_t mss = 1460;               // our MSS to advertise (MTU - 40)
    std::uint16_t default_peer_mss = 536;   // RFC 9293 §3.7.1 when the SYN has no MSS option

    // Options offered in our SYN / SYN-ACK (net.ipv4.tcp_sack, tcp_timestamps, tcp_window_scaling).
    bool sack = true;
    bool timestamps = true;
    bool window_scaling = true;
    bool dsack = true;  // net.ipv4.tcp_dsack: report duplicates in D-SACK blocks (RFC 2883)

    // Buffers in bytes, as the socket layer holds them (already doubled, like Linux's sk_rcvbuf).
    // tcp_rmem/tcp_wmem defaults: 131072 receive, 16384 send (Linux 5.x/6.x).
    std::uint32_t receive_buffer = 131072;
    std::uint32_t send_buffer = 16384;
    std::uint32_t receive_buffer_max = 6291456;  // tcp_rmem[2]: bounds the window-scale choice

    // Retransmission (RFC 6298 with Linux bounds).
    Duration rto_initial = 1s;      // TCP_TIMEOUT_INIT
    Duration rto_min = 200ms;       // TCP_RTO_MIN
    Duration rto_max = 120s;        // TCP_RTO_MAX
    int syn_retries = 6;            // net.ipv4.tcp_syn_retries
    int synack_retries = 5;         // net.ipv4.tcp_synack_retries
    int retries2 = 15;              // net.ipv4.tcp_retries2
    // net.ipv4.tcp_orphan_retries: the retries2 of a socket closed by its user (an orphan). 0 means
    // Linux's default of 8 while the RTO is below rto_max (tcp_orphan_retries()).
    int orphan_retries = 0;

    // Tail loss probe (RFC 8985 §7; Linux tcp_schedule_loss_probe/tcp_send_loss_probe): when the
    // tail of a flight goes unacknowledged for PTO (about 2*SRTT), send one probe - new data if the
    // peer's window allows, else the last segment again - so a tail loss is repaired by fast
    // recovery instead of an RTO. SACK connections only. Linux: net.ipv4.tcp_early_retrans = 3 or 4
    // (default 3) means on, other values off.
    bool tail_loss_probe = true;

    // TIME_WAIT lasts 2*MSL. Linux: TCP_TIMEWAIT_LEN is 60 s, i.e. MSL 30 s (TLPI 61.6.7).
    Duration msl = 30s;

    // Delayed ACK (Linux: TCP_DELACK_MIN 40 ms, TCP_DELACK_MAX 200 ms, ATO starts at 40 ms).
    Duration delayed_ack_min = 40ms;
    Duration delayed_ack_max = 200ms;
    int quickack_segments = 16;     // quick-ACK mode at start of a connection

    // Sending policy.
    bool nodelay = false;           // TCP_NODELAY
    Duration cork_flush = 200ms;    // TCP_CORK / MSG_MORE auto-flush (TLPI 61.4)
    std::uint32_t initial_cwnd = 10;  // segments (RFC 6928; Linux TCP_INIT_CWND)
    bool slow_start_after_idle = true;  // net.ipv4.tcp_slow_start_after_idle
    CongestionAlgorithm congestion = CongestionAlgorithm::Cubic;

    // Keepalive (tcp_keepalive_time/intvl/probes).
    bool keepalive = false;
    Duration keepalive_idle = 7200s;
    Duration keepalive_interval = 75s;
    int keepalive_count = 9;
    Duration user_timeout = 0s;     // TCP_USER_TIMEOUT, 0 = off

    // Urgent data.
    bool oob_inline = false;        // SO_OOBINLINE

    // Fin-wait-2 orphan timeout (net.ipv4.tcp_fin_timeout).
    Duration fin_timeout = 60s;

    // At most one ACK per this interval answers out-of-window/invalid segments without data
    // (net.ipv4.tcp_invalid_ratelimit, 500 ms; Linux tcp_oow_rate_limited).
    Duration invalid_ratelimit = 500ms;
};

}  // namespace tcpsim::tcp
