#include "stack/packetdrill/ast.hpp"

#include <cstdio>

namespace tcpsim::stack::packetdrill {

const Expr* Expr::field(std::string_view name) const {
    if (kind != Kind::Struct) return nullptr;
    for (const Expr& e : items)
        if (e.kind == Kind::Field && e.text == name) return &e.value();
    return nullptr;
}

namespace {
std::string join(const std::vector<Expr>& xs, const char* sep) {
    std::string out;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        if (i) out += sep;
        out += xs[i].to_string();
    }
    return out;
}
std::string hex_string(const std::vector<std::uint8_t>& bytes) {
    std::string out;
    char buf[3];
    for (std::uint8_t b : bytes) {
        std::snprintf(buf, sizeof buf, "%02x", b);
        out += buf;
    }
    return out;
}
}  // namespace

std::string Expr::to_string() const {
    switch (kind) {
        case Kind::Ellipsis: return "...";
        case Kind::Integer: {
            if (!hex) return std::to_string(integer);
            char buf[24];
            std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(integer));
            return buf;
        }
        case Kind::Word: return text;
        case Kind::String: return "\"" + text + "\"" + (prefix ? "..." : "");
        case Kind::BitOr: return join(items, "|");
        case Kind::Field:
            return text + (args.empty() ? "" : "(" + join(args, ", ") + ")") + "=" + value().to_string();
        case Kind::Call: return text + "(" + join(args, ", ") + ")";
        case Kind::Array: return "[" + join(items, ", ") + "]";
        case Kind::Struct: return "{" + join(items, ", ") + "}";
    }
    return "?";
}

std::size_t TcpOption::wire_size() const {
    switch (kind) {
        case Kind::Nop:
        case Kind::Eol: return 1;
        case Kind::Mss: return 4;
        case Kind::WindowScale: return 3;
        case Kind::SackPermitted: return 2;
        case Kind::Sack: return 2 + 8 * sack.size();
        case Kind::Timestamp: return 10;
        case Kind::FastOpen: return 2 + bytes.size();
        case Kind::FastOpenExp: return 4 + bytes.size();
        case Kind::Md5: return 2 + bytes.size();
        case Kind::AccEcn: return 2 + 3 * accecn.size();
    }
    return 0;
}

std::string TcpOption::to_string() const {
    switch (kind) {
        case Kind::Nop: return "nop";
        case Kind::Eol: return "eol";
        case Kind::Mss: return "mss " + std::to_string(value);
        case Kind::WindowScale: return wildcard ? "wscale *" : "wscale " + std::to_string(value);
        case Kind::SackPermitted: return "sackOK";
        case Kind::Sack: {
            std::string s = "sack";
            for (const tcp::SackBlock& b : sack) s += " " + b.left.to_string() + ":" + b.right.to_string();
            return s;
        }
        case Kind::Timestamp: return "TS val " + std::to_string(ts.value) + " ecr " + std::to_string(ts.echo_reply);
        case Kind::FastOpen: return bytes.empty() ? "FO" : "FO " + hex_string(bytes);
        case Kind::FastOpenExp: return bytes.empty() ? "FOEXP" : "FOEXP " + hex_string(bytes);
        case Kind::Md5: return "md5 " + hex_string(bytes);
        case Kind::AccEcn: {
            std::string s = "ECN";
            for (const auto& [f, v] : accecn) s += " " + f + " " + std::to_string(v);
            return s;
        }
    }
    return "?";
}

std::size_t TcpSpec::options_wire_size() const {
    std::size_t n = 0;
    for (const TcpOption& o : options) n += o.wire_size();
    return n;
}

