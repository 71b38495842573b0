// The raw-TAP anchor of DESIGN.md "Performance budget": the simplest honest TCP receiver on a
// TAP device, and the kernel-side sender that both it and `tcpsim tap --serve sink:PORT` are
// measured with. Standalone on purpose (no tcpsim code): it is the yardstick, not the subject.
//
//   bench_tap_sink sink --dev NAME --addr 192.0.2.2 --kernel-addr 192.0.2.1/24 --port 9
//                  [--ack-every N] [--no-verify] [--seconds S]
//     Creates the TAP device NAME (in the caller's network namespace), gives the kernel side
//     --kernel-addr, brings it up with IPv6 off, prints "ready", then serves ONE connection:
//       - answers ARP requests for --addr;
//       - answers a SYN with SYN-ACK (MSS 1460, window scale 7; no SACK, no timestamps);
//       - accepts in-order data only (out-of-order data is dropped, answered by a duplicate
//         ACK); verifies the IPv4 header and TCP checksums unless --no-verify;
//       - sends one cumulative ACK per read batch (all frames readable without blocking, at most
//         64), or every N data segments with --ack-every N (1 = Linux's quick-ACK extreme),
//         always advertising a 4 MiB window;
//       - answers FIN with FIN-ACK and stops when that FIN is acknowledged.
//     Prints bytes, seconds from SYN to FIN, Gbit/s, frames and ACKs sent. No retransmission
//     timer: it sends no data, and a TAP does not lose its FIN-ACK (--seconds bounds the run).
//   bench_tap_sink send --to 192.0.2.2:9 --bytes N [--seconds S]
//     A kernel TCP client: connect, write N zero bytes in 1 MiB writes, shutdown(SHUT_WR), read
//     until EOF. Prints "sent N bytes in T s = X Gbit/s" timed from connect() to EOF, i.e. until
//     the receiver has everything and has closed. This is the figure bench/tap_throughput compares.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bench_tap_sink: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}
[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "bench_tap_sink: %s\n"
                 "usage: bench_tap_sink sink --dev NAME --addr IP --kernel-addr IP/LEN --port P [--ack-every N] [--no-verify] [--seconds S]\n"
                 "       bench_tap_sink send --to IP:PORT --bytes N [--seconds S]\n",
                 msg);
    std::exit(2);
}

std::uint16_t rd16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t rd32(const std::uint8_t* p) { return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3]; }
void wr16(std::uint8_t* p, std::uint16_t v) { p[0] = std::uint8_t(v >> 8); p[1] = std::uint8_t(v); }
void wr32(std::uint8_t* p, std::uint32_t v) { p[0] = std::uint8_t(v >> 24); p[1] = std::uint8_t(v >> 16); p[2] = std::uint8_t(v >> 8); p[3] = std::uint8_t(v); }

// RFC 1071 one's-complement sum, 16 bits at a time (the simple loop; compilers vectorise it).
std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc = 0) {
    std::uint64_t s = acc;
    for (; n >= 2; p += 2, n -= 2) s += rd16(p);
    if (n) s += std::uint32_t(p[0]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint32_t>(s);
}
std::uint16_t fold(std::uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xffff);
}
std::uint32_t pseudo(const std::uint8_t* ip, std::size_t tcp_len) {
    std::uint32_t s = sum16(ip + 12, 8);  // source and destination addresses
    return s + 6 + static_cast<std::uint32_t>(tcp_len);
}

bool parse_ipv4(const char* s, std::uint32_t& out) {
    in_addr a{};
    if (inet_pton(AF_INET, s, &a) != 1) return false;
    out = ntohl(a.s_addr);
    return true;
}

void ifreq_ioctl(int sock, unsigned long req, ifreq& ifr, const char* what) {
    if (ioctl(sock, req, &ifr) < 0) die(what);
}

void set_sockaddr(sockaddr* sa, std::uint32_t ip) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(ip);
    std::memcpy(sa, &sin, sizeof sin);
}

struct Sink {
    int fd = -1;
    std::uint8_t mac[6] = {0x02, 0x00, 0xc0, 0x00, 0x02, 0x02};
    std::uint32_t ip = 0;
    std::uint16_t port = 9;
    int ack_every = 0;  // 0 = per read batch
    bool verify = true;

