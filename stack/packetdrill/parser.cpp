// Recursive-descent parser for packetdrill scripts (grammar: shared/packetdrill/syntax.md and
// packetdrill's parser.y). Syntax errors are recorded and the parser resynchronizes at the next
// line that starts an event, so one typo does not hide the rest of the script's errors.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "stack/packetdrill/lexer.hpp"
#include "stack/packetdrill/script.hpp"

namespace tcpsim::stack::packetdrill {

namespace {

constexpr std::size_t kMaxErrors = 50;
constexpr int kMaxDepth = 64;

struct SyntaxError {};  // unwinds to the event loop, which resynchronizes

// IPv4 ICMP types and Destination Unreachable codes by packetdrill's names (icmp_packet.c,
// RFC 792 / RFC 1812 numbers).
struct NamedValue { const char* name; int value; };
constexpr NamedValue kIcmpTypes[] = {
    {"echo_reply", 0},         {"unreachable", 3},          {"source_quench", 4},
    {"redirect", 5},           {"echo_request", 8},         {"time_exceeded", 11},
    {"parameter_problem", 12}, {"timestamp_request", 13},   {"timestamp_reply", 14},
    {"information_request", 15}, {"information_reply", 16}, {"address_mask_request", 17},
    {"address_mask_reply", 18},
};
constexpr NamedValue kUnreachableCodes[] = {
    {"net_unreachable", 0},  {"host_unreachable", 1},        {"protocol_unreachable", 2},
    {"port_unreachable", 3}, {"frag_needed", 4},             {"source_route_failed", 5},
    {"net_unknown", 6},      {"host_unknown", 7},            {"source_host_isolated", 8},
    {"net_prohibited", 9},   {"host_prohibited", 10},        {"net_unreachable_for_tos", 11},
    {"host_unreachable_for_tos", 12}, {"packet_filtered", 13}, {"precedence_violation", 14},
    {"precedence_cutoff", 15},
};

// `type_7` / `code_3`: packetdrill's escape for numbers without a name.
int numbered(const std::string& s, std::string_view prefix) {
    if (s.size() <= prefix.size() || s.compare(0, prefix.size(), prefix) != 0) return -1;
    int v = 0;
    auto [p, ec] = std::from_chars(s.data() + prefix.size(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return -1;
    return v;
}

const char* kKnownOptions[] = {
    "ip_version", "bind_port", "code_command", "code_format", "code_sockopt", "connect_port",
    "remote_ip", "local_ip", "gateway_ip", "netmask_ip", "speed", "mss", "mtu", "init_scripts",
    "tolerance_usecs", "tolerance_percent", "wire_client", "wire_server", "wire_server_ip",
    "wire_server_at", "wire_server_port", "wire_client_dev", "wire_server_dev", "so_filename",
    "so_flags", "tcp_ts_ecr_scaled", "tcp_ts_tick_usecs", "strict_segments", "non_fatal",
    "dry_run", "is_anyip", "send_omit_free", "debug", "define", "verbose",
};

// Edit distance, for "did you mean" hints on misspelled names.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

template <class Names>
std::string did_you_mean(std::string_view word, const Names& names) {
    std::string best;
    std::size_t best_d = std::max<std::size_t>(2, word.size() / 4) + 1;
    for (std::string_view n : names) {
        std::size_t d = edit_distance(word, n);
        if (d < best_d) {
            best_d = d;
            best = std::string(n);
        }
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

constexpr std::string_view kTcpOptionNames[] = {"nop", "eol", "mss", "wscale", "sackOK", "sack", "TS", "FO", "FOEXP", "md5", "ECN"};

class Parser {
public:
    Parser(std::string_view src, const std::string& file, std::vector<Diagnostic>& errors)
        : src_(src), file_(file), errors_(errors) {}

    Script run() {
        Script s;
        s.file = file_;
        toks_ = tokenize(src_, file_, errors_);
        while (cur().kind == TokenKind::Option) {
            try {
                s.options.push_back(parse_option());
            } catch (const SyntaxError&) {
                while (cur().kind != TokenKind::End && !cur().first_on_line) ++i_;
            }
        }
        build_config(s);
        apply_defines(s.config);
        if (cur().kind == TokenKind::BackQuoted) {
            s.setup_command = CommandSpec{cur().text, cur().loc};
            ++i_;
        }
        while (cur().kind != TokenKind::End && errors_.size() < kMaxErrors) {
            std::size_t start = i_;
            try {
                if (cur().kind == TokenKind::BackQuoted) {
                    CommandSpec c{cur().text, cur().loc};
                    ++i_;
                    if (cur().kind == TokenKind::End && !s.events.empty()) {
                        s.cleanup_command = std::move(c);
                    } else {
                        error(c.loc, s.events.empty()
                                         ? "only one untimed `command` may precede the first event; give it a time such as +0"
                                         : "a `command` between events needs a time, such as +0");
                    }
                    continue;
                }
                if (cur().kind == TokenKind::Option) fail(cur().loc, "options (" + cur().describe() + ") must come before the first event");
                s.events.push_back(parse_event());
            } catch (const SyntaxError&) {
                synchronize(start);
            }
        }
        if (errors_.size() >= kMaxErrors) error(cur().loc, "too many errors; giving up");
        else if (s.events.empty() && errors_.empty()) error(cur().loc, "script has no events");
        return s;
    }

private:
    // -- token access -------------------------------------------------------------------------
    const Token& cur() const { return toks_[i_]; }
    const Token& ahead(std::size_t n) const { return toks_[std::min(i_ + n, toks_.size() - 1)]; }
    const Token& take() {
        const Token& t = toks_[i_];
        if (t.kind != TokenKind::End) ++i_;
        return t;
    }
    bool accept(char c) {
        if (!cur().is(c)) return false;
        ++i_;
        return true;
    }
    const Token& expect(char c, std::string_view what) {
        if (!cur().is(c)) fail(cur().loc, "expected '" + std::string(1, c) + "' " + std::string(what) + ", found " + cur().describe());
        return take();
    }
    void error(SourceLoc loc, std::string msg) { errors_.push_back(Diagnostic{file_, loc, std::move(msg)}); }
    [[noreturn]] void fail(SourceLoc loc, std::string msg) {
        error(loc, std::move(msg));
        throw SyntaxError{};
    }

    // Skip to the next token that starts a line and can start an event.
    // `start` is where the failed event began; skipping at least one token guarantees progress.
    void synchronize(std::size_t start) {
        if (i_ == start && cur().kind != TokenKind::End) ++i_;
        while (cur().kind != TokenKind::End) {
            const Token& t = cur();
            bool starter = t.is('+') || t.is('*') || t.kind == TokenKind::Integer || t.kind == TokenKind::Float ||
                           t.kind == TokenKind::BackQuoted;
            if (t.first_on_line && starter) return;
            ++i_;
        }
    }

    // -- numbers ------------------------------------------------------------------------------
    std::int64_t integer_value(const Token& t) {
        std::int64_t v = 0;
        const char* b = t.text.data();
        const char* e = b + t.text.size();
        std::from_chars_result r{};
        if (t.kind == TokenKind::HexInteger) {
            std::uint64_t u = 0;
            r = std::from_chars(b + 2, e, u, 16);
            if (r.ec == std::errc() && u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                v = static_cast<std::int64_t>(u);
            else
                r.ec = std::errc::result_out_of_range;
        } else {
            r = std::from_chars(b, e, v);
        }
        if (r.ec != std::errc() || r.ptr != e) fail(t.loc, "integer " + t.text + " is out of range");
        return v;
    }
    std::uint64_t unsigned_value(const Token& t, std::uint64_t max, std::string_view what) {
        if (t.kind != TokenKind::Integer && t.kind != TokenKind::HexInteger)
            fail(t.loc, "expected " + std::string(what) + " (a number), found " + t.describe());
        std::int64_t v = integer_value(t);
        if (v < 0 || static_cast<std::uint64_t>(v) > max)
            fail(t.loc, std::string(what) + " " + t.text + " is out of range (0.." + std::to_string(max) + ")");
        return static_cast<std::uint64_t>(v);
    }
    std::uint64_t take_unsigned(std::uint64_t max, std::string_view what) {
        const Token& t = take();
        return unsigned_value(t, max, what);
    }

    // Seconds as written ("0.200", "+.1" after the '+', "2") to an exact Duration.
    Duration time_value(const Token& t) {
        if (t.kind != TokenKind::Integer && t.kind != TokenKind::Float)
            fail(t.loc, "expected a time in seconds, found " + t.describe());
        std::string_view s = t.text;
        if (!s.empty() && s[0] == '-') fail(t.loc, "negative time " + t.text);
        std::size_t dot = s.find('.');
        std::string_view whole = s.substr(0, dot);
        std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
        std::int64_t secs = 0;
        if (!whole.empty()) {
            auto r = std::from_chars(whole.data(), whole.data() + whole.size(), secs);
            if (r.ec != std::errc() || secs > 1'000'000'000) fail(t.loc, "time " + t.text + " is too large");
        }
        std::int64_t nanos = 0;
        for (std::size_t k = 0; k < 9; ++k) nanos = nanos * 10 + (k < frac.size() ? frac[k] - '0' : 0);
        return std::chrono::seconds(secs) + std::chrono::nanoseconds(nanos);
    }

    // -- options ------------------------------------------------------------------------------
    OptionSetting parse_option() {
        const Token& opt = take();
        OptionSetting o{opt.text, std::nullopt, opt.loc};
        if (cur().is('=') && cur().offset == opt.end_offset) {
            const Token& eq = take();
            // The value is the run of tokens written without blanks after '=' (so
            // ipv4-mapped-ipv6, 192.0.2.1/24 and NAME="a b" read as written).
            std::size_t start = eq.end_offset, end = start;
            while (cur().kind != TokenKind::End && cur().offset == end && !cur().first_on_line) end = take().end_offset;
            if (end == start) fail(eq.loc, "option --" + o.name + "= needs a value");
            o.value = std::string(src_.substr(start, end - start));
        }
        return o;
    }

    void build_config(Script& s) {
        ScriptConfig& c = s.config;
        for (const OptionSetting& o : s.options) {
            bool known = std::any_of(std::begin(kKnownOptions), std::end(kKnownOptions),
                                     [&](const char* k) { return o.name == k; });
            if (!known) {
                std::vector<std::string_view> names(std::begin(kKnownOptions), std::end(kKnownOptions));
                error(o.loc, "unknown option --" + o.name + did_you_mean(o.name, names));
                continue;
            }
            const std::string v = o.value.value_or("");
            auto need_value = [&]() {
                if (!o.value) error(o.loc, "option --" + o.name + " needs a value (--" + o.name + "=...)");
                return o.value.has_value();
            };
            auto as_uint = [&](std::uint64_t max) -> std::optional<std::uint64_t> {
                std::uint64_t n = 0;
                auto r = std::from_chars(v.data(), v.data() + v.size(), n);
                if (r.ec != std::errc() || r.ptr != v.data() + v.size() || n > max) {
                    error(o.loc, "bad --" + o.name + ": '" + v + "' (expected a whole number up to " + std::to_string(max) + ")");
                    return std::nullopt;
                }
                return n;
            };
            if (o.name == "ip_version") {
                if (!need_value()) continue;
                if (v == "ipv4") c.ip_version = ScriptConfig::IpVersion::Ipv4;
                else if (v == "ipv4-mapped-ipv6") c.ip_version = ScriptConfig::IpVersion::Ipv4MappedIpv6;
                else if (v == "ipv6") c.ip_version = ScriptConfig::IpVersion::Ipv6;
                else error(o.loc, "bad --ip_version: '" + v + "' (expected ipv4, ipv4-mapped-ipv6 or ipv6)");
            } else if (o.name == "tolerance_usecs") {
                if (need_value())
                    if (auto n = as_uint(3'600'000'000ull)) c.tolerance = std::chrono::microseconds(*n);
            } else if (o.name == "tolerance_percent") {
                if (!need_value()) continue;
                double d = -1;
                std::istringstream in(v);
                in >> d;
                if (!in || !in.eof() || d < 0 || d > 100) error(o.loc, "bad --tolerance_percent: '" + v + "' (expected 0..100)");
                else c.tolerance_percent = d;
            } else if (o.name == "tcp_ts_tick_usecs") {
                if (need_value())
                    if (auto n = as_uint(1'000'000'000ull)) {
                        if (*n == 0) c.ts_tick.reset();
                        else c.ts_tick = std::chrono::microseconds(*n);
                    }
            } else if (o.name == "tcp_ts_ecr_scaled") {
                c.ts_ecr_scaled = true;
            } else if (o.name == "strict_segments") {
                c.strict_segments = true;
            } else if (o.name == "bind_port" || o.name == "connect_port") {
                if (!need_value()) continue;
                if (auto n = as_uint(65535)) {
                    if (*n == 0) error(o.loc, "bad --" + o.name + ": port 0");
                    else (o.name == "bind_port" ? c.bind_port : c.connect_port) = static_cast<std::uint16_t>(*n);
                }
            } else if (o.name == "mss" || o.name == "mtu") {
                if (!need_value()) continue;
                if (auto n = as_uint(65535)) {
                    if (*n == 0) error(o.loc, "bad --" + o.name + ": 0");
                    else (o.name == "mss" ? c.mss : c.mtu) = static_cast<std::uint32_t>(*n);
                }
            } else if (o.name == "local_ip" || o.name == "remote_ip" || o.name == "gateway_ip" || o.name == "netmask_ip") {
                if (!need_value()) continue;
                (o.name == "local_ip" ? c.local_ip : o.name == "remote_ip" ? c.remote_ip : o.name == "gateway_ip" ? c.gateway_ip : c.netmask_ip) = v;
            } else if (o.name == "define") {
                if (!need_value()) continue;
                std::size_t eq = v.find('=');
                std::string name = v.substr(0, eq);
                bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
                    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                });
                if (!ok) error(o.loc, "bad --define: '" + v + "' (expected --define=NAME=value)");
                else c.defines.emplace_back(name, eq == std::string::npos ? std::string() : v.substr(eq + 1));
            }
            // Other known options configure packetdrill's harness (wire client/server, code
            // runner, verbosity); they do not change what the script means.
        }
    }

    // --define=NAME=value: later uses of the word NAME read as the tokens of value
    // (packetdrill lexer.l word(): "value" -> string, `value` -> command, else a word).
    void apply_defines(const ScriptConfig& c) {
        if (c.defines.empty()) return;
        std::map<std::string, std::vector<Token>, std::less<>> subst;
        for (const auto& [name, value] : c.defines) {
            std::vector<Diagnostic> errs;
            std::vector<Token> ts = tokenize(value, file_, errs);
            ts.pop_back();  // End
            if (!errs.empty() || ts.empty()) {
                Token w;
                w.kind = TokenKind::Word;
                w.text = value;
                ts = {w};
            }
            subst[name] = std::move(ts);
        }
        std::vector<Token> out(toks_.begin(), toks_.begin() + static_cast<std::ptrdiff_t>(i_));
        for (std::size_t k = i_; k < toks_.size(); ++k) {
            const Token& t = toks_[k];
            auto it = t.kind == TokenKind::Word ? subst.find(t.text) : subst.end();
            if (it == subst.end()) {
                out.push_back(t);
                continue;
            }
            for (std::size_t j = 0; j < it->second.size(); ++j) {
                Token r = it->second[j];
                r.loc = t.loc;  // errors point at the use of the name
                r.offset = t.offset;
                r.end_offset = t.end_offset;
                r.first_on_line = j == 0 && t.first_on_line;
                out.push_back(std::move(r));
            }
        }
        toks_ = std::move(out);
    }

    // -- events -------------------------------------------------------------------------------
    EventTime parse_time() {
        EventTime et;
        et.loc = cur().loc;
        if (accept('*')) {
            et.kind = EventTime::Kind::Any;
            return et;
        }
        bool rel = accept('+');
        if (cur().kind != TokenKind::Integer && cur().kind != TokenKind::Float)
            fail(cur().loc, std::string("expected ") + (rel ? "a time after '+'" : "an event time (0, +0.1, *, 1.0~1.1)") +
                                ", found " + cur().describe());
        et.start = et.end = time_value(take());
        et.kind = rel ? EventTime::Kind::Relative : EventTime::Kind::Absolute;
        if (cur().is('~')) {
            SourceLoc tilde = take().loc;
            bool rel2 = accept('+');
            if (rel != rel2) fail(tilde, rel ? "a relative time range needs '+' on both ends (+0.1~+0.2)"
                                             : "an absolute time range has no '+' (1.0~1.1)");
            et.end = time_value(take());
            et.kind = rel ? EventTime::Kind::RelativeRange : EventTime::Kind::AbsoluteRange;
            if (et.end < et.start) error(tilde, "time range is backwards");
        }
        return et;
    }

    Event parse_event() {
        Event ev;
        ev.time = parse_time();
        const Token& t = cur();
        if (t.is('<') || t.is('>')) {
            ev.action = parse_packet();
        } else if (t.kind == TokenKind::BackQuoted) {
            ev.action = CommandSpec{t.text, t.loc};
            ++i_;
        } else if (t.kind == TokenKind::Code) {
            // The lexer trims blanks after %{ on the same line; the text starts after them.
            std::size_t skip = 0;
            while (t.offset + 2 + skip < src_.size() && (src_[t.offset + 2 + skip] == ' ' || src_[t.offset + 2 + skip] == '\t')) ++skip;
            ev.action = CodeSpec{t.text, t.loc, SourceLoc{t.loc.line, static_cast<std::uint32_t>(t.loc.column + 2 + skip)}};
            ++i_;
        } else if (t.kind == TokenKind::Ellipsis || (t.kind == TokenKind::Word && ahead(1).is('('))) {
            ev.action = parse_syscall();
        } else if (t.kind == TokenKind::Word) {
            fail(t.loc, "expected '(' after system call name '" + t.text + "', found " + ahead(1).describe());
        } else {
            fail(t.loc, "expected a packet ('<' or '>'), a system call, a `command` or a %{ code }% block, found " + t.describe());
        }

        // packetdrill parser.y: wildcard and range times only make sense for packets we wait for.
        const PacketSpec* p = ev.packet();
        bool outbound = p && p->direction == Direction::Outbound;
        if (ev.time.kind == EventTime::Kind::Any && !outbound)
            error(ev.time.loc, "event time '*' can only be used with outbound packets ('>')");
        if (ev.time.range() && !outbound)
            error(ev.time.loc, "event time range can only be used with outbound packets ('>')");
        if (const SyscallSpec* sc = ev.syscall(); sc && sc->end_time && *sc->end_time < ev.time.start)
            error(sc->end_loc, "blocking system call ends (" + format_duration(*sc->end_time) +
                                   ") before it starts (" + format_duration(ev.time.start) + ")");
        return ev;
    }

    // -- packets ------------------------------------------------------------------------------
    PacketSpec parse_packet() {
        PacketSpec p;
        const Token& dir = take();
        p.loc = dir.loc;
        p.direction = dir.is('<') ? Direction::Inbound : Direction::Outbound;

        while (cur().kind == TokenKind::Word &&
               (cur().text == "ipv4" || cur().text == "ipv6" || cur().text == "gre" || cur().text == "GREv0" || cur().text == "mpls")) {
            Encapsulation e{cur().text == "GREv0" ? "gre" : cur().text, cur().loc, {}};
            std::size_t start = cur().offset;
            int depth = 0;
            while (true) {
                const Token& t = take();
                if (t.kind == TokenKind::End) fail(e.loc, "unterminated " + e.kind + " encapsulation prefix (missing ':')");
                if (t.is('(') || t.is('[') || t.is('{')) ++depth;
                if (t.is(')') || t.is(']') || t.is('}')) --depth;
                if (t.is(':') && depth == 0) {
                    e.text = std::string(src_.substr(start, t.end_offset - start));
                    break;
                }
            }
            p.encapsulation.push_back(std::move(e));
        }

        if (cur().is('[') || cur().is('(')) p.ip = parse_ip_info(p.direction);

        if (cur().is_word("udp")) {
            p.body = parse_udp();
        } else if (cur().is_word("icmp")) {
            p.body = parse_icmp();
        } else {
            p.body = parse_tcp(p.direction);
        }
        return p;
    }

    IpInfo parse_ip_info(Direction dir) {
        IpInfo info;
        const Token& open = take();
        info.loc = open.loc;
        char close = open.is('[') ? ']' : ')';
        do {
            const Token& w = take();
            if (w.kind != TokenKind::Word) fail(w.loc, "expected IP info (noecn, ect0, ect1, ce, ect01, tos 0x.., ttl N, flowlabel 0x..), found " + w.describe());
            if (w.text == "noecn") info.ecn = IpInfo::Ecn::NotEct;
            else if (w.text == "ect0") info.ecn = IpInfo::Ecn::Ect0;
            else if (w.text == "ect1") info.ecn = IpInfo::Ecn::Ect1;
            else if (w.text == "ce") info.ecn = IpInfo::Ecn::Ce;
            else if (w.text == "ect01") {
                info.ecn = IpInfo::Ecn::Ect01;
                if (dir != Direction::Outbound) error(w.loc, "[ect01] can only be used with outbound packets");
            } else if (w.text == "tos") info.tos = static_cast<std::uint8_t>(take_unsigned(0xff, "tos"));
            else if (w.text == "ttl") info.ttl = static_cast<std::uint8_t>(take_unsigned(0xff, "ttl"));
            else if (w.text == "flowlabel") info.flow_label = static_cast<std::uint32_t>(take_unsigned(0xfffff, "flow label"));
            else fail(w.loc, "unknown IP info '" + w.text + "' (expected noecn, ect0, ect1, ce, ect01, tos, ttl or flowlabel)");
        } while (accept(','));
        expect(close, "to close the IP info");
        return info;
    }

    void parse_ports(std::optional<std::uint16_t>& src, std::optional<std::uint16_t>& dst) {
        if (cur().kind == TokenKind::Integer && ahead(1).is('>')) {
            src = static_cast<std::uint16_t>(take_unsigned(65535, "source port"));
            take();
            dst = static_cast<std::uint16_t>(take_unsigned(65535, "destination port"));
        }
    }

    // INTEGER ':' INTEGER '(' INTEGER ')'
    void parse_seq(std::uint32_t& start, std::uint32_t& end, std::uint32_t& len) {
        SourceLoc loc = cur().loc;
        if (cur().kind != TokenKind::Integer)
            fail(loc, "expected a sequence range start:end(length), found " + cur().describe());
        start = static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "start sequence number"));
        expect(':', "in start:end(length)");
        end = static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "end sequence number"));
        expect('(', "in start:end(length)");
        len = static_cast<std::uint32_t>(take_unsigned(65535, "payload length"));
        expect(')', "in start:end(length)");
        if (static_cast<std::uint32_t>(start + len) != end)
            error(loc, "inconsistent TCP sequence numbers and payload size: " + std::to_string(start) + " + " +
                           std::to_string(len) + " != " + std::to_string(end));
    }

    TcpSpec parse_tcp(Direction dir) {
        TcpSpec t;
        parse_ports(t.src_port, t.dst_port);

        // Flags: a word ("S", "FP", "SEW"), optionally followed by '.' or by ".N" (ACE), a lone
        // '.', ".N", or '-' for none. packetdrill parser.y `flags`.
        const Token& f = cur();
        SourceLoc floc = f.loc;
        if (f.kind == TokenKind::Word) {
            t.flags_text = take().text;
            if (cur().is('.')) t.flags_text += take().text;
            else if (cur().kind == TokenKind::Float && cur().text[0] == '.') t.flags_text += take().text;
        } else if (f.is('.') || (f.kind == TokenKind::Float && f.text[0] == '.')) {
            t.flags_text = take().text;
        } else if (f.is('-')) {
            take();
            t.flags_text = "-";
        } else if (f.kind == TokenKind::Integer && f.text.size() == 1 && ahead(1).kind == TokenKind::Integer) {
            t.flags_text = take().text;  // ACE value alone
        } else {
            fail(floc, "expected TCP flags (S, S., P., F., R, ., - ...), found " + f.describe());
        }
        check_flags(t, floc);

        parse_seq(t.seq_start, t.seq_end, t.payload);

        bool seen_ack = false, seen_win = false, seen_urg = false;
        while (cur().kind == TokenKind::Word) {
            const Token& w = cur();
            auto once = [&](bool& seen) {
                if (seen) fail(w.loc, "'" + w.text + "' given twice");
                seen = true;
                ++i_;
            };
            if (w.text == "ack") {
                once(seen_ack);
                t.ack = static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "ack number"));
            } else if (w.text == "win") {
                once(seen_win);
                t.window = static_cast<std::uint16_t>(take_unsigned(65535, "window"));
            } else if (w.text == "urg") {
                once(seen_urg);
                t.urgent = static_cast<std::uint16_t>(take_unsigned(65535, "urgent pointer"));
            } else {
                fail(w.loc, "unexpected '" + w.text + "' in TCP packet (expected ack N, win N, urg N or <options>)");
            }
        }
        if (!t.window && dir == Direction::Inbound)
            error(floc, "window must be specified for inbound packets (win N)");

        if (cur().is('<')) {
            t.options_loc = take().loc;
            if (cur().kind == TokenKind::Ellipsis) {
                take();
                t.options_mode = TcpSpec::OptionsMode::Any;
                if (dir != Direction::Outbound)
                    error(t.options_loc, "<...> for TCP options can only be used with outbound packets");
            } else {
                do {
                    t.options.push_back(parse_tcp_option());
                } while (accept(','));
            }
            expect('>', "to close the TCP option list");
            std::size_t bytes = t.options_wire_size();
            if (bytes > 40)
                error(t.options_loc, "TCP option list too long: " + std::to_string(bytes) + " bytes (at most 40)");
            else if (bytes % 4 != 0)
                error(t.options_loc, "TCP options are not padded to a multiple of 4 bytes: " + std::to_string(bytes) +
                                         " bytes (add nop)");
        }
        if (cur().is('{')) {
            // Fuzzing directive ({mut tcp mss}, {rep ipv4 ...}): kept verbatim.
            std::size_t start = cur().offset;
            SourceLoc open = cur().loc;
            int depth = 0;
            while (true) {
                const Token& x = take();
                if (x.kind == TokenKind::End) fail(open, "unterminated '{' after packet");
                if (x.is('{')) ++depth;
                if (x.is('}') && --depth == 0) {
                    t.fuzz = std::string(src_.substr(start, x.end_offset - start));
                    break;
                }
            }
        }
        return t;
    }

    void check_flags(TcpSpec& t, SourceLoc loc) {
        if (t.flags_text == "-") return;
        bool ecn = false;
        for (char ch : t.flags_text) {
            switch (ch) {
                case 'F': t.flags |= tcp::Fin; break;
                case 'S': t.flags |= tcp::Syn; break;
                case 'R': t.flags |= tcp::Rst; break;
                case 'P': t.flags |= tcp::Psh; break;
                case '.': t.flags |= tcp::Ack; break;
                case 'U': t.flags |= tcp::Urg; break;
                case 'E': t.flags |= tcp::Ece; ecn = true; break;
                case 'W': t.flags |= tcp::Cwr; ecn = true; break;
                case 'A': t.ae = true; ecn = true; break;
                default:
                    if (ch >= '0' && ch <= '7') {
                        if (t.ace) {
                            error(loc, std::string("conflicting TCP flag '") + ch + "' (only one ACE digit)");
                            return;
                        }
                        t.ace = static_cast<std::uint8_t>(ch - '0');
                        break;
                    }
                    error(loc, std::string("invalid TCP flag '") + ch + "' in '" + t.flags_text + "' (valid: F S R P . U E W A 0-7)");
                    return;
            }
        }
        if (t.ace && ecn) error(loc, "conflicting TCP flags '" + t.flags_text + "': an ACE digit excludes E, W and A");
    }

    std::vector<std::uint8_t> hex_blob(SourceLoc loc, std::string_view what, std::size_t max_bytes) {
        const Token& t = cur();
        if (t.kind != TokenKind::Word && t.kind != TokenKind::Integer) return {};
        take();
        std::vector<std::uint8_t> out;
        // A symbolic value such as `FOEXP TFO_COOKIE`: upstream's runner supplies it with
        // --define; undefined here, it is kept as "some cookie" (TFO/MD5 are unsupported anyway).
        const bool hex_digits = std::all_of(t.text.begin(), t.text.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; });
        if (t.kind == TokenKind::Word && !hex_digits && !t.text.empty() && (std::isalpha(static_cast<unsigned char>(t.text[0])) || t.text[0] == '_'))
            return out;
        if (t.text.size() % 2 != 0) fail(t.loc, std::string(what) + " '" + t.text + "' has an odd number of hex digits");
        for (std::size_t k = 0; k < t.text.size(); k += 2) {
            unsigned v = 0;
            auto r = std::from_chars(t.text.data() + k, t.text.data() + k + 2, v, 16);
            if (r.ec != std::errc() || r.ptr != t.text.data() + k + 2) fail(t.loc, std::string(what) + " '" + t.text + "' is not a hex string");
            out.push_back(static_cast<std::uint8_t>(v));
        }
        if (out.size() > max_bytes)
            fail(loc, std::string(what) + " of " + std::to_string(out.size()) + " bytes exceeds " + std::to_string(max_bytes));
        return out;
    }

    TcpOption parse_tcp_option() {
        TcpOption o;
        const Token& w = take();
        o.loc = w.loc;
        if (w.kind != TokenKind::Word) fail(w.loc, "expected a TCP option (mss, nop, sackOK, TS, wscale, sack, ...), found " + w.describe());
        using K = TcpOption::Kind;
        if (w.text == "nop") o.kind = K::Nop;
        else if (w.text == "eol") o.kind = K::Eol;
        else if (w.text == "mss") {
            o.kind = K::Mss;
            o.value = static_cast<std::uint32_t>(take_unsigned(65535, "mss value"));
        } else if (w.text == "wscale") {
            o.kind = K::WindowScale;
            if (accept('*')) o.wildcard = true;
            else o.value = static_cast<std::uint32_t>(take_unsigned(255, "window scale shift count"));
        } else if (w.text == "sackOK") o.kind = K::SackPermitted;
        else if (w.text == "sack") {
            o.kind = K::Sack;
            do {
                tcp::SackBlock b;
                b.left = tcp::SeqNum(static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "SACK left edge")));
                expect(':', "in SACK block left:right");
                b.right = tcp::SeqNum(static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "SACK right edge")));
                o.sack.push_back(b);
            } while (cur().kind == TokenKind::Integer);
        } else if (w.text == "TS") {
            o.kind = K::Timestamp;
            if (!cur().is_word("val")) fail(cur().loc, "expected 'val' in 'TS val N ecr N', found " + cur().describe());
            take();
            o.ts.value = static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "TS val"));
            if (!cur().is_word("ecr")) fail(cur().loc, "expected 'ecr' in 'TS val N ecr N', found " + cur().describe());
            take();
            o.ts.echo_reply = static_cast<std::uint32_t>(take_unsigned(0xffffffffu, "TS ecr"));
        } else if (w.text == "FO" || w.text == "FOEXP") {
            o.kind = w.text == "FO" ? K::FastOpen : K::FastOpenExp;
            o.bytes = hex_blob(w.loc, "TCP fast open cookie", 16);
        } else if (w.text == "md5") {
            o.kind = K::Md5;
            o.bytes = hex_blob(w.loc, "TCP MD5 digest", 16);
        } else if (w.text == "ECN") {
            o.kind = K::AccEcn;
            while (cur().kind == TokenKind::Word && (cur().text == "e0b" || cur().text == "ceb" || cur().text == "e1b")) {
                std::string f = take().text;
                o.accecn.emplace_back(f, static_cast<std::uint32_t>(take_unsigned(0xffffff, "AccECN counter")));
            }
        } else {
            std::string hint = did_you_mean(w.text, kTcpOptionNames);
            fail(w.loc, "unknown TCP option '" + w.text + "'" +
                            (hint.empty() ? " (known: nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5, ECN)" : hint));
        }
        return o;
    }

    UdpSpec parse_udp() {
        UdpSpec u;
        take();  // udp
        parse_ports(u.src_port, u.dst_port);
        expect('(', "before the UDP payload length: udp (N)");
        u.payload = static_cast<std::uint32_t>(take_unsigned(65507, "UDP payload length"));
        expect(')', "after the UDP payload length");
        return u;
    }

    IcmpSpec parse_icmp() {
        IcmpSpec ic;
        take();  // icmp
        const Token& type = take();
        if (type.kind != TokenKind::Word) fail(type.loc, "expected an ICMP type (unreachable, time_exceeded, ...), found " + type.describe());
        ic.type = type.text;
        const NamedValue* codes = nullptr;
        std::size_t ncodes = 0;
        for (const NamedValue& nv : kIcmpTypes)
            if (ic.type == nv.name) ic.type_value = nv.value;
        if (ic.type_value < 0) ic.type_value = numbered(ic.type, "type_");
        if (ic.type_value < 0 || ic.type_value > 255) error(type.loc, "bad ICMP type '" + ic.type + "'");
        if (ic.type_value == 3) {
            codes = kUnreachableCodes;
            ncodes = std::size(kUnreachableCodes);
        }
        if (cur().kind == TokenKind::Word && cur().text != "mtu" && cur().text != "id") {
            const Token& code = take();
            ic.code = code.text;
            ic.code_value = -1;
            for (std::size_t k = 0; k < ncodes; ++k)
                if (*ic.code == codes[k].name) ic.code_value = codes[k].value;
            if (ic.code_value < 0) ic.code_value = numbered(*ic.code, "code_");
            if (ic.code_value < 0 || ic.code_value > 255) error(code.loc, "bad ICMP code '" + *ic.code + "' for type '" + ic.type + "'");
        }
        if (cur().is_word("mtu")) {
            SourceLoc l = take().loc;
            ic.mtu = static_cast<std::uint16_t>(take_unsigned(65535, "ICMP MTU"));
            if (ic.type_value != 3 || ic.code_value != 4) error(l, "ICMPv4 MTU is only valid for unreachable frag_needed");
        }
        if (cur().is_word("id")) {
            take();
            ic.echo_id = static_cast<std::uint16_t>(take_unsigned(65535, "ICMP echo id"));
        }
        if (accept('[')) {
            if (cur().is_word("udp") || cur().is_word("raw")) {
                ic.echoed = cur().text == "udp" ? IcmpSpec::Echoed::Udp : IcmpSpec::Echoed::Raw;
                take();
                expect('(', "before the echoed payload length");
                ic.echoed_payload = static_cast<std::uint32_t>(take_unsigned(65535, "echoed payload length"));
                expect(')', "after the echoed payload length");
            } else {
                std::uint32_t end = 0;
                ic.echoed = IcmpSpec::Echoed::Tcp;
                parse_seq(ic.echoed_seq, end, ic.echoed_payload);
            }
            expect(']', "to close the echoed packet");
        } else {
            ic.echoed = IcmpSpec::Echoed::Tcp;  // packetdrill: a TCP header with sequence 0
        }
        return ic;
    }

    // -- system calls -------------------------------------------------------------------------
    SyscallSpec parse_syscall() {
        SyscallSpec sc;
        if (cur().kind == TokenKind::Ellipsis) {
            take();
            sc.end_loc = cur().loc;
            sc.end_time = time_value(take());
        }
        const Token& name = take();
        if (name.kind != TokenKind::Word) fail(name.loc, "expected a system call name, found " + name.describe());
        sc.name = name.text;
        sc.name_loc = name.loc;
        expect('(', "after the system call name");
        if (!cur().is(')')) {
            do {
                sc.args.push_back(parse_expr(0));
            } while (accept(','));
        }
        expect(')', "to close the argument list of " + sc.name + "()");
        if (!cur().is('=')) fail(cur().loc, "expected '= result' after " + sc.name + "(...), found " + cur().describe());
        take();
        sc.result = parse_expr(0);
        if (cur().kind == TokenKind::Word && !cur().first_on_line) {
            sc.errno_loc = cur().loc;
            sc.errno_name = take().text;
        }
        if (cur().is('(')) {
            const Token& open = take();
            int depth = 1;
            std::size_t end = open.end_offset;
            while (true) {
                const Token& t = take();
                if (t.kind == TokenKind::End) fail(open.loc, "unterminated '(' note after the result");
                if (t.is('(')) ++depth;
                if (t.is(')') && --depth == 0) {
                    end = t.offset;
                    break;
                }
            }
            std::string note(src_.substr(open.end_offset, end - open.end_offset));
            // Collapse line breaks and runs of blanks: notes are prose.
            std::string clean;
            for (char ch : note) {
                bool blank = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
                if (blank) {
                    if (!clean.empty() && clean.back() != ' ') clean += ' ';
                } else {
                    clean += ch;
                }
            }
            while (!clean.empty() && clean.back() == ' ') clean.pop_back();
            sc.note = clean;
        }
        if (sc.errno_name && sc.result.is_int() && sc.result.integer != -1)
            error(sc.errno_loc, "errno " + *sc.errno_name + " given with result " + std::to_string(sc.result.integer) +
                                    " (an errno goes with -1)");
        return sc;
    }

    Expr parse_expr(int depth) {
        if (depth > kMaxDepth) fail(cur().loc, "expression nested too deeply");
        Expr first = parse_primary(depth);
        if (!cur().is('|')) return first;
        Expr bor;
        bor.kind = Expr::Kind::BitOr;
        bor.loc = first.loc;
        bor.items.push_back(std::move(first));
        while (accept('|')) bor.items.push_back(parse_primary(depth));
        return bor;
    }

    std::vector<Expr> parse_list(char close, int depth, std::string_view what) {
        std::vector<Expr> items;
        if (accept(close)) return items;
        do {
            items.push_back(parse_expr(depth + 1));
        } while (accept(','));
        expect(close, what);
        return items;
    }

    Expr parse_primary(int depth) {
        Expr e;
        const Token& t = cur();
        e.loc = t.loc;
        switch (t.kind) {
            case TokenKind::Ellipsis:
                take();
                e.kind = Expr::Kind::Ellipsis;
                return e;
            case TokenKind::Integer:
            case TokenKind::HexInteger:
                e.kind = Expr::Kind::Integer;
                e.hex = t.kind == TokenKind::HexInteger;
                e.integer = integer_value(t);
                take();
                return e;
            case TokenKind::String:
                e.kind = Expr::Kind::String;
                while (cur().kind == TokenKind::String) e.text += take().text;  // "a" "b" concatenates
                if (cur().kind == TokenKind::Ellipsis) {
                    take();
                    e.prefix = true;
                }
                return e;
            case TokenKind::Word: {
                e.text = take().text;
                if (cur().is('(')) {
                    take();
                    e.args = parse_list(')', depth, "to close the argument list of " + e.text + "(...)");
                    e.kind = Expr::Kind::Call;
                } else {
                    e.kind = Expr::Kind::Word;
                }
                if (accept('=')) {
                    Expr v = parse_expr(depth + 1);
                    e.kind = Expr::Kind::Field;
                    e.items.push_back(std::move(v));
                    check_field(e);
                }
                return e;
            }
            case TokenKind::Punct:
                if (t.is('[')) {
                    take();
                    e.kind = Expr::Kind::Array;
                    e.items = parse_list(']', depth, "to close the array");
                    return e;
                }
                if (t.is('{')) {
                    take();
                    e.kind = Expr::Kind::Struct;
                    e.items = parse_list('}', depth, "to close the struct");
                    return e;
                }
                break;
            default:
                break;
        }
        fail(t.loc, "expected an expression (number, NAME, \"string\", [array], {struct} or ...), found " + t.describe());
    }

    // msg_iov(N)=[...]: N must count the iovecs listed (packetdrill takes N as msg_iovlen).
    void check_field(const Expr& f) {
        if (f.args.size() != 1 || !f.args[0].is_int() || f.value().kind != Expr::Kind::Array) return;
        auto listed = static_cast<std::int64_t>(f.value().items.size());
        if (f.args[0].integer != listed)
            error(f.args[0].loc, f.text + "(" + std::to_string(f.args[0].integer) + ") does not match the " +
                                     std::to_string(listed) + " element(s) listed");
    }

    std::string_view src_;
    const std::string& file_;
    std::vector<Diagnostic>& errors_;
    std::vector<Token> toks_;
    std::size_t i_ = 0;
};

}  // namespace

ParseResult parse_script(std::string_view text, const std::string& file) {
    ParseResult r;
    r.script = Parser(text, file, r.errors).run();
    r.script.schedule = build_schedule(r.script, r.errors);
    std::stable_sort(r.errors.begin(), r.errors.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.loc < b.loc; });
    return r;
}

ParseResult load_script(const std::filesystem::path& path) {
    std::error_code ec;
    std::ifstream in;
    if (std::filesystem::is_regular_file(path, ec)) in.open(path, std::ios::binary);
    std::ostringstream buf;
    if (in.is_open()) buf << in.rdbuf();
    if (!in.is_open() || in.bad()) {
        ParseResult r;
        r.script.file = path.string();
        r.errors.push_back(Diagnostic{path.string(), {}, "cannot read script"});
        return r;
    }
    return parse_script(buf.str(), path.string());
}

}  // namespace tcpsim::stack::packetdrill
