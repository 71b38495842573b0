// Live interop: `tcpsim tap` against the Linux kernel's TCP, in a network namespace that this
// test process creates for itself (unshare(CLONE_NEWNET)): the TAP device, the kernel's address
// 192.0.2.1/24, tcpsim at 192.0.2.2/24 and every peer program (nc, ping, curl, ss) live there
// and vanish with the process. Every wait is bounded in wall time. Needs root.
#define BOOST_TEST_MODULE tools_live_tap
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.hpp"
#include "support/skip.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

extern char** environ;

namespace {

// Runs a shell command, returns its exit status and standard output (+stderr if asked).
struct Output {
    int status = -1;
    std::string text;
};
Output sh(const std::string& cmd) {
    Output o;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return o;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
    int st = ::pclose(p);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return o;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// One tcpsim tap process (started by this test, stopped by PID) and the test's scratch directory.
struct Tcpsim : tcpsim::testing::TcpsimProcess {
    Tcpsim(const std::vector<std::string>& args, const fs::path& log) : TcpsimProcess("tap", args, log) {}
};
struct LiveNet : tcpsim::testing::TempDir {
    LiveNet() : TempDir("tcpsim-live") {}
};

bool live_preconditions() {
    if (!tcpsim::testing::is_root()) {
        tcpsim::testing::announce_skip("live TAP tests need root (TAP devices and network namespaces)");
        return false;
    }
    for (const char* prog : {"nc", "ping", "curl", "ss", "sha256sum"}) {
        if (!tcpsim::testing::have_program(prog)) {
            tcpsim::testing::announce_skip(std::string("live TAP tests need ") + prog + " (run .ci/setup as root)");
            return false;
        }
    }
    if (::unshare(CLONE_NEWNET) != 0) {
        tcpsim::testing::announce_skip("cannot create a network namespace (unshare CLONE_NEWNET failed)");
        return false;
    }
    sh("ip link set lo up");
    // The kernel peer's behaviour should not depend on the machine's default (PLATFORM.md).
    sh("sysctl -qw net.ipv4.tcp_congestion_control=cubic 2>/dev/null");
    return true;
}

// Waits until the kernel can reach tcpsim (ARP + ICMP through the TAP), bounded.
bool wait_reachable() {
    for (int i = 0; i < 50; ++i) {
        if (sh("ping -c 1 -W 1 -n 192.0.2.2 >/dev/null 2>&1").status == 0) return true;
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

std::string sha256(const fs::path& p) {
    auto o = sh("sha256sum '" + p.string() + "'");
    return o.text.substr(0, 64);
}

}  // namespace

// One namespace and one tcpsim serving echo/http for the kernel-side checks: they run in one
// test case so a single device and process serve them all.
BOOST_AUTO_TEST_CASE(kernel_clients_against_tcpsim_services) {
    if (!live_preconditions()) return;
    LiveNet net;
    Tcpsim tcpsim({"--dev", "tsv0", "--create", "--addr", "192.0.2.2/24", "--kernel-addr", "192.0.2.1/24", "--serve",
                   "echo:7", "--serve", "http:8080", "--pcap", (net / "serve.pcap").string(), "--states",
                   (net / "serve.states").string(), "--duration", "120", "--quiet"},
                  net / "serve.log");
    BOOST_REQUIRE(tcpsim.started());
    BOOST_REQUIRE_MESSAGE(wait_reachable(), "the kernel reaches 192.0.2.2 through the TAP; log:\n" << slurp(net / "serve.log"));

    // ping -c 3 gets 3 replies.
    auto ping = sh("ping -c 3 -i 0.2 -W 2 -n 192.0.2.2");
    BOOST_TEST(ping.text.find("3 packets transmitted, 3 received") != std::string::npos, ping.text);

    // Linux nc -> our echo: 1 MiB and 64 MiB of random bytes come back identical. nc -N shuts
    // down its write side at end of input and still reads the echo to the end (half-close).
    for (int mib : {1, 64}) {
        fs::path in = net / ("in" + std::to_string(mib)), back = net / ("back" + std::to_string(mib));
        sh("head -c " + std::to_string(mib * 1048576) + " /dev/urandom > '" + in.string() + "'");
        auto r = sh("timeout 60 nc -N 192.0.2.2 7 < '" + in.string() + "' > '" + back.string() + "'");
        BOOST_TEST(r.status == 0, mib << " MiB echo: nc exit status " << r.status);
        BOOST_TEST(fs::file_size(back) == fs::file_size(in), mib << " MiB echo: size");
        BOOST_TEST(sha256(back) == sha256(in), mib << " MiB echo: sha256");
    }

    // ss -tin on the Linux side shows the options negotiated with tcpsim.
    auto ss = sh("(sleep 2 | timeout 5 nc 192.0.2.2 7 >/dev/null &) ; sleep 0.5; ss -tin dst 192.0.2.2:7");
    BOOST_TEST(ss.text.find("ESTAB") != std::string::npos, ss.text);
    // wscale:<peer's shift>,<own shift>: tcpsim offers 7 for its 6 MiB tcp_rmem[2] (Linux's rule).
    BOOST_TEST(ss.text.find("wscale:7,") != std::string::npos, "window scaling negotiated: " << ss.text);
    // Linux's mss_cache is the peer's MSS less 12 bytes when timestamps are on.
    BOOST_TEST(ss.text.find("mss:1448") != std::string::npos, "MSS 1460 less 12 bytes of timestamps: " << ss.text);
    // Some kernel/iproute2 pairs print no " ts"/" sack" even between two Linux sockets; require
    // them from tcpsim's connection only where a loopback reference connection shows them.
    auto reference = sh("(timeout 3 nc -l 127.0.0.1 5999 >/dev/null &) ; sleep 0.2; (sleep 1 | timeout 3 nc 127.0.0.1 5999 &) ;"
                        " sleep 0.3; ss -tin dst 127.0.0.1:5999");
    if (reference.text.find(" ts ") != std::string::npos) {
        BOOST_TEST(ss.text.find(" ts ") != std::string::npos, "timestamps negotiated: " << ss.text);
        BOOST_TEST(ss.text.find(" sack ") != std::string::npos, "SACK negotiated: " << ss.text);
    } else {
        BOOST_TEST_MESSAGE("this ss/kernel prints no ts/sack flags even for Linux-Linux; checked from the pcap instead");
    }

    // Linux curl gets our page.
    auto curl = sh("curl -s -S -m 10 -i http://192.0.2.2:8080/");
    BOOST_TEST(curl.status == 0, curl.text);
    BOOST_TEST(curl.text.find("HTTP/1.1 200 OK") != std::string::npos, curl.text);
    BOOST_TEST(curl.text.find("Content-Length:") != std::string::npos, curl.text);
    BOOST_TEST(curl.text.find("Hello from tcpsim") != std::string::npos, curl.text);

    // Linux connect to a closed port gets "Connection refused" (our RST).
    auto refused = sh("timeout 10 nc -v -z -w 3 192.0.2.2 4444 2>&1");
    BOOST_TEST(refused.status != 0);
    BOOST_TEST(refused.text.find("Connection refused") != std::string::npos, refused.text);

    BOOST_TEST(tcpsim.interrupt() == 0, "tcpsim exits 0 on SIGINT; log:\n" << slurp(net / "serve.log"));

    // Our side of an echo connection went through the passive close.
    std::string states = slurp(net / "serve.states");
    BOOST_TEST(states.find("SYN_RECV -> ESTABLISHED") != std::string::npos, states);
    BOOST_TEST(states.find("ESTABLISHED -> CLOSE_WAIT") != std::string::npos, states);
    BOOST_TEST(states.find("LAST_ACK -> CLOSED") != std::string::npos, states);

    // tshark validates the checksums of what tcpsim sent, and finds nothing malformed. (The
    // kernel's own segments are not judged: it may send a TCP checksum of 0xFFFF, the other
    // one's-complement zero, which receivers accept (RFC 1624) but Wireshark marks bad.)
    if (tcpsim::testing::have_program("tshark")) {
        auto bad = sh("tshark -r '" + (net / "serve.pcap").string() +
                      "' -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -Y '(ip.src == 192.0.2.2 && "
                      "(tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.expert.severity == error)) || "
                      "_ws.malformed' 2>/dev/null | head -5");
        BOOST_TEST(bad.text.empty(), "tshark flags these frames: " << bad.text);
        // The kernel's own segments carry timestamps and it accepted SACK: both were negotiated.
        auto kernel_ts = sh("tshark -r '" + (net / "serve.pcap").string() +
                            "' -Y 'ip.src == 192.0.2.1 && tcp.len > 0 && tcp.options.timestamp.tsval' 2>/dev/null | wc -l");
        BOOST_TEST(std::stoul(kernel_ts.text) > 0u, "the kernel sends data with timestamps to tcpsim");
        auto synack = sh("tshark -r '" + (net / "serve.pcap").string() +
                         "' -Y 'ip.src == 192.0.2.2 && tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.options.sack_perm' 2>/dev/null | wc -l");
        BOOST_TEST(std::stoul(synack.text) > 0u, "tcpsim's SYN-ACKs offer SACK");
        auto count = sh("tshark -r '" + (net / "serve.pcap").string() + "' 2>/dev/null | wc -l");
        BOOST_TEST(std::stoul(count.text) > 1000u, "the pcap holds the transfers");
    } else {
        BOOST_TEST_MESSAGE("tshark missing: pcap checksum validation not run");
    }
}

// tcpsim --connect -> a Linux nc -l sink: the bytes arrive identical, and tcpsim's state log
// shows its active close through FIN_WAIT and TIME_WAIT.
BOOST_AUTO_TEST_CASE(tcpsim_client_sends_a_file_to_a_kernel_listener) {
    if (!live_preconditions()) return;
    LiveNet net;
    fs::path in = net / "file", got = net / "got";
    sh("head -c 3000000 /dev/urandom > '" + in.string() + "'");
    // The listener must exist before tcpsim connects; tcpsim creates the device, so the kernel
    // address appears only then: nc binds the wildcard address.
    // (No -N: with its standard input at EOF, nc -N would half-close at once.)
    sh("(timeout 60 nc -l 9000 < /dev/null > '" + got.string() + "' &)");
    Tcpsim tcpsim({"--dev", "tcl0", "--create", "--addr", "192.0.2.2/24", "--kernel-addr", "192.0.2.1/24", "--connect",
                   "192.0.2.1:9000", "--send-file", in.string(), "--states", (net / "client.states").string(), "--duration",
                   "60"},
                  net / "client.log");
    BOOST_REQUIRE(tcpsim.started());
    int status = tcpsim.wait_exit(60s);
    BOOST_TEST(status == 0, "tcpsim --connect exit status; log:\n" << slurp(net / "client.log"));
    for (int i = 0; i < 50 && fs::file_size(got) < fs::file_size(in); ++i) std::this_thread::sleep_for(100ms);
    BOOST_TEST(fs::file_size(got) == fs::file_size(in));
    BOOST_TEST(sha256(got) == sha256(in));
    std::string states = slurp(net / "client.states");
    BOOST_TEST(states.find("SYN_SENT -> ESTABLISHED") != std::string::npos, states);
    BOOST_TEST(states.find("ESTABLISHED -> FIN_WAIT1") != std::string::npos, states);
    BOOST_TEST(states.find("-> TIME_WAIT") != std::string::npos, states);
    std::string log = slurp(net / "client.log");
    BOOST_TEST(log.find("3000000 bytes") != std::string::npos, log);
}

BOOST_AUTO_TEST_CASE(tap_without_create_names_the_missing_device) {
    if (!live_preconditions()) return;
    LiveNet net;
    auto r = sh(std::string(TCPSIM_TOOL) + " tap --dev nosuch0 --addr 192.0.2.2/24 --serve echo:7 2>&1");
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.text.find("cannot open TAP device 'nosuch0': no such device") != std::string::npos, r.text);
}
