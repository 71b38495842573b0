#define BOOST_TEST_MODULE packetdrill_parser
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "stack/packetdrill/code.hpp"
#include "stack/packetdrill/lexer.hpp"
#include "stack/packetdrill/script.hpp"
#include "stack/packetdrill/symbols.hpp"
#include "stack/packetdrill/wire.hpp"

using namespace tcpsim;
using namespace tcpsim::stack::packetdrill;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace tcpsim::tcp {
std::ostream& operator<<(std::ostream& o, Flags f) { return o << "flags 0x" << std::hex << int(f.bits) << std::dec; }
}  // namespace tcpsim::tcp
namespace tcpsim::stack::packetdrill {
std::ostream& operator<<(std::ostream& o, Direction d) { return o << to_string(d); }
}  // namespace tcpsim::stack::packetdrill

namespace {

// TCPSIM_SOURCE_DIR/../shared, or $TCPSIM_SHARED_DIR (for builds in a worktree elsewhere).
fs::path shared_root() {
    if (const char* env = std::getenv("TCPSIM_SHARED_DIR"); env && *env) return env;
    return fs::path(TCPSIM_SOURCE_DIR) / ".." / "shared";
}
const fs::path kSharedDir = shared_root() / "packetdrill" / "tcp";

std::string errors_of(const ParseResult& r) {
    std::string s;
    for (const Diagnostic& d : r.errors) s += d.to_string() + "\n";
    return s;
}

Script parse_ok(std::string_view text, const std::string& name = "t.pkt") {
    ParseResult r = parse_script(text, name);
    BOOST_TEST_INFO("errors:\n" << errors_of(r));
    BOOST_REQUIRE(r.ok());
    return std::move(r.script);
}

// The first error message of a script that must not parse.
std::string first_error(std::string_view text, const std::string& name = "bad.pkt") {
    ParseResult r = parse_script(text, name);
    BOOST_REQUIRE_MESSAGE(!r.ok(), "script unexpectedly parsed: " << text);
    return r.errors.front().to_string();
}

std::vector<fs::path> shared_scripts() {
    std::vector<fs::path> out;
    if (!fs::is_directory(kSharedDir)) return out;
    for (const auto& e : fs::recursive_directory_iterator(kSharedDir))
        if (e.is_regular_file() && e.path().extension() == ".pkt") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<Script> shared(const std::string& rel) {
    fs::path p = kSharedDir / rel;
    if (!fs::exists(p)) {
        BOOST_TEST_MESSAGE("skipped: " << p << " not found (no /work/shared checkout)");
        return std::nullopt;
    }
    ParseResult r = load_script(p);
    BOOST_TEST_INFO("errors:\n" << errors_of(r));
    BOOST_REQUIRE(r.ok());
    return std::move(r.script);
}

const TcpSpec& tcp_of(const Event& e) {
    BOOST_REQUIRE(e.packet() != nullptr);
    BOOST_REQUIRE(e.packet()->tcp() != nullptr);
    return *e.packet()->tcp();
}

const SyscallSpec& call_of(const Event& e) {
    BOOST_REQUIRE(e.syscall() != nullptr);
    return *e.syscall();
}

bool has_finding(const Classification& c, std::string_view construct, std::string_view detail = {}) {
    return std::any_of(c.findings.begin(), c.findings.end(), [&](const Finding& f) {
        return f.construct == construct && (detail.empty() || f.detail == detail);
    });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The shared upstream scripts

BOOST_AUTO_TEST_CASE(all_shared_scripts_parse_without_errors) {
    std::vector<fs::path> scripts = shared_scripts();
    if (scripts.empty()) {
        BOOST_TEST_MESSAGE("skipped: " << kSharedDir << " not found (no /work/shared checkout)");
        return;
    }
    BOOST_TEST(scripts.size() >= 32u);
    for (const fs::path& p : scripts) {
        ParseResult r = load_script(p);
        BOOST_TEST_INFO(p.string() << ":\n" << errors_of(r));
        BOOST_TEST(r.ok());
        BOOST_TEST(!r.script.events.empty());
        BOOST_TEST(r.script.schedule.events.size() == r.script.events.size());
        (void)classify(r.script);
    }
}

BOOST_AUTO_TEST_CASE(syn_ack_options_are_parsed_in_order) {
    auto s = shared("blocking/blocking-connect.pkt");
    if (!s) return;
    // +.1 < S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2,nop,nop,sackOK>
    const Event& ev = s->events[3];
    const TcpSpec& t = tcp_of(ev);
    BOOST_TEST(ev.packet()->direction == Direction::Inbound);
    BOOST_TEST(t.flags == (tcp::Syn | tcp::Ack));
    BOOST_TEST(t.flags_text == "S.");
    BOOST_TEST(t.seq_start == 0u);
    BOOST_TEST(t.payload == 0u);
    BOOST_TEST(*t.ack == 1u);
    BOOST_TEST(*t.window == 5792);
    BOOST_REQUIRE(t.options.size() == 6u);
    BOOST_TEST((t.options[0].kind == TcpOption::Kind::Mss && t.options[0].value == 1460u));
    BOOST_TEST((t.options[1].kind == TcpOption::Kind::Nop));
    BOOST_TEST((t.options[2].kind == TcpOption::Kind::WindowScale && t.options[2].value == 2u));
    BOOST_TEST((t.options[5].kind == TcpOption::Kind::SackPermitted));
    BOOST_TEST(t.options_wire_size() == 12u);
    BOOST_TEST(ev.loc().line == 11u);
    BOOST_TEST(t.options[2].loc.line == 11u);

    // The SYN we expect: <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>, window unchecked.
    const TcpSpec& syn = tcp_of(s->events[2]);
    BOOST_TEST(!syn.window.has_value());
    BOOST_TEST((syn.options[2].kind == TcpOption::Kind::Timestamp));
    BOOST_TEST(syn.options[2].ts.value == 100u);
    BOOST_TEST(syn.options[2].ts.echo_reply == 0u);
}

BOOST_AUTO_TEST_CASE(blocking_connect_time_range_is_start_and_end_on_one_clock) {
    auto s = shared("blocking/blocking-connect.pkt");
    if (!s) return;
    // `+.1...0.200 connect(3, ..., ...) = 0`: starts at 0.1, finishes by 0.2 (both after the
    // socket() at 0), which is exactly when the SYN-ACK arrives.
    const Event& ev = s->events[1];
    const SyscallSpec& c = call_of(ev);
    BOOST_TEST(c.name == "connect");
    BOOST_TEST((ev.time.kind == EventTime::Kind::Relative));
    BOOST_TEST((ev.time.start == 100ms));
    BOOST_REQUIRE(c.end_time.has_value());
    BOOST_TEST((*c.end_time == 200ms));
    const ScheduledEvent& se = s->schedule.events[1];
    BOOST_TEST((se.anchor == ScheduledEvent::Anchor::PreviousActual));
    BOOST_TEST((se.start == 100ms));
    BOOST_TEST((*se.blocking_end == 200ms));
    BOOST_TEST((s->schedule.events[3].start == 200ms));  // the SYN-ACK
}

BOOST_AUTO_TEST_CASE(blocking_end_counts_from_the_previous_event_like_packetdrill) {
    auto s = shared("mss/mss-setsockopt-tcp_maxseg-client.pkt");
    if (!s) return;
    // socket at 0, +.01 setsockopt, +.01 getsockopt, `+.08...0.180 connect`: the connect starts
    // at 0.10 and must end by 0.02 + 0.18 = 0.20, when `+.1 < S.` arrives.
    const ScheduledEvent& se = s->schedule.events[3];
    BOOST_TEST(call_of(s->events[3]).name == "connect");
    BOOST_TEST((se.start == 100ms));
    BOOST_TEST((*se.blocking_end_offset == 180ms));
    BOOST_TEST((*se.blocking_end == 200ms));
    BOOST_TEST((s->schedule.events[5].start == 200ms));
}

BOOST_AUTO_TEST_CASE(tolerance_option_is_recorded_and_applied) {
    auto s = shared("blocking/blocking-read.pkt");
    if (!s) return;
    BOOST_REQUIRE(s->options.size() == 1u);
    BOOST_TEST(s->options[0].name == "tolerance_usecs");
    BOOST_TEST((s->config.tolerance == 10ms));
    BOOST_TEST((s->schedule.tolerance == 10ms));
    for (const ScheduledEvent& se : s->schedule.events) BOOST_TEST((se.tolerance >= 10ms));
    BOOST_TEST(s->setup_command->text == "../common/defaults.sh");

    auto d = shared("fast_retransmit/fr-4pkt.pkt");
    if (!d) return;
    BOOST_TEST((d->config.tolerance == 4ms));  // packetdrill's default
    // A 100 ms gap gives 12.5 ms of tolerance (--tolerance_percent default 12.5).
    BOOST_TEST((d->schedule.events[4].tolerance == 12500us));
}

BOOST_AUTO_TEST_CASE(ranges_flags_and_sack_blocks_from_shared_scripts) {
    if (auto s = shared("user_timeout/user_timeout.pkt")) {
        const Event& ev = s->events[11];  // +.3~+.400 > F. 1:1(0) ack 1
        BOOST_TEST((ev.time.kind == EventTime::Kind::RelativeRange));
        BOOST_TEST((ev.time.start == 300ms));
        BOOST_TEST((ev.time.end == 400ms));
        BOOST_TEST((s->schedule.events[11].offset_end == 400ms));
        BOOST_TEST(tcp_of(ev).flags == (tcp::Fin | tcp::Ack));
    }
    if (auto s = shared("validate/validate-established-no-flags.pkt")) {
        const TcpSpec& t = tcp_of(s->events[8]);  // < - 1:1001(1000) win 20000
        BOOST_TEST(t.flags.none());
        BOOST_TEST(t.flags_text == "-");
        BOOST_TEST(!t.ack.has_value());
        BOOST_TEST(t.seq_end == 1001u);
    }
    if (auto s = shared("sack/sack-shift-sacked-2-6-8-3-9-nofack.pkt")) {
        const TcpSpec& t = tcp_of(s->events[12]);  // <sack 2001:3001 6001:7001 8001:9001,nop,nop>
        BOOST_REQUIRE(t.options.size() == 3u);
        BOOST_REQUIRE(t.options[0].sack.size() == 3u);
        BOOST_TEST(t.options[0].sack[1].left.raw() == 6001u);
        BOOST_TEST(t.options[0].sack[2].right.raw() == 9001u);
        BOOST_TEST(t.options_wire_size() == 28u);
    }
    if (auto s = shared("ioctl/ioctl-siocinq-fin.pkt")) {
        BOOST_TEST(tcp_of(s->events[13]).flags == (tcp::Fin | tcp::Psh | tcp::Ack));  // FP.
    }
}

BOOST_AUTO_TEST_CASE(msghdr_errno_notes_and_hex_results_from_shared_scripts) {
    auto s = shared("inq/client.pkt");
    if (!s) return;
    const SyscallSpec& fcntl = call_of(s->events[1]);  // fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)
    BOOST_TEST(fcntl.result.hex);
    BOOST_TEST(fcntl.result.integer == 2);
    BOOST_TEST(!fcntl.errno_name.has_value());
    BOOST_TEST(*fcntl.note == "flags O_RDWR");
    const SyscallSpec& setfl = call_of(s->events[2]);
    BOOST_TEST((setfl.args[2].kind == Expr::Kind::BitOr));
    BOOST_TEST(setfl.args[2].items[1].is_word("O_NONBLOCK"));
    const SyscallSpec& conn = call_of(s->events[3]);
    BOOST_TEST(conn.result.integer == -1);
    BOOST_TEST(*conn.errno_name == "EINPROGRESS");
    BOOST_TEST(*conn.note == "Operation now in progress");

    // recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0,
    //             msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=9000}]}, 0)
    const SyscallSpec& rm = call_of(s->events[10]);
    BOOST_TEST(rm.name == "recvmsg");
    const Expr& msg = rm.args[1];
    BOOST_REQUIRE((msg.kind == Expr::Kind::Struct));
    BOOST_TEST(msg.field("msg_name")->is_ellipsis());
    BOOST_TEST(msg.items[0].args[0].is_ellipsis());
    const Expr* iov = msg.field("msg_iov");
    BOOST_REQUIRE(iov);
    BOOST_TEST(msg.items[1].args[0].integer == 1);
    BOOST_TEST(iov->items[0].items[0].is_ellipsis());
    BOOST_TEST(iov->items[0].items[1].integer == 1000);
    const Expr* ctl = msg.field("msg_control");
    BOOST_TEST(ctl->items[0].field("cmsg_type")->is_word("TCP_CM_INQ"));
    BOOST_TEST(ctl->items[0].field("cmsg_data")->integer == 9000);
    BOOST_TEST(msg.items[1].loc.line == 24u);  // msg_iov(1)=... on its own line
    BOOST_TEST(rm.result.integer == 1000);
}

BOOST_AUTO_TEST_CASE(shell_commands_and_code_blocks_are_classified) {
    auto s = shared("slow_start/slow-start-after-idle.pkt");
    if (!s) return;
    BOOST_REQUIRE(s->setup_command.has_value());
    BOOST_REQUIRE(s->cleanup_command.has_value());
    BOOST_TEST(s->cleanup_command->text == "/tmp/sysctl_restore_${PPID}.sh");
    Classification c = classify(*s);
    BOOST_REQUIRE(c.sysctls.size() == 2u);
    BOOST_TEST(c.sysctls[0].name == "net.ipv4.tcp_slow_start_after_idle");
    BOOST_TEST(c.sysctls[0].value == "1");
    BOOST_TEST(c.sysctls[1].name == "net.ipv4.tcp_min_tso_segs");
    BOOST_TEST(has_finding(c, "python code block"));
    BOOST_TEST(!c.runnable());
    BOOST_TEST(classify(*s, ClassifyOptions{.tcp_info_assertions = true}).runnable());

    auto plain = shared("close/close-remote-fin-then-close.pkt");
    if (!plain) return;
    BOOST_TEST(classify(*plain).runnable());
    BOOST_TEST(classify(*plain).findings.empty());
}

// ---------------------------------------------------------------------------------------------
// Errors: file:line:column

BOOST_AUTO_TEST_CASE(malformed_scripts_report_file_line_column) {
    const char* sock = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
    BOOST_TEST(first_error(std::string(sock) + "+0 bind(3, ..., ...) 0\n") ==
               "bad.pkt:2:22: expected '= result' after bind(...), found '0'");
    BOOST_TEST(first_error(std::string(sock) + "+0 < S 0:10(5) win 100\n") ==
               "bad.pkt:2:8: inconsistent TCP sequence numbers and payload size: 0 + 5 != 10");
    BOOST_TEST(first_error(std::string(sock) + "+0 < S 0:0(0)\n") ==
               "bad.pkt:2:6: window must be specified for inbound packets (win N)");
    BOOST_TEST(first_error(std::string(sock) + "+0 > S 0:0(0) <mss 1460,bogus 3>\n") ==
               "bad.pkt:2:25: unknown TCP option 'bogus' (known: nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5, ECN)");
    BOOST_TEST(first_error(std::string(sock) + "+0 > S 0:0(0) <mss 1460,wscale 7>\n") ==
               "bad.pkt:2:15: TCP options are not padded to a multiple of 4 bytes: 7 bytes (add nop)");
    BOOST_TEST(first_error(std::string(sock) + "+0 < Q 0:0(0) win 1\n") ==
               "bad.pkt:2:6: invalid TCP flag 'Q' in 'Q' (valid: F S R P . U E W A 0-7)");
    BOOST_TEST(first_error(std::string(sock) + "  +0 < S 0:0(0) win 1 <...>\n") ==
               "bad.pkt:2:23: <...> for TCP options can only be used with outbound packets");
    BOOST_TEST(first_error(std::string(sock) + "+0~+1 write(3, ..., 10) = 10\n") ==
               "bad.pkt:2:1: event time range can only be used with outbound packets ('>')");
    BOOST_TEST(first_error(std::string(sock) + "* < . 1:1(0) ack 1 win 1\n") ==
               "bad.pkt:2:1: event time '*' can only be used with outbound packets ('>')");
    BOOST_TEST(first_error(std::string(sock) + "+.5...0.2 accept(3, ..., ...) = 4\n") ==
               "bad.pkt:2:7: blocking system call ends (0.2) before it starts (0.5)");
    BOOST_TEST(first_error(std::string(sock) + "+0 write(3, \"abc, 3) = 3\n") == "bad.pkt:2:13: unterminated string");
    BOOST_TEST(first_error(std::string(sock) + "+0 `echo hi\n") ==
               "bad.pkt:2:4: unterminated `command` (missing closing backquote)");
    BOOST_TEST(first_error("--tolerance_usec=100\n0 close(3) = 0\n") ==
               "bad.pkt:1:1: unknown option --tolerance_usec (did you mean 'tolerance_usecs'?)");
    BOOST_TEST(first_error("--frobnicate\n0 close(3) = 0\n") == "bad.pkt:1:1: unknown option --frobnicate");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 > S 0:0(0) <mss 1460,sackok,nop,nop>\n") ==
               "bad.pkt:2:25: unknown TCP option 'sackok' (did you mean 'sackOK'?)");
    BOOST_TEST(first_error("--tolerance_usecs=abc\n0 close(3) = 0\n") ==
               "bad.pkt:1:1: bad --tolerance_usecs: 'abc' (expected a whole number up to 3600000000)");
    BOOST_TEST(first_error(".5 close(3) = 0\n") == "bad.pkt:1:1: first event should be at time 0, not 0.5");
    BOOST_TEST(first_error("0 close(3) = 0\n1 close(4) = 0\n0.5 close(5) = 0\n") ==
               "bad.pkt:3:1: time goes backward in script from 1 to 0.5");
    BOOST_TEST(first_error("0 close(3) = 0\n+1~0.5 > . 1:1(0)\n") ==
               "bad.pkt:2:3: a relative time range needs '+' on both ends (+0.1~+0.2)");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 1}], msg_flags=0}, 0) = 1\n") ==
               "bad.pkt:2:43: msg_iov(2) does not match the 1 element(s) listed");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 < icmp unreachable bogus_code [0:0(0)]\n") ==
               "bad.pkt:2:23: bad ICMP code 'bogus_code' for type 'unreachable'");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 > S 0:0(0) <mss 70000>\n") ==
               "bad.pkt:2:20: mss value 70000 is out of range (0..65535)");
    BOOST_TEST(first_error("0 close(3) = 0\n-1 close(3) = 0\n") ==
               "bad.pkt:2:1: negative time -1");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 read(4, ..., 1000) = 5 EAGAIN (x)\n") ==
               "bad.pkt:2:27: errno EAGAIN given with result 5 (an errno goes with -1)");
    BOOST_TEST(first_error("// nothing here\n") == "bad.pkt:2:1: script has no events");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 /* never closed\n") == "bad.pkt:2:4: unterminated /* comment");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 %{ assert 1\n") == "bad.pkt:2:4: unterminated %{ code block (missing }%)");
    BOOST_TEST(first_error("0 close(3) = 0\n+0 write(3, \x01, 1) = 1\n") == "bad.pkt:2:13: unexpected character '\\x01'");
}

BOOST_AUTO_TEST_CASE(hostile_inputs_give_errors_not_crashes) {
    // Deep nesting is cut off instead of exhausting the stack.
    std::string deep = "0 write(3, " + std::string(5000, '[') + "1" + std::string(5000, ']') + ", 1) = 1\n";
    BOOST_TEST(first_error(deep).find("expression nested too deeply") != std::string::npos);
    // A long run of hex digits and colons is not scanned quadratically as an IPv6 candidate.
    std::string hex = "0 write(3, " + std::string(200000, 'a') + ":" + std::string(200000, 'b') + ", 1) = 1\n";
    BOOST_TEST(!parse_script(hex, "hex.pkt").ok());
    // Thousands of errors stop at a cap with a final note.
    std::string junk;
    for (int i = 0; i < 500; ++i) junk += "+0 ???\n";
    ParseResult r = parse_script("0 close(3) = 0\n" + junk, "junk.pkt");
    BOOST_TEST(r.errors.size() <= 52u);
    BOOST_TEST(r.errors.back().message == "too many errors; giving up");
    // NUL bytes and binary garbage.
    const char raw[] = "0 close(3) = 0\n+0 \0\xff\xfe read(3, ..., 1) = 1\n";
    std::string bin(raw, sizeof raw - 1);
    BOOST_TEST(!parse_script(bin, "bin.pkt").ok());
}

BOOST_AUTO_TEST_CASE(errors_on_several_lines_are_all_reported) {
    ParseResult r = parse_script("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                                 "+0 bind(3, ..., ...) 0\n"
                                 "+0 listen(3, 1) = 0\n"
                                 "+0 < S 0:0(0) win 1 <mss>\n"
                                 "+0 accept(3, ..., ...) = 4\n",
                                 "multi.pkt");
    BOOST_TEST_INFO(errors_of(r));
    BOOST_REQUIRE(r.errors.size() == 2u);
    BOOST_TEST(r.errors[0].loc.line == 2u);
    BOOST_TEST(r.errors[1].to_string() == "multi.pkt:4:25: expected mss value (a number), found '>'");
    // The good events around the bad ones are still parsed.
    BOOST_TEST(r.script.events.size() == 3u);
}

BOOST_AUTO_TEST_CASE(unreadable_file_is_an_error_not_a_crash) {
    ParseResult r = load_script("/nonexistent/dir/x.pkt");
    BOOST_REQUIRE(r.errors.size() == 1u);
    BOOST_TEST(r.errors[0].to_string() == "/nonexistent/dir/x.pkt: cannot read script");
    ParseResult d = load_script(TCPSIM_SOURCE_DIR);  // a directory
    BOOST_TEST(!d.ok());
}

// ---------------------------------------------------------------------------------------------
// Constructs beyond the shared 32 (from the wider upstream gtests/net/tcp suite)

BOOST_AUTO_TEST_CASE(options_and_defines_configure_the_script) {
    Script s = parse_ok(R"(--ip_version=ipv4
--tolerance_usecs=10000
--tolerance_percent=5
--tcp_ts_tick_usecs=1000
--define=PORT=8080
--define=ADDR="192.0.2.1"
--strict_segments

0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 connect(3, {sa_family=AF_INET, sin_port=htons(PORT), sin_addr=inet_addr(ADDR)}, 16) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <...>
)");
    BOOST_TEST(s.options.size() == 7u);
    BOOST_TEST((s.config.ip_version == ScriptConfig::IpVersion::Ipv4));
    BOOST_TEST((s.config.tolerance == 10ms));
    BOOST_TEST(s.config.tolerance_percent == 5.0);
    BOOST_TEST((*s.config.ts_tick == 1ms));
    BOOST_TEST(s.config.strict_segments);
    const Expr& addr = call_of(s.events[1]).args[1];
    BOOST_TEST(addr.field("sa_family")->is_word("AF_INET"));
    const Expr* port = addr.field("sin_port");
    BOOST_TEST((port->kind == Expr::Kind::Call && port->text == "htons"));
    BOOST_TEST(port->args[0].integer == 8080);
    BOOST_TEST(port->args[0].loc.line == 10u);  // errors point at the use of PORT
    const Expr* ip = addr.field("sin_addr");
    BOOST_TEST(ip->args[0].text == "192.0.2.1");
    BOOST_TEST((tcp_of(s.events[2]).options_mode == TcpSpec::OptionsMode::Any));
    BOOST_TEST(classify(s).runnable());
}

BOOST_AUTO_TEST_CASE(wildcard_range_and_absolute_times_resolve_into_a_schedule) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.5 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
* > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
+0~+0.1 > S 0:0(0) <...>
1.0~1.5 > S 0:0(0) <...>
+.25 < S. 0:0(0) ack 1 win 65535 <mss 1460>
+0 < . 1:1(0) ack 1 win 65535
2.0...3.5 read(3, ..., 10) = 10
)");
    const Schedule& sch = s.schedule;
    BOOST_REQUIRE(sch.events.size() == 8u);
    BOOST_TEST((sch.events[1].start == 500ms));
    BOOST_TEST(sch.events[2].any_time);
    BOOST_TEST((sch.events[2].start == 500ms));
    BOOST_TEST((s.events[3].time.kind == EventTime::Kind::RelativeRange));
    BOOST_TEST((sch.events[3].offset == 0ms && sch.events[3].offset_end == 100ms));
    BOOST_TEST((sch.events[4].anchor == ScheduledEvent::Anchor::Start));
    BOOST_TEST((sch.events[4].start == 1000ms && sch.events[4].end == 1500ms));
    BOOST_TEST((sch.events[5].start == 1250ms));
    BOOST_TEST((sch.events[5].anchor == ScheduledEvent::Anchor::PreviousActual));
    BOOST_TEST((sch.events[6].anchor == ScheduledEvent::Anchor::PreviousScheduled));  // inbound after inbound
    BOOST_TEST((sch.events[7].anchor == ScheduledEvent::Anchor::Start));
    BOOST_TEST((*sch.events[7].blocking_end == 3500ms));
}

BOOST_AUTO_TEST_CASE(struct_literals_linger_tcp_info_iovec_pollfd) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0
+0 getsockopt(3, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_mss=1460, ...}, [104]) = 0
+0 writev(3, [{iov_base=..., iov_len=1000}, {iov_base=..., iov_len=500}], 2) = 1500
+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1
+0 read(3, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)
+0 write(3, "GET / HTTP/1.1" "\r\n"..., 16) = 16
+0 getsockname(3, ..., [16]) = 0
)");
    const Expr& linger = call_of(s.events[1]).args[3];
    BOOST_REQUIRE((linger.kind == Expr::Kind::Struct));
    BOOST_TEST(linger.field("l_onoff")->integer == 1);
    BOOST_TEST(linger.field("l_linger")->integer == 0);
    BOOST_TEST(linger.loc.line == 3u);
    BOOST_TEST(linger.loc.column == 41u);
    BOOST_TEST(linger.to_string() == "{l_onoff=1, l_linger=0}");

    const Expr& info = call_of(s.events[2]).args[3];
    BOOST_TEST(info.field("tcpi_state")->is_word("TCP_ESTABLISHED"));
    BOOST_TEST(info.items[2].is_ellipsis());
    BOOST_TEST((call_of(s.events[2]).args[4].kind == Expr::Kind::Array));

    const Expr& iov = call_of(s.events[3]).args[1];
    BOOST_REQUIRE(iov.items.size() == 2u);
    BOOST_TEST(iov.items[1].field("iov_len")->integer == 500);
    BOOST_TEST(iov.items[1].field("iov_base")->is_ellipsis());

    const Expr& pfd = call_of(s.events[4]).args[0].items[0];
    BOOST_TEST(pfd.field("fd")->integer == 3);
    BOOST_TEST(pfd.field("events")->to_string() == "POLLIN|POLLOUT");
    BOOST_TEST(pfd.field("revents")->is_word("POLLOUT"));

    const SyscallSpec& rd = call_of(s.events[5]);
    BOOST_TEST(*rd.errno_name == "EAGAIN");
    BOOST_TEST(*rd.note == "Resource temporarily unavailable");

    const Expr& str = call_of(s.events[6]).args[1];
    BOOST_TEST((str.kind == Expr::Kind::String));
    BOOST_TEST(str.text == "GET / HTTP/1.1\\r\\n");  // verbatim, as packetdrill keeps it
    BOOST_TEST(str.prefix);
    BOOST_TEST(classify(s).runnable());
}

BOOST_AUTO_TEST_CASE(flags_urgent_pointer_and_ecn_bits) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 < SEW 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>
+0 > SE. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 1,nop,wscale 8>
+0 < U. 1:2(1) ack 1 urg 1 win 257
+0 < R 1:1(0) win 0
+0 > FP. 1:11(10) ack 1 win 502
+0 < 1234>8080 . 1:1(0) ack 11 win 502
+0 > .  11:11(0) ack 2 <nop,nop,TS val 200 ecr 1,eol,eol,eol,eol>
)");
    BOOST_TEST(tcp_of(s.events[1]).flags == (tcp::Syn | tcp::Ece | tcp::Cwr));
    BOOST_TEST(tcp_of(s.events[2]).flags == (tcp::Syn | tcp::Ece | tcp::Ack));
    const TcpSpec& urg = tcp_of(s.events[3]);
    BOOST_TEST(urg.flags == (tcp::Urg | tcp::Ack));
    BOOST_TEST(*urg.urgent == 1);
    BOOST_TEST(urg.payload == 1u);
    BOOST_TEST(tcp_of(s.events[4]).flags == tcp::Rst);
    BOOST_TEST(*tcp_of(s.events[5]).window == 502);
    const TcpSpec& ports = tcp_of(s.events[6]);
    BOOST_TEST(*ports.src_port == 1234);
    BOOST_TEST(*ports.dst_port == 8080);
    BOOST_TEST(tcp_of(s.events[7]).options.size() == 7u);
    BOOST_TEST(s.events[7].packet()->to_string() == "> . 11:11(0) ack 2 <nop,nop,TS val 200 ecr 1,eol,eol,eol,eol>");
}

BOOST_AUTO_TEST_CASE(icmp_packets_name_type_code_mtu_and_quoted_segment) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 < icmp unreachable port_unreachable [1:1001(1000)]
+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]
+0 < icmp time_exceeded [0:0(0)]
+0 < icmp unreachable
+0 < icmp type_3 code_13 [5000:6000(1000)]
)");
    auto icmp = [&](std::size_t i) -> const IcmpSpec& {
        const IcmpSpec* p = std::get_if<IcmpSpec>(&s.events[i].packet()->body);
        BOOST_REQUIRE(p);
        return *p;
    };
    BOOST_TEST(icmp(1).type_value == 3);
    BOOST_TEST(icmp(1).code_value == 3);
    BOOST_TEST(icmp(1).echoed_seq == 1u);
    BOOST_TEST(icmp(1).echoed_payload == 1000u);
    BOOST_TEST(*icmp(2).mtu == 1200);
    BOOST_TEST(icmp(2).code_value == 4);
    BOOST_TEST(icmp(3).type_value == 11);
    BOOST_TEST(icmp(4).code_value == 0);
    BOOST_TEST((icmp(4).echoed == IcmpSpec::Echoed::Tcp));
    BOOST_TEST(icmp(5).type_value == 3);
    BOOST_TEST(icmp(5).code_value == 13);
    BOOST_TEST(classify(s).runnable());
}

BOOST_AUTO_TEST_CASE(fast_open_cookies_md5_and_fuzzing_are_parsed_and_unsupported) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation is now in progress)
+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
+.01 < S. 123:123(0) ack 1 win 5840 <mss 1040,nop,nop,sackOK,nop,wscale 6,FO abcd1234,nop,nop>
+0 > . 1:1(0) ack 1 <md5 000102030405060708090a0b0c0d0e0f,nop,nop>
+.1 < P. 1:21(20) ack 1 win 257 {rep tcp src_port 0x0B63}
)");
    const TcpSpec& synack = tcp_of(s.events[4]);
    BOOST_TEST(synack.seq_start == 123u);
    BOOST_TEST((synack.options[6].kind == TcpOption::Kind::FastOpen));
    BOOST_TEST((synack.options[6].bytes == std::vector<std::uint8_t>{0xab, 0xcd, 0x12, 0x34}));
    BOOST_TEST(tcp_of(s.events[3]).options[6].bytes.empty());
    BOOST_TEST(tcp_of(s.events[5]).options[0].bytes.size() == 16u);
    BOOST_TEST(*tcp_of(s.events[6]).fuzz == "{rep tcp src_port 0x0B63}");
    Classification c = classify(s);
    BOOST_TEST(!c.runnable());
    BOOST_TEST(has_finding(c, "TCP Fast Open", "MSG_FASTOPEN"));
    BOOST_TEST(has_finding(c, "TCP Fast Open", "FO abcd1234"));
    BOOST_TEST(has_finding(c, "TCP MD5 signature"));
    BOOST_TEST(has_finding(c, "packet fuzzing"));
}

BOOST_AUTO_TEST_CASE(multi_line_commands_code_and_comments) {
    Script s = parse_ok(R"(// header comment
`../common/defaults.sh
sysctl -q net.ipv4.tcp_timestamps=0
../common/set_sysctls.py /proc/sys/net/ipv4/tcp_wmem="4096 50000 4194304" \
   /proc/sys/net/ipv4/tcp_rmem="4096 87380 6291456"
echo 0 > /proc/sys/net/ipv4/tcp_sack
`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 `nstat > /dev/null`
+0 %{
import os
assert tcpi_state == 1, tcpi_state
}%
/* a block comment
   over two lines */ +0 close(3) = 0  // trailing comment
