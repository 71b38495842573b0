#include "tcp/receive_buffer.hpp"

#include <algorithm>

namespace tcpsim::tcp {

std::size_t ReceiveBuffer::out_of_order_bytes() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < count_; ++i) n += static_cast<std::uint32_t>(ranges_[i].right - ranges_[i].left);
    return n;
}

std::uint32_t ReceiveBuffer::insert(SeqNum rcv_nxt, SeqNum seq, const Payload& data) {
    if (seq < rcv_nxt) return 0;  // the caller trims; be defensive
    std::size_t off = ring_.size() + static_cast<std::uint32_t>(seq - rcv_nxt);
    if (off >= ring_.capacity()) return 0;
    std::size_t len = std::min(data.size(), ring_.capacity() - off);
    if (len == 0) return 0;
    std::size_t a = std::min(len, data.first.size());
    ring_.write_at(off, data.first.first(a));
    if (len > a) ring_.write_at(off + a, data.second.first(len - a));

    SeqNum left = seq;
    SeqNum right = seq + static_cast<std::uint32_t>(len);
    if (left == rcv_nxt) {
        // In order: absorb every held range that now touches the in-order end.
        SeqNum end = right;
        for (bool merged = true; merged;) {
            merged = false;
            for (std::size_t i = 0; i < count_; ++i) {
                if (ranges_[i].left <= end) {
                    end = seq_max(end, ranges_[i].right);
                    ranges_[i] = ranges_[--count_];
                    merged = true;
                    break;
                }
            }
        }
        auto adv = static_cast<std::uint32_t>(end - rcv_nxt);
        ring_.commit(adv);
        return adv;
    }
    // Out of order: merge with overlapping/adjacent ranges; the merged range becomes the newest.
    for (std::size_t i = 0; i < count_;) {
        if (ranges_[i].left <= right && left <= ranges_[i].right) {
            left = seq_min(left, ranges_[i].left);
            right = seq_max(right, ranges_[i].right);
            ranges_[i] = ranges_[--count_];
        } else {
            ++i;
        }
    }
    if (count_ == kMaxRanges) return 0;  // too fragmented: forget this hole-maker
    ranges_[count_++] = Range{left, right, ++stamp_};
    return 0;
}

std::size_t ReceiveBuffer::sack_blocks(std::span<SackBlock> out) const {
    std::array<const Range*, kMaxRanges> order{};
    for (std::size_t i = 0; i < count_; ++i) order[i] = &ranges_[i];
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count_),
              [](const Range* x, const Range* y) { return x->stamp > y->stamp; });
    std::size_t n = std::min(out.size(), count_);
    for (std::size_t i = 0; i < n; ++i) out[i] = SackBlock{order[i]->left, order[i]->right};
    return n;
}

std::optional<SackBlock> ReceiveBuffer::held_overlap(SeqNum left, SeqNum right) const {
    std::optional<SackBlock> best;
    for (std::size_t i = 0; i < count_; ++i) {
        SeqNum l = seq_max(left, ranges_[i].left);
        SeqNum r = seq_min(right, ranges_[i].right);
        if (l < r && (!best || l < best->left)) best = SackBlock{l, r};
    }
    return best;
}

SeqNum ReceiveBuffer::highest(SeqNum rcv_nxt) const {
    SeqNum h = rcv_nxt;
    for (std::size_t i = 0; i < count_; ++i) h = seq_max(h, ranges_[i].right);
    return h;
}

void ReceiveBuffer::resize(std::size_t capacity, SeqNum rcv_nxt) {
    std::size_t keep = static_cast<std::uint32_t>(highest(rcv_nxt) - rcv_nxt) + ring_.size();
    ring_.resize(capacity, keep);
    // Drop held ranges that no longer fit.
    for (std::size_t i = 0; i < count_;) {
        std::size_t end = ring_.size() + static_cast<std::uint32_t>(ranges_[i].right - rcv_nxt);
        if (end > ring_.capacity()) {
            ranges_[i] = ranges_[--count_];
        } else {
            ++i;
        }
    }
}

}  // namespace tcpsim::tcp
