// Live robustness: a SYN flood and a shower of malformed frames against a tcpsim listener on a
// TAP device, then a normal kernel connection. The frames are built here and written to the
// kernel's side of the device with an AF_PACKET socket (no external packet tools), in a network
// namespace this process creates (unshare(CLONE_NEWNET)). The tcpsim side is a live scenario
// (`tcpsim run`), so its counters and verdicts come from the scenario's own expectations.
// Bounded: 20000 SYNs, a few thousand bad frames, every wait limited in wall time. Needs root.
// ctest-labels: root live
#define BOOST_TEST_MODULE tools_live_flood
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/skip.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Frame = std::vector<std::uint8_t>;

extern char** environ;

namespace {

constexpr std::array<std::uint8_t, 6> kOurMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};  // set in the scenario
constexpr std::uint32_t kOurIp = 0xc0000202;     // 192.0.2.2
constexpr std::uint32_t kKernelIp = 0xc0000201;  // 192.0.2.1
constexpr int kSyns = 20000;
constexpr long kBacklog = 8;

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
std::size_t count_of(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (auto p = text.find(part); p != std::string::npos; p = text.find(part, p + 1)) ++n;
    return n;
}

// One `tcpsim run` process, started by this test and stopped by its PID; a scratch directory.
struct TcpsimRun : tcpsim::testing::TcpsimProcess {
    TcpsimRun(const std::vector<std::string>& args, const fs::path& log) : TcpsimProcess("run", args, log) {}
};
struct TempDir : tcpsim::testing::TempDir {
    TempDir() : tcpsim::testing::TempDir("tcpsim-live-flood") {}
};

// ---- frames (RFC 791, RFC 9293, RFC 826)