`/tmp/sysctl_restore_${PPID}.sh`
)");
    BOOST_REQUIRE(s.setup_command.has_value());
    BOOST_TEST(s.setup_command->loc.line == 2u);
    BOOST_REQUIRE(s.events.size() == 4u);
    BOOST_TEST(s.events[0].loc().line == 8u);
    BOOST_TEST(s.events[1].command()->text == "nstat > /dev/null");
    BOOST_TEST(s.events[2].code()->text == "\nimport os\nassert tcpi_state == 1, tcpi_state\n");
    BOOST_TEST(s.events[3].loc().line == 15u);
    BOOST_TEST(s.events[3].loc().column == 22u);
    BOOST_TEST(s.cleanup_command.has_value());
    Classification c = classify(s);
    BOOST_REQUIRE(c.sysctls.size() == 4u);
    BOOST_TEST(c.sysctls[3].name == "net.ipv4.tcp_sack");
    BOOST_TEST(c.sysctls[3].value == "0");
    BOOST_TEST(c.sysctls[0].name == "net.ipv4.tcp_timestamps");
    BOOST_TEST(c.sysctls[0].value == "0");
    BOOST_TEST(c.sysctls[1].name == "net.ipv4.tcp_wmem");
    BOOST_TEST(c.sysctls[1].value == "4096 50000 4194304");
    BOOST_TEST(c.sysctls[2].name == "net.ipv4.tcp_rmem");
    BOOST_TEST(has_finding(c, "shell command", "nstat > /dev/null"));
    BOOST_TEST(has_finding(c, "python code block"));
}

