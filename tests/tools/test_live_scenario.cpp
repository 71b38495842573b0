// The scenario hook into live mode: `tcpsim run` of a scenario whose host is `live:` runs that
// host's scripts on a TAP device in real time against the Linux kernel, in a network namespace
// this test process creates for itself (unshare(CLONE_NEWNET)); the kernel side is driven by
// the test with plain kernel sockets. Every wait is bounded in wall time. Needs root.
// ctest-labels: root live
#define BOOST_TEST_MODULE tools_live_scenario
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/skip.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// One `tcpsim run` process, started by this test and stopped by its PID; a scratch directory.
struct TcpsimRun : tcpsim::testing::TcpsimProcess {
    TcpsimRun(const std::vector<std::string>& args, const fs::path& log, std::vector<std::string> wrapper = {})
        : TcpsimProcess("run", args, log, std::move(wrapper)) {}
};
struct TempDir : tcpsim::testing::TempDir {
    TempDir() : tcpsim::testing::TempDir("tcpsim-live-scenario") {}
};

// Root and a private network namespace, or a skip marker.
bool live_preconditions() {
    if (!tcpsim::testing::is_root()) {
        tcpsim::testing::announce_skip("live scenario tests need root (TAP devices and network namespaces)");
        return false;
    }
    if (::unshare(CLONE_NEWNET) != 0) {
        tcpsim::testing::announce_skip("cannot create a network namespace (unshare CLONE_NEWNET failed)");
        return false;
    }
    return true;
}

sockaddr_in ipv4(const char* addr, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, addr, &a.sin_addr);
    return a;
}

// A kernel TCP connection to addr:port, retried (the device, its address and tcpsim's listener
// appear only once tcpsim runs) for at most `budget`. -1 if none.
int kernel_connect(const char* addr, std::uint16_t port, std::chrono::milliseconds budget) {
    auto until = Clock::now() + budget;
    while (Clock::now() < until) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        auto sa = ipv4(addr, port);
        int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        if (r != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 3000) == 1) {
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                r = err == 0 ? 0 : -1;
            }
        }
        if (r == 0) {
            ::fcntl(fd, F_SETFL, 0);
            return fd;
        }
        ::close(fd);
        std::this_thread::sleep_for(100ms);
    }
    return -1;
}

// Reads until EOF or `budget`; returns what arrived.
std::string read_to_eof(int fd, std::chrono::milliseconds budget) {
    std::string got;
    auto until = Clock::now() + budget;
    char buf[65536];
    while (Clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) != 1) continue;
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

}  // namespace

// The shipped example, as its walkthrough runs it: our host serves, a kernel client sends
// "ping", half-closes and reads "pong"; every expectation of the file holds and the outputs exist.
BOOST_AUTO_TEST_CASE(the_shipped_ping_pong_scenario_serves_a_kernel_client) {
    if (!live_preconditions()) return;
    TempDir tmp;
    TcpsimRun run({TCPSIM_SOURCE_DIR "/scenarios/live/ping-pong.yaml", "--pcap", (tmp / "pp.pcap").string(), "--trace",
                   (tmp / "pp.txt").string(), "--states", (tmp / "pp.states").string()},
                  tmp / "pp.log");
    BOOST_REQUIRE(run.started());
    int fd = kernel_connect("192.0.2.2", 7, 20s);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "the kernel connects to tcpsim's listener; log:\n" << slurp(tmp / "pp.log"));
    BOOST_TEST(::write(fd, "ping", 4) == 4);
    ::shutdown(fd, SHUT_WR);  // as nc -N at the end of its input
    BOOST_TEST(read_to_eof(fd, 20s) == "pong\n");
    ::close(fd);

    int status = run.wait_exit(20s);
    std::string log = slurp(tmp / "pp.log");
    BOOST_TEST(status == 0, "tcpsim run exits 0 (every expectation held); log:\n" << log);
    BOOST_TEST(has(log, "all 7 expectations held"), log);
    BOOST_TEST(has(log, "live on tcpsim0"), log);
    BOOST_TEST(has(log, "(wall-clock seconds since the start, live)"), log);
    BOOST_TEST(fs::file_size(tmp / "pp.pcap") > 24u);  // more than the pcap header
    std::string trace = slurp(tmp / "pp.txt");
    BOOST_TEST(has(trace, "192.0.2.2.7 > 192.0.2.1."), trace);
    BOOST_TEST(has(trace, "Flags [S.]"), trace);
    std::string states = slurp(tmp / "pp.states");
    BOOST_TEST(has(states, "CLOSE_WAIT -> LAST_ACK"), states);
    BOOST_TEST(has(states, "LAST_ACK -> CLOSED"), states);
    if (tcpsim::testing::have_program("tcpdump")) {
        // The trace is exactly what tcpdump prints for the pcap, live as in simulation.
        auto cmd = "tcpdump -tt -nn -S -r '" + (tmp / "pp.pcap").string() + "' 2>/dev/null | diff -q - '" + (tmp / "pp.txt").string() + "' >/dev/null";
        BOOST_TEST(std::system(cmd.c_str()) == 0, "tcpdump -tt -nn -S of the pcap equals the trace");
    }
}

