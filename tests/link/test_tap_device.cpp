// Live test of link/tap_device: needs root. The test process moves itself into a fresh network
// namespace of its own (unshare(CLONE_NEWNET)), so the TAP device, the kernel address
// 192.0.2.1/24 and the ping child all live there and vanish when the process exits.
#define BOOST_TEST_MODULE link_tap_device
#include <boost/test/unit_test.hpp>

#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>

#include "ip/checksum.hpp"
#include "link/tap/tap_device.hpp"
#include "support/skip.hpp"

using namespace tcpsim;
using tcpsim::link::TapDevice;

extern char** environ;

namespace {

bool enter_private_netns() { return ::unshare(CLONE_NEWNET) == 0; }

// Reads one frame, waiting at most `budget` of wall time (live test: real time is the point).
std::size_t read_frame(TapDevice& tap, MutableBytes buf, std::chrono::milliseconds budget) {
    auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return 0;
        pollfd p{tap.fd(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return 0;
        auto n = tap.read(buf);
        if (n && *n > 0) return *n;
    }
}

const MacAddr kOurMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const Ipv4Addr kKernelAddr{192, 0, 2, 1};
const Ipv4Addr kOurAddr{192, 0, 2, 2};

}  // namespace

BOOST_AUTO_TEST_CASE(opening_a_missing_device_without_create_is_enodev) {
    TCPSIM_SKIP_UNLESS(testing::is_root(), "needs root for TAP devices and network namespaces");
    BOOST_REQUIRE(enter_private_netns());
    auto tap = TapDevice::open("tcpsimnone0");
    BOOST_REQUIRE(!tap);
    BOOST_TEST(tap.error() == std::make_error_code(std::errc::no_such_device));
}

BOOST_AUTO_TEST_CASE(kernel_ping_resolves_our_mac_and_gets_an_echo_reply) {
    TCPSIM_SKIP_UNLESS(testing::is_root(), "needs root for TAP devices and network namespaces");
    TCPSIM_SKIP_UNLESS(testing::have_program("ping"), "needs ping (iputils-ping)");
    BOOST_REQUIRE(enter_private_netns());
    auto tap = TapDevice::open("tcpsimt0", {.create = true});
    BOOST_REQUIRE_MESSAGE(tap, "open: " << (tap ? std::string() : tap.error().message()));
    tap->disable_ipv6();
    BOOST_REQUIRE(!tap->set_kernel_address(Ipv4Prefix{kKernelAddr, 24}));
    BOOST_REQUIRE(!tap->set_up(true));
    auto kmac = tap->kernel_mac();
    BOOST_REQUIRE(kmac);

    pid_t pid = 0;
    const char* argv[] = {"ping", "-c", "1", "-W", "3", "-n", "192.0.2.2", nullptr};
    BOOST_REQUIRE(::posix_spawnp(&pid, "ping", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);

    std::byte buf[2048];
    bool saw_arp = false, saw_echo = false;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
    while (std::chrono::steady_clock::now() < until && !saw_echo) {
        std::size_t n = read_frame(*tap, buf, std::chrono::milliseconds(500));
        if (n < 14) continue;
        Bytes f(buf, n);
        std::uint16_t type = load_be16(f, 12);
        if (type == 0x0806 && n >= 42 && load_be16(f, 20) == 1 && load_be32(f, 38) == kOurAddr.value) {
            saw_arp = true;  // who-has 192.0.2.2 tell 192.0.2.1: answer with our MAC
            std::byte reply[42]{};
            MutableBytes r(reply);
            for (int i = 0; i < 6; ++i) {
                store_u8(r, i, kmac->octets[i]);
                store_u8(r, 6 + i, kOurMac.octets[i]);
                store_u8(r, 22 + i, kOurMac.octets[i]);
                store_u8(r, 32 + i, kmac->octets[i]);
            }
            store_be16(r, 12, 0x0806);
            store_be16(r, 14, 1);
            store_be16(r, 16, 0x0800);
            store_u8(r, 18, 6);
            store_u8(r, 19, 4);
            store_be16(r, 20, 2);
            store_be32(r, 28, kOurAddr.value);
            store_be32(r, 38, kKernelAddr.value);
            BOOST_REQUIRE(!tap->write(Bytes(reply, sizeof reply)));
        } else if (type == 0x0800 && n >= 34 + 8 && load_u8(f, 23) == 1 && load_u8(f, 34) == 8) {
            // ICMP echo request: turn it around in place (swap MACs/addresses, type 0, checksums).
            std::size_t ihl = (load_u8(f, 14) & 0x0f) * 4u;
            std::size_t total = load_be16(f, 16);
            BOOST_REQUIRE(14 + total <= n);
            MutableBytes m(buf, n);
            for (int i = 0; i < 6; ++i) {
                store_u8(m, i, kmac->octets[i]);
                store_u8(m, 6 + i, kOurMac.octets[i]);
            }
            store_be32(m, 26, kOurAddr.value);
            store_be32(m, 30, kKernelAddr.value);
            store_be16(m, 24, 0);
            store_be16(m, 24, ip::internet_checksum(Bytes(buf + 14, ihl)));
            store_u8(m, 14 + ihl, 0);
            store_be16(m, 14 + ihl + 2, 0);
            store_be16(m, 14 + ihl + 2, ip::internet_checksum(Bytes(buf + 14 + ihl, total - ihl)));
            BOOST_REQUIRE(!tap->write(Bytes(buf, 14 + total)));
            saw_echo = true;
        }
    }
    int status = 0;
    for (int i = 0; i < 50 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::poll(nullptr, 0, 100);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    BOOST_TEST(saw_arp);
    BOOST_TEST(saw_echo);
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0), "ping got its reply");
}

BOOST_AUTO_TEST_CASE(a_device_we_create_gets_a_long_transmit_queue_and_an_existing_one_keeps_its_own) {
    TCPSIM_SKIP_UNLESS(testing::is_root(), "needs root for TAP devices and network namespaces");
    BOOST_REQUIRE(enter_private_netns());
    auto tap = TapDevice::open("tcpsimq0", {.create = true});
    BOOST_REQUIRE_MESSAGE(tap, "open: " << (tap ? std::string() : tap.error().message()));
    auto qlen = tap->tx_queue_length();
    BOOST_REQUIRE(qlen);
    BOOST_TEST(*qlen == link::TapOptions{}.tx_queue_length);
    // A persistent device someone else configured: attaching must not change it.
    BOOST_REQUIRE(!tap->set_tx_queue_length(321));
    BOOST_REQUIRE(::ioctl(tap->fd(), TUNSETPERSIST, 1) == 0);
    tap = TapDevice::open("tcpsimq1", {.create = true});  // closes tcpsimq0 (it persists)
    BOOST_REQUIRE(tap);
    auto again = TapDevice::open("tcpsimq0", {.create = true});
    BOOST_REQUIRE(again);
    BOOST_TEST(*again->tx_queue_length() == 321);
    BOOST_TEST(::ioctl(again->fd(), TUNSETPERSIST, 0) == 0);
}
