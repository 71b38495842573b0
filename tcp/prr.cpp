#include "tcp/prr.hpp"

#include <algorithm>

namespace tcpsim::tcp {

void Prr::start(std::uint32_t prior_cwnd, std::uint32_t ssthresh) {
    // RFC 6937 §3 "on entering recovery"; Linux: tcp_init_cwnd_reduction.
    prior_cwnd_ = std::max<std::uint32_t>(prior_cwnd, 1);
    ssthresh_ = ssthresh;
    prr_delivered_ = 0;
    prr_out_ = 0;
}

std::optional<std::uint32_t> Prr::on_ack(std::uint32_t newly_acked_sacked, std::uint32_t newly_lost,
                                         bool snd_una_advanced, std::uint32_t in_flight) {
    if (newly_acked_sacked == 0 || prior_cwnd_ == 0)
        return std::nullopt;
    prr_delivered_ += newly_acked_sacked;
    const std::int64_t delta = std::int64_t{ssthresh_} - in_flight;
    std::int64_t sndcnt = 0;
    if (delta < 0) {
        // RFC 6937 proportional part: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
        std::uint64_t dividend = std::uint64_t{ssthresh_} * prr_delivered_ + prior_cwnd_ - 1;
        sndcnt = static_cast<std::int64_t>(dividend / prior_cwnd_) - prr_out_;
    } else {
        // PRR-SSRB (RFC 6937 §3): conservation plus one extra segment when the cumulative ACK
        // advanced and nothing new was lost (Linux's reading of "ACKs that advance SND.UNA"),
        // never above ssthresh.
        sndcnt = std::max<std::int64_t>(std::int64_t{prr_delivered_} - prr_out_, newly_acked_sacked);
        if (snd_una_advanced && newly_lost == 0)
            ++sndcnt;
        sndcnt = std::min(delta, sndcnt);
    }
    // Linux: force the fast retransmit on entering recovery.
    sndcnt = std::max<std::int64_t>(sndcnt, prr_out_ ? 0 : 1);
    return static_cast<std::uint32_t>(std::max<std::int64_t>(sndcnt, 0));
}

std::uint32_t Prr::cwnd_after_ack(std::uint32_t current_cwnd, std::uint32_t newly_acked_sacked, std::uint32_t newly_lost,
                                  bool snd_una_advanced, std::uint32_t in_flight) {
    auto s = on_ack(newly_acked_sacked, newly_lost, snd_una_advanced, in_flight);
    return s ? in_flight + *s : current_cwnd;
}

}  // namespace tcpsim::tcp
