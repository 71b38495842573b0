#define BOOST_TEST_MODULE packetdrill_run
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "stack/packetdrill/interpreter.hpp"
#include "stack/packetdrill/script.hpp"
#include "support/skip.hpp"

using namespace tcpsim::stack::packetdrill;
namespace fs = std::filesystem;

namespace {

// TCPSIM_PACKETDRILL_DIR overrides the location (a worktree whose ../shared is elsewhere).
fs::path corpus_dir() {
    if (const char* d = std::getenv("TCPSIM_PACKETDRILL_DIR")) return fs::path(d) / "tcp";
    return tcpsim::testing::shared_dir() / "packetdrill" / "tcp";
}

std::vector<fs::path> corpus() {
    std::vector<fs::path> out;
    if (!fs::is_directory(corpus_dir())) return out;
    for (const auto& e : fs::recursive_directory_iterator(corpus_dir()))
        if (e.is_regular_file() && e.path().extension() == ".pkt") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

Verdict run_text(const std::string& text, const std::string& name = "inline.pkt") {
    ParseResult r = parse_script(text, name);
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors.front().to_string()));
    return run_script(r.script);
}

// A passive open, a write that Linux would send as one TSO super-segment, and a clean close.
const std::string kServer = R"(`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
   +0 write(4, ..., 3000) = 3000
   +0 > P. 1:3001(3000) ack 1
 +.01 < . 1:1(0) ack 3001 win 257
   +0 close(4) = 0
   +0 > F. 3001:3001(0) ack 1
 +.01 < F. 1:1(0) ack 3002 win 257
   +0 > . 3002:3002(0) ack 2
)";

}  // namespace

BOOST_AUTO_TEST_CASE(server_script_with_tso_super_segment_passes) {
    Verdict v = run_text(kServer);
    BOOST_TEST(v.message == "");
    BOOST_TEST((v.kind == Verdict::Kind::Pass));
}

BOOST_AUTO_TEST_CASE(blocking_connect_returns_when_the_syn_ack_arrives) {
    Verdict v = run_text(R"(`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
  +.1...0.200 connect(3, ..., ...) = 0
   +0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
  +.1 < S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2,nop,nop,sackOK>
   +0 > . 1:1(0) ack 1
)");
    BOOST_TEST(v.message == "");
    BOOST_TEST((v.kind == Verdict::Kind::Pass));
}

BOOST_AUTO_TEST_CASE(blocking_call_returning_at_the_wrong_time_fails_at_its_line) {
    // The SYN-ACK comes at 0.2 but the script says connect() returns at 0.5.
    Verdict v = run_text(R"(
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
  +.1...0.500 connect(3, ..., ...) = 0
   +0 > S 0:0(0) <...>
  +.1 < S. 0:0(0) ack 1 win 5792 <mss 1460>
   +0 > . 1:1(0) ack 1
  +.4 close(3) = 0
)");
    BOOST_TEST((v.kind == Verdict::Kind::Fail));
    BOOST_TEST(v.loc.line == 3u);
    BOOST_TEST(v.message.find("returned at 0.2") != std::string::npos, v.message);
}

BOOST_AUTO_TEST_CASE(wrong_expected_ack_fails_at_that_line_with_expected_and_sent) {
    std::string bad = kServer;
    bad.replace(bad.find("> . 3002:3002(0) ack 2"), 22, "> . 3002:3002(0) ack 9");
    Verdict v = run_text(bad, "wrong.pkt");
    BOOST_TEST((v.kind == Verdict::Kind::Fail));
    BOOST_TEST(v.loc.line == 16u);
    BOOST_TEST(v.message.find("expected 9, got 2") != std::string::npos, v.message);
    BOOST_TEST(v.message.find("tcpsim sent at 0.12: . 3002:3002(0) ack 2") != std::string::npos, v.message);
    BOOST_TEST(v.to_string().rfind("wrong.pkt:16:", 0) == 0u, v.to_string());
}

BOOST_AUTO_TEST_CASE(missing_packet_fails_with_the_deadline) {
    std::string bad = kServer + "  +.5 > . 3002:3002(0) ack 2\n";
    Verdict v = run_text(bad);
    BOOST_TEST((v.kind == Verdict::Kind::Fail));
    BOOST_TEST(v.loc.line == 17u);
    BOOST_TEST(v.message.find("tcpsim sent nothing") != std::string::npos, v.message);
}

BOOST_AUTO_TEST_CASE(wrong_syscall_result_fails_at_the_result) {
    Verdict v = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n+0 accept(3, ..., ...) = 4\n"
                         "+0 fcntl(3, F_GETFL) = 0x2\n+0 close(7) = 0\n");
    BOOST_TEST((v.kind == Verdict::Kind::Fail));
    // accept() on a blocking listener with nobody connecting blocks: packetdrill reports it.
    BOOST_TEST(v.loc.line == 3u, v.to_string());
}