std::uint16_t checksum(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0) {
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<std::uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}
void put16(Frame& f, std::size_t at, std::uint16_t v) {
    f[at] = static_cast<std::uint8_t>(v >> 8);
    f[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Frame& f, std::size_t at, std::uint32_t v) {
    put16(f, at, static_cast<std::uint16_t>(v >> 16));
    put16(f, at + 2, static_cast<std::uint16_t>(v));
}

Frame ethernet(const std::array<std::uint8_t, 6>& dst, const std::array<std::uint8_t, 6>& src, std::uint16_t type) {
    Frame f(14);
    std::copy(dst.begin(), dst.end(), f.begin());
    std::copy(src.begin(), src.end(), f.begin() + 6);
    put16(f, 12, type);
    return f;
}

// A TCP segment in IPv4 in Ethernet, both checksums right, with the given TCP options.
Frame tcp_frame(const std::array<std::uint8_t, 6>& src_mac, std::uint32_t src, std::uint16_t sport, std::uint16_t dport,
                std::uint32_t seq, std::uint8_t flags, const std::vector<std::uint8_t>& options = {2, 4, 0x05, 0xb4}) {
    Frame f = ethernet(kOurMac, src_mac, 0x0800);
    std::size_t tcp_len = 20 + options.size();
    f.resize(14 + 20 + tcp_len);
    std::size_t ip = 14, tcp = 34;
    f[ip] = 0x45;
    put16(f, ip + 2, static_cast<std::uint16_t>(20 + tcp_len));
    put16(f, ip + 4, static_cast<std::uint16_t>(seq));
    put16(f, ip + 6, 0x4000);  // DF
    f[ip + 8] = 64;
    f[ip + 9] = 6;
    put32(f, ip + 12, src);
    put32(f, ip + 16, kOurIp);
    put16(f, ip + 10, checksum(&f[ip], 20));
    put16(f, tcp, sport);
    put16(f, tcp + 2, dport);
    put32(f, tcp + 4, seq);
    f[tcp + 12] = static_cast<std::uint8_t>((tcp_len / 4) << 4);
    f[tcp + 13] = flags;
    put16(f, tcp + 14, 64240);
    std::copy(options.begin(), options.end(), f.begin() + static_cast<long>(tcp) + 20);
    // Pseudo-header: source, destination, protocol, TCP length (RFC 9293 §3.1).
    std::uint32_t sum = (src >> 16) + (src & 0xffff) + (kOurIp >> 16) + (kOurIp & 0xffff) + 6 + static_cast<std::uint32_t>(tcp_len);
    put16(f, tcp + 16, checksum(&f[tcp], tcp_len, sum));
    return f;
}

Frame arp_request(const std::array<std::uint8_t, 6>& src_mac, std::uint32_t target) {
    Frame f = ethernet({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src_mac, 0x0806);
    f.resize(42);
    put16(f, 14, 1);
    put16(f, 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    put16(f, 20, 1);  // request
    std::copy(src_mac.begin(), src_mac.end(), f.begin() + 22);
    put32(f, 28, kKernelIp);
    put32(f, 38, target);
    return f;
}

// The kernel's side of the TAP device, as a raw Ethernet port.
class PacketPort {
public:
    explicit PacketPort(const std::string& dev) {
        fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
        addr_.sll_family = AF_PACKET;
        addr_.sll_protocol = htons(ETH_P_ALL);
        addr_.sll_ifindex = static_cast<int>(::if_nametoindex(dev.c_str()));
        addr_.sll_halen = 6;
        if (fd_ >= 0 && addr_.sll_ifindex > 0) ::bind(fd_, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_);
        int big = 8 << 20;
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    ~PacketPort() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool ok() const { return fd_ >= 0 && addr_.sll_ifindex > 0; }
    // Returns whether the device took the frame (runts and oversize frames may be refused).
    bool send(const Frame& f) {
        for (int tries = 0; tries < 100; ++tries) {
            if (::sendto(fd_, f.data(), f.size(), 0, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) >= 0) return true;
            if (errno != EAGAIN && errno != ENOBUFS) return false;
            pollfd p{fd_, POLLOUT, 0};
            ::poll(&p, 1, 10);
        }
        return false;
    }
    // Waits up to `budget` for a frame tcpsim wrote (incoming on the kernel's side) that `match` accepts.
    template <class Match>
    bool await(Match match, std::chrono::milliseconds budget) {
        auto until = Clock::now() + budget;
        std::array<std::uint8_t, 2048> buf;
        while (Clock::now() < until) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) != 1) continue;
            sockaddr_ll from{};
            socklen_t len = sizeof from;
            auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
            if (match(Frame(buf.begin(), buf.begin() + n))) return true;
        }
        return false;
    }

private:
    int fd_ = -1;
    sockaddr_ll addr_{};
};

std::uint16_t get16(const Frame& f, std::size_t at) { return static_cast<std::uint16_t>(f[at] << 8 | f[at + 1]); }

bool is_synack_to(const Frame& f, std::uint16_t port) {
    return f.size() >= 54 && get16(f, 12) == 0x0800 && f[23] == 6 && get16(f, 34) == 7 && get16(f, 36) == port &&
           (f[47] & 0x12) == 0x12;
}
bool is_arp_reply(const Frame& f) { return f.size() >= 42 && get16(f, 12) == 0x0806 && get16(f, 20) == 2; }

// Every frame sent before an ARP request has been handled once its reply comes back (the host
// reads the device in order): keeps the device's queue from overflowing and tells when the
// flood has been digested.
bool sync(PacketPort& port, const std::array<std::uint8_t, 6>& mac) {
    for (int i = 0; i < 3; ++i) {
        port.send(arp_request(mac, kOurIp));
        if (port.await(is_arp_reply, 3s)) return true;
    }
    return false;
}

// Malformed and foreign frames of every layer, from a seeded generator (reproducible).
std::vector<Frame> garbage(const std::array<std::uint8_t, 6>& mac) {
    std::mt19937 rng(20261121);
    auto byte = [&] { return static_cast<std::uint8_t>(rng()); };
    std::vector<Frame> v;
    auto valid = [&](std::uint16_t sport) { return tcp_frame(mac, kKernelIp, sport, 7, rng(), 0x02); };
    for (int i = 0; i < 200; ++i) {
        Frame f = valid(static_cast<std::uint16_t>(2000 + i));
        switch (i % 20) {
            case 0: f.resize(1 + rng() % 13); break;                         // runt: no Ethernet header
            case 1: put16(f, 12, 0x88b5); break;                              // unknown ethertype
            case 2: f[14] = 0x65; break;                                      // IP version 6 in IPv4
            case 3: f[14] = 0x43; break;                                      // IHL 3 < 5
            case 4: f[14] = 0x4f; break;                                      // IHL 15: options beyond the packet
            case 5: put16(f, 16, 1500); break;                                // total length > frame
            case 6: put16(f, 16, 12); break;                                  // total length < header
            case 7: f[24] ^= 0x5a; break;                                     // bad IP header checksum
            case 8: f[46] = 0x30; break;                                      // TCP data offset 3 < 5
            case 9: f[46] = 0xf0; break;                                      // TCP data offset 60 > segment
            case 10: f[50] ^= 0xff; break;                                    // bad TCP checksum
            case 11: f = tcp_frame(mac, kKernelIp, 3000, 7, rng(), 0x02, {2, 0, 0, 0}); break;     // option length 0
            case 12: f = tcp_frame(mac, kKernelIp, 3001, 7, rng(), 0x02, {8, 40, 0, 0}); break;    // option past the header
            case 13: f = tcp_frame(mac, kKernelIp, 3002, 7, rng(), 0x02, {3, 3, 200, 0}); break;   // wscale 200
            case 14: f.resize(14 + 20 + 10); break;                          // TCP header cut short
            case 15: {                                                        // a fragment (MF, odd offset)
                put16(f, 20, static_cast<std::uint16_t>(0x2000 | (rng() % 8000)));
                put16(f, 18, static_cast<std::uint16_t>(rng()));
                put16(f, 24, 0);
                put16(f, 24, checksum(&f[14], 20));
                break;
            }
            case 16: {                                                        // ARP with impossible sizes
                f = arp_request(mac, kOurIp);
                f[18] = byte();
                f[19] = byte();
                break;
            }
            case 17: f = arp_request(mac, kOurIp), f.resize(20); break;      // ARP cut short
            case 18: {                                                        // random bytes as IPv4
                f.resize(14 + rng() % 1400);
                for (std::size_t k = 14; k < f.size(); ++k) f[k] = byte();
                break;
            }
            case 19: f[0] = 0x02, f[5] = 0x99; break;                        // not our MAC
        }
        v.push_back(std::move(f));
    }
    // Many fragments that never complete: reassembly must bound what it holds.
    for (int i = 0; i < 3000; ++i) {
        Frame f = valid(static_cast<std::uint16_t>(4000 + i));
        f.resize(14 + 1400);
        put16(f, 16, 1400);
        put16(f, 18, static_cast<std::uint16_t>(i));  // a new datagram each time
        put16(f, 20, 0x2000);                          // MF, offset 0
        put16(f, 24, 0);
        put16(f, 24, checksum(&f[14], 20));
        v.push_back(std::move(f));
    }
    return v;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_syn_flood_and_garbage_leave_the_listener_bounded_and_serving) {
    if (!tcpsim::testing::is_root()) {
        tcpsim::testing::announce_skip("the live flood test needs root (TAP devices, network namespaces, AF_PACKET)");
        return;
    }
    if (::unshare(CLONE_NEWNET) != 0) {
        tcpsim::testing::announce_skip("cannot create a network namespace (unshare CLONE_NEWNET failed)");
        return;
    }
    TempDir tmp;
    // Linux defaults (tcp_synack_retries 5, tcp_syncookies 1): the flood's embryos hold the SYN
    // queue for a minute, and beyond it every SYN gets a stateless cookie, so the kernel's real
    // connection gets in at once.
    std::ofstream(tmp / "flood.yaml") << R"(description: a SYN flood and malformed frames, then a real client
until: 90s
hosts:
  tcpsim:
    interfaces:
      eth0: {addr: 192.0.2.2/24, mac: "02:00:00:00:00:02"}
    live: {dev: tfl0, create: true, kernel: 192.0.2.1/24}
apps:
  server:
    host: tcpsim
    script:
    - socket: listener
    - bind: {fd: listener, addr: "*:7"}
    - listen: {fd: listener, backlog: 8}
    - accept: {fd: listener, as: conn}
      expect: {addr: "192.0.2.1:0"}
    - recv: {fd: conn, size: 4, flags: MSG_WAITALL}
      expect: {ret: 4, data: "ping"}
    - send: {fd: conn, data: "pong\n"}
    - recv: {fd: conn, size: 100}
      expect: {ret: 0}
    - close: conn
    - close: listener
expect:
  - count: {what: drops, host: tcpsim, at_least: 50}
  - states:
      of: server.conn
      are: [SYN_RECV, ESTABLISHED, CLOSE_WAIT, LAST_ACK, CLOSED]
)";
    // Under AddressSanitizer freed memory sits in a quarantine of up to 256 MiB, so RSS would
    // measure the allocator, not tcpsim: keep the quarantine small for this child (no effect on
    // a build without ASan).
    std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
    ::setenv("ASAN_OPTIONS", (asan + (asan.empty() ? "" : ":") + "quarantine_size_mb=4").c_str(), 1);
    TcpsimRun run({(tmp / "flood.yaml").string(), "--states", (tmp / "flood.states").string()}, tmp / "flood.log");
    ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
    BOOST_REQUIRE(run.pid() > 0);
    auto log = [&] { return slurp(tmp / "flood.log"); };

    // The device appears once tcpsim has created it.
    auto until = Clock::now() + 10s;
    while (::if_nametoindex("tfl0") == 0 && Clock::now() < until) std::this_thread::sleep_for(20ms);
    BOOST_REQUIRE_MESSAGE(::if_nametoindex("tfl0") != 0, "tcpsim creates tfl0; log:\n" << log());
    std::array<std::uint8_t, 6> kmac{};
    {
        std::ifstream f("/sys/class/net/tfl0/address");
        std::string s;
        f >> s;
        for (std::size_t i = 0; i < 6 && 3 * i + 2 <= s.size(); ++i) kmac[i] = static_cast<std::uint8_t>(std::stoul(s.substr(3 * i, 2), nullptr, 16));
    }
    PacketPort port("tfl0");
    BOOST_REQUIRE(port.ok());

    // The listener is up once a SYN from the kernel's address gets a SYN-ACK (the kernel then
    // resets that half-open connection itself: it has no socket for it).
    bool listening = false;
    for (int i = 0; i < 50 && !listening; ++i) {
        port.send(tcp_frame(kmac, kKernelIp, static_cast<std::uint16_t>(50000 + i), 7, 1000u * i, 0x02));
        listening = port.await([&](const Frame& f) { return is_synack_to(f, static_cast<std::uint16_t>(50000 + i)); }, 200ms);
    }
    BOOST_REQUIRE_MESSAGE(listening, "tcpsim's listener answers a SYN; log:\n" << log());
    BOOST_REQUIRE(sync(port, kmac));
    long rss_before = run.rss_kib();

    // 20000 SYNs from spoofed addresses of the link that never answer (not even ARP).
    std::mt19937 rng(6);
    int sent = 0;
    for (int i = 0; i < kSyns; ++i) {
        std::uint32_t src = 0xc0000200u | (10 + rng() % 240);
        if (port.send(tcp_frame(kmac, src, static_cast<std::uint16_t>(1024 + rng() % 60000), 7, rng(), 0x02))) ++sent;
        if (i % 200 == 199) BOOST_REQUIRE_MESSAGE(sync(port, kmac), "tcpsim keeps answering ARP during the flood (after " << i + 1 << " SYNs)");
    }
    BOOST_TEST(sent == kSyns);
    // Malformed and foreign frames.
    int refused = 0, n = 0;
    for (const auto& f : garbage(kmac)) {
        if (!port.send(f)) ++refused;  // runts may be refused by the device itself
        if (++n % 200 == 0) BOOST_REQUIRE(sync(port, kmac));
    }
    BOOST_REQUIRE_MESSAGE(sync(port, kmac), "tcpsim digested the flood and the garbage; log:\n" << log());
    BOOST_TEST_MESSAGE(refused << " malformed frames refused by the device before reaching tcpsim");

    BOOST_TEST(run.alive(), "tcpsim survives the flood and the malformed frames");
    long rss_after = run.rss_kib();
    BOOST_TEST_MESSAGE("tcpsim RSS " << rss_before << " KiB before, " << rss_after << " KiB after");
    // A connection per SYN (20000 of them with their buffers) would take far more than this.
    BOOST_TEST(rss_after - rss_before < 32 * 1024, "RSS grew by " << rss_after - rss_before << " KiB");

    // A normal kernel connection still works (once the flood's embryos have given up).
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(7);
    sa.sin_addr.s_addr = htonl(kOurIp);
    timeval tv{45, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto t0 = Clock::now();
    BOOST_REQUIRE_MESSAGE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0,
                          "the kernel connects after the flood: " << std::strerror(errno));
    const auto connect_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    BOOST_TEST_MESSAGE("the kernel's connect() took " << connect_ms << " ms");
    // Its SYN is answered at once with a cookie; with stateful embryos it would wait for their
    // SYN-ACK retries to run out (63 s with tcp_synack_retries 5). Seen: about 5 s, because the
    // kernel ignores our first SYN-ACKs right after the flood (cause not yet known; the log shows
    // them sent at once, cookie and plain alike).
    BOOST_TEST(connect_ms < 30000, "the kernel connects through a SYN cookie, not after the embryos give up");
    BOOST_TEST(::write(fd, "ping", 4) == 4);
    ::shutdown(fd, SHUT_WR);
    std::string got;
    char buf[64];
    for (ssize_t r; (r = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(r));
    ::close(fd);
    BOOST_TEST(got == "pong\n");

    int status = run.wait_exit(30s);
    std::string text = log();
    BOOST_TEST(status == 0, "every expectation held (drops counted, the real connection's states); log tail:\n"
                                << text.substr(text.size() > 4000 ? text.size() - 4000 : 0));
    // The host's drop counters, as the run log reports them (one line per dropped packet).
    for (const char* why : {"listen queue full", "malformed", "bad checksum", "not for us", "unsupported protocol", "reassembly", "ARP"})
        BOOST_TEST_MESSAGE(count_of(text, std::string("drop: ") + why) << " drops: " << why);
    BOOST_TEST(count_of(text, "drop: listen queue full") < 50u, "beyond the SYN queue, SYNs get cookies, not drops");
    BOOST_TEST(count_of(text, "drop: malformed") >= 50u, "the codecs rejected the malformed frames");
    BOOST_TEST(count_of(text, "drop: bad checksum") >= 10u, "bad IPv4 and TCP checksums are dropped");
    // The SYN queue stayed bounded: at no time more embryos than the backlog (plus the real
    // connection, which passes through SYN_RECV when it is rebuilt from its cookie).
    std::istringstream states(slurp(tmp / "flood.states"));
    long open = 0, most = 0, made = 0;
    for (std::string line; std::getline(states, line);) {
        if (has(line, "-> SYN_RECV ")) ++open, ++made;
        if (has(line, " SYN_RECV -> ")) --open;
        most = std::max(most, open);
    }
    BOOST_TEST_MESSAGE(made << " SYN_RECV children for " << kSyns << " SYNs, at most " << most << " at once");
    BOOST_TEST(most <= kBacklog + 1, "SYN_RECV children at once: " << most);
    BOOST_TEST(most >= kBacklog, "the flood did fill the SYN queue");
}
