// The receive queue: in-order bytes waiting for the user plus out-of-order bytes held for
// reassembly (RFC 9293 §3.10.7.4 "seventh", RFC 2018 for the SACK blocks they produce). Both live
// in one ring; out-of-order ranges are a small fixed array, so nothing allocates per segment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tcp/byte_ring.hpp"
#include "tcp/segment.hpp"
#include "tcp/seq.hpp"

namespace tcpsim::tcp {

class ReceiveBuffer {
public:
    static constexpr std::size_t kMaxRanges = 32;

    explicit ReceiveBuffer(std::size_t capacity = 0) : ring_(capacity) {}

    std::size_t capacity() const { return ring_.capacity(); }
    std::size_t readable() const { return ring_.size(); }
    bool has_out_of_order() const { return count_ != 0; }
    std::size_t range_count() const { return count_; }  // out-of-order islands (SACK blocks)
    // Bytes held beyond rcv_nxt (counted once even if ranges were merged).
    std::size_t out_of_order_bytes() const;

    // Stores `data` (which starts at `seq`, at or after rcv_nxt) and returns by how much rcv_nxt
    // advances. Bytes past the ring's capacity are dropped; so is a new hole when kMaxRanges
    // ranges are already held (the peer retransmits it).
    std::uint32_t insert(SeqNum rcv_nxt, SeqNum seq, const Payload& data);

    // Reads/peeks from the in-order bytes.
    void copy_out(std::size_t off, MutableBytes out) const { ring_.copy_out(off, out); }
    std::byte at(std::size_t off) const { return ring_.at(off); }
    void consume(std::size_t n) { ring_.pop(n); }

    // SACK blocks, most recently changed first (RFC 2018 §4), up to out.size().
    std::size_t sack_blocks(std::span<SackBlock> out) const;
    // The lowest part of [left, right) already held out of order, if any (for D-SACK, RFC 2883).
    std::optional<SackBlock> held_overlap(SeqNum left, SeqNum right) const;
    // Upper end of all held data (rcv_nxt when nothing is out of order).
    SeqNum highest(SeqNum rcv_nxt) const;

    void resize(std::size_t capacity, SeqNum rcv_nxt);
    void clear_out_of_order() { count_ = 0; }

private:
    struct Range {
        SeqNum left;
        SeqNum right;
        std::uint32_t stamp;
    };
    ByteRing ring_;
    std::array<Range, kMaxRanges> ranges_{};  // unordered
    std::size_t count_ = 0;
    std::uint32_t stamp_ = 0;
};

}  // namespace tcpsim::tcp