// Our host is the client: it connects to a kernel echo server driven by the test, sends 100000
// generated bytes, half-closes and reads the echo to the end. `delivered` from the socket to
// itself holds only if every byte came back; the states are the active close.
BOOST_AUTO_TEST_CASE(a_live_client_script_checks_a_kernel_echo) {
    if (!live_preconditions()) return;
    TempDir tmp;
    ::system("ip link set lo up");
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto any = ipv4("0.0.0.0", 7007);  // the device and 192.0.2.1 appear only once tcpsim runs
    BOOST_REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
    BOOST_REQUIRE(::listen(listener, 4) == 0);
    std::atomic<std::uint64_t> echoed{0};
    std::thread echo([&] {
        pollfd p{listener, POLLIN, 0};
        if (::poll(&p, 1, 30000) != 1) return;
        int c = ::accept(listener, nullptr, nullptr);
        if (c < 0) return;
        auto until = Clock::now() + 30s;
        char buf[16384];
        while (Clock::now() < until) {
            pollfd q{c, POLLIN, 0};
            if (::poll(&q, 1, 200) != 1) continue;
            auto n = ::read(c, buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                auto w = ::write(c, buf + off, static_cast<std::size_t>(n - off));
                if (w <= 0) break;
                off += w;
            }
            echoed += static_cast<std::uint64_t>(n);
        }
        ::close(c);  // after the peer's FIN: our own
    });
    std::ofstream(tmp / "client.yaml") << R"(description: a live client against a kernel echo server
until: 30s
hosts:
  me:
    interfaces:
      eth0: 192.0.2.2/24
    live: {dev: tlc0, create: true, kernel: 192.0.2.1/24}
apps:
  client:
    host: me
    script:
    - socket: sock
    - connect: {fd: sock, to: "192.0.2.1:7007"}
      expect: {ret: 0}
    - send: {fd: sock, bytes: 100000}
      expect: {ret: 100000}
    - shutdown: {fd: sock, how: SHUT_WR}
    - recv: {fd: sock, size: all}
      expect: {ret: 100000}
    - close: sock
expect:
  - delivered: {from: client.sock, to: client.sock, bytes: 100000}
  - state: {of: client.sock, is: TIME_WAIT}   # via FIN_WAIT2, or not if the echo's FIN acks ours
  - segment: {link: tlc0, from: me, flags: S, options: [mss, sackOK, TS, wscale], is: 1}
  - count: {what: resets, is: 0}
)";
    TcpsimRun run({(tmp / "client.yaml").string(), "--pcap", (tmp / "c.pcap").string(), "--states",
                   (tmp / "c.states").string()},
                  tmp / "c.log");
    BOOST_REQUIRE(run.started());
    int status = run.wait_exit(40s);
    echo.join();
    ::close(listener);
    std::string log = slurp(tmp / "c.log");
    BOOST_TEST(status == 0, "tcpsim run exits 0; log:\n" << log);
    BOOST_TEST(echoed.load() == 100000u);
    BOOST_TEST(has(log, "all 7 expectations held"), log);
    std::string states = slurp(tmp / "c.states");
    BOOST_TEST(has(states, "SYN_SENT -> ESTABLISHED"), states);
    BOOST_TEST(has(states, "ESTABLISHED -> FIN_WAIT1"), states);
    BOOST_TEST(has(states, "-> TIME_WAIT"), states);
    BOOST_TEST(fs::file_size(tmp / "c.pcap") > 100000u);
}

// A live run interrupted by SIGINT still ends cleanly: the verdicts (the never-reached accept
// fails), the outputs, exit status 1.
BOOST_AUTO_TEST_CASE(sigint_ends_a_live_run_with_verdicts_and_outputs) {
    if (!live_preconditions()) return;
    TempDir tmp;
    std::ofstream(tmp / "wait.yaml") << R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {dev: tsi0, create: true, kernel: 192.0.2.1/24}
apps:
  server:
    host: me
    script:
    - socket: l
    - bind: {fd: l, addr: "*:9"}
    - listen: {fd: l}
    - accept: {fd: l, as: c}
      expect: {ret: 4}
)";
    TcpsimRun run({(tmp / "wait.yaml").string(), "--states", (tmp / "w.states").string()}, tmp / "w.log");
    BOOST_REQUIRE(run.started());
    // Running once the kernel gets a RST from the closed port 10 (the host answers).
    auto until = Clock::now() + 10s;
    bool answered = false;
    while (!answered && Clock::now() < until) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        auto sa = ipv4("192.0.2.2", 10);
        timeval tv{0, 300000};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        answered = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno == ECONNREFUSED;
        ::close(fd);
        if (!answered) std::this_thread::sleep_for(100ms);
    }
    BOOST_REQUIRE_MESSAGE(answered, "tcpsim answers on the device");
    int status = run.interrupt();
    std::string log = slurp(tmp / "w.log");
    BOOST_TEST(status == 1, "an unmet expectation after ^C: exit 1; log:\n" << log);
    BOOST_TEST(has(log, "interrupted (SIGINT/SIGTERM)"), log);
    BOOST_TEST(has(log, "never returned: still blocked when the run ended"), log);
    BOOST_TEST(has(log, "live: reset 1 descriptor still open at the end"), log);
    BOOST_TEST(fs::exists(tmp / "w.states"));
}

