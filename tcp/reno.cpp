#include "tcp/reno.hpp"

#include <algorithm>

namespace tcpsim::tcp {

void Reno::cong_avoid(Time /*now*/, std::uint32_t acked) {
    // Linux: tcp_reno_cong_avoid. Slow start up to ssthresh, the rest in congestion avoidance
    // (RFC 5681 (3): about one segment per RTT, counted per acked segment as RFC 3465 ABC).
    if (in_slow_start()) {
        acked = slow_start(acked);
        if (acked == 0)
            return;
    }
    cong_avoid_ai(cwnd_, acked);
}

std::uint32_t Reno::recalc_ssthresh(Time /*now*/) {
    // RFC 5681 (4) uses FlightSize/2; Linux's tcp_reno_ssthresh uses cwnd/2 (RFC 6582's NewReno
    // and the engine's PRR then reduce cwnd towards it).
    return std::max<std::uint32_t>(cwnd_ >> 1, 2);
}

}  // namespace tcpsim::tcp
