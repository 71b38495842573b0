// Proportional Rate Reduction (RFC 6937) as Linux's tcp_cwnd_reduction computes it: during
// Recovery/CWR, each ACK allows `sndcnt` segments so that cwnd = in_flight + sndcnt falls smoothly
// to ssthresh (proportional part while pipe > ssthresh), then slow-start reduction bound (SSRB)
// lets it climb back up to ssthresh. Units are segments, like Linux; RecoverFS is Linux's
// prior_cwnd (cwnd at the start of the reduction) rather than the RFC's FlightSize.
#pragma once

#include <cstdint>
#include <optional>

namespace tcpsim::tcp {

class Prr {
public:
    // Start of a reduction (Linux: tcp_init_cwnd_reduction): prr_delivered = prr_out = 0.
    void start(std::uint32_t prior_cwnd, std::uint32_t ssthresh);
    // Every transmission during the reduction, retransmissions included (RFC 6937: prr_out).
    void on_sent(std::uint32_t segments) { prr_out_ += segments; }

    // One ACK during the reduction. `newly_acked_sacked`: segments this ACK delivered (cumulative
    // plus newly SACKed, RFC 6937 DeliveredData); `newly_lost`: segments it newly marked lost;
    // `snd_una_advanced`: the cumulative ACK moved; `in_flight`: pipe after the ACK was processed.
    // Returns sndcnt (set cwnd = in_flight + sndcnt), or nullopt when the ACK delivered nothing
    // and cwnd should stay (Linux returns early).
    std::optional<std::uint32_t> on_ack(std::uint32_t newly_acked_sacked, std::uint32_t newly_lost,
                                        bool snd_una_advanced, std::uint32_t in_flight);
    // Convenience: the cwnd to set, or `current_cwnd` when on_ack() returns nullopt.
    std::uint32_t cwnd_after_ack(std::uint32_t current_cwnd, std::uint32_t newly_acked_sacked,
                                 std::uint32_t newly_lost, bool snd_una_advanced, std::uint32_t in_flight);

    std::uint32_t prior_cwnd() const { return prior_cwnd_; }
    std::uint32_t ssthresh() const { return ssthresh_; }
    std::uint32_t delivered() const { return prr_delivered_; }
    std::uint32_t out() const { return prr_out_; }
    bool active() const { return prior_cwnd_ != 0; }
    void stop() { prior_cwnd_ = 0; }

private:
    std::uint32_t prior_cwnd_ = 0;
    std::uint32_t ssthresh_ = 0;
    std::uint32_t prr_delivered_ = 0;
    std::uint32_t prr_out_ = 0;
};

}  // namespace tcpsim::tcp