BOOST_AUTO_TEST_CASE(errno_is_compared_by_name) {
    Verdict ok = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(3) = 0\n+0 close(3) = -1 EBADF (Bad file descriptor)\n");
    BOOST_TEST((ok.kind == Verdict::Kind::Pass), ok.to_string());
    Verdict bad = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(3) = 0\n+0 close(3) = -1 EINVAL\n");
    BOOST_TEST((bad.kind == Verdict::Kind::Fail));
    BOOST_TEST(bad.message.find("returned -1 EBADF, expected -1 EINVAL") != std::string::npos, bad.message);
}

BOOST_AUTO_TEST_CASE(unsupported_constructs_are_reported_never_passed) {
    Verdict udp = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < udp (10)\n");
    BOOST_TEST((udp.kind == Verdict::Kind::Unsupported));
    BOOST_TEST(udp.message.rfind("unsupported: ", 0) == 0u, udp.message);
    BOOST_TEST(udp.loc.line == 2u);
    Verdict call = run_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 sendmmsg(3, ..., 1, 0) = 1\n");
    BOOST_TEST((call.kind == Verdict::Kind::Unsupported));
    BOOST_TEST(call.message.find("sendmmsg") != std::string::npos, call.message);
}

BOOST_AUTO_TEST_CASE(malformed_script_gives_file_line_column) {
    fs::path p = fs::path(TCPSIM_BINARY_DIR) / "pd_malformed.pkt";
    std::ofstream(p) << "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0) win <mss 1460>\n";
    Verdict v = run_file(p);
    BOOST_TEST((v.kind == Verdict::Kind::Fail));
    BOOST_TEST(v.loc.line == 2u);
    BOOST_TEST(v.loc.column > 0u);
    BOOST_TEST(v.to_string().find("pd_malformed.pkt:2:") != std::string::npos, v.to_string());
    Verdict missing = run_file(fs::path(TCPSIM_BINARY_DIR) / "no_such_script.pkt");
    BOOST_TEST((missing.kind == Verdict::Kind::Fail));
    BOOST_TEST(missing.message.find("cannot read") != std::string::npos, missing.message);
}

// The pass count recorded in docs/packetdrill.md is a floor: a regression fails here.
BOOST_AUTO_TEST_CASE(shared_scripts_pass_at_least_the_recorded_count) {
    auto scripts = corpus();
    if (scripts.empty()) {
        tcpsim::testing::announce_skip("../shared/packetdrill/tcp not found: corpus not run");
        return;
    }
    std::ifstream doc(fs::path(TCPSIM_SOURCE_DIR) / "docs" / "packetdrill.md");
    std::stringstream ss;
    ss << doc.rdbuf();
    // (no std::regex: g++ 12 -Werror=maybe-uninitialized inside it under the sanitizer build)
    std::string text = ss.str();
    const std::string key = "packetdrill-pass-count: ";
    auto at = text.find(key);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, "docs/packetdrill.md must record `packetdrill-pass-count: N`");
    int recorded = std::atoi(text.c_str() + at + key.size());
    int passed = 0, failed = 0, skipped = 0;
    for (const auto& s : scripts) {
        Verdict v = run_file(s);
        BOOST_TEST_MESSAGE(v.to_string());
        switch (v.kind) {
            case Verdict::Kind::Pass: ++passed; break;
            case Verdict::Kind::Fail:
                ++failed;
                BOOST_TEST(v.loc.line > 0u, "a failure names its line: " << v.to_string());
                break;
            case Verdict::Kind::Unsupported:
                ++skipped;
                BOOST_TEST(v.message.rfind("unsupported: ", 0) == 0u, v.message);
                break;
        }
    }
    BOOST_TEST_MESSAGE(passed << " passed, " << failed << " failed, " << skipped << " skipped");
    BOOST_TEST(passed + failed + skipped == static_cast<int>(scripts.size()));
    BOOST_TEST(passed >= recorded, "passing scripts: " << passed << ", recorded in docs/packetdrill.md: " << recorded);
}

BOOST_AUTO_TEST_CASE(same_script_gives_the_same_verdict_twice) {
    auto scripts = corpus();
    if (scripts.empty()) {
        tcpsim::testing::announce_skip("../shared/packetdrill/tcp not found");
        return;
    }
    for (const auto& s : scripts) {
        Verdict a = run_file(s), b = run_file(s);
        BOOST_TEST(a.to_string() == b.to_string());
    }
}