BOOST_AUTO_TEST_CASE(ipv6_udp_gre_mpls_and_ip_fields_are_unsupported) {
    Script s = parse_ok(R"(--ip_version=ipv6
0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3
+0 bind(3, {sa_family=AF_INET6, sin_port=htons(8080), sin_addr=inet6_addr("2001:db8::1")}, 28) = 0
+0 < udp (1000)
+0 > udp 8080>9090 (20)
+0 < gre: . 1:1(0) ack 1 win 257
+0 < mpls (label 123, tc 1, [S], ttl 255): . 1:1(0) ack 1 win 257
+0 < ipv4 192.0.2.1 > 192.168.0.1: . 1:1(0) ack 1 win 257
+0 < [ect0] . 1:1(0) ack 1 win 257
+0 > (tos 0x10) . 1:1(0) ack 1
)");
    Classification c = classify(s);
    BOOST_TEST(!c.runnable());
    BOOST_TEST(has_finding(c, "IPv6", "--ip_version=ipv6"));
    BOOST_TEST(has_finding(c, "IPv6", "AF_INET6"));
    BOOST_TEST(has_finding(c, "IPv6", "inet6_addr"));
    BOOST_TEST(has_finding(c, "UDP", "SOCK_DGRAM"));
    BOOST_TEST(has_finding(c, "UDP packet"));
    BOOST_TEST(has_finding(c, "GRE encapsulation"));
    BOOST_TEST(has_finding(c, "MPLS encapsulation", "mpls (label 123, tc 1, [S], ttl 255):"));
    BOOST_TEST(has_finding(c, "IP-in-IP encapsulation", "ipv4 192.0.2.1 > 192.168.0.1:"));
    BOOST_TEST(has_finding(c, "IP header fields (ECN/TOS/TTL)"));
    const UdpSpec* udp = std::get_if<UdpSpec>(&s.events[3].packet()->body);
    BOOST_REQUIRE(udp);
    BOOST_TEST(*udp->dst_port == 9090);
    BOOST_TEST(udp->payload == 20u);
    BOOST_TEST(*s.events[8].packet()->ip->tos == 0x10);
    // Findings carry locations and print as file:line:column.
    const Finding& f = c.findings.front();
    BOOST_TEST(f.to_string("v6.pkt") == "v6.pkt:1:1: unsupported: IPv6 (--ip_version=ipv6)");
}