    // The one connection.
    bool open = false, fin_in = false, fin_acked = false;
    std::uint8_t peer_mac[6]{};
    std::uint32_t peer_ip = 0;
    std::uint16_t peer_port = 0;
    std::uint32_t iss = 0x10000000, snd_nxt = 0, rcv_nxt = 0;
    bool ack_due = false;
    int unacked_segments = 0;

    std::uint64_t bytes = 0, frames_in = 0, data_segments = 0, acks_out = 0, bad_checksums = 0, out_of_order = 0;
    Clock::time_point t_syn{}, t_fin{};

    void write_frame(const std::uint8_t* f, std::size_t n) {
        if (::write(fd, f, n) < 0 && errno != EAGAIN) die("write to TAP");
    }

    void send_tcp(std::uint8_t flags, bool syn_options) {
        std::uint8_t f[14 + 20 + 28]{};
        std::memcpy(f, peer_mac, 6);
        std::memcpy(f + 6, mac, 6);
        wr16(f + 12, 0x0800);
        std::uint8_t* iph = f + 14;
        std::size_t tcp_len = syn_options ? 28 : 20;
        iph[0] = 0x45;
        wr16(iph + 2, static_cast<std::uint16_t>(20 + tcp_len));
        wr16(iph + 6, 0x4000);  // DF
        iph[8] = 64;
        iph[9] = 6;
        wr32(iph + 12, ip);
        wr32(iph + 16, peer_ip);
        wr16(iph + 10, fold(sum16(iph, 20)));
        std::uint8_t* t = iph + 20;
        wr16(t, port);
        wr16(t + 2, peer_port);
        wr32(t + 4, syn_options ? iss : snd_nxt);
        wr32(t + 8, rcv_nxt);
        t[12] = static_cast<std::uint8_t>((tcp_len / 4) << 4);
        t[13] = flags;
        // 4 MiB receive window: 32768 << 7 (a SYN's window is never scaled, RFC 7323 §2.2).
        wr16(t + 14, syn_options ? 65535 : 32768);
        if (syn_options) {
            std::uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};  // MSS 1460, NOP, WS 7
            std::memcpy(t + 20, opts, 8);
        }
        wr16(t + 16, fold(sum16(t, tcp_len, pseudo(iph, tcp_len))));
        write_frame(f, 14 + 20 + tcp_len);
        if (!syn_options) ++acks_out;
    }

    void on_arp(const std::uint8_t* f, std::size_t n) {
        if (n < 42 || rd16(f + 14) != 1 || rd16(f + 16) != 0x0800 || rd16(f + 20) != 1 || rd32(f + 38) != ip) return;
        std::uint8_t r[42];
        std::memcpy(r, f + 6, 6);
        std::memcpy(r + 6, mac, 6);
        wr16(r + 12, 0x0806);
        std::memcpy(r + 14, f + 14, 6);  // htype, ptype, hlen, plen
        wr16(r + 20, 2);
        std::memcpy(r + 22, mac, 6);
        wr32(r + 28, ip);
        std::memcpy(r + 32, f + 22, 10);  // sender hw + ip become target
        write_frame(r, sizeof r);
    }

    void on_ipv4(const std::uint8_t* f, std::size_t n) {
        if (n < 14 + 20) return;
        const std::uint8_t* iph = f + 14;
        std::size_t ihl = (iph[0] & 0xf) * 4u, total = rd16(iph + 2);
        if ((iph[0] >> 4) != 4 || ihl < 20 || total < ihl + 20 || 14 + total > n) return;
        if (iph[9] != 6 || rd32(iph + 16) != ip) return;
        const std::uint8_t* t = iph + ihl;
        std::size_t tcp_len = total - ihl, doff = (t[12] >> 4) * 4u;
        if (doff < 20 || doff > tcp_len || rd16(t + 2) != port) return;
        if (verify && (fold(sum16(iph, ihl)) != 0 || fold(sum16(t, tcp_len, pseudo(iph, tcp_len))) != 0)) {
            ++bad_checksums;
            return;
        }
        std::uint8_t flags = t[13];
        std::uint32_t seq = rd32(t + 4);
        if (flags & 0x04) return;  // RST: ignore (the connection is already measured or never was)
        if (flags & 0x02) {        // SYN (or its retransmission)
            if (open && seq + 1 != rcv_nxt) return;
            open = true;
            std::memcpy(peer_mac, f + 6, 6);
            peer_ip = rd32(iph + 12);
            peer_port = rd16(t);
            rcv_nxt = seq + 1;
            snd_nxt = iss + 1;
            t_syn = Clock::now();
            send_tcp(0x12, true);
            return;
        }
        if (!open || rd32(iph + 12) != peer_ip || rd16(t) != peer_port) return;
        std::size_t len = tcp_len - doff;
        if (fin_in && (flags & 0x10) && rd32(t + 8) == snd_nxt) fin_acked = true;  // our FIN acknowledged
        if (len == 0 && !(flags & 0x01)) return;                                    // pure ACK
        if (seq != rcv_nxt) {
            ++out_of_order;
            ack_due = true;
            return;
        }
        rcv_nxt += static_cast<std::uint32_t>(len);
        bytes += len;
        if (len) {
            ++data_segments;
            ++unacked_segments;
            ack_due = true;
        }
        if ((flags & 0x01) && !fin_in) {
            fin_in = true;
            rcv_nxt += 1;
            t_fin = Clock::now();
            ack_due = false;
            send_tcp(0x11, false);  // FIN-ACK: we have nothing to send
            snd_nxt += 1;
        } else if (ack_every > 0 && unacked_segments >= ack_every) {
            flush_ack();
        }
    }

    void flush_ack() {
        if (!ack_due) return;
        send_tcp(0x10, false);
        ack_due = false;
        unacked_segments = 0;
    }

    int run(double seconds) {
        std::vector<std::uint8_t> buf(65536);
        auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
        std::printf("ready\n");
        std::fflush(stdout);
        while (!fin_acked) {
            if (Clock::now() > deadline) {
                std::fprintf(stderr, "bench_tap_sink: gave up after %.0f s (%llu bytes received)\n", seconds,
                             static_cast<unsigned long long>(bytes));
                return 1;
            }
            pollfd p{fd, POLLIN, 0};
            int r = ::poll(&p, 1, 200);
            if (r < 0 && errno != EINTR) die("poll");
            if (r <= 0) continue;
            for (int i = 0; i < 64; ++i) {  // one read batch
                ssize_t n = ::read(fd, buf.data(), buf.size());
                if (n < 0) {
                    if (errno == EAGAIN || errno == EINTR) break;
                    die("read from TAP");
                }
                ++frames_in;
                std::size_t len = static_cast<std::size_t>(n);
                if (len < 14) continue;
                std::uint16_t type = rd16(buf.data() + 12);
                if (type == 0x0806) on_arp(buf.data(), len);
                else if (type == 0x0800) on_ipv4(buf.data(), len);
            }
            flush_ack();
        }
        double secs = std::chrono::duration<double>(t_fin - t_syn).count();
        std::printf("anchor sink: %llu bytes in %.3f s (SYN to FIN) = %.2f Gbit/s; %llu frames in, %llu data segments, "
                    "%llu ACKs out (%.1f segments per ACK), %llu out of order, %llu bad checksums\n",
                    static_cast<unsigned long long>(bytes), secs, secs > 0 ? static_cast<double>(bytes) * 8 / secs / 1e9 : 0,
                    static_cast<unsigned long long>(frames_in), static_cast<unsigned long long>(data_segments),
                    static_cast<unsigned long long>(acks_out),
                    acks_out ? static_cast<double>(data_segments) / static_cast<double>(acks_out) : 0.0,
                    static_cast<unsigned long long>(out_of_order), static_cast<unsigned long long>(bad_checksums));
        return 0;
    }
};

