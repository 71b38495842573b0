// The sender's SACK scoreboard (RFC 6675 §3-§4, RFC 2018): which bytes above SND.UNA the peer has
// reported holding, loss inference (IsLost), the pipe estimate (SetPipe) and the choice of the next
// segment to send during recovery (NextSeg). Sequence ranges are kept in a fixed, sorted array —
// no heap growth per segment; when it is full the highest range is forgotten, which is safe (that
// data is merely treated as not SACKed: at worst retransmitted needlessly).
//
// Byte granularity: every quantity here is in octets. The engine converts to segments with its MSS.
// HighACK is SND.UNA as passed to update(); HighData is SND.NXT as passed to the queries. Call
// update() on every ACK, with or without SACK blocks, so HighACK follows SND.UNA.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "tcp/segment.hpp"
#include "tcp/seq.hpp"

namespace tcpsim::tcp {

class SackScoreboard {
public:
    static constexpr std::size_t kMaxRanges = 64;
    static constexpr std::uint32_t kDupThresh = 3;  // RFC 6675 §2 DupThresh (Linux: tp->reordering)

    struct UpdateResult {
        std::uint32_t newly_sacked_bytes = 0;  // octets above SND.UNA first SACKed by this ACK
        std::uint32_t newly_acked_sacked_bytes = 0;  // SACKed octets the cumulative ACK swallowed
        std::uint32_t acked_bytes = 0;         // how far SND.UNA advanced (0 on the first call)
        // RFC 6937 DeliveredData / Linux newly_acked_sacked, in octets: the cumulative advance
        // minus what was already SACKed, plus what is newly SACKed. Feed this (in segments) to
        // Prr::on_ack, not acked + newly SACKed, which counts SACKed-then-ACKed data twice.
        std::uint32_t delivered_bytes = 0;
        // With update(..., smss): octets that became lost (IsLost) by this ACK (Prr's newly_lost).
        std::uint32_t newly_lost_bytes = 0;
        bool dsack = false;          // RFC 2883: the first block reports a duplicate
        SackBlock dsack_block{};     // valid when dsack
        std::uint8_t invalid_blocks = 0;  // ignored: empty, beyond snd_nxt, or too old
        // The cumulative ACK advanced to (or into) data the peer had SACKed, so it discarded that
        // data (Linux: FLAG_SACK_RENEGING). Linux then fires the RTO after max(srtt/2, 10 ms)
        // and forgets SACK state (tcp_check_sack_reneging).
        bool reneged = false;
    };

    enum class NextKind {
        None,        // nothing may be sent by the RFC 6675 rules
        Retransmit,  // rule (1): a lost hole; or rule (3): an unSACKed hole below the highest SACK
        NewData,     // rule (2): send new data from SND.NXT (the engine checks rwnd/data)
        Rescue,      // rule (4): the rescue retransmission (RFC 6675 §4 NextSeg (4))
    };
    struct NextSeg {
        NextKind kind = NextKind::None;
        SeqNum seq{};
        std::uint32_t len = 0;  // at most smss, never past a SACKed range or SND.NXT
        bool operator==(const NextSeg&) const = default;
    };

    // Process the SACK blocks of an incoming ACK whose cumulative acknowledgment is `snd_una`
    // (already advanced), with `snd_nxt` the highest sequence sent. Blocks are validated like
    // Linux's tcp_is_sackblock_valid; a first block below snd_una or inside the second block is a
    // D-SACK (RFC 2883 §4) and is reported, not recorded.
    // Pass `smss` to have newly_lost_bytes computed (costs two extra passes over the ranges).
    UpdateResult update(SeqNum snd_una, SeqNum snd_nxt, std::span<const SackBlock> blocks, std::uint32_t smss = 0);
    // Forget everything. On an RTO, RFC 2018 §8 says to expunge SACK state (the receiver may have
    // reneged); RFC 6675 §5.1 notes that keeping it is fine with reneging detection, and Linux keeps
    // it unless reneging was seen (tcp_timeout_mark_lost). So: clear() on the RTO that follows an
    // UpdateResult::reneged, or on every RTO for the strict RFC 2018 behaviour.
    void clear();

    // Recovery bookkeeping (RFC 6675 §5): HighRxt = snd_una, RescueRxt undefined,
    // RecoveryPoint = snd_nxt.
    void enter_recovery(SeqNum snd_una, SeqNum snd_nxt);
    // The engine sent what next_seg() proposed (or any retransmission [seq, seq+len)): HighRxt
    // advances (rules 1, 3), or RescueRxt = RecoveryPoint (rule 4). New data needs no call.
    void mark_sent(const NextSeg& seg);
    void on_retransmit(SeqNum seq, std::uint32_t len);

    // RFC 6675 §4 IsLost(SeqNum): DupThresh discontiguous SACKed ranges above `seq`, or more than
    // (DupThresh - 1) * smss SACKed octets above it.
    bool is_lost(SeqNum seq, std::uint32_t smss) const;
    bool is_sacked(SeqNum seq) const;
    // RFC 6675 §4 SetPipe(): octets in flight between HighACK and HighData.
    std::uint32_t pipe(SeqNum snd_nxt, std::uint32_t smss) const;
    // RFC 6675 §4 NextSeg(). `new_data_ok`: unsent data exists and the peer's window allows it.
    NextSeg next_seg(SeqNum snd_nxt, std::uint32_t smss, bool new_data_ok) const;
    // Octets between SND.UNA and snd_nxt that IsLost() and are not SACKed (TCP_INFO lost).
    std::uint32_t lost_bytes(SeqNum snd_nxt, std::uint32_t smss) const;

    std::uint32_t sacked_bytes() const { return sacked_bytes_; }
    bool empty() const { return count_ == 0; }
    std::span<const SackBlock> ranges() const { return {ranges_.data(), count_}; }
    // One past the highest SACKed octet; snd_una when nothing is SACKed.
    SeqNum highest_sacked() const { return count_ ? ranges_[count_ - 1].right : snd_una_; }
    SeqNum snd_una() const { return snd_una_; }
    SeqNum high_rxt() const { return high_rxt_; }  // one past the highest retransmitted octet
    bool rescue_sent() const { return rescue_valid_; }
    SeqNum recovery_point() const { return recovery_point_; }

private:
    void advance_una(SeqNum snd_una, UpdateResult& r);
    std::uint32_t insert(SackBlock b);
    // The lowest octet for which IsLost() is false (everything below it counts as lost).
    SeqNum lost_boundary(std::uint32_t smss) const;
    // unSACKed octets in [from, to).
    std::uint32_t unsacked_between(SeqNum from, SeqNum to) const;

    std::array<SackBlock, kMaxRanges> ranges_{};  // sorted, disjoint, non-adjacent, above snd_una_
    std::size_t count_ = 0;
    std::uint32_t sacked_bytes_ = 0;
    SeqNum snd_una_{};
    bool initialized_ = false;
    SeqNum high_rxt_{};
    SeqNum recovery_point_{};
    SeqNum rescue_rxt_{};
    bool rescue_valid_ = false;
};

}  // namespace tcpsim::tcp