// A device that does not exist (and no `create:`) is a scenario error at the `live:` block.
BOOST_AUTO_TEST_CASE(a_missing_device_is_reported_at_the_live_block) {
    if (!live_preconditions()) return;
    TempDir tmp;
    std::ofstream(tmp / "missing.yaml") << "hosts:\n  me:\n    interfaces: {eth0: 192.0.2.2/24}\n    live: {dev: nosuch0}\n";
    TcpsimRun run({(tmp / "missing.yaml").string()}, tmp / "m.log");
    BOOST_REQUIRE(run.started());
    int status = run.wait_exit(10s);
    std::string log = slurp(tmp / "m.log");
    BOOST_TEST(status == 2, log);
    BOOST_TEST(has(log, "missing.yaml:4:11: cannot open TAP device nosuch0: there is no device nosuch0 in this network namespace"), log);
}

// Without `create:` the device is the user's: one made for an unprivileged user and configured
// with ip(8); tcpsim runs without any capability and serves the kernel through it. The user is
// nobody where /dev/net/tun is open to all (the usual 0666), else uid 0 with every capability
// dropped (and securebits keeping them dropped), which is just as unprivileged for TUNSETIFF.
BOOST_AUTO_TEST_CASE(an_existing_device_serves_without_privileges) {
    if (!live_preconditions()) return;
    if (!tcpsim::testing::have_program("setpriv") || !tcpsim::testing::have_program("ip")) {
        BOOST_TEST_MESSAGE("setpriv or ip missing: the unprivileged run is not tried");
        return;
    }
    TempDir tmp;
    fs::permissions(tmp.dir, fs::perms::all);  // an unprivileged tcpsim writes the outputs here
    auto tun = fs::status("/dev/net/tun").permissions();
    bool for_all = (tun & fs::perms::others_read) != fs::perms::none && (tun & fs::perms::others_write) != fs::perms::none;
    std::vector<std::string> drop{"/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-all"};
    if (for_all) drop.insert(drop.end(), {"--reuid=nobody", "--regid=nogroup", "--clear-groups"});
    else drop.push_back("--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked");
    BOOST_TEST_MESSAGE("tcpsim runs as " << (for_all ? "nobody" : "uid 0 without capabilities (/dev/net/tun is not open to all)"));
    std::string owner = for_all ? "nobody" : "0";
    BOOST_REQUIRE(std::system(("ip tuntap add tnr0 mode tap user " + owner + " && ip addr add 192.0.2.1/24 dev tnr0 && "
                               "sysctl -qw net.ipv6.conf.tnr0.disable_ipv6=1 && ip link set tnr0 up").c_str()) == 0);
    std::ofstream(tmp / "user.yaml") << R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {dev: tnr0}
apps:
  server:
    host: me
    script:
    - socket: l
    - bind: {fd: l, addr: "*:7"}
    - listen: {fd: l}
    - accept: {fd: l, as: c}
    - recv: {fd: c, size: 4, flags: MSG_WAITALL}
      expect: {ret: 4, data: "ping"}
    - send: {fd: c, data: "pong\n"}
    - close: c
expect:
  - state: {of: server.c, is: TIME_WAIT}   # through FIN_WAIT2 or not: the kernel's timing decides
)";
    TcpsimRun run({(tmp / "user.yaml").string(), "--states", (tmp / "u.states").string()}, tmp / "u.log", drop);
    BOOST_REQUIRE(run.started());
    int fd = kernel_connect("192.0.2.2", 7, 20s);
    if (fd < 0) run.interrupt();  // its log is complete once it exits
    BOOST_REQUIRE_MESSAGE(fd >= 0, "the kernel reaches the unprivileged tcpsim; log:\n" << slurp(tmp / "u.log"));
    BOOST_TEST(::write(fd, "ping", 4) == 4);
    BOOST_TEST(read_to_eof(fd, 20s) == "pong\n");  // tcpsim closes first
    ::close(fd);
    int status = run.wait_exit(20s);
    std::string log = slurp(tmp / "u.log");
    BOOST_TEST(status == 0, log);
    BOOST_TEST(has(log, "all 2 expectations held"), log);
    BOOST_TEST(has(slurp(tmp / "u.states"), "ESTABLISHED -> FIN_WAIT1"));
    BOOST_TEST(has(slurp(tmp / "u.states"), "-> TIME_WAIT"));
}
