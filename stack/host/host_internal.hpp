// Private to stack/host/*.cpp: what the parts of the host share (header sizes, event tags, the
// interface and transmit-buffer types). Not for the socket layer or anyone else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "ip/ipv4.hpp"
#include "link/ethernet/ethernet.hpp"
#include "stack/host/host.hpp"

namespace tcpsim::stack::host_detail {

constexpr std::size_t kEth = link::kEthernetHeaderSize;
constexpr std::size_t kIp = ip::kIpv4MinHeaderSize;
// Host event tags: kind in the top byte, argument below.
constexpr std::uint64_t kTagArpProbe = 1ull << 56;
constexpr std::uint64_t kTagReap = 2ull << 56;
constexpr std::uint64_t kTagReassembly = 3ull << 56;
constexpr std::uint64_t kTagKindMask = 0xffull << 56;

inline std::error_code errno_code(int e) { return std::error_code(e, std::generic_category()); }

}  // namespace tcpsim::stack::host_detail

namespace tcpsim::stack {

struct Host::Interface final : FrameSink {
    Host* host;
    std::size_t index;
    InterfaceConfig cfg;
    FrameSink* out = nullptr;
    Interface(Host* h, std::size_t i, InterfaceConfig c) : host(h), index(i), cfg(std::move(c)) {}
    void accept_frame(Bytes frame) override { host->receive_frame(index, frame); }
    Ipv4Addr directed_broadcast() const { return Ipv4Addr{cfg.address.addr.value | ~cfg.address.mask()}; }
};

// A transmit buffer from the host's pool (no allocation once the pool has warmed up). Nested
// sends (a send that triggers another) take the next buffer, so none is overwritten in use.
class Host::TxBuffer {
public:
    TxBuffer(Host& h, std::size_t size) : h_(h) {
        if (h.tx_pool_.size() <= h.tx_depth_) h.tx_pool_.emplace_back();
        ByteVector& b = h.tx_pool_[h.tx_depth_++];
        if (b.size() < size) b.resize(size);
        bytes_ = MutableBytes(b.data(), size);
    }
    ~TxBuffer() { --h_.tx_depth_; }
    TxBuffer(const TxBuffer&) = delete;
    TxBuffer& operator=(const TxBuffer&) = delete;
    MutableBytes bytes() const { return bytes_; }

private:
    Host& h_;
    MutableBytes bytes_;
};

}  // namespace tcpsim::stack
