#include "tcp/sack_scoreboard.hpp"

#include <algorithm>

namespace tcpsim::tcp {

namespace {
std::uint32_t len(const SackBlock& b) { return static_cast<std::uint32_t>(b.right - b.left); }
}  // namespace

void SackScoreboard::clear() {
    count_ = 0;
    sacked_bytes_ = 0;
    rescue_valid_ = false;
    high_rxt_ = snd_una_;
    recovery_point_ = snd_una_;
    lost_high_ = snd_una_;
    in_recovery_ = false;
}

void SackScoreboard::note_reordering(std::uint32_t segments) {
    reordering_ = std::clamp<std::uint32_t>(std::max(reordering_, segments), 1, kMaxReordering);
    reord_seen_ = true;
}

SeqNum SackScoreboard::first_unsacked(SeqNum seq) const {
    for (std::size_t k = 0; k < count_; ++k) {
        if (ranges_[k].right <= seq)
            continue;
        if (ranges_[k].left <= seq)
            seq = ranges_[k].right;
        else
            break;
    }
    return seq;
}

bool SackScoreboard::rack_aggressive(std::uint32_t smss) const {
    // Linux tcp_rack_reo_wnd: 0 while no reordering was seen, in recovery or once DupThresh
    // segments are SACKed.
    if (!linux_ || reord_seen_ || count_ == 0)
        return false;
    std::uint32_t sacked_segments = smss ? (sacked_bytes_ + smss - 1) / smss : 0;
    return in_recovery_ || sacked_segments >= reordering_;
}

void SackScoreboard::check_reordering(SeqNum low, SeqNum prior_fack, std::uint32_t smss) {
    // Linux tcp_check_sack_reordering: never-retransmitted data delivered below the highest SACK
    // arrived out of order; the distance (in segments) is the new reordering degree.
    if (!linux_ || !(low < prior_fack) || smss == 0)
        return;
    std::uint32_t metric = static_cast<std::uint32_t>(prior_fack - low);
    if (metric > reordering_ * smss)
        reordering_ = std::min<std::uint32_t>((metric + smss - 1) / smss, kMaxReordering);
    reord_seen_ = true;
}

void SackScoreboard::advance_una(SeqNum snd_una, UpdateResult& r, SeqNum& reord_low) {
    if (!initialized_) {
        initialized_ = true;
        snd_una_ = snd_una;
        high_rxt_ = snd_una;
        recovery_point_ = snd_una;
        lost_high_ = snd_una;
        return;
    }
    if (snd_una <= snd_una_)
        return;  // an old or duplicate ACK: HighACK never moves back
    // Linux tcp_clean_rtx_queue: the lowest cumulatively ACKed octet never SACKed nor retransmitted.
    if (SeqNum u = first_unsacked(seq_max(snd_una_, high_rxt_)); u < snd_una && u < reord_low)
        reord_low = u;
    snd_una_ = snd_una;
    std::size_t drop = 0;
    while (drop < count_ && ranges_[drop].right <= snd_una) {
        r.newly_acked_sacked_bytes += len(ranges_[drop]);
        sacked_bytes_ -= len(ranges_[drop]);
        ++drop;
    }
    if (drop) {
        std::copy(ranges_.begin() + static_cast<std::ptrdiff_t>(drop), ranges_.begin() + static_cast<std::ptrdiff_t>(count_),
                  ranges_.begin());
        count_ -= drop;
    }
    if (count_ && ranges_[0].left < snd_una) {  // the ACK ends inside a SACKed range
        std::uint32_t cut = static_cast<std::uint32_t>(snd_una - ranges_[0].left);
        r.newly_acked_sacked_bytes += cut;
        sacked_bytes_ -= cut;
        ranges_[0].left = snd_una;
    }
    high_rxt_ = seq_max(high_rxt_, snd_una);
}

std::uint32_t SackScoreboard::insert(SackBlock b) {
    // First range that overlaps or touches b, and one past the last such range.
    std::size_t i = 0;
    while (i < count_ && ranges_[i].right < b.left)
        ++i;
    std::size_t j = i;
    while (j < count_ && ranges_[j].left <= b.right)
        ++j;
    if (i == j) {
        if (count_ == kMaxRanges) {
            if (i == count_)
                return 0;  // full, and b would be the highest: forget it
            sacked_bytes_ -= len(ranges_[count_ - 1]);  // forget the highest range instead
            --count_;
        }
        std::copy_backward(ranges_.begin() + static_cast<std::ptrdiff_t>(i), ranges_.begin() + static_cast<std::ptrdiff_t>(count_),
                           ranges_.begin() + static_cast<std::ptrdiff_t>(count_ + 1));
        ranges_[i] = b;
        ++count_;
        sacked_bytes_ += len(b);
        return len(b);
    }
    std::uint32_t old = 0;
    for (std::size_t k = i; k < j; ++k)
        old += len(ranges_[k]);
    SackBlock merged{seq_min(b.left, ranges_[i].left), seq_max(b.right, ranges_[j - 1].right)};
    ranges_[i] = merged;
    std::copy(ranges_.begin() + static_cast<std::ptrdiff_t>(j), ranges_.begin() + static_cast<std::ptrdiff_t>(count_),
              ranges_.begin() + static_cast<std::ptrdiff_t>(i + 1));
    count_ -= (j - i - 1);
    std::uint32_t added = len(merged) - old;
    sacked_bytes_ += added;
    return added;
}

SackScoreboard::UpdateResult SackScoreboard::update(SeqNum snd_una, SeqNum snd_nxt, std::span<const SackBlock> blocks,
                                                    std::uint32_t smss) {
    UpdateResult r;
    const bool had_una = initialized_;
    const SeqNum old_una = snd_una_;
    if (smss)
        smss_ = smss;
    const SeqNum lost_end_before = smss ? lost_boundary(smss) : SeqNum{};
    const SeqNum prior_fack = highest_sacked();  // Linux prior_fack
    SeqNum reord_low = prior_fack;
    advance_una(snd_una, r, reord_low);
    if (had_una && snd_una_ > old_una)
        r.acked_bytes = static_cast<std::uint32_t>(snd_una_ - old_una);
    std::size_t first = 0;
    if (!blocks.empty()) {
        // RFC 2883 §4 (Linux: tcp_check_dsack): the first block is a D-SACK when it lies below the
        // cumulative ACK or inside the second block.
        const SackBlock& b0 = blocks[0];
        bool dsack = b0.left < snd_una;
        if (!dsack && blocks.size() > 1)
            dsack = b0.left >= blocks[1].left && b0.right <= blocks[1].right;
        if (dsack && b0.left < b0.right) {
            r.dsack = true;
            r.dsack_block = b0;
            first = 1;
        }
    }
    for (std::size_t k = first; k < blocks.size(); ++k) {
        SackBlock b = blocks[k];
        // Linux: tcp_is_sackblock_valid — non-empty, not past SND.NXT, not below SND.UNA.
        if (!(b.left < b.right) || b.right > snd_nxt || b.left < snd_una_) {
            ++r.invalid_blocks;
            continue;
        }
        // Linux tcp_sacktag_one: newly SACKed, never retransmitted data below the prior highest
        // SACK is reordering evidence.
        if (SeqNum u = first_unsacked(seq_max(b.left, high_rxt_)); u < b.right && u < reord_low)
            reord_low = u;
        r.newly_sacked_bytes += insert(b);
    }
    check_reordering(reord_low, prior_fack, smss ? smss : smss_);
    r.delivered_bytes = r.acked_bytes - r.newly_acked_sacked_bytes + r.newly_sacked_bytes;
    // A receiver holding a SACKed range that starts at the new SND.UNA would have ACKed past it.
    r.reneged = r.acked_bytes > 0 && count_ > 0 && ranges_[0].left == snd_una_;
    if (smss) {
        // Everything unSACKed below the boundary is lost; the boundary only rises with new SACKs,
        // so the fresh losses are the unSACKed octets between the old and the new boundary.
        SeqNum lost_end_after = seq_min(lost_boundary(smss), snd_nxt);
        r.newly_lost_bytes = unsacked_between(seq_max(lost_end_before, snd_una_), lost_end_after);
        if (linux_)
            lost_high_ = seq_max(lost_high_, lost_end_after);
    }
    return r;
}

void SackScoreboard::enter_recovery(SeqNum snd_una, SeqNum snd_nxt) {
    if (!initialized_) {
        initialized_ = true;
        snd_una_ = snd_una;
    }
    high_rxt_ = snd_una;
    recovery_point_ = snd_nxt;
    rescue_valid_ = false;
    in_recovery_ = true;
    if (linux_ && smss_)
        lost_high_ = seq_max(lost_high_, seq_min(lost_boundary(smss_), snd_nxt));
}

void SackScoreboard::on_retransmit(SeqNum seq, std::uint32_t length) { high_rxt_ = seq_max(high_rxt_, seq + length); }

void SackScoreboard::mark_sent(const NextSeg& seg) {
    switch (seg.kind) {
    case NextKind::Retransmit:
        on_retransmit(seg.seq, seg.len);
        break;
    case NextKind::Rescue:
        // RFC 6675 §4 NextSeg (4): RescueRxt = RecoveryPoint; HighRxt MUST NOT be updated.
        rescue_rxt_ = recovery_point_;
        rescue_valid_ = true;
        break;
    case NextKind::NewData:
    case NextKind::None:
        break;
    }
}

bool SackScoreboard::is_sacked(SeqNum seq) const {
    for (std::size_t k = 0; k < count_; ++k)
        if (seq.in_window(ranges_[k].left, len(ranges_[k])))
            return true;
    return false;
}

bool SackScoreboard::is_lost(SeqNum seq, std::uint32_t smss) const {
    if (linux_)
        return seq < lost_boundary(smss) && !is_sacked(seq);
    std::uint64_t bytes = 0;
    std::uint32_t discontiguous = 0;
    for (std::size_t k = 0; k < count_; ++k) {
        const SackBlock& b = ranges_[k];
        if (b.right <= seq + 1)
            continue;
        if (b.left > seq)
            ++discontiguous;
        bytes += static_cast<std::uint32_t>(b.right - seq_max(b.left, seq + 1));
    }
    return discontiguous >= kDupThresh || bytes > std::uint64_t{kDupThresh - 1} * smss;
}

SeqNum SackScoreboard::lost_boundary(std::uint32_t smss) const {
    // Every unSACKed octet in the hole below range k sees the same SACKed data above it (ranges
    // k..n-1), so IsLost() is constant per hole and falls monotonically with the sequence number:
    // find the highest lost hole from the top.
    SeqNum boundary = snd_una_;
    if (linux_) {
        boundary = seq_max(lost_high_, snd_una_);
        if (rack_aggressive(smss))
            return seq_max(boundary, highest_sacked());
    }
    const std::uint32_t dupthresh = linux_ ? reordering_ : kDupThresh;
    std::uint64_t bytes = 0;
    for (std::size_t k = count_; k-- > 0;) {
        bytes += len(ranges_[k]);
        std::uint32_t above = static_cast<std::uint32_t>(count_ - k);
        if (above >= dupthresh || bytes > std::uint64_t{dupthresh - 1} * smss)
            return seq_max(boundary, ranges_[k].left);
    }
    return boundary;
}

std::uint32_t SackScoreboard::unsacked_between(SeqNum from, SeqNum to) const {
    if (to <= from)
        return 0;
    std::uint32_t total = static_cast<std::uint32_t>(to - from);
    for (std::size_t k = 0; k < count_; ++k) {
        SeqNum l = seq_max(ranges_[k].left, from);
        SeqNum r = seq_min(ranges_[k].right, to);
        if (l < r)
            total -= static_cast<std::uint32_t>(r - l);
    }
    return total;
}

std::uint32_t SackScoreboard::pipe(SeqNum snd_nxt, std::uint32_t smss) const {
    // RFC 6675 §4 SetPipe(): each unSACKed octet in [HighACK, HighData) counts once if not lost
    // (the original may still be in flight) and once more if it was retransmitted (<= HighRxt).
    SeqNum lost_end = lost_boundary(smss);
    return unsacked_between(seq_max(lost_end, snd_una_), snd_nxt) +
           unsacked_between(snd_una_, seq_min(high_rxt_, snd_nxt));
}

std::uint32_t SackScoreboard::lost_bytes(SeqNum snd_nxt, std::uint32_t smss) const {
    return unsacked_between(snd_una_, seq_min(lost_boundary(smss), snd_nxt));
}

SackScoreboard::NextSeg SackScoreboard::next_seg(SeqNum snd_nxt, std::uint32_t smss, bool new_data_ok) const {
    smss = std::max<std::uint32_t>(smss, 1);
    // The lowest unSACKed octet above HighRxt, and where its hole ends.
    SeqNum s = seq_max(high_rxt_, snd_una_);
    SeqNum hole_end = snd_nxt;
    for (std::size_t k = 0; k < count_; ++k) {
        if (ranges_[k].right <= s)
            continue;
        if (ranges_[k].left <= s) {
            s = ranges_[k].right;
            continue;
        }
        hole_end = ranges_[k].left;
        break;
    }
    const bool below_sack = count_ > 0 && s < highest_sacked();
    auto hole_segment = [&](NextKind kind) {
        std::uint32_t room = static_cast<std::uint32_t>(hole_end - s);
        return NextSeg{kind, s, std::min(room, smss)};
    };
    // (1) the first lost hole above HighRxt.
    if (below_sack && s < lost_boundary(smss))
        return hole_segment(NextKind::Retransmit);
    // (2) new data.
    if (new_data_ok)
        return NextSeg{NextKind::NewData, snd_nxt, smss};
    // Linux (tcp_xmit_retransmit_queue) retransmits only what is marked lost.
    if (linux_)
        return NextSeg{};
    // (3) an unSACKed hole below the highest SACK even if not (yet) deemed lost.
    if (below_sack)
        return hole_segment(NextKind::Retransmit);
    // (4) rescue retransmission: one segment ending at the highest outstanding unSACKed octet,
    // once per recovery episode (HighACK > RescueRxt).
    if (snd_una_ < snd_nxt && (!rescue_valid_ || snd_una_ > rescue_rxt_)) {
        SeqNum top = snd_nxt;  // one past the highest unSACKed octet
        SeqNum floor = snd_una_;
        for (std::size_t k = count_; k-- > 0;) {
            if (ranges_[k].right < top) {
                floor = ranges_[k].right;
                break;
            }
            top = ranges_[k].left;
            floor = k > 0 ? ranges_[k - 1].right : snd_una_;
        }
        if (floor < top) {
            std::uint32_t room = static_cast<std::uint32_t>(top - floor);
            std::uint32_t n = std::min(room, smss);
            return NextSeg{NextKind::Rescue, top - n, n};
        }
    }
    return NextSeg{};
}

}  // namespace tcpsim::tcp