BOOST_AUTO_TEST_CASE(epoll_and_other_unknown_syscalls_are_named) {
    Script s = parse_ok(R"(
0 epoll_create(1) = 5
+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT|EPOLLIN|EPOLLET, fd=4}) = 0
+0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
+0 getsockopt(3, SOL_TCP, TCP_NOTSENT_LOWAT, [0xffffffff], [4]) = 0
+0 splice() = 0
)");
    const Expr& v = call_of(s.events[3]).args[3].items[0];
    BOOST_TEST(v.integer == 0xffffffffLL);
    BOOST_TEST(v.to_string() == "0xffffffff");
    BOOST_TEST(call_of(s.events[4]).args.empty());
    Classification c = classify(s);
    BOOST_TEST(has_finding(c, "system call", "epoll_create"));
    BOOST_TEST(has_finding(c, "system call", "epoll_ctl"));
    BOOST_TEST(has_finding(c, "system call", "splice"));
    BOOST_TEST(has_finding(classify(parse_ok("0 sokcet(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")), "system call",
                           "sokcet, did you mean 'socket'?"));
    BOOST_TEST(!has_finding(c, "system call", "getsockopt"));
    BOOST_TEST(c.findings.front().loc.line == 2u);
    BOOST_TEST(c.findings.front().loc.column == 3u);
}