int sink_main(int argc, char** argv) {
    Sink s;
    std::string dev;
    std::uint32_t kaddr = 0;
    int plen = 24;
    double seconds = 60;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) usage("missing value");
            return argv[++i];
        };
        if (a == "--dev") dev = val();
        else if (a == "--addr") { if (!parse_ipv4(val(), s.ip)) usage("bad --addr"); }
        else if (a == "--kernel-addr") {
            std::string v = val();
            auto slash = v.find('/');
            if (slash != std::string::npos) plen = std::atoi(v.c_str() + slash + 1);
            if (!parse_ipv4(v.substr(0, slash).c_str(), kaddr) || plen < 1 || plen > 30) usage("bad --kernel-addr");
        } else if (a == "--port") s.port = static_cast<std::uint16_t>(std::atoi(val()));
        else if (a == "--ack-every") s.ack_every = std::atoi(val());
        else if (a == "--no-verify") s.verify = false;
        else if (a == "--seconds") seconds = std::atof(val());
        else usage("unknown option");
    }
    if (dev.empty() || dev.size() >= IFNAMSIZ || !s.ip || !kaddr || !s.port) usage("sink needs --dev, --addr, --kernel-addr, --port");
    s.mac[2] = std::uint8_t(s.ip >> 24), s.mac[3] = std::uint8_t(s.ip >> 16), s.mac[4] = std::uint8_t(s.ip >> 8), s.mac[5] = std::uint8_t(s.ip);

    s.fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (s.fd < 0) die("open /dev/net/tun");
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
    ifreq_ioctl(s.fd, TUNSETIFF, ifr, "TUNSETIFF");

    // Kernel side: no IPv6 chatter, an address, link up (what `ip addr add` / `ip link set up` do).
    std::string v6 = "/proc/sys/net/ipv6/conf/" + dev + "/disable_ipv6";
    if (FILE* f = std::fopen(v6.c_str(), "w")) {
        std::fputs("1", f);
        std::fclose(f);
    }
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) die("socket");
    ifreq a{};
    std::strncpy(a.ifr_name, dev.c_str(), IFNAMSIZ - 1);
    set_sockaddr(&a.ifr_addr, kaddr);
    ifreq_ioctl(sock, SIOCSIFADDR, a, "SIOCSIFADDR");
    set_sockaddr(&a.ifr_netmask, plen == 0 ? 0 : ~std::uint32_t{0} << (32 - plen));
    ifreq_ioctl(sock, SIOCSIFNETMASK, a, "SIOCSIFNETMASK");
    ifreq_ioctl(sock, SIOCGIFFLAGS, a, "SIOCGIFFLAGS");
    a.ifr_flags = static_cast<short>(a.ifr_flags | IFF_UP);
    ifreq_ioctl(sock, SIOCSIFFLAGS, a, "SIOCSIFFLAGS");
    ::close(sock);
    int rc = s.run(seconds);
    ::close(s.fd);
    return rc;
}

