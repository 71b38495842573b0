// A Linux TAP device (IFF_TAP | IFF_NO_PI): whole Ethernet frames in and out of a file
// descriptor. The one place in link/ that makes system calls; the live runtime (stack/runtime)
// drives it, the protocol code never sees it.
#pragma once

#include <string>
#include <system_error>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"

namespace tcpsim::link {

struct TapOptions {
    // Create the device when it does not exist (needs CAP_NET_ADMIN). Without it, opening a
    // name that does not exist is an error instead of silently creating a fresh device.
    bool create = false;
    bool nonblocking = true;
    // Transmit queue length (frames) given to a device this call creates (`ip link set txqueuelen`);
    // a device that already exists keeps its own. The kernel's default for a TAP is 500
    // (TUN_READQ_SIZE): one TSO burst of a fast sender is ~45 frames, and while the reader is
    // busy writing ACKs a few bursts overflow it, which the sender pays for with retransmissions.
    // 0 keeps the kernel's default.
    int tx_queue_length = 10000;
};

class TapDevice {
public:
    // Opens `name` in the calling thread's network namespace. A TAP lives in the namespace the
    // opener is in (PLATFORM.md): run under `ip netns exec NS` to attach to a device in NS.
    static Expected<TapDevice, std::error_code> open(const std::string& name, TapOptions options = {});

    TapDevice(TapDevice&& o) noexcept;
    TapDevice& operator=(TapDevice&& o) noexcept;
    TapDevice(const TapDevice&) = delete;
    TapDevice& operator=(const TapDevice&) = delete;
    ~TapDevice();

    int fd() const { return fd_; }
    const std::string& name() const { return name_; }

    // Kernel-side configuration of the interface (what `ip link`/`ip addr` would do).
    std::error_code set_up(bool up);
    std::error_code set_mtu(int mtu);
    std::error_code set_tx_queue_length(int frames);
    Expected<int, std::error_code> tx_queue_length() const;
    std::error_code set_kernel_address(Ipv4Prefix prefix);
    // Linux sends router solicitations/MLD/DAD on link-up; a v4-only peer doesn't need them.
    std::error_code disable_ipv6();
    Expected<MacAddr, std::error_code> kernel_mac() const;

    // One frame per call. read returns the frame size, or an error (EAGAIN when nonblocking and
    // nothing is queued). A frame larger than `out` is truncated by the kernel: size the buffer
    // to MTU + 14.
    Expected<std::size_t, std::error_code> read(MutableBytes out);
    std::error_code write(Bytes frame);

private:
    TapDevice(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
    int fd_ = -1;
    std::string name_;
};

// True when an interface of that name exists in this network namespace.
bool interface_exists(const std::string& name);

}  // namespace tcpsim::link