BOOST_AUTO_TEST_CASE(accecn_flags_and_option) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 < SEWA 0:0(0) win 32792 <mss 1050,nop,nop,sackOK,nop,wscale 8>
+.002 > SW. 0:0(0) ack 1 <mss 1460,ECN e1b 1 ceb 0 e0b 1,nop,nop,nop,sackOK,nop,wscale 8>
+1.0~+1.1 > SW. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
+0.05 < [ect0] W. 1:1(0) ack 1 win 257 <ECN e0b 1 ceb 0 e1b 1,nop>
+0 > S.5 1:1(0) ack 1 <...>
+0 > .6 1:1(0) ack 1 <wscale *,nop>
)");
    const TcpSpec& syn = tcp_of(s.events[1]);
    BOOST_TEST(syn.ae);
    BOOST_TEST(syn.flags == (tcp::Syn | tcp::Ece | tcp::Cwr));
    const TcpOption& ecn = tcp_of(s.events[2]).options[1];
    BOOST_TEST((ecn.kind == TcpOption::Kind::AccEcn));
    BOOST_REQUIRE(ecn.accecn.size() == 3u);
    BOOST_TEST(ecn.accecn[0].first == "e1b");
    BOOST_TEST(ecn.wire_size() == 11u);
    BOOST_TEST(*tcp_of(s.events[5]).ace == 5);
    BOOST_TEST(tcp_of(s.events[5]).flags == (tcp::Syn | tcp::Ack));
    BOOST_TEST(*tcp_of(s.events[6]).ace == 6);
    BOOST_TEST(tcp_of(s.events[6]).options[0].wildcard);
    BOOST_TEST(has_finding(classify(s), "AccECN"));
    BOOST_TEST(first_error("0 close(3) = 0\n+0 > E.5 1:1(0) ack 1\n") ==
               "bad.pkt:2:6: conflicting TCP flags 'E.5': an ACE digit excludes E, W and A");
}

