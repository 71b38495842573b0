// Small value types of the TCP layer: states (Linux names), endpoints, 4-tuples, TCP_INFO.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

#include "link/base/addr.hpp"
#include "link/base/time.hpp"

namespace tcpsim::tcp {

// RFC 9293 states with Linux's names (DESIGN.md principle 5).
enum class State {
    Closed,
    Listen,
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    Closing,
    TimeWait,
    CloseWait,
    LastAck,
};
// "ESTABLISHED", "SYN_SENT", "FIN_WAIT1", ... as netstat prints them.
const char* to_string(State s);
// Linux's TCP_ESTABLISHED=1 ... TCP_CLOSING=11 numbering (TCP_INFO tcpi_state).
int linux_state_number(State s);

struct Endpoint {
    Ipv4Addr addr;
    std::uint16_t port = 0;
    auto operator<=>(const Endpoint&) const = default;
    std::string to_string() const;  // "192.0.2.1:80"
};

struct FourTuple {
    Endpoint local;
    Endpoint remote;
    auto operator<=>(const FourTuple&) const = default;
};

// Linux's congestion-control state (icsk_ca_state, TCP_INFO tcpi_ca_state), with the TCP_CA_*
// values: Open (all well), Disorder (duplicate ACKs or SACKed data seen, no loss inferred yet),
// CWR (window reduced for ECN/local congestion), Recovery (fast recovery), Loss (after an RTO).
enum class CongestionState : std::uint8_t { Open = 0, Disorder = 1, Cwr = 2, Recovery = 3, Loss = 4 };

// The subset of Linux's struct tcp_info that tcpsim fills (TCP_INFO, tracing, netstat).
struct ConnectionInfo {
    State state = State::Closed;
    CongestionState ca_state = CongestionState::Open;
    std::uint8_t retransmits = 0;      // current consecutive RTO count
    std::uint8_t probes = 0;
    std::uint8_t backoff = 0;
    std::uint8_t options = 0;          // TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4
    std::uint8_t snd_wscale = 0;
    std::uint8_t rcv_wscale = 0;
    std::uint32_t rto_us = 0;
    std::uint32_t ato_us = 0;
    std::uint32_t snd_mss = 0;
    std::uint32_t rcv_mss = 0;
    std::uint32_t unacked = 0;          // segments in flight
    std::uint32_t sacked = 0;
    std::uint32_t lost = 0;
    std::uint32_t retrans = 0;          // retransmitted segments not yet acknowledged or SACKed
    std::uint32_t total_retrans = 0;
    std::uint32_t rtt_us = 0;
    std::uint32_t rttvar_us = 0;
    std::uint32_t snd_ssthresh = 0;
    std::uint32_t snd_cwnd = 0;         // segments
    std::uint32_t advmss = 0;
    std::uint32_t reordering = 3;
    std::uint32_t rcv_space = 0;
    std::uint64_t bytes_acked = 0;
    std::uint64_t bytes_received = 0;
    std::uint32_t segs_out = 0;
    std::uint32_t segs_in = 0;
};

}  // namespace tcpsim::tcp

template <>
struct std::hash<tcpsim::tcp::FourTuple> {
    std::size_t operator()(const tcpsim::tcp::FourTuple& t) const noexcept {
        std::uint64_t a = (std::uint64_t{t.local.addr.value} << 32) | t.remote.addr.value;
        std::uint64_t b = (std::uint64_t{t.local.port} << 16) | t.remote.port;
        std::uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};