// Mutated scripts (fixed seed, bounded) never crash the interpreter; every verdict is well formed.
BOOST_AUTO_TEST_CASE(mutated_scripts_never_crash_the_interpreter) {
    auto scripts = corpus();
    std::vector<std::string> texts;
    for (const auto& s : scripts) {
        std::ifstream in(s);
        std::stringstream ss;
        ss << in.rdbuf();
        texts.push_back(ss.str());
    }
    if (texts.empty()) texts.push_back(kServer);
    std::mt19937_64 rng(20261121);
    const std::string alphabet = "0123456789.+-<>:()[]{},=SFPR. \nackwinmssTS...*~`%";
    InterpreterOptions opt;
    opt.max_world_events = 200000;
    opt.any_time_limit = std::chrono::seconds(5);
    int ran = 0;
    for (int i = 0; i < 1200; ++i) {
        std::string t = texts[rng() % texts.size()];
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < edits && !t.empty(); ++k) {
            std::size_t pos = rng() % t.size();
            switch (rng() % 6) {
                case 0: t[pos] = alphabet[rng() % alphabet.size()]; break;
                case 1: t.erase(pos, 1 + rng() % 8); break;
                case 2: t.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
                case 3:
                case 4:
                case 5: {  // change a number (keeps most scripts parseable)
                    std::size_t e = t.find_first_of("0123456789", pos);
                    if (e != std::string::npos) t.replace(e, 1, std::to_string(rng() % 100000));
                    break;
                }
            }
        }
        ParseResult r = parse_script(t, "fuzz.pkt");
        if (!r.ok()) continue;
        Verdict v = run_script(r.script, opt);
        ++ran;
        BOOST_TEST(!v.to_string().empty());
        if (v.kind == Verdict::Kind::Unsupported) BOOST_TEST(v.message.rfind("unsupported: ", 0) == 0u);
        if (v.kind == Verdict::Kind::Fail) BOOST_TEST(!v.message.empty());
    }
    BOOST_TEST_MESSAGE(ran << " mutated scripts ran");
    BOOST_TEST(ran > 0);
}

BOOST_AUTO_TEST_CASE(sysctls_in_shell_commands_configure_the_host) {
    // Shell commands are never run: the sysctl they set is read as data.
    const std::string body = R"(
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 1 ecr 0,nop,wscale 7>
)";
    Verdict off = run_text("`../common/defaults.sh\nsysctl -q net.ipv4.tcp_timestamps=0`\n" + body +
                           "   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n");
    BOOST_TEST((off.kind == Verdict::Kind::Pass), off.to_string());
    Verdict on = run_text("`../common/defaults.sh`\n" + body + "   +0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 0 ecr 1,nop,wscale 8>\n");
    BOOST_TEST((on.kind == Verdict::Kind::Pass), on.to_string());
    // Unknown sysctls are reported as notes, not silently dropped.
    Verdict noted = run_text("`sysctl -q net.ipv4.tcp_frto=0`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
    BOOST_TEST((noted.kind == Verdict::Kind::Pass));
    bool seen = false;
    for (const auto& n : noted.notes) seen = seen || n.find("ignored sysctl net.ipv4.tcp_frto=0") != std::string::npos;
    BOOST_TEST(seen);
}

// TCP_INFO assertions: evaluated when the socket facade answers TCP_INFO, reported unsupported
// otherwise - never passed without being checked.
BOOST_AUTO_TEST_CASE(tcp_info_assertions_hold_fail_or_are_reported) {
    const std::string head = kServer.substr(0, kServer.find("   +0 write("));
    Verdict yes = run_text(head + "   +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%\n");
    Verdict no = run_text(head + "   +0 %{ assert tcpi_snd_cwnd == 11, tcpi_snd_cwnd }%\n");
    if (yes.kind == Verdict::Kind::Unsupported) {
        BOOST_TEST(yes.message.find("TCP_INFO") != std::string::npos, yes.message);
        BOOST_TEST((no.kind == Verdict::Kind::Unsupported));
    } else {
        BOOST_TEST((yes.kind == Verdict::Kind::Pass), yes.to_string());
        BOOST_TEST((no.kind == Verdict::Kind::Fail), no.to_string());
        BOOST_TEST(no.loc.line == 10u);
        BOOST_TEST(no.message.find("tcpi_snd_cwnd=10") != std::string::npos, no.message);
    }
}

BOOST_AUTO_TEST_CASE(timestamps_tick_checks_ts_val_progress) {
    // With --tcp_ts_tick_usecs the first TS val fixes the offset; a later one must advance
    // with virtual time (1 ms ticks: +0.1 s = +100).
    const std::string s = R"(--tcp_ts_tick_usecs=1000
`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 1 ecr 0,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 500 ecr 1,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 2 ecr 500>
   +0 accept(3, ..., ...) = 4
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1 <nop,nop,TS val TSV ecr 2>
)";
    auto with = [&](const std::string& v) {
        std::string t = s;
        t.replace(t.find("TSV"), 3, v);
        return run_text(t);
    };
    Verdict good = with("600");
    BOOST_TEST((good.kind == Verdict::Kind::Pass), good.to_string());
    Verdict bad = with("900");
    BOOST_TEST((bad.kind == Verdict::Kind::Fail), bad.to_string());
    BOOST_TEST(bad.message.find("bad outbound TS val") != std::string::npos, bad.message);
}