BOOST_AUTO_TEST_CASE(server_side_blocking_accept_with_absolute_times) {
    Script s = parse_ok(R"(
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
0     setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
0     bind(3, ..., ...) = 0
0     listen(3, 1) = 0
0.1...0.3 accept(3, ..., ...) = 4
0.2   < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
0.2   > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
0.3   < . 1:1(0) ack 1 win 257
0.3   shutdown(4, SHUT_RDWR) = 0
)");
    const ScheduledEvent& acc = s.schedule.events[4];
    BOOST_TEST((acc.anchor == ScheduledEvent::Anchor::Start));
    BOOST_TEST((acc.start == 100ms));
    BOOST_TEST((*acc.blocking_end == 300ms));
    BOOST_TEST((s.schedule.events[7].start == 300ms));
    // 100 ms after the previous event: 12.5 % of it is more than the 4 ms floor.
    BOOST_TEST((s.schedule.events[7].tolerance == 12500us));
    BOOST_TEST((s.schedule.events[6].tolerance == 4ms));
}

BOOST_AUTO_TEST_CASE(lexer_follows_packetdrill_longest_match_rules) {
    std::vector<Diagnostic> errs;
    auto toks = tokenize("+.1...0.200 1:1001(1000) 192.0.2.1 2001:db8::1 0x1f S.5 -1 --x=y", "l.pkt", errs);
    BOOST_TEST(errs.empty());
    std::vector<std::pair<TokenKind, std::string>> want = {
        {TokenKind::Punct, "+"},      {TokenKind::Float, ".1"},        {TokenKind::Ellipsis, "..."},
        {TokenKind::Float, "0.200"},  {TokenKind::Integer, "1"},        {TokenKind::Punct, ":"},
        {TokenKind::Integer, "1001"}, {TokenKind::Punct, "("},          {TokenKind::Integer, "1000"},
        {TokenKind::Punct, ")"},      {TokenKind::Ipv4Addr, "192.0.2.1"}, {TokenKind::Ipv6Addr, "2001:db8::1"},
        {TokenKind::HexInteger, "0x1f"}, {TokenKind::Word, "S"},        {TokenKind::Float, ".5"},
        {TokenKind::Integer, "-1"},   {TokenKind::Option, "x"},         {TokenKind::Punct, "="},
        {TokenKind::Word, "y"},       {TokenKind::End, ""},
    };
    BOOST_REQUIRE(toks.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        BOOST_TEST_INFO("token " << i << " '" << toks[i].text << "'");
        BOOST_TEST((toks[i].kind == want[i].first));
        BOOST_TEST(toks[i].text == want[i].second);
    }
    BOOST_TEST(toks[11].loc.column == 36u);
}

// ---------------------------------------------------------------------------------------------
// Robustness: mutated scripts never crash and every error has a sane location.

BOOST_AUTO_TEST_CASE(fuzzed_scripts_give_located_errors_never_crashes) {
    std::vector<std::string> corpus;
    for (const fs::path& p : shared_scripts()) {
        std::ifstream in(p);
        std::ostringstream b;
        b << in.rdbuf();
        corpus.push_back(b.str());
    }
    // A built-in corpus so the test means something without /work/shared.
    corpus.push_back(R"(--tolerance_usecs=10000
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0
+.1...0.200 connect(3, ..., ...) = 0
+0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
+.1 < S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2,nop,nop,sackOK>
+0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 0}, {..., 40}], msg_flags=0}, 0) = 40
+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1
+.3~+.4 > F. 1:1(0) ack 1
* > . 1:1(0) ack 2 <sack 1:2 3:4,nop,nop>
+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]
+0 %{ assert tcpi_snd_cwnd == 10 }%
+0 read(3, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)
`/tmp/x.sh`
)");
    const std::string alphabet = "<>()[]{},:=|+*~.-/`\"%;!\n\t 0123456789SPF.abcx\xff";
    std::mt19937 rng(20261121);
    std::size_t runs = 0, failed = 0;
    for (const std::string& base : corpus) {
        for (int m = 0; m < 60; ++m) {
            std::string s = base;
            int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits && !s.empty(); ++e) {
                std::size_t at = rng() % s.size();
                switch (rng() % 5) {
                    case 0: s.erase(at, 1 + rng() % 6); break;
                    case 1: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
                    case 2: s.replace(at, 1, 1, alphabet[rng() % alphabet.size()]); break;
                    case 3: s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 12)); break;
                    case 4: s.resize(at); break;
                }
            }
            ParseResult r = parse_script(s, "fuzz.pkt");
            (void)classify(r.script);
            ++runs;
            failed += !r.ok();
            auto lines = static_cast<std::uint32_t>(std::count(s.begin(), s.end(), '\n') + 1);
            for (const Diagnostic& d : r.errors) {
                BOOST_TEST_INFO(d.to_string() << "\n--- script ---\n" << s);
                BOOST_TEST(d.to_string().rfind("fuzz.pkt:", 0) == 0u);
                BOOST_TEST(d.loc.line >= 1u);
                BOOST_TEST(d.loc.line <= lines);
                BOOST_TEST(d.loc.column >= 1u);
                BOOST_TEST(!d.message.empty());
            }
        }
    }
    BOOST_TEST_MESSAGE("fuzz: " << runs << " mutated scripts, " << failed << " rejected");
    BOOST_TEST(failed > runs / 4);  // the mutations really do break scripts
}

