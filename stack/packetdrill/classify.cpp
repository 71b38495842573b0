// classify(): what in a script tcpsim's interpreter will not run, with locations, so a runner can
// answer "unsupported: <construct>" instead of crashing or passing silently. Also pulls the
// sysctls out of shell commands so they can be mapped onto host configuration.
#include <algorithm>

#include "stack/packetdrill/code.hpp"
#include "stack/packetdrill/script.hpp"
#include "stack/packetdrill/symbols.hpp"

namespace tcpsim::stack::packetdrill {

std::string Finding::to_string(const std::string& file) const {
    Diagnostic d{file, loc,
                 std::string(severity == Severity::Unsupported ? "unsupported: " : "ignored: ") + construct +
                     (detail.empty() ? "" : " (" + detail + ")")};
    return d.to_string();
}

bool Classification::runnable() const {
    return std::none_of(findings.begin(), findings.end(),
                        [](const Finding& f) { return f.severity == Finding::Severity::Unsupported; });
}

namespace {

// Splits one shell line into words; double and single quotes group, and are removed.
std::vector<std::string> shell_words(const std::string& line) {
    std::vector<std::string> words;
    std::string w;
    bool in_word = false;
    char quote = 0;
    for (char c : line) {
        if (quote) {
            if (c == quote) quote = 0;
            else w += c;
        } else if (c == '"' || c == '\'') {
            quote = c;
            in_word = true;
        } else if (c == ' ' || c == '\t') {
            if (in_word) words.push_back(w);
            w.clear();
            in_word = false;
        } else {
            w += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(w);
    return words;
}

// One edit apart (substitution, insertion, deletion or adjacent swap).
bool near_miss(std::string_view a, std::string_view b) {
    if (a == b) return false;
    if (a.size() == b.size()) {
        std::size_t diff = 0, first = 0;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (a[i] != b[i] && diff++ == 0) first = i;
        if (diff == 1) return true;
        return diff == 2 && first + 1 < a.size() && a[first] == b[first + 1] && a[first + 1] == b[first];
    }
    if (a.size() + 1 != b.size() && b.size() + 1 != a.size()) return false;
    std::string_view l = a.size() > b.size() ? a : b, sh = a.size() > b.size() ? b : a;
    std::size_t i = 0;
    while (i < sh.size() && sh[i] == l[i]) ++i;
    return sh.substr(i) == l.substr(i + 1);
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class Classifier {
public:
    Classifier(const Script& s, const ClassifyOptions& o) : script_(s), opts_(o) {}

    Classification run() {
        for (const OptionSetting& o : script_.options) option(o);
        if (script_.setup_command) command(*script_.setup_command);
        for (const Event& ev : script_.events) {
            if (const PacketSpec* p = ev.packet()) packet(*p);
            else if (const SyscallSpec* sc = ev.syscall()) syscall(*sc);
            else if (const CommandSpec* c = ev.command()) command(*c);
            else if (const CodeSpec* code = ev.code()) {
                auto prog = parse_code(*code);
                if (!prog)
                    unsupported("python code block", first_line(code->text) + ": " + prog.error().message, code->loc);
                else if (!opts_.tcp_info_assertions)
                    unsupported("python code block", first_line(code->text), code->loc);
            }
        }
        if (script_.cleanup_command) command(*script_.cleanup_command);
        std::stable_sort(out_.findings.begin(), out_.findings.end(),
                         [](const Finding& a, const Finding& b) { return a.loc < b.loc; });
        return std::move(out_);
    }

private:
    // The first non-blank line, shortened: enough to recognize the construct.
    static std::string first_line(const std::string& text) {
        std::size_t b = text.find_first_not_of(" \t\r\n");
        if (b == std::string::npos) return {};
        std::string s = text.substr(b, text.find('\n', b) - b);
        return s.size() > 60 ? s.substr(0, 57) + "..." : s;
    }
    void unsupported(std::string construct, std::string detail, SourceLoc loc) {
        out_.findings.push_back(Finding{Finding::Severity::Unsupported, std::move(construct), std::move(detail), loc});
    }
    void ignored(std::string construct, std::string detail, SourceLoc loc) {
        out_.findings.push_back(Finding{Finding::Severity::Ignored, std::move(construct), std::move(detail), loc});
    }

    void option(const OptionSetting& o) {
        const std::string v = o.value.value_or("");
        if (o.name == "ip_version" && v != "ipv4") unsupported("IPv6", "--ip_version=" + v, o.loc);
        if ((o.name == "local_ip" || o.name == "remote_ip" || o.name == "gateway_ip") && v.find(':') != std::string::npos)
            unsupported("IPv6", "--" + o.name + "=" + v, o.loc);
        if (o.name == "so_filename") unsupported("shared-object stack (--so_filename)", v, o.loc);
    }

    // One shell command: sysctl settings are collected; the packetdrill defaults script and
    // the sysctl restore script are understood; anything else is ignored with a note.
    void command(const CommandSpec& c) {
        std::string text;
        for (std::size_t k = 0; k < c.text.size(); ++k) {  // join "\<newline>" continuations
            if (c.text[k] == '\\' && k + 1 < c.text.size() && c.text[k + 1] == '\n') {
                text += ' ';
                ++k;
            } else {
                text += c.text[k];
            }
        }
        std::size_t pos = 0;
        while (pos <= text.size()) {
            std::size_t nl = text.find('\n', pos);
            std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
            std::vector<std::string> w = shell_words(line);
            if (w.empty()) continue;
            if (ends_with(w[0], "defaults.sh")) continue;            // Linux defaults: the personality
            if (w[0].find("sysctl_restore") != std::string::npos) continue;  // undoing set_sysctls.py
            if (w[0] == "sysctl") {
                for (std::size_t k = 1; k < w.size(); ++k) {
                    if (w[k].empty() || w[k][0] == '-') continue;
                    std::size_t eq = w[k].find('=');
                    if (eq == std::string::npos) continue;
                    out_.sysctls.push_back(SysctlSetting{w[k].substr(0, eq), w[k].substr(eq + 1), c.loc});
                }
                continue;
            }
            if (ends_with(w[0], "set_sysctls.py")) {
                for (std::size_t k = 1; k < w.size(); ++k) {
                    std::size_t eq = w[k].find('=');
                    std::string path = w[k].substr(0, eq);
                    const std::string proc = "/proc/sys/";
                    if (eq == std::string::npos || path.compare(0, proc.size(), proc) != 0) continue;
                    std::string name = path.substr(proc.size());
                    std::replace(name.begin(), name.end(), '/', '.');
                    out_.sysctls.push_back(SysctlSetting{name, w[k].substr(eq + 1), c.loc});
                }
                continue;
            }
            // echo VALUE > /proc/sys/net/ipv4/x
            if (w[0] == "echo" && w.size() >= 4 && w[w.size() - 2] == ">" && w.back().compare(0, 10, "/proc/sys/") == 0) {
                std::string name = w.back().substr(10);
                std::replace(name.begin(), name.end(), '/', '.');
                std::string value;
                for (std::size_t k = 1; k + 2 < w.size(); ++k) value += (k > 1 ? " " : "") + w[k];
                out_.sysctls.push_back(SysctlSetting{name, value, c.loc});
                continue;
            }
            ignored("shell command", first_line(line), c.loc);
        }
    }

    void packet(const PacketSpec& p) {
        for (const Encapsulation& e : p.encapsulation) {
            if (e.kind == "gre") unsupported("GRE encapsulation", e.text, e.loc);
            else if (e.kind == "mpls") unsupported("MPLS encapsulation", e.text, e.loc);
            else if (e.kind == "ipv6") unsupported("IPv6", e.text, e.loc);
            else unsupported("IP-in-IP encapsulation", e.text, e.loc);
        }
        if (p.ip) {
            if (p.ip->flow_label) unsupported("IPv6", "flowlabel", p.ip->loc);
            if (p.ip->ecn != IpInfo::Ecn::None || p.ip->tos || p.ip->ttl)
                unsupported("IP header fields (ECN/TOS/TTL)", "", p.ip->loc);
        }
        if (std::holds_alternative<UdpSpec>(p.body)) {
            unsupported("UDP packet", "", p.loc);
        } else if (const auto* ic = std::get_if<IcmpSpec>(&p.body)) {
            if (p.direction == Direction::Outbound) unsupported("outbound ICMP", ic->type, p.loc);
            else if (ic->echoed != IcmpSpec::Echoed::Tcp) unsupported("ICMP quoting a non-TCP packet", ic->type, p.loc);
            else if (ic->type_value != 3 && ic->type_value != 4 && ic->type_value != 11 && ic->type_value != 12)
                unsupported("ICMP type", ic->type, p.loc);
        } else if (const TcpSpec* t = p.tcp()) {
            if (t->fuzz) unsupported("packet fuzzing", *t->fuzz, p.loc);
            if (t->ae || t->ace) unsupported("AccECN", "flags " + t->flags_text, p.loc);
            for (const TcpOption& o : t->options) {
                switch (o.kind) {
                    case TcpOption::Kind::FastOpen:
                    case TcpOption::Kind::FastOpenExp: unsupported("TCP Fast Open", o.to_string(), o.loc); break;
                    case TcpOption::Kind::Md5: unsupported("TCP MD5 signature", "", o.loc); break;
                    case TcpOption::Kind::AccEcn: unsupported("AccECN", o.to_string(), o.loc); break;
                    default: break;
                }
            }
        }
    }

    void syscall(const SyscallSpec& sc) {
        if (!opts_.syscalls.contains(sc.name)) {
            // A near miss of a supported call is more likely a typo than an exotic call.
            std::string detail = sc.name;
            for (const std::string& known : opts_.syscalls)
                if (known.size() > 3 && sc.name.size() > 3 && near_miss(sc.name, known)) detail += ", did you mean '" + known + "'?";
            unsupported("system call", detail, sc.name_loc);
        }
        for (const Expr& a : sc.args) expr(a);
        expr(sc.result);
        if (sc.errno_name && !errno_number(*sc.errno_name)) unsupported("unknown errno", *sc.errno_name, sc.errno_loc);
    }

    void expr(const Expr& e) {
        if (e.kind == Expr::Kind::Word || e.kind == Expr::Kind::Call) {
            const std::string& w = e.text;
            if (w == "AF_INET6" || w == "PF_INET6" || w == "inet6_addr" || w.compare(0, 5, "IPV6_") == 0)
                unsupported("IPv6", w, e.loc);
            else if (w == "SOCK_DGRAM" || w == "IPPROTO_UDP" || w == "SOL_UDP" || w.compare(0, 4, "UDP_") == 0)
                unsupported("UDP", w, e.loc);
            else if (w == "MSG_FASTOPEN" || w == "TCP_FASTOPEN" || w == "TCP_FASTOPEN_CONNECT")
                unsupported("TCP Fast Open", w, e.loc);
            else if (w == "TCP_MD5SIG")
                unsupported("TCP MD5 signature", w, e.loc);
            else if (e.kind == Expr::Kind::Word && !symbol_value(w))
                unsupported("unknown constant", w, e.loc);
        }
        for (const Expr& x : e.items) expr(x);
        for (const Expr& x : e.args) expr(x);
    }

    const Script& script_;
    const ClassifyOptions& opts_;
    Classification out_;
};

}  // namespace

Classification classify(const Script& script, const ClassifyOptions& options) {
    return Classifier(script, options).run();
}

}  // namespace tcpsim::stack::packetdrill
