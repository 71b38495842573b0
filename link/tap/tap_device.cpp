#include "link/tap/tap_device.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace tcpsim::link {

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

// Runs an interface ioctl on a throwaway datagram socket (the usual netdevice(7) idiom).
std::error_code interface_ioctl(unsigned long request, ifreq& ifr) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return last_error();
    std::error_code ec;
    if (::ioctl(s, request, &ifr) < 0) ec = last_error();
    ::close(s);
    return ec;
}

ifreq named_request(const std::string& name) {
    ifreq ifr{};
    // ifr is zeroed, so the name stays terminated (memcpy: g++ warns about strncpy here).
    std::memcpy(ifr.ifr_name, name.data(), std::min<std::size_t>(name.size(), IFNAMSIZ - 1));
    return ifr;
}

sockaddr_in inet_address(Ipv4Addr a) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(a.value);
    return sin;
}

}  // namespace

bool interface_exists(const std::string& name) {
    ifreq ifr = named_request(name);
    return !interface_ioctl(SIOCGIFINDEX, ifr);
}

Expected<TapDevice, std::error_code> TapDevice::open(const std::string& name, TapOptions options) {
    if (name.empty() || name.size() >= IFNAMSIZ) return unexpected(std::make_error_code(std::errc::invalid_argument));
    const bool existed = interface_exists(name);
    if (!options.create && !existed) return unexpected(std::make_error_code(std::errc::no_such_device));
    int flags = O_RDWR | O_CLOEXEC | (options.nonblocking ? O_NONBLOCK : 0);
    int fd = ::open("/dev/net/tun", flags);
    if (fd < 0) return unexpected(last_error());
    ifreq ifr = named_request(name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
        auto ec = last_error();
        ::close(fd);
        return unexpected(ec);
    }
    TapDevice tap(fd, ifr.ifr_name);
    if (!existed && options.tx_queue_length > 0) {
        if (auto ec = tap.set_tx_queue_length(options.tx_queue_length)) return unexpected(ec);
    }
    return tap;
}

TapDevice::TapDevice(TapDevice&& o) noexcept : fd_(o.fd_), name_(std::move(o.name_)) { o.fd_ = -1; }

TapDevice& TapDevice::operator=(TapDevice&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.fd_;
        name_ = std::move(o.name_);
        o.fd_ = -1;
    }
    return *this;
}

TapDevice::~TapDevice() {
    if (fd_ >= 0) ::close(fd_);
}

std::error_code TapDevice::set_up(bool up) {
    ifreq ifr = named_request(name_);
    if (auto ec = interface_ioctl(SIOCGIFFLAGS, ifr)) return ec;
    if (up)
        ifr.ifr_flags |= IFF_UP;
    else
        ifr.ifr_flags &= ~IFF_UP;
    return interface_ioctl(SIOCSIFFLAGS, ifr);
}

std::error_code TapDevice::set_mtu(int mtu) {
    ifreq ifr = named_request(name_);
    ifr.ifr_mtu = mtu;
    return interface_ioctl(SIOCSIFMTU, ifr);
}

std::error_code TapDevice::set_tx_queue_length(int frames) {
    ifreq ifr = named_request(name_);
    ifr.ifr_qlen = frames;
    return interface_ioctl(SIOCSIFTXQLEN, ifr);
}

Expected<int, std::error_code> TapDevice::tx_queue_length() const {
    ifreq ifr = named_request(name_);
    if (auto ec = interface_ioctl(SIOCGIFTXQLEN, ifr)) return unexpected(ec);
    return ifr.ifr_qlen;
}

std::error_code TapDevice::set_kernel_address(Ipv4Prefix prefix) {
    ifreq ifr = named_request(name_);
    auto sin = inet_address(prefix.addr);
    std::memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    if (auto ec = interface_ioctl(SIOCSIFADDR, ifr)) return ec;
    ifr = named_request(name_);
    sin = inet_address(Ipv4Addr{prefix.mask()});
    std::memcpy(&ifr.ifr_netmask, &sin, sizeof sin);
    return interface_ioctl(SIOCSIFNETMASK, ifr);
}

std::error_code TapDevice::disable_ipv6() {
    std::ofstream f("/proc/sys/net/ipv6/conf/" + name_ + "/disable_ipv6");
    if (!f) return std::make_error_code(std::errc::no_such_file_or_directory);
    f << "1\n";
    f.flush();
    return f ? std::error_code{} : std::make_error_code(std::errc::io_error);
}

Expected<MacAddr, std::error_code> TapDevice::kernel_mac() const {
    ifreq ifr = named_request(name_);
    if (auto ec = interface_ioctl(SIOCGIFHWADDR, ifr)) return unexpected(ec);
    MacAddr m;
    for (int i = 0; i < 6; ++i) m.octets[i] = static_cast<std::uint8_t>(ifr.ifr_hwaddr.sa_data[i]);
    return m;
}

Expected<std::size_t, std::error_code> TapDevice::read(MutableBytes out) {
    for (;;) {
        ssize_t n = ::read(fd_, out.data(), out.size());
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EINTR) return unexpected(last_error());
    }
}

std::error_code TapDevice::write(Bytes frame) {
    for (;;) {
        ssize_t n = ::write(fd_, frame.data(), frame.size());
        if (n >= 0) return {};
        if (errno != EINTR) return last_error();
    }
}

}  // namespace tcpsim::link
