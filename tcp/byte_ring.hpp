// A fixed-capacity byte ring: the storage under the send and receive queues. Allocates only when
// the capacity changes (SO_SNDBUF/SO_RCVBUF), never per segment (DESIGN.md performance budget).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include "link/base/bytes.hpp"

namespace tcpsim::tcp {

class ByteRing {
public:
    explicit ByteRing(std::size_t capacity = 0) : buf_(capacity) {}

    std::size_t capacity() const { return buf_.size(); }
    std::size_t size() const { return size_; }
    std::size_t free() const { return buf_.size() - size_; }
    bool empty() const { return size_ == 0; }

    // Appends as much of `data` as fits; returns the count.
    std::size_t push(Bytes data) {
        std::size_t n = std::min(data.size(), free());
        write_at(size_, data.first(n));
        size_ += n;
        return n;
    }
    // Writes `data` at offset `off` from the head without changing size (reassembly writes bytes
    // beyond the in-order end). Requires off + data.size() <= capacity().
    void write_at(std::size_t off, Bytes data) {
        assert(off + data.size() <= capacity());
        std::size_t pos = wrap(head_ + off);
        std::size_t first = std::min(data.size(), buf_.size() - pos);
        if (first) std::memcpy(buf_.data() + pos, data.data(), first);
        if (data.size() > first) std::memcpy(buf_.data(), data.data() + first, data.size() - first);
    }
    // Extends the in-order size over bytes already written with write_at().
    void commit(std::size_t n) {
        assert(size_ + n <= capacity());
        size_ += n;
    }
    void pop(std::size_t n) {
        assert(n <= size_);
        head_ = wrap(head_ + n);
        size_ -= n;  // head_ stays put: bytes written beyond size_ (reassembly) keep their place
    }
    // Up to two spans viewing [off, off+n) of the stored bytes.
    std::pair<Bytes, Bytes> view(std::size_t off, std::size_t n) const {
        assert(off + n <= capacity());
        if (n == 0) return {};
        std::size_t pos = wrap(head_ + off);
        std::size_t first = std::min(n, buf_.size() - pos);
        return {Bytes(buf_.data() + pos, first), Bytes(buf_.data(), n - first)};
    }
    void copy_out(std::size_t off, MutableBytes out) const {
        auto [a, b] = view(off, out.size());
        if (!a.empty()) std::memcpy(out.data(), a.data(), a.size());
        if (!b.empty()) std::memcpy(out.data() + a.size(), b.data(), b.size());
    }
    std::byte at(std::size_t off) const { return buf_[wrap(head_ + off)]; }
    // Changes the capacity, keeping the first `keep` bytes (in-order plus reassembly area).
    void resize(std::size_t capacity, std::size_t keep) {
        keep = std::min({keep, capacity, buf_.size()});
        std::vector<std::byte> next(capacity);
        if (keep) copy_out(0, MutableBytes(next.data(), keep));
        buf_.swap(next);
        head_ = 0;
        size_ = std::min(size_, keep);
    }

private:
    std::size_t wrap(std::size_t p) const { return buf_.empty() ? 0 : (p >= buf_.size() ? p - buf_.size() : p); }
    std::vector<std::byte> buf_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace tcpsim::tcp