// ---------------------------------------------------------------------------------------------
// Named constants

BOOST_AUTO_TEST_CASE(named_constants_evaluate_to_linux_values) {
    Script s = parse_ok(R"(
0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 poll([{fd=3, events=POLLIN|POLLOUT|POLLRDHUP}], 1, 0) = 0
+0 setsockopt(3, SOL_TCP, TCP_NOT_A_THING, [1], 4) = 0
+0 connect(3, ..., ...) = -1 EWEIRD (Not an errno)
)");
    BOOST_TEST(*evaluate_integer(call_of(s.events[0]).args[1]) == (1 | 04000));
    BOOST_TEST(*evaluate_integer(call_of(s.events[1]).args[2]) == (2 | 04000));
    BOOST_TEST(*evaluate_integer(*call_of(s.events[2]).args[0].items[0].field("events")) == (0x1 | 0x4 | 0x2000));
    auto bad = evaluate_integer(call_of(s.events[3]).args[2]);
    BOOST_REQUIRE(!bad.has_value());
    BOOST_TEST(bad.error() == "unknown constant 'TCP_NOT_A_THING'");
    BOOST_TEST(!evaluate_integer(call_of(s.events[2]).args[0]).has_value());  // an array
    BOOST_TEST(*symbol_value("TCP_CA_Recovery") == 3);
    BOOST_TEST(*errno_number("EINPROGRESS") == 115);
    BOOST_TEST(*errno_number("EAGAIN") == 11);
    BOOST_TEST(!errno_number("EPOLLIN").has_value());
    BOOST_TEST(!symbol_value("NOPE").has_value());
    Classification c = classify(s);
    BOOST_TEST(has_finding(c, "unknown constant", "TCP_NOT_A_THING"));
    BOOST_TEST(has_finding(c, "unknown errno", "EWEIRD"));
    BOOST_TEST(c.findings.size() == 2u);
}

// ---------------------------------------------------------------------------------------------
// %{ }% code blocks: the tcp_info assertion subset

namespace {
FieldLookup fields(std::map<std::string, std::int64_t> m) {
    return [m = std::move(m)](std::string_view n) -> std::optional<std::int64_t> {
        auto it = m.find(std::string(n));
        if (it == m.end()) return std::nullopt;
        return it->second;
    };
}
CodeProgram code_ok(const Script& s, std::size_t event) {
    BOOST_REQUIRE(s.events[event].code() != nullptr);
    auto p = parse_code(*s.events[event].code());
    BOOST_REQUIRE_MESSAGE(p.has_value(), (p.has_value() ? "" : p.error().message));
    return *p;
}
}  // namespace

BOOST_AUTO_TEST_CASE(every_shared_code_block_is_in_the_assertion_subset) {
    std::size_t blocks = 0;
    for (const fs::path& p : shared_scripts()) {
        ParseResult r = load_script(p);
        for (const Event& ev : r.script.events) {
            if (!ev.code()) continue;
            ++blocks;
            auto prog = parse_code(*ev.code());
            BOOST_TEST_INFO(p.string() << ":" << ev.loc().line << ": " << (prog ? "" : prog.error().message));
            BOOST_TEST(prog.has_value());
        }
    }
    if (blocks == 0) BOOST_TEST_MESSAGE("skipped: no shared scripts");
    else BOOST_TEST(blocks == 29u);
}

BOOST_AUTO_TEST_CASE(tcp_info_assertions_evaluate_with_python_semantics) {
    Script s = parse_ok(R"(
0 close(3) = 0
+0 %{
assert tcpi_ca_state == TCP_CA_Recovery, tcpi_ca_state
assert tcpi_snd_cwnd == 7, tcpi_snd_cwnd
}%
+0 %{ assert tcpi_snd_cwnd == 10, 'cwnd=%d' % tcpi_snd_cwnd }%
+0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options; assert tcpi_lost == 4,tcpi_lost }%
+0 %{ TCP_INFINITE_SSTHRESH = 0x7fffffff }%
+0 %{ assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }%
+0 %{ assert -7 // 2 == -4 and -7 % 2 == 1 and 1 < 2 < 3 and not (2 < 1 or False) and ~0 == -1 }%
+0 %{
import os
}%
+0 %{ print(tcpi_rtt) }%
+0 %{ assert tcpi_rtt > 1 << 70 }%
)");
    CodeEnv env;
    auto lookup = fields({{"tcpi_ca_state", 3}, {"tcpi_snd_cwnd", 7}, {"tcpi_options", 32}, {"tcpi_lost", 4},
                          {"tcpi_snd_ssthresh", 0x7fffffff}, {"tcpi_rtt", 5}});
    BOOST_TEST(!run_code(code_ok(s, 1), lookup, env).has_value());
    BOOST_TEST(code_ok(s, 1).statements.size() == 2u);
    BOOST_TEST(code_ok(s, 1).statements[1].loc.line == 5u);
    auto failed = run_code(code_ok(s, 2), lookup, env);
    BOOST_REQUIRE(failed.has_value());
    BOOST_TEST(*failed == "assertion failed: tcpi_snd_cwnd == 10 (tcpi_snd_cwnd=7)");
    BOOST_TEST(!run_code(code_ok(s, 3), lookup, env).has_value());
    BOOST_TEST(!run_code(code_ok(s, 4), lookup, env).has_value());
    BOOST_TEST(!run_code(code_ok(s, 5), lookup, env).has_value());  // uses the earlier assignment
    BOOST_TEST(run_code(code_ok(s, 5), lookup).has_value());        // a fresh env does not know it
    BOOST_TEST(!run_code(code_ok(s, 6), lookup, env).has_value());
    auto imp = parse_code(*s.events[7].code());
    BOOST_REQUIRE(!imp.has_value());
    BOOST_TEST(imp.error().loc.line == 13u);
    BOOST_TEST(imp.error().loc.column == 1u);
    BOOST_TEST(parse_code(*s.events[8].code()).has_value());  // print() parses and has no effect
    auto shift = run_code(code_ok(s, 9), lookup, env);
    BOOST_REQUIRE(shift.has_value());
    BOOST_TEST(shift->find("shift count out of range") != std::string::npos);
    auto unknown = run_code(code_ok(s, 1), fields({}), env);
    BOOST_REQUIRE(unknown.has_value());
    BOOST_TEST(*unknown == "unknown name 'tcpi_ca_state' in 'assert tcpi_ca_state == TCP_CA_Recovery, tcpi_ca_state'");

    Classification strict = classify(s);
    Classification relaxed = classify(s, ClassifyOptions{.tcp_info_assertions = true});
    BOOST_TEST(std::count_if(strict.findings.begin(), strict.findings.end(), [](const Finding& f) { return f.construct == "python code block"; }) == 9);
    // With assertions supported, only the blocks outside the subset remain.
    BOOST_TEST(relaxed.findings.size() == 1u);
    BOOST_TEST(relaxed.findings[0].detail.find("import os") == 0u);
}

// ---------------------------------------------------------------------------------------------
// Options on the wire: building injected packets, matching expected ones

namespace {
const TcpSpec& packet_at(const Script& s, std::size_t i) { return tcp_of(s.events[i]); }
}  // namespace

