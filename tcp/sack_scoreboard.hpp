// The sender's SACK scoreboard (RFC 6675 §3-§4, RFC 2018): which bytes above SND.UNA the peer has
// reported holding, loss inference (IsLost), the pipe estimate (SetPipe) and the choice of the next
// segment to send during recovery (NextSeg). Sequence ranges are kept in a fixed, sorted array —
// no heap growth per segment; when it is full the highest range is forgotten, which is safe (that
// data is merely treated as not SACKed: at worst retransmitted needlessly).
//
// Byte granularity: every quantity here is in octets. The engine converts to segments with its MSS.
// HighACK is SND.UNA as passed to update(); HighData is SND.NXT as passed to the queries. Call
// update() on every ACK, with or without SACK blocks, so HighACK follows SND.UNA.
//
// Two loss models. The default is RFC 6675's (IsLost with DupThresh 3, NextSeg rules 1-4). With
// set_linux_mode(true) the scoreboard behaves like Linux's (tcp_sacktag_write_queue + RACK,
// RFC 8985, tcp_recovery=1): until reordering has been seen, every unSACKed octet below the
// highest SACK is lost once DupThresh (Linux tp->reordering) segments are SACKed or recovery has
// begun (RACK's reo_wnd = 0; all data below it was sent earlier); after reordering is seen, IsLost
// with DupThresh = the measured reordering stands in for RACK's time-based window. Lost marks are
// sticky until acknowledged (Linux TCPCB_LOST); reordering is measured from SACKs and cumulative
// ACKs of never-retransmitted data below the highest SACK (tcp_check_sack_reordering); NextSeg
// retransmits lost holes and then sends new data only (no rule 3 or rescue: Linux has neither).
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
    static constexpr std::uint32_t kMaxReordering = 300;  // Linux: sysctl_tcp_max_reordering

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
    void exit_recovery() { in_recovery_ = false; }

    // Linux loss marking (see the top of this file). Off by default (RFC 6675).
    void set_linux_mode(bool on) { linux_ = on; }
    bool linux_mode() const { return linux_; }
    // Linux tp->reordering (DupThresh in Linux mode; kDupThresh otherwise) and whether reordering
    // was ever detected (tp->reord_seen).
    std::uint32_t reordering() const { return reordering_; }
    bool reordering_seen() const { return reord_seen_; }
    // Non-SACK reordering evidence from the engine (Linux tcp_check_reno_reordering).
    void note_reordering(std::uint32_t segments);
    // unSACKed octets in [SND.UNA, HighRxt): retransmitted and not yet delivered (retrans_out).
    std::uint32_t retransmitted_bytes() const { return unsacked_between(snd_una_, high_rxt_); }
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
    bool initialized() const { return initialized_; }  // update() has been called
    std::span<const SackBlock> ranges() const { return {ranges_.data(), count_}; }
    // One past the highest SACKed octet; snd_una when nothing is SACKed.
    SeqNum highest_sacked() const { return count_ ? ranges_[count_ - 1].right : snd_una_; }
    SeqNum snd_una() const { return snd_una_; }
    SeqNum high_rxt() const { return high_rxt_; }  // one past the highest retransmitted octet
    bool rescue_sent() const { return rescue_valid_; }
    SeqNum recovery_point() const { return recovery_point_; }

private:
    void advance_una(SeqNum snd_una, UpdateResult& r, SeqNum& reord_low);
    // The first octet at or above `seq` that is not SACKed.
    SeqNum first_unsacked(SeqNum seq) const;
    // RACK with reo_wnd = 0 (Linux mode): everything below the highest SACK is lost.
    bool rack_aggressive(std::uint32_t smss) const;
    void check_reordering(SeqNum low, SeqNum prior_fack, std::uint32_t smss);
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
    bool linux_ = false;
    bool in_recovery_ = false;
    bool reord_seen_ = false;
    std::uint32_t reordering_ = kDupThresh;
    std::uint32_t smss_ = 0;  // the last smss passed to update()
    SeqNum lost_high_{};  // Linux mode: unSACKed octets below it stay lost (sticky marks)
};

}  // namespace tcpsim::tcp