std::string PacketSpec::to_string() const {
    std::string s = direction == Direction::Inbound ? "<" : ">";
    for (const Encapsulation& e : encapsulation) s += " " + e.text;
    if (ip) {
        std::vector<std::string> parts;
        switch (ip->ecn) {
            case IpInfo::Ecn::None: break;
            case IpInfo::Ecn::NotEct: parts.push_back("noecn"); break;
            case IpInfo::Ecn::Ect0: parts.push_back("ect0"); break;
            case IpInfo::Ecn::Ect1: parts.push_back("ect1"); break;
            case IpInfo::Ecn::Ce: parts.push_back("ce"); break;
            case IpInfo::Ecn::Ect01: parts.push_back("ect01"); break;
        }
        char buf[32];
        if (ip->tos) {
            std::snprintf(buf, sizeof buf, "tos 0x%x", *ip->tos);
            parts.push_back(buf);
        }
        if (ip->ttl) parts.push_back("ttl " + std::to_string(*ip->ttl));
        if (ip->flow_label) {
            std::snprintf(buf, sizeof buf, "flowlabel 0x%x", *ip->flow_label);
            parts.push_back(buf);
        }
        s += " [";
        for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
        s += "]";
    }
    auto ports = [&](const std::optional<std::uint16_t>& src, const std::optional<std::uint16_t>& dst) {
        if (src && dst) s += " " + std::to_string(*src) + ">" + std::to_string(*dst);
    };
    if (const auto* t = std::get_if<TcpSpec>(&body)) {
        ports(t->src_port, t->dst_port);
        s += " " + t->flags_text + " " + std::to_string(t->seq_start) + ":" + std::to_string(t->seq_end) + "(" +
             std::to_string(t->payload) + ")";
        if (t->ack) s += " ack " + std::to_string(*t->ack);
        if (t->window) s += " win " + std::to_string(*t->window);
        if (t->urgent) s += " urg " + std::to_string(*t->urgent);
        if (t->options_mode == TcpSpec::OptionsMode::Any) {
            s += " <...>";
        } else if (!t->options.empty()) {
            s += " <";
            for (std::size_t i = 0; i < t->options.size(); ++i) s += (i ? "," : "") + t->options[i].to_string();
            s += ">";
        }
        if (t->fuzz) s += " " + *t->fuzz;
    } else if (const auto* u = std::get_if<UdpSpec>(&body)) {
        s += " udp";
        ports(u->src_port, u->dst_port);
        s += " (" + std::to_string(u->payload) + ")";
    } else if (const auto* ic = std::get_if<IcmpSpec>(&body)) {
        s += " icmp " + ic->type + (ic->code ? " " + *ic->code : "");
        if (ic->mtu) s += " mtu " + std::to_string(*ic->mtu);
        if (ic->echo_id) s += " id " + std::to_string(*ic->echo_id);
        switch (ic->echoed) {
            case IcmpSpec::Echoed::None: break;
            case IcmpSpec::Echoed::Tcp:
                s += " [" + std::to_string(ic->echoed_seq) + ":" + std::to_string(ic->echoed_seq + ic->echoed_payload) + "(" +
                     std::to_string(ic->echoed_payload) + ")]";
                break;
            case IcmpSpec::Echoed::Udp: s += " [udp (" + std::to_string(ic->echoed_payload) + ")]"; break;
            case IcmpSpec::Echoed::Raw: s += " [raw (" + std::to_string(ic->echoed_payload) + ")]"; break;
        }
    }
    return s;
}

std::string to_string(const EventTime& t) {
    switch (t.kind) {
        case EventTime::Kind::Absolute: return format_duration(t.start);
        case EventTime::Kind::Relative: return "+" + format_duration(t.start);
        case EventTime::Kind::Any: return "*";
        case EventTime::Kind::AbsoluteRange: return format_duration(t.start) + "~" + format_duration(t.end);
        case EventTime::Kind::RelativeRange: return "+" + format_duration(t.start) + "~+" + format_duration(t.end);
    }
    return "?";
}

std::string to_string(const SyscallSpec& c) {
    std::string s;
    if (c.end_time) s += "..." + format_duration(*c.end_time) + " ";
    s += c.name + "(";
    for (std::size_t i = 0; i < c.args.size(); ++i) s += (i ? ", " : "") + c.args[i].to_string();
    s += ") = " + c.result.to_string();
    if (c.errno_name) s += " " + *c.errno_name;
    if (c.note) s += " (" + *c.note + ")";
    return s;
}

std::string to_string(const Event& e) {
    std::string s = to_string(e.time);
    if (const PacketSpec* p = e.packet()) return s + " " + p->to_string();
    if (const SyscallSpec* c = e.syscall()) return s + (c->end_time ? "" : " ") + to_string(*c);
    if (const CommandSpec* c = e.command()) return s + " `" + c->text + "`";
    if (const CodeSpec* c = e.code()) return s + " %{ " + c->text + " }%";
    return s;
}

std::string to_string(Direction d) { return d == Direction::Inbound ? "inbound" : "outbound"; }

std::string to_string(EventTime::Kind k) {
    switch (k) {
        case EventTime::Kind::Absolute: return "absolute";
        case EventTime::Kind::Relative: return "relative";
        case EventTime::Kind::Any: return "any";
        case EventTime::Kind::AbsoluteRange: return "absolute range";
        case EventTime::Kind::RelativeRange: return "relative range";
    }
    return "?";
}

std::string format_duration(Duration d) {
    std::int64_t ns = d.count();
    std::string sign = ns < 0 ? "-" : "";
    if (ns < 0) ns = -ns;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%09lld", static_cast<long long>(ns / 1'000'000'000),
                  static_cast<long long>(ns % 1'000'000'000));
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return sign + s;
}

}  // namespace tcpsim::stack::packetdrill