BOOST_AUTO_TEST_CASE(script_options_build_exact_wire_bytes) {
    Script s = parse_ok(R"(
0 close(3) = 0
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
+0 < . 1:1(0) ack 1 win 257 <sack 1001:2001,nop,nop>
+0 < S 0:0(0) win 65535 <FO abcd1234,nop,nop>
+0 > S 0:0(0) <wscale *,nop>
)");
    auto syn = build_options(packet_at(s, 1).options, 0);
    BOOST_REQUIRE(syn.has_value());
    BOOST_TEST(to_hex(syn->raw()) == to_hex(from_hex("020405b4 0402 080a0000006400000000 01 030308")));
    BOOST_TEST(*syn->mss_value() == 1460);
    BOOST_TEST(syn->timestamps_value()->value == 100u);
    auto sack = build_options(packet_at(s, 2).options, 1000);
    BOOST_REQUIRE(sack.has_value());
    BOOST_TEST(to_hex(sack->raw()) == to_hex(from_hex("050a 000007d1 00000bb9 0101")));
    auto fo = build_options(packet_at(s, 3).options, 0);
    BOOST_REQUIRE(fo.has_value());
    BOOST_TEST(to_hex(fo->raw()) == to_hex(from_hex("2206abcd1234 0101")));
    auto wild = build_options(packet_at(s, 4).options, 0);
    BOOST_REQUIRE(!wild.has_value());
    BOOST_TEST(wild.error() == "'wscale *' matches any shift; a packet to send needs a number");
}

BOOST_AUTO_TEST_CASE(expected_options_match_or_say_what_differs) {
    Script s = parse_ok(R"(
0 close(3) = 0
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+0 > S 0:0(0) <...>
+0 > . 1:1(0) ack 1 <nop,nop,TS val 200 ecr 700>
+0 > . 1:1(0) ack 1 <sack 2001:3001,nop,nop>
+0 > . 1:1(0) ack 1 <wscale *,nop>
+0 > . 1:1(0) ack 1
)");
    auto sent = [](std::vector<TcpOption> opts) {
        auto o = build_options(opts, 5000);
        BOOST_REQUIRE(o.has_value());
        return *o;
    };
    auto opts_of = [&](std::string text) {
        Script x = parse_ok("0 close(3) = 0\n+0 < S 0:0(0) win 1 " + text + "\n");
        return sent(tcp_of(x.events[1]).options);
    };
    OptionMatchRules rules{.sack_base = 5000};
    BOOST_TEST(!match_options(packet_at(s, 1), opts_of("<mss 1460,nop,wscale 8>"), rules).has_value());
    auto diff = match_options(packet_at(s, 1), opts_of("<mss 1460,nop,wscale 7>"), rules);
    BOOST_REQUIRE(diff.has_value());
    BOOST_TEST(*diff == "option 3: expected wscale 8, got wscale 7 (options sent: <mss 1460,nop,wscale 7>)");
    auto missing = match_options(packet_at(s, 1), opts_of("<mss 1460,nop,nop,nop,nop>"), rules);
    BOOST_TEST(*missing == "option 3: expected wscale 8, got nop (options sent: <mss 1460,nop,nop,nop,nop>)");
    auto shorter = match_options(packet_at(s, 1), opts_of("<mss 1460>"), rules);
    BOOST_TEST(*shorter == "option 2: expected nop, got nothing (options sent: <mss 1460>)");
    BOOST_TEST(!match_options(packet_at(s, 2), opts_of("<mss 1,nop,nop,sackOK>"), rules).has_value());  // <...>
    // TS val is the stack's clock: ignored unless asked for; ecr is always compared.
    BOOST_TEST(!match_options(packet_at(s, 3), opts_of("<nop,nop,TS val 9999 ecr 700>"), rules).has_value());
    OptionMatchRules strict = rules;
    strict.check_ts_val = true;
    BOOST_TEST(match_options(packet_at(s, 3), opts_of("<nop,nop,TS val 9999 ecr 700>"), strict).has_value());
    BOOST_TEST(match_options(packet_at(s, 3), opts_of("<nop,nop,TS val 200 ecr 701>"), rules).has_value());
    // SACK edges are compared relative to the base.
    BOOST_TEST(!match_options(packet_at(s, 4), opts_of("<sack 2001:3001,nop,nop>"), rules).has_value());
    BOOST_TEST(*match_options(packet_at(s, 4), opts_of("<sack 2001:4001,nop,nop>"), rules) ==
               "option 1: expected sack 2001:3001, got sack 2001:4001 (options sent: <sack 2001:4001,nop,nop>)");
    BOOST_TEST(!match_options(packet_at(s, 5), opts_of("<wscale 14,nop>"), rules).has_value());
    // No option list means no options; EOL padding alone is fine.
    BOOST_TEST(!match_options(packet_at(s, 6), tcp::Options{}, rules).has_value());
    BOOST_TEST(!match_options(packet_at(s, 6), opts_of("<eol,eol,eol,eol>"), rules).has_value());
    BOOST_TEST(*match_options(packet_at(s, 6), opts_of("<nop,nop,sackOK>"), rules) ==
               "unexpected option 1: nop (options sent: <nop,nop,sackOK>)");
}

// ---------------------------------------------------------------------------------------------
// Printing: events print in script notation that parses back to the same events.

BOOST_AUTO_TEST_CASE(events_print_in_script_notation_and_parse_back) {
    std::vector<std::pair<std::string, std::string>> scripts;
    for (const fs::path& p : shared_scripts()) {
        std::ifstream in(p);
        std::ostringstream b;
        b << in.rdbuf();
        scripts.emplace_back(p.string(), b.str());
    }
    scripts.emplace_back("extra.pkt", R"(
0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0
+0.1...0.25 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 100) = 1
* > [ect0] SEW 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale *>
+0~+0.1 > S.5 0:0(0) ack 1 <...>
1.5~2 > 80>1234 . 1:1(0) ack 1 <ECN e1b 1 ceb 0 e0b 1,nop>
+0 < icmp unreachable frag_needed mtu 1200 id 7 [1:1461(1460)]
+0 < [tos 0x10, ttl 3] udp 1>2 (20)
+0 < P. 1:21(20) ack 1 win 257 urg 3 {rep tcp src_port 0x0B63}
+0 write(3, "GET"..., 3) = -1 EAGAIN (Resource temporarily unavailable)
+0 getsockopt(3, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, ...}, [0x68]) = 0
+0 `echo hi`
+0 %{ assert tcpi_snd_cwnd == 10 }%
)");
    for (const auto& [name, text] : scripts) {
        ParseResult first = parse_script(text, name);
        BOOST_TEST_INFO(name << "\n" << errors_of(first));
        BOOST_REQUIRE(first.ok());
        std::string printed;
        for (const Event& e : first.script.events) printed += to_string(e) + "\n";
        ParseResult second = parse_script(printed, name + " (printed)");
        BOOST_TEST_INFO(printed << errors_of(second));
        BOOST_REQUIRE(second.ok());
        BOOST_REQUIRE(second.script.events.size() == first.script.events.size());
        for (std::size_t i = 0; i < first.script.events.size(); ++i)
            BOOST_TEST(to_string(second.script.events[i]) == to_string(first.script.events[i]));
        // Same schedule too.
        for (std::size_t i = 0; i < first.script.events.size(); ++i)
            BOOST_TEST((second.script.schedule.events[i].start == first.script.schedule.events[i].start));
    }
    Script s = parse_ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+.1...0.200 connect(3, ..., ...) = 0\n");
    BOOST_TEST(to_string(s.events[1]) == "+0.1...0.2 connect(3, ..., ...) = 0");
}