int send_main(int argc, char** argv) {
    std::uint32_t ip = 0;
    int port = 0;
    unsigned long long total = 0;
    double seconds = 60;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) usage("missing value");
            return argv[++i];
        };
        if (a == "--to") {
            std::string v = val();
            auto colon = v.find(':');
            if (colon == std::string::npos || !parse_ipv4(v.substr(0, colon).c_str(), ip)) usage("bad --to");
            port = std::atoi(v.c_str() + colon + 1);
        } else if (a == "--bytes") {
            char* end = nullptr;
            total = std::strtoull(val(), &end, 10);
            if (*end == 'K') total <<= 10;
            else if (*end == 'M') total <<= 20;
            else if (*end == 'G') total <<= 30;
        } else if (a == "--seconds") seconds = std::atof(val());
        else usage("unknown option");
    }
    if (!ip || port <= 0 || port > 65535 || !total) usage("send needs --to IP:PORT and --bytes N");
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    // Bounded in wall time: every blocking call gives up after `seconds`.
    timeval tv{static_cast<time_t>(seconds), 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(ip);
    auto t0 = Clock::now();
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) die("connect");
    std::vector<char> buf(1 << 20, 0);
    unsigned long long sent = 0;
    auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (sent < total) {
        if (Clock::now() > deadline) {
            errno = ETIMEDOUT;
            die("send (time limit)");
        }
        std::size_t want = static_cast<std::size_t>(std::min<unsigned long long>(buf.size(), total - sent));
        ssize_t n = ::send(fd, buf.data(), want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("send");
        }
        sent += static_cast<unsigned long long>(n);
    }
    ::shutdown(fd, SHUT_WR);
    char c[4096];
    while (true) {
        ssize_t n = ::recv(fd, c, sizeof c, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            die("recv (waiting for the receiver's FIN)");
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    tcp_info ti{};
    socklen_t tl = sizeof ti;
    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
    ::close(fd);
    std::printf("sent %llu bytes in %.3f s = %.3f Gbit/s (kernel: %u retransmitted segments, snd_mss %u)\n", sent, secs,
                static_cast<double>(sent) * 8 / secs / 1e9, ti.tcpi_total_retrans, ti.tcpi_snd_mss);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("give a mode: sink or send");
    std::string mode = argv[1];
    if (mode == "sink") return sink_main(argc, argv);
    if (mode == "send") return send_main(argc, argv);
    usage("unknown mode");
}
