// YAML -> Scenario. Every error carries the line:column of the node at fault. The loader keeps
// going after an error (each field is its own recovery point) so one run lists every problem.
#include "stack/scenario/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace tcpsim::stack::scenario {

namespace {

constexpr std::size_t kMaxErrors = 50;

Mark mark_of(const YAML::Node& n) {
    if (!n.IsDefined()) return {};
    auto m = n.Mark();
    if (m.is_null()) return {};
    return {m.line + 1, m.column + 1};
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string lower(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}
std::string upper(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return r;
}
std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::string kind_of(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Null: return "nothing";
        case YAML::NodeType::Scalar: return quote(n.Scalar());
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Undefined: return "nothing";
    }
    return "?";
}

std::string one_of(const std::vector<std::string>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? (i + 1 == v.size() ? " or " : ", ") : "") + v[i];
    return s;
}

bool valid_name(std::string_view s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

// Decimal number "12", "1.5" -> mantissa and number of fraction digits (exact, no floating point).
struct Decimal {
    bool negative = false;
    unsigned __int128 mantissa = 0;
    int fraction_digits = 0;
};
// Splits "1.5ms" into the number and the unit; nullopt if no number starts the text.
std::optional<std::pair<Decimal, std::string>> split_number(std::string_view s) {
    s = trim(s);
    Decimal d;
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) d.negative = s[i++] == '-';
    bool digits = false, dot = false;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            digits = true;
            if (d.mantissa > (static_cast<unsigned __int128>(1) << 100)) return std::nullopt;
            d.mantissa = d.mantissa * 10 + static_cast<unsigned>(c - '0');
            if (dot) ++d.fraction_digits;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!digits) return std::nullopt;
    return std::pair{d, std::string(trim(s.substr(i)))};
}

// mantissa * scale / 10^fraction_digits, when exact and finite.
std::optional<std::int64_t> scaled(const Decimal& d, std::int64_t scale) {
    unsigned __int128 v = d.mantissa * static_cast<unsigned __int128>(scale);
    unsigned __int128 p = 1;
    for (int i = 0; i < d.fraction_digits; ++i) p *= 10;
    if (v % p != 0) return std::nullopt;
    v /= p;
    if (v > static_cast<unsigned __int128>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v);
}

double as_double(const Decimal& d) {
    double v = static_cast<double>(d.mantissa);
    for (int i = 0; i < d.fraction_digits; ++i) v /= 10;
    return d.negative ? -v : v;
}

struct Unit {
    const char* name;
    std::int64_t scale;
};
constexpr Unit kTimeUnits[] = {{"ns", 1}, {"us", 1000}, {"µs", 1000}, {"ms", 1000000}, {"s", 1000000000},
                               {"min", 60'000'000'000}, {"h", 3'600'000'000'000}};

struct ErrnoName {
    const char* name;
    int value;
};
constexpr ErrnoName kErrnos[] = {
    {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"EINTR", EINTR}, {"EIO", EIO}, {"EBADF", EBADF},
    {"EAGAIN", EAGAIN}, {"EWOULDBLOCK", EWOULDBLOCK}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES},
    {"EFAULT", EFAULT}, {"EBUSY", EBUSY}, {"EEXIST", EEXIST}, {"EINVAL", EINVAL}, {"ENFILE", ENFILE},
    {"EMFILE", EMFILE}, {"ENOSPC", ENOSPC}, {"EPIPE", EPIPE}, {"ENOTSOCK", ENOTSOCK},
    {"EDESTADDRREQ", EDESTADDRREQ}, {"EMSGSIZE", EMSGSIZE}, {"EPROTOTYPE", EPROTOTYPE},
    {"ENOPROTOOPT", ENOPROTOOPT}, {"EPROTONOSUPPORT", EPROTONOSUPPORT}, {"EOPNOTSUPP", EOPNOTSUPP},
    {"EAFNOSUPPORT", EAFNOSUPPORT}, {"EADDRINUSE", EADDRINUSE}, {"EADDRNOTAVAIL", EADDRNOTAVAIL},
    {"ENETDOWN", ENETDOWN}, {"ENETUNREACH", ENETUNREACH}, {"ENETRESET", ENETRESET},
    {"ECONNABORTED", ECONNABORTED}, {"ECONNRESET", ECONNRESET}, {"ENOBUFS", ENOBUFS}, {"EISCONN", EISCONN},
    {"ENOTCONN", ENOTCONN}, {"ESHUTDOWN", ESHUTDOWN}, {"ETIMEDOUT", ETIMEDOUT},
    {"ECONNREFUSED", ECONNREFUSED}, {"EHOSTDOWN", EHOSTDOWN}, {"EHOSTUNREACH", EHOSTUNREACH},
    {"EALREADY", EALREADY}, {"EINPROGRESS", EINPROGRESS},
};

struct StateName {
    const char* name;
    tcp::State state;
};
constexpr StateName kStates[] = {
    {"CLOSED", tcp::State::Closed}, {"LISTEN", tcp::State::Listen}, {"SYN_SENT", tcp::State::SynSent},
    {"SYN_RECV", tcp::State::SynRecv}, {"ESTABLISHED", tcp::State::Established},
    {"FIN_WAIT1", tcp::State::FinWait1}, {"FIN_WAIT2", tcp::State::FinWait2}, {"CLOSING", tcp::State::Closing},
    {"TIME_WAIT", tcp::State::TimeWait}, {"CLOSE_WAIT", tcp::State::CloseWait}, {"LAST_ACK", tcp::State::LastAck},
};

// Thrown after an error has been recorded, to unwind to the nearest recovery point.
struct Fail {};
struct TooMany {};

class Loader {
public:
    explicit Loader(std::string file) : file_(std::move(file)) { sc_.file = file_; }

    Scenario load(std::string_view text) {
        YAML::Node root;
        try {
            root = YAML::Load(std::string(text));
        } catch (const YAML::Exception& e) {
            Mark m = e.mark.is_null() ? Mark{} : Mark{e.mark.line + 1, e.mark.column + 1};
            throw ScenarioError({Diagnostic{file_, m, "YAML syntax error: " + e.msg}});
        }
        try {
            top(root);
        } catch (const TooMany&) {
            diags_.push_back({file_, {}, "too many errors; stopping"});
        }
        if (!diags_.empty()) {
            std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
                if (a.mark.line == 0 || b.mark.line == 0) return false;
                return a.mark < b.mark;
            });
            throw ScenarioError(std::move(diags_));
        }
        return std::move(sc_);
    }

private:
    std::string file_;
    std::vector<Diagnostic> diags_;
    Scenario sc_;
    // Descriptor names each app defines (for SocketRef checks), in definition order.
    std::map<std::string, std::vector<std::string>> app_fds_;
    std::map<std::uint32_t, std::string> used_addresses_;
    // "host:if" whose definition had errors (already reported): references to them stay quiet.
    std::set<std::string> broken_interfaces_;

    // ---- error plumbing

    void error(Mark m, std::string msg) {
        diags_.push_back({file_, m, std::move(msg)});
        if (diags_.size() >= kMaxErrors) throw TooMany{};
    }
    [[noreturn]] void fail(const YAML::Node& n, std::string msg) {
        error(mark_of(n), std::move(msg));
        throw Fail{};
    }
    [[noreturn]] void fail(Mark m, std::string msg) {
        error(m, std::move(msg));
        throw Fail{};
    }
    template <class F>
    void guard(F&& f) {
        try {
            f();
        } catch (const Fail&) {
        }
    }
    std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
        auto m = closest_match(word, candidates);
        return m.empty() ? std::string{} : " (did you mean " + quote(m) + "?)";
    }

    // ---- maps and keys

    void need_map(const YAML::Node& n, std::string_view what) {
        if (!n.IsMap()) fail(n, "expected " + std::string(what) + " (a map of key: value), found " + kind_of(n));
    }
    void need_seq(const YAML::Node& n, std::string_view what) {
        if (!n.IsSequence()) fail(n, "expected " + std::string(what) + " (a list), found " + kind_of(n));
    }

    // Reports unknown and duplicate keys of map `n`; `context` says where ("in host 'a'").
    void check_keys(const YAML::Node& n, const std::vector<std::string>& allowed, const std::string& context) {
        std::set<std::string> seen;
        for (auto it = n.begin(); it != n.end(); ++it) {
            const YAML::Node& k = (*it).first;
            if (!k.IsScalar()) {
                error(mark_of(k), "keys must be plain names " + context);
                continue;
            }
            const std::string& key = k.Scalar();
            if (!seen.insert(key).second) error(mark_of(k), "duplicate key " + quote(key) + " " + context);
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                auto s = closest_match(key, allowed);
                error(mark_of(k), "unknown key " + quote(key) + " " + context +
                                      (s.empty() ? "; expected " + one_of(allowed) : " (did you mean " + quote(s) + "?)"));
            }
        }
    }
    // Calls f(value) for `key` if present, as a recovery point.
    template <class F>
    void field(const YAML::Node& map, const char* key, F&& f) {
        if (auto v = map[key]) guard([&] { f(v); });
    }
    YAML::Node required(const YAML::Node& map, const char* key, const std::string& context) {
        auto v = map[key];
        if (!v) fail(map, "missing " + quote(key) + " " + context);
        return v;
    }
    // The key node of `key` in `map` (for marks pointing at the key rather than the value).
    Mark key_mark(const YAML::Node& map, std::string_view key) {
        for (auto it = map.begin(); it != map.end(); ++it)
            if ((*it).first.IsScalar() && (*it).first.Scalar() == key) return mark_of((*it).first);
        return mark_of(map);
    }

    // ---- scalars

    std::string text(const YAML::Node& n, std::string_view what) {
        if (!n.IsScalar()) fail(n, "expected " + std::string(what) + ", found " + kind_of(n));
        return n.Scalar();
    }
    std::string name(const YAML::Node& n, std::string_view what) {
        auto s = text(n, what);
        if (!valid_name(s))
            fail(n, "invalid " + std::string(what) + " " + quote(s) +
                        ": use letters, digits, '_' and '-', starting with a letter");
        return s;
    }
    std::int64_t integer(const YAML::Node& n, std::string_view what, std::int64_t lo, std::int64_t hi) {
        auto s = std::string(trim(text(n, what)));
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc::result_out_of_range) fail(n, quote(s) + " is out of range for " + std::string(what));
        if (ec != std::errc{} || p != s.data() + s.size())
            fail(n, "expected " + std::string(what) + " (an integer), found " + quote(s));
        if (v < lo || v > hi)
            fail(n, std::string(what) + " " + s + " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
        return v;
    }
    bool boolean(const YAML::Node& n, std::string_view what) {
        auto s = lower(text(n, what));
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
        fail(n, "expected true or false for " + std::string(what) + ", found " + quote(n.Scalar()));
    }
    Duration duration(const YAML::Node& n, std::string_view what) {
        auto s = text(n, what);
        std::string err;
        auto d = parse_duration(s, &err);
        if (!d) fail(n, std::string(what) + ": " + err);
        return *d;
    }
    // "1%", "0.5%" -> 0.01, 0.005.
    double percent(const YAML::Node& n, std::string_view what) {
        auto s = text(n, what);
        auto num = split_number(s);
        if (!num || num->second != "%")
            fail(n, "expected a percentage such as 1% or 0.5% for " + std::string(what) + ", found " + quote(s));
        double v = as_double(num->first);
        if (v < 0 || v > 100) fail(n, std::string(what) + " " + s + " is out of range (0%..100%)");
        return v / 100.0;
    }
    // Byte counts: 1500, 64KiB, 1MiB, 1MB.
    std::uint64_t size(const YAML::Node& n, std::string_view what, std::uint64_t lo, std::uint64_t hi) {
        auto s = text(n, what);
        auto num = split_number(s);
        static constexpr Unit units[] = {{"", 1},        {"B", 1},          {"KB", 1000},   {"KiB", 1024},
                                         {"MB", 1000000}, {"MiB", 1 << 20}, {"GB", 1000000000}, {"GiB", 1 << 30}};
        if (!num) fail(n, "expected " + std::string(what) + " (a byte count such as 1500, 64KiB or 1MiB), found " + quote(s));
        if (num->first.negative) fail(n, std::string(what) + " " + quote(s) + " must not be negative");
        for (const auto& u : units)
            if (num->second == u.name) {
                auto v = scaled(num->first, u.scale);
                if (!v) fail(n, std::string(what) + " " + quote(s) + " is not a whole number of bytes");
                auto bytes = static_cast<std::uint64_t>(*v);
                if (bytes < lo || bytes > hi)
                    fail(n, std::string(what) + " " + s + " is out of range (" + std::to_string(lo) + ".." +
                                std::to_string(hi) + " bytes)");
                return bytes;
            }
        fail(n, "unknown size unit " + quote(num->second) + " in " + quote(s) + "; use B, KB, KiB, MB, MiB, GB or GiB");
    }
    // Rates in bit/s: 10Mbit, 1Gbit, 56kbit.
    std::uint64_t rate(const YAML::Node& n) {
        auto s = text(n, "rate");
        auto num = split_number(s);
        static constexpr Unit units[] = {{"bit", 1}, {"kbit", 1000}, {"mbit", 1000000}, {"gbit", 1000000000}};
        if (!num || num->first.negative)
            fail(n, "expected a rate such as 10Mbit, 1Gbit or 56kbit, found " + quote(s));
        for (const auto& u : units)
            if (lower(num->second) == u.name) {
                auto v = scaled(num->first, u.scale);
                if (!v) fail(n, "rate " + quote(s) + " is not a whole number of bit/s");
                return static_cast<std::uint64_t>(*v);
            }
        fail(n, "unknown rate unit " + quote(num->second) + " in " + quote(s) + "; use bit, kbit, Mbit or Gbit");
    }
    template <class E>
    E choice(const YAML::Node& n, std::string_view what, const std::vector<std::pair<std::string, E>>& options) {
        auto s = text(n, what);
        std::vector<std::string> names;
        for (const auto& [k, v] : options) {
            if (lower(k) == lower(s)) return v;
            names.push_back(k);
        }
        fail(n, "unknown " + std::string(what) + " " + quote(s) + suggest(s, names) + "; expected " + one_of(names));
    }
    int errno_value(const YAML::Node& n) {
        auto s = upper(text(n, "errno"));
        if (s == "0" || s == "NONE") return 0;
        std::vector<std::string> names;
        for (const auto& e : kErrnos) {
            if (s == e.name) return e.value;
            names.push_back(e.name);
        }
        fail(n, "unknown errno " + quote(n.Scalar()) + suggest(s, names));
    }
    tcp::State state(const YAML::Node& n) {
        auto raw = text(n, "a TCP state");
        auto s = upper(raw);
        std::replace(s.begin(), s.end(), '-', '_');
        if (s == "SYN_RECEIVED") s = "SYN_RECV";
        if (s == "FIN_WAIT_1") s = "FIN_WAIT1";
        if (s == "FIN_WAIT_2") s = "FIN_WAIT2";
        std::vector<std::string> names;
        for (const auto& st : kStates) {
            if (s == st.name) return st.state;
            names.push_back(st.name);
        }
        fail(n, "unknown TCP state " + quote(raw) + suggest(s, names) + "; states are " + one_of(names));
    }

    // ---- addresses

    Ipv4Addr ipv4(const YAML::Node& n, std::string_view what) {
        auto s = text(n, what);
        auto a = Ipv4Addr::parse(trim(s));
        if (!a) fail(n, "impossible address " + quote(s) + " for " + std::string(what) + ": expected a.b.c.d with each part 0..255");
        return *a;
    }
    Ipv4Prefix prefix(const YAML::Node& n, std::string_view what) {
        auto s = std::string(trim(text(n, what)));
        if (s.find('/') == std::string::npos) {
            if (Ipv4Addr::parse(s)) fail(n, std::string(what) + " " + quote(s) + " needs a prefix length, e.g. " + s + "/24");
            fail(n, "impossible address " + quote(s) + " for " + std::string(what) + ": expected a.b.c.d/len");
        }
        auto p = Ipv4Prefix::parse(s);
        if (!p) {
            auto slash = s.find('/');
            if (!Ipv4Addr::parse(s.substr(0, slash)))
                fail(n, "impossible address " + quote(s) + ": " + quote(s.substr(0, slash)) +
                            " is not a.b.c.d with each part 0..255");
            fail(n, "impossible address " + quote(s) + ": the prefix length must be 0..32");
        }
        return *p;
    }
    // Whether `a` can be a unicast interface address in `p`; the reason if not.
    static std::string interface_address_problem(const Ipv4Prefix& p) {
        Ipv4Addr a = p.addr;
        if (a.is_any()) return "0.0.0.0 means 'any address' and cannot be assigned";
        if (a.is_broadcast()) return "255.255.255.255 is the limited broadcast address";
        if (a.is_multicast()) return a.to_string() + " is a multicast address (224.0.0.0/4)";
        if ((a.value >> 28) == 0xf) return a.to_string() + " is reserved (240.0.0.0/4)";
        if (a.is_loopback()) return a.to_string() + " is a loopback address (127.0.0.0/8)";
        if ((a.value >> 24) == 0) return a.to_string() + " is in 0.0.0.0/8 ('this network')";
        if (p.length == 0) return "a /0 prefix would put the whole Internet on this wire";
        if (p.length <= 30) {
            std::uint32_t host = a.value & ~p.mask();
            if (host == 0) return a.to_string() + " is the network address of " + p.network().to_string() + "/" + std::to_string(p.length);
            if (host == ~p.mask())
                return a.to_string() + " is the broadcast address of " + p.network().to_string() + "/" + std::to_string(p.length);
        }
        return {};
    }

    // "192.0.2.1:80", "server:80", "*:80", "80", "0.0.0.0:0".
    tcp::Endpoint endpoint(const YAML::Node& n, std::string_view what) {
        auto s = std::string(trim(text(n, what)));
        std::string host_part, port_part;
        auto colon = s.rfind(':');
        if (colon == std::string::npos) {
            host_part = "*";
            port_part = s;
        } else {
            host_part = s.substr(0, colon);
            port_part = s.substr(colon + 1);
        }
        unsigned port = 0;
        auto [p, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), port);
        if (port_part.empty() || ec != std::errc{} || p != port_part.data() + port_part.size() || port > 65535)
            fail(n, "impossible " + std::string(what) + " " + quote(s) + ": the port must be 0..65535 (write host:port, e.g. 192.0.2.2:80 or server:80)");
        tcp::Endpoint e;
        e.port = static_cast<std::uint16_t>(port);
        if (host_part == "*" || host_part.empty()) return e;
        if (auto a = Ipv4Addr::parse(host_part)) {
            e.addr = *a;
            return e;
        }
        bool looks_numeric = std::all_of(host_part.begin(), host_part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
        if (looks_numeric) fail(n, "impossible address " + quote(host_part) + " in " + quote(s) + ": expected a.b.c.d with each part 0..255");
        if (auto* h = sc_.find_host(host_part)) {
            if (h->interfaces.empty()) {
                if (host_broken(host_part)) throw Fail{};
                fail(n, "host " + quote(host_part) + " has no interface address");
            }
            e.addr = h->interfaces.front().address.addr;
            return e;
        }
        fail(n, "unknown host " + quote(host_part) + " in " + std::string(what) + " " + quote(s) + suggest(host_part, host_names()));
    }

    bool host_broken(const std::string& host) const {
        auto it = broken_interfaces_.lower_bound(host + ":");
        return it != broken_interfaces_.end() && it->rfind(host + ":", 0) == 0;
    }

    std::vector<std::string> host_names() const {
        std::vector<std::string> v;
        for (const auto& h : sc_.hosts) v.push_back(h.name);
        return v;
    }

    // ---- the document

    void top(const YAML::Node& root) {
        if (root.IsNull() || !root.IsDefined()) {
            error({1, 1}, "the scenario is empty; it needs at least a 'hosts:' map");
            return;
        }
        guard([&] { need_map(root, "a scenario"); });
        if (!root.IsMap()) return;
        check_keys(root, {"description", "seed", "until", "hosts", "links", "apps", "expect"}, "at the top level");
        field(root, "description", [&](const YAML::Node& v) { sc_.description = text(v, "a description"); });
        field(root, "seed", [&](const YAML::Node& v) {
            auto s = text(v, "a seed");
            std::uint64_t seed = 0;
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), seed);
            if (ec != std::errc{} || p != s.data() + s.size())
                fail(v, "expected the seed as an unsigned integer (0..18446744073709551615), found " + quote(s));
            sc_.seed = seed;
        });
        field(root, "until", [&](const YAML::Node& v) {
            auto d = duration(v, "until");
            if (d <= Duration::zero()) fail(v, "until must be after 0s");
            sc_.until = d;
        });
        if (auto h = root["hosts"]) guard([&] { hosts(h); });
        else error(mark_of(root), "missing 'hosts:' (a map of host name to its interfaces)");
        if (auto l = root["links"]) guard([&] { links(l); });
        live_rules();
        if (auto a = root["apps"]) guard([&] { apps(a); });
        if (auto e = root["expect"]) guard([&] { expectations(e); });
    }

    // ---- hosts

    void hosts(const YAML::Node& n) {
        need_map(n, "'hosts:'");
        if (n.size() == 0) fail(n, "'hosts:' is empty; a scenario needs at least one host");
        std::set<std::string> names;
        // Names first, so that endpoints and gateways may refer to any host.
        for (auto it = n.begin(); it != n.end(); ++it) {
            guard([&] {
                auto nm = name((*it).first, "host name");
                if (!names.insert(nm).second) fail((*it).first, "duplicate host " + quote(nm));
                HostSpec h;
                h.name = nm;
                h.mark = mark_of((*it).first);
                std::size_t index = sc_.hosts.size();
                sc_.hosts.push_back(std::move(h));
                guard([&] { host((*it).second, sc_.hosts[index], index); });
            });
        }
    }

    void host(const YAML::Node& n, HostSpec& h, std::size_t index) {
        std::string ctx = "in host " + quote(h.name);
        need_map(n, "host " + quote(h.name));
        check_keys(n, {"interfaces", "gateway", "routes", "forwarding", "stack", "live"}, ctx);
        field(n, "forwarding", [&](const YAML::Node& v) { h.forwarding = boolean(v, "forwarding"); });
        if (auto ifs = n["interfaces"]) {
            guard([&] {
                need_map(ifs, "'interfaces:' of host " + quote(h.name) + " (name: address/prefix)");
                for (auto it = ifs.begin(); it != ifs.end(); ++it) guard([&] { interface((*it).first, (*it).second, h, index); });
            });
        } else {
            error(h.mark, "host " + quote(h.name) + " has no 'interfaces:' (e.g. interfaces: {eth0: 192.0.2.1/24})");
        }
        field(n, "gateway", [&](const YAML::Node& v) {
            auto gw = ipv4(v, "a gateway");
            check_on_link(v, h, gw, "gateway");
            h.gateway = gw;
        });
        field(n, "routes", [&](const YAML::Node& v) {
            need_seq(v, "'routes:'");
            for (const auto& r : v)
                guard([&] {
                    need_map(r, "a route {to: prefix, via: address}");
                    check_keys(r, {"to", "via"}, "in a route of host " + quote(h.name));
                    RouteSpec rs;
                    rs.mark = mark_of(r);
                    rs.destination = prefix(required(r, "to", "in a route"), "a route destination");
                    auto via = required(r, "via", "in a route");
                    rs.via = ipv4(via, "a route gateway");
                    check_on_link(via, h, rs.via, "route gateway");
                    h.routes.push_back(rs);
                });
        });
        field(n, "stack", [&](const YAML::Node& v) { stack(v, h); });
        field(n, "live", [&](const YAML::Node& v) { live(v, h); });
    }

    // `live: {dev: NAME, create: bool, kernel: a.b.c.d/len}` (stack/scenario/live.hpp).
    void live(const YAML::Node& n, HostSpec& h) {
        std::string ctx = "in 'live:' of host " + quote(h.name);
        need_map(n, "'live:' {dev: TAP device, create: true|false, kernel: address/prefix}");
        check_keys(n, {"dev", "create", "kernel"}, ctx);
        LiveSpec l;
        l.mark = mark_of(n);
        auto dev = required(n, "dev", ctx + " (the TAP device, e.g. dev: tap0)");
        l.dev = std::string(trim(text(dev, "a device name")));
        // Linux IFNAMSIZ: 15 characters; no '/', ':' or blanks (dev_valid_name()).
        if (l.dev.empty() || l.dev.size() > 15 || l.dev.find_first_of("/: \t") != std::string::npos)
            fail(dev, "impossible device name " + quote(l.dev) + ": 1 to 15 characters, no '/', ':' or blanks");
        field(n, "create", [&](const YAML::Node& v) {
            l.create = boolean(v, "create");
            l.create_mark = mark_of(v);
        });
        field(n, "kernel", [&](const YAML::Node& v) {
            auto p = prefix(v, "the kernel's address");
            if (!l.create) fail(v, "'kernel:' configures a device tcpsim creates: add 'create: true' (or set the address with `ip addr`)");
            check_on_link(v, h, p.addr, "the kernel's address");
            l.kernel = p;
        });
        if (h.interfaces.size() != 1 && !h.interfaces.empty())
            fail(n, "a live host has exactly one interface (the one on " + l.dev + "); host " + quote(h.name) + " has " +
                        std::to_string(h.interfaces.size()));
        h.live = l;
    }

    // Whole-file rules of `live:`: one live host, reached by the kernel only (no virtual links).
    void live_rules() {
        const HostSpec* first = nullptr;
        for (const auto& h : sc_.hosts) {
            if (!h.live) continue;
            if (first) {
                error(h.live->mark, "only one host can be live; host " + quote(first->name) + " already is (line " +
                                        std::to_string(first->live->mark.line) + ")");
                continue;
            }
            first = &h;
        }
        if (!first) return;
        for (const auto& l : sc_.links) {
            for (const auto* end : {&l.a, &l.b})
                if (end->host == first->name)
                    error(end->mark, "link " + quote(l.name) + " attaches live host " + quote(first->name) +
                                         ": a live host talks to the kernel through " + first->live->dev + ", not over virtual links");
            if (l.name == first->live->dev)
                error(l.mark, "link " + quote(l.name) + " has the name of live host " + quote(first->name) +
                                  "'s device; expectations could not tell them apart");
        }
    }
    // Expectations may name the live device as a link: its frames are traced under that name.
    bool is_live_dev(const std::string& name) const {
        const HostSpec* h = sc_.live_host();
        return h && h->live->dev == name;
    }

    void check_on_link(const YAML::Node& at, const HostSpec& h, Ipv4Addr a, std::string_view what) {
        std::string nets;
        for (const auto& i : h.interfaces) {
            if (i.address.addr == a) fail(at, std::string(what) + " " + a.to_string() + " is host " + quote(h.name) + "'s own address");
            if (i.address.contains(a)) return;
            nets += (nets.empty() ? "" : ", ") + i.address.network().to_string() + "/" + std::to_string(i.address.length);
        }
        if (h.interfaces.empty()) return;  // already reported
        fail(at, std::string(what) + " " + a.to_string() + " is not on any network of host " + quote(h.name) + " (" + nets + ")");
    }

    void interface(const YAML::Node& key, const YAML::Node& n, HostSpec& h, std::size_t host_index) {
        InterfaceSpec i;
        i.name = name(key, "interface name");
        i.mark = mark_of(key);
        broken_interfaces_.insert(h.name + ":" + i.name);  // until it is complete
        if (h.find_interface(i.name)) fail(key, "duplicate interface " + quote(i.name) + " in host " + quote(h.name));
        std::size_t if_index = h.interfaces.size();
        // Deterministic, locally administered: 02:00:00:00:<host>:<interface>.
        i.mac = MacAddr{{0x02, 0x00, 0x00, static_cast<std::uint8_t>((host_index + 1) >> 8),
                         static_cast<std::uint8_t>(host_index + 1), static_cast<std::uint8_t>(if_index + 1)}};
        YAML::Node addr_node;
        if (n.IsScalar()) {
            addr_node = n;
        } else {
            need_map(n, "interface " + quote(i.name) + " (an address like 192.0.2.1/24, or {addr:, mac:, mtu:})");
            check_keys(n, {"addr", "mac", "mtu"}, "in interface " + quote(h.name + ":" + i.name));
            addr_node = required(n, "addr", "in interface " + quote(h.name + ":" + i.name));
            field(n, "mac", [&](const YAML::Node& v) {
                auto s = text(v, "a MAC address");
                auto m = MacAddr::parse(trim(s));
                if (!m) fail(v, "impossible MAC address " + quote(s) + ": expected six hex pairs like 02:00:00:00:00:01");
                if (m->is_multicast()) fail(v, "MAC address " + s + " is a multicast/broadcast address (low bit of the first octet set)");
                i.mac = *m;
            });
            field(n, "mtu", [&](const YAML::Node& v) { i.mtu = static_cast<std::uint32_t>(integer(v, "mtu", 68, 65535)); });
        }
        i.address = prefix(addr_node, "an interface address");
        if (auto why = interface_address_problem(i.address); !why.empty())
            fail(addr_node, "impossible address " + quote(i.address.to_string()) + " for interface " + h.name + ":" + i.name + ": " + why);
        auto [it, fresh] = used_addresses_.emplace(i.address.addr.value, h.name + ":" + i.name);
        if (!fresh) fail(addr_node, "address " + i.address.addr.to_string() + " is already used by " + (*it).second);
        h.interfaces.push_back(i);
        broken_interfaces_.erase(h.name + ":" + i.name);
    }

    void stack(const YAML::Node& n, HostSpec& h) {
        std::string ctx = "in the stack of host " + quote(h.name);
        need_map(n, "'stack:' (TCP parameters)");
        check_keys(n,
                   {"personality", "msl", "rto_min", "rto_max", "rto_initial", "initial_cwnd", "congestion", "sack",
                    "dsack", "timestamps", "window_scaling", "mss", "receive_buffer", "send_buffer", "rmem_max", "wmem_max",
                    "delayed_ack", "delayed_ack_max", "nodelay", "syn_retries", "synack_retries", "retries2",
                    "keepalive_time", "keepalive_interval", "keepalive_probes", "fin_timeout",
                    "slow_start_after_idle", "somaxconn", "syncookies", "ephemeral_ports",
                    "tail_loss_probe", "orphan_retries"},
                   ctx);
        auto& c = h.tcp;
        // The personality sets defaults the other keys then override, whatever their order.
        field(n, "personality", [&](const YAML::Node& v) {
            h.personality = choice<Personality>(v, "personality",
                                                {{"linux", Personality::Linux}, {"bsd", Personality::Bsd}, {"rfc", Personality::Rfc}});
            // RFC 1122 / RFC 9293: MSL 2 minutes; Linux and FreeBSD: 30 s (TLPI 61.6.7).
            if (h.personality == Personality::Rfc) c.msl = 120s;
        });
        auto dur = [&](const char* key, Duration& out, Duration lo, Duration hi) {
            field(n, key, [&](const YAML::Node& v) {
                auto d = duration(v, key);
                if (d < lo || d > hi)
                    fail(v, std::string(key) + " " + format_duration(d) + " is out of range (" + format_duration(lo) + ".." +
                                format_duration(hi) + ")");
                out = d;
            });
        };
        auto num = [&](const char* key, auto& out, std::int64_t lo, std::int64_t hi) {
            field(n, key, [&](const YAML::Node& v) { out = static_cast<std::remove_reference_t<decltype(out)>>(integer(v, key, lo, hi)); });
        };
        auto flag = [&](const char* key, bool& out) { field(n, key, [&](const YAML::Node& v) { out = boolean(v, key); }); };
        dur("msl", c.msl, 0s, 3600s);
        dur("rto_min", c.rto_min, 1ms, 3600s);
        dur("rto_max", c.rto_max, 1ms, 3600s);
        dur("rto_initial", c.rto_initial, 1ms, 3600s);
        if (n["rto_min"] && n["rto_max"] && c.rto_min > c.rto_max)
            error(mark_of(n["rto_min"]), "rto_min (" + format_duration(c.rto_min) + ") must not exceed rto_max (" +
                                             format_duration(c.rto_max) + ")");
        num("initial_cwnd", c.initial_cwnd, 1, 1000);
        field(n, "congestion", [&](const YAML::Node& v) {
            c.congestion = choice<tcp::CongestionAlgorithm>(v, "congestion control",
                                                            {{"reno", tcp::CongestionAlgorithm::Reno}, {"cubic", tcp::CongestionAlgorithm::Cubic}});
        });
        flag("sack", c.sack);
        flag("dsack", c.dsack);
        flag("timestamps", c.timestamps);
        flag("window_scaling", c.window_scaling);
        flag("nodelay", c.nodelay);
        flag("slow_start_after_idle", c.slow_start_after_idle);
        num("mss", c.mss, 88, 65495);
        if (n["mss"]) h.mss_set = true;
        field(n, "receive_buffer", [&](const YAML::Node& v) { c.receive_buffer = static_cast<std::uint32_t>(size(v, "receive_buffer", 256, 1u << 30)); });
        field(n, "send_buffer", [&](const YAML::Node& v) { c.send_buffer = static_cast<std::uint32_t>(size(v, "send_buffer", 2048, 1u << 30)); });
        field(n, "rmem_max", [&](const YAML::Node& v) { h.sockets.rmem_max = static_cast<std::uint32_t>(size(v, "rmem_max", 256, 1u << 30)); });
        field(n, "wmem_max", [&](const YAML::Node& v) { h.sockets.wmem_max = static_cast<std::uint32_t>(size(v, "wmem_max", 2048, 1u << 30)); });
        field(n, "delayed_ack", [&](const YAML::Node& v) {
            // `delayed_ack: false` ACKs every segment at once; a duration sets the minimum delay.
            auto s = lower(text(v, "delayed_ack"));
            if (s == "false" || s == "off" || s == "no") {
                c.delayed_ack_min = c.delayed_ack_max = 0s;
                return;
            }
            if (s == "true" || s == "on" || s == "yes") return;
            c.delayed_ack_min = duration(v, "delayed_ack");
            if (c.delayed_ack_min > 1s) fail(v, "delayed_ack " + format_duration(c.delayed_ack_min) + " is out of range (0s..1s)");
        });
        dur("delayed_ack_max", c.delayed_ack_max, 0s, 1s);
        num("syn_retries", c.syn_retries, 0, 127);
        num("synack_retries", c.synack_retries, 0, 255);
        num("retries2", c.retries2, 0, 255);
        num("orphan_retries", c.orphan_retries, 0, 255);
        flag("tail_loss_probe", c.tail_loss_probe);
        dur("keepalive_time", c.keepalive_idle, 1s, 32767s);
        dur("keepalive_interval", c.keepalive_interval, 1s, 32767s);
        num("keepalive_probes", c.keepalive_count, 1, 127);
        dur("fin_timeout", c.fin_timeout, 0s, 3600s);
        num("somaxconn", h.sockets.somaxconn, 0, 65535);
        field(n, "syncookies", [&](const YAML::Node& v) {
            // net.ipv4.tcp_syncookies: true (1, on SYN-queue overflow), false (0), always (2).
            auto s = lower(text(v, "syncookies"));
            if (s == "true" || s == "on" || s == "yes" || s == "1") h.sockets.syncookies = 1;
            else if (s == "false" || s == "off" || s == "no" || s == "0") h.sockets.syncookies = 0;
            else if (s == "always" || s == "2") h.sockets.syncookies = 2;
            else fail(v, "syncookies must be true, false or always (tcp_syncookies 1, 0, 2), found " + quote(s));
        });
        field(n, "ephemeral_ports", [&](const YAML::Node& v) {
            auto s = text(v, "ephemeral_ports");
            unsigned lo = 0, hi = 0;
            char dash = 0;
            std::istringstream in(s);
            if (!(in >> lo >> dash >> hi) || dash != '-' || !(in >> std::ws).eof())
                fail(v, "expected a port range such as 32768-60999, found " + quote(s));
            if (lo < 1 || hi > 65535 || lo > hi) fail(v, "port range " + s + " is out of range (1..65535, low <= high)");
            h.sockets.ephemeral_low = static_cast<std::uint16_t>(lo);
            h.sockets.ephemeral_high = static_cast<std::uint16_t>(hi);
        });
    }

    // ---- links

    const std::vector<std::string> kImpairmentKeys{"delay", "rate", "limit", "loss", "duplicate", "corrupt", "reorder"};

    void links(const YAML::Node& n) {
        need_map(n, "'links:'");
        std::map<std::string, std::string> attached;  // "host:if" -> link
        for (auto it = n.begin(); it != n.end(); ++it)
            guard([&] {
                LinkSpec l;
                l.name = name((*it).first, "link name");
                l.mark = mark_of((*it).first);
                if (sc_.find_link(l.name)) fail((*it).first, "duplicate link " + quote(l.name));
                link((*it).second, l, attached);
                sc_.links.push_back(std::move(l));
            });
    }

    LinkEndSpec link_end(const YAML::Node& v, const std::string& link_name) {
        auto s = std::string(trim(text(v, "a link end (host:interface)")));
        LinkEndSpec e;
        e.mark = mark_of(v);
        auto colon = s.find(':');
        e.host = s.substr(0, colon);
        const HostSpec* h = sc_.find_host(e.host);
        if (!h) fail(v, "unknown host " + quote(e.host) + " on link " + quote(link_name) + suggest(e.host, host_names()));
        if (colon == std::string::npos) {
            if (host_broken(e.host)) throw Fail{};
            if (h->interfaces.size() != 1)
                fail(v, "host " + quote(e.host) + " has " + std::to_string(h->interfaces.size()) +
                            " interfaces: name one, as " + e.host + ":<interface>");
            e.interface = h->interfaces.front().name;
            return e;
        }
        e.interface = s.substr(colon + 1);
        if (broken_interfaces_.count(e.host + ":" + e.interface)) throw Fail{};
        if (!h->find_interface(e.interface)) {
            std::vector<std::string> names;
            for (const auto& i : h->interfaces) names.push_back(i.name);
            fail(v, "unknown interface " + quote(e.interface) + " on host " + quote(e.host) + suggest(e.interface, names));
        }
        return e;
    }

    void link(const YAML::Node& n, LinkSpec& l, std::map<std::string, std::string>& attached) {
        std::string ctx = "in link " + quote(l.name);
        need_map(n, "link " + quote(l.name));
        std::vector<std::string> keys{"a", "b", "mtu", "a_to_b", "b_to_a", "faults", "schedule"};
        keys.insert(keys.end(), kImpairmentKeys.begin(), kImpairmentKeys.end());
        check_keys(n, keys, ctx);
        bool ends_ok = true;
        for (auto [key, end] : {std::pair{"a", &l.a}, std::pair{"b", &l.b}}) {
            auto v = n[key];
            if (!v) {
                error(l.mark, "link " + quote(l.name) + " needs '" + key + ":' (host:interface of one end)");
                ends_ok = false;
                continue;
            }
            try {
                *end = link_end(v, l.name);
                auto id = end->host + ":" + end->interface;
                auto [it, fresh] = attached.emplace(id, l.name);
                if (!fresh) fail(v, "interface " + id + " is already attached to link " + quote((*it).second));
            } catch (const Fail&) {
                ends_ok = false;
            }
        }
        if (ends_ok && l.a.host == l.b.host && l.a.interface == l.b.interface)
            error(l.b.mark, "both ends of link " + quote(l.name) + " are " + l.a.host + ":" + l.a.interface);
        field(n, "mtu", [&](const YAML::Node& v) { l.mtu = static_cast<std::uint32_t>(integer(v, "mtu", 68, 65535)); });
        ImpairmentSpec both;
        impairments(n, both, ctx);
        l.a_to_b = both;
        l.b_to_a = both;
        for (auto entry : {std::pair{"a_to_b", &l.a_to_b}, std::pair{"b_to_a", &l.b_to_a}}) {
            // Plain variables, not structured bindings: clang < 16 cannot capture bindings in lambdas.
            const char* key = entry.first;
            ImpairmentSpec* dir = entry.second;
            field(n, key, [&](const YAML::Node& v) {
                need_map(v, std::string("'") + key + ":' impairments");
                std::string dctx = "in " + std::string(key) + " of link " + quote(l.name);
                check_keys(v, kImpairmentKeys, dctx);
                ImpairmentSpec one;
                impairments(v, one, dctx);
                dir->overlay(one);
            });
        }
        field(n, "faults", [&](const YAML::Node& v) {
            need_seq(v, "'faults:'");
            for (const auto& f : v) guard([&] { l.faults.push_back(fault(f, l)); });
        });
        field(n, "schedule", [&](const YAML::Node& v) {
            need_seq(v, "'schedule:'");
            Duration last{};
            for (const auto& s : v)
                guard([&] {
                    auto entry = schedule_entry(s, l);
                    if (entry.at < last)
                        fail(s["at"], "schedule entries must be in time order (" + format_duration(entry.at) + " comes after " +
                                          format_duration(last) + ")");
                    last = entry.at;
                    l.schedule.push_back(std::move(entry));
                });
        });
    }

    // Reads the impairment keys of map `n` (unknown keys are checked by the caller).
    void impairments(const YAML::Node& n, ImpairmentSpec& im, const std::string& ctx) {
        field(n, "delay", [&](const YAML::Node& v) {
            if (v.IsScalar()) {
                im.delay = duration(v, "delay");
                return;
            }
            need_map(v, "a delay (10ms, or {time:, jitter:, correlation:, distribution:})");
            check_keys(v, {"time", "jitter", "correlation", "distribution"}, "in the delay " + ctx);
            im.delay = duration(required(v, "time", "in the delay " + ctx), "delay");
            field(v, "jitter", [&](const YAML::Node& j) {
                im.jitter = duration(j, "jitter");
                if (*im.jitter > *im.delay)
                    fail(j, "jitter " + format_duration(*im.jitter) + " exceeds the delay " + format_duration(*im.delay) +
                                ": that would mean negative delays");
            });
            field(v, "correlation", [&](const YAML::Node& c) { im.delay_correlation = percent(c, "delay correlation"); });
            field(v, "distribution", [&](const YAML::Node& d) {
                im.distribution = choice<DelayDistribution>(d, "distribution",
                                                            {{"uniform", DelayDistribution::Uniform},
                                                             {"normal", DelayDistribution::Normal},
                                                             {"pareto", DelayDistribution::Pareto},
                                                             {"paretonormal", DelayDistribution::ParetoNormal}});
            });
        });
        field(n, "rate", [&](const YAML::Node& v) { im.rate_bps = rate(v); });
        field(n, "limit", [&](const YAML::Node& v) { im.queue_limit = static_cast<std::uint32_t>(integer(v, "limit (packets)", 1, 1000000)); });
        field(n, "loss", [&](const YAML::Node& v) {
            LossSpec l;
            if (v.IsScalar()) {
                l.probability = percent(v, "loss");
                im.loss = l;
                return;
            }
            need_map(v, "loss (1%, or {random:, correlation:}, {gemodel: ...}, {state: ...})");
            check_keys(v, {"random", "correlation", "gemodel", "state"}, "in the loss " + ctx);
            int models = (v["random"] ? 1 : 0) + (v["gemodel"] ? 1 : 0) + (v["state"] ? 1 : 0);
            if (models != 1) fail(v, "loss needs exactly one of random, gemodel or state");
            if (auto r = v["random"]) {
                l.probability = percent(r, "loss");
                if (auto c = v["correlation"]) l.correlation = percent(c, "loss correlation");
            } else if (auto g = v["gemodel"]) {
                l.model = LossSpec::Model::GilbertElliott;
                need_map(g, "gemodel {p:, r:, 1-h:, 1-k:}");
                check_keys(g, {"p", "r", "1-h", "1-k"}, "in gemodel");
                l.p = percent(required(g, "p", "in gemodel"), "gemodel p");
                if (auto x = g["r"]) l.r = percent(x, "gemodel r");
                else l.r = 1 - l.p;  // netem: r defaults to 1-p
                if (auto x = g["1-h"]) l.one_minus_h = percent(x, "gemodel 1-h");
                if (auto x = g["1-k"]) l.one_minus_k = percent(x, "gemodel 1-k");
            } else {
                auto s = v["state"];
                l.model = LossSpec::Model::FourState;
                need_map(s, "state {p13:, p31:, p32:, p23:, p14:}");
                check_keys(s, {"p13", "p31", "p32", "p23", "p14"}, "in the 4-state loss model");
                l.p13 = percent(required(s, "p13", "in the 4-state loss model"), "p13");
                if (auto x = s["p31"]) l.p31 = percent(x, "p31");
                else l.p31 = 1 - l.p13;
                if (auto x = s["p32"]) l.p32 = percent(x, "p32");
                if (auto x = s["p23"]) l.p23 = percent(x, "p23");
                if (auto x = s["p14"]) l.p14 = percent(x, "p14");
                if (l.p31 + l.p32 > 1.0 + 1e-9) fail(s, "p31 + p32 exceed 100%");
            }
            im.loss = l;
        });
        auto chance = [&](const char* key, std::optional<ChanceSpec>& out) {
            field(n, key, [&](const YAML::Node& v) {
                ChanceSpec c;
                if (v.IsScalar()) {
                    c.probability = percent(v, key);
                } else {
                    need_map(v, std::string(key) + " (1%, or {percent:, correlation:})");
                    check_keys(v, {"percent", "correlation"}, std::string("in ") + key + " " + ctx);
                    c.probability = percent(required(v, "percent", std::string("in ") + key), key);
                    if (auto x = v["correlation"]) c.correlation = percent(x, "correlation");
                }
                out = c;
            });
        };
        chance("duplicate", im.duplicate);
        chance("corrupt", im.corrupt);
        field(n, "reorder", [&](const YAML::Node& v) {
            ReorderSpec r;
            if (v.IsScalar()) {
                r.probability = percent(v, "reorder");
            } else {
                need_map(v, "reorder (25%, or {percent:, correlation:, gap:})");
                check_keys(v, {"percent", "correlation", "gap"}, "in reorder " + ctx);
                r.probability = percent(required(v, "percent", "in reorder"), "reorder");
                if (auto x = v["correlation"]) r.correlation = percent(x, "reorder correlation");
                if (auto x = v["gap"]) r.gap = static_cast<std::uint32_t>(integer(x, "gap", 1, 1000000));
            }
            im.reorder = r;
        });
    }

    // "S", "S.", "F.", "." (tcpdump letters) or "SYN|ACK" / [SYN, ACK] (names).
    std::uint8_t flags(const YAML::Node& n) {
        std::vector<std::pair<Mark, std::string>> words;
        if (n.IsSequence()) {
            for (const auto& x : n) words.push_back({mark_of(x), text(x, "a TCP flag")});
        } else {
            auto s = std::string(trim(text(n, "TCP flags")));
            // Only tcpdump letters ("S.", "F.", "R") -> letters; otherwise names ("SYN|ACK").
            bool names = s.empty() || s.find_first_not_of("SFPRUWE.") != std::string::npos;
            if (lower(s) == "none") return 0;
            if (!names) {
                std::uint8_t f = 0;
                for (char c : s) {
                    switch (c) {
                        case 'S': f |= flag::Syn; break;
                        case 'F': f |= flag::Fin; break;
                        case 'P': f |= flag::Psh; break;
                        case 'R': f |= flag::Rst; break;
                        case 'U': f |= flag::Urg; break;
                        case 'W': f |= flag::Cwr; break;
                        case 'E': f |= flag::Ece; break;
                        case '.': f |= flag::Ack; break;
                        default:
                            fail(n, "unknown TCP flag letter " + quote(std::string(1, c)) + " in " + quote(s) +
                                        "; tcpdump letters are S F P R U W E and '.' for ACK (or write SYN|ACK)");
                    }
                }
                return f;
            }
            std::size_t start = 0;
            while (start <= s.size()) {
                auto bar = s.find('|', start);
                words.push_back({mark_of(n), std::string(trim(s.substr(start, bar - start)))});
                if (bar == std::string::npos) break;
                start = bar + 1;
            }
        }
        static const std::vector<std::pair<std::string, std::uint8_t>> table{
            {"FIN", flag::Fin}, {"SYN", flag::Syn}, {"RST", flag::Rst}, {"PSH", flag::Psh},
            {"ACK", flag::Ack}, {"URG", flag::Urg}, {"ECE", flag::Ece}, {"CWR", flag::Cwr}};
        std::vector<std::string> names;
        for (const auto& [k, b] : table) names.push_back(k);
        std::uint8_t f = 0;
        for (const auto& [m, w] : words) {
            const std::string word = upper(w);  // clang < 16 cannot capture the binding w in a lambda
            auto it = std::find_if(table.begin(), table.end(), [&](const auto& p) { return p.first == word; });
            if (it == table.end()) fail(m, "unknown TCP flag " + quote(w) + suggest(upper(w), names) + "; flags are " + one_of(names));
            f |= (*it).second;
        }
        return f;
    }

    const std::vector<std::string> kMatchKeys{"from", "flags", "has_flags", "seq", "ack", "len", "win", "has_data", "options"};

    // Match keys of a fault or a segment expectation. `l` restricts `from:` to the link's ends.
    void segment_match(const YAML::Node& n, SegmentMatch& m, const LinkSpec* l) {
        field(n, "from", [&](const YAML::Node& v) {
            auto h = text(v, "a host name");
            if (!sc_.find_host(h)) fail(v, "unknown host " + quote(h) + suggest(h, host_names()));
            if (l && h != l->a.host && h != l->b.host && !l->a.host.empty() && !l->b.host.empty())
                fail(v, "host " + quote(h) + " is not on link " + quote(l->name) + " (its ends are " + l->a.host + " and " + l->b.host + ")");
            m.from_host = h;
        });
        field(n, "flags", [&](const YAML::Node& v) { m.flags = flags(v); });
        field(n, "has_flags", [&](const YAML::Node& v) { m.flags_set = flags(v); });
        field(n, "seq", [&](const YAML::Node& v) { m.seq = static_cast<std::uint32_t>(integer(v, "seq", 0, 0xffffffff)); });
        field(n, "ack", [&](const YAML::Node& v) { m.ack = static_cast<std::uint32_t>(integer(v, "ack", 0, 0xffffffff)); });
        field(n, "len", [&](const YAML::Node& v) { m.length = static_cast<std::uint32_t>(integer(v, "len", 0, 65535)); });
        field(n, "win", [&](const YAML::Node& v) { m.window = static_cast<std::uint32_t>(integer(v, "win", 0, 0x3fffffff)); });
        field(n, "has_data", [&](const YAML::Node& v) { m.has_data = boolean(v, "has_data"); });
        field(n, "options", [&](const YAML::Node& v) {
            static const std::vector<std::string> kinds{"mss", "wscale", "sackOK", "sack", "TS", "nop", "eol"};
            std::vector<YAML::Node> items;
            if (v.IsSequence()) for (const auto& x : v) items.push_back(x);
            else items.push_back(v);
            for (const auto& x : items) {
                auto s = text(x, "a TCP option kind");
                auto it = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return lower(k) == lower(s); });
                if (it == kinds.end()) fail(x, "unknown TCP option " + quote(s) + suggest(s, kinds) + "; options are " + one_of(kinds));
                m.options.push_back(*it);
            }
        });
    }

    FaultSpec fault(const YAML::Node& n, const LinkSpec& l) {
        std::string ctx = "in a fault of link " + quote(l.name);
        need_map(n, "a fault {match:, action:, nth:, count:, after:, before:}");
        check_keys(n, {"match", "action", "nth", "count", "after", "before"}, ctx);
        FaultSpec f;
        f.mark = mark_of(n);
        field(n, "match", [&](const YAML::Node& v) {
            need_map(v, "'match:' (which segments)");
            // What the link's fault engine can see (link/fault.hpp FrameMatcher).
            check_keys(v, {"from", "flags", "has_flags", "len", "has_data", "final_ack"}, "in match " + ctx);
            field(v, "final_ack", [&](const YAML::Node& x) { f.match.final_ack = boolean(x, "final_ack"); });
            segment_match(v, f.match, &l);
            if (f.match.from_host) f.direction = *f.match.from_host == l.a.host ? LinkDirection::AtoB : LinkDirection::BtoA;
        });
        auto a = required(n, "action", ctx);
        auto s = std::string(trim(text(a, "an action")));
        if (s == "drop") f.action = FaultSpec::Action::Drop;
        else if (s == "duplicate") f.action = FaultSpec::Action::Duplicate;
        else if (s == "corrupt") f.action = FaultSpec::Action::Corrupt;
        else if (s.rfind("delay", 0) == 0) {
            f.action = FaultSpec::Action::Delay;
            std::string err;
            auto d = parse_duration(trim(s.substr(5)), &err);
            if (!d) fail(a, "action " + quote(s) + ": " + err + " (write e.g. 'delay 200ms')");
            f.delay = *d;
        } else {
            fail(a, "unknown action " + quote(s) + suggest(s, {"drop", "duplicate", "corrupt", "delay"}) +
                        "; expected drop, duplicate, corrupt or 'delay <time>'");
        }
        field(n, "nth", [&](const YAML::Node& v) { f.nth = static_cast<std::uint32_t>(integer(v, "nth", 1, 1000000000)); });
        field(n, "count", [&](const YAML::Node& v) {
            if (v.IsScalar() && lower(v.Scalar()) == "all") f.count = 0;
            else f.count = static_cast<std::uint32_t>(integer(v, "count", 1, 1000000000));
        });
        field(n, "after", [&](const YAML::Node& v) { f.after = duration(v, "after"); });
        field(n, "before", [&](const YAML::Node& v) { f.before = duration(v, "before"); });
        if (f.after && f.before && *f.before <= *f.after)
            error(mark_of(n["before"]), "before (" + format_duration(*f.before) + ") must be later than after (" + format_duration(*f.after) + ")");
        return f;
    }

    ScheduleSpec schedule_entry(const YAML::Node& n, const LinkSpec& l) {
        std::string ctx = "in the schedule of link " + quote(l.name);
        need_map(n, "a schedule entry {at:, set:, down:, direction:}");
        check_keys(n, {"at", "set", "down", "direction"}, ctx);
        ScheduleSpec s;
        s.mark = mark_of(n);
        s.at = duration(required(n, "at", ctx), "at");
        field(n, "direction", [&](const YAML::Node& v) {
            s.direction = choice<LinkDirection>(v, "direction",
                                                {{"both", LinkDirection::Both}, {"a_to_b", LinkDirection::AtoB}, {"b_to_a", LinkDirection::BtoA}});
        });
        field(n, "down", [&](const YAML::Node& v) { s.up = !boolean(v, "down"); });
        field(n, "set", [&](const YAML::Node& v) {
            need_map(v, "'set:' impairments");
            check_keys(v, kImpairmentKeys, "in set " + ctx);
            impairments(v, s.set, "in set " + ctx);
        });
        if (!n["set"] && !n["down"]) fail(n, "a schedule entry needs 'set:' (new impairments) or 'down:' (true/false)");
        return s;
    }

    // ---- apps

    const std::vector<std::string> kCalls{"socket", "bind", "listen", "accept", "connect", "send", "write", "recv", "read",
                                          "shutdown", "close", "setsockopt", "getsockopt", "fcntl", "poll", "sleep",
                                          "getsockname", "getpeername", "dup"};

    void apps(const YAML::Node& n) {
        need_map(n, "'apps:' (app name: script)");
        for (auto it = n.begin(); it != n.end(); ++it)
            guard([&] {
                AppSpec a;
                a.name = name((*it).first, "app name");
                a.mark = mark_of((*it).first);
                if (sc_.find_app(a.name)) fail((*it).first, "duplicate app " + quote(a.name));
                sc_.apps.push_back(a);
                app((*it).second, sc_.apps.back());
            });
    }

    void app(const YAML::Node& n, AppSpec& a) {
        std::string ctx = "in app " + quote(a.name);
        YAML::Node script;
        if (n.IsSequence()) {
            script = n;
        } else {
            need_map(n, "app " + quote(a.name) + " (a list of calls, or {host:, start:, script:})");
            check_keys(n, {"host", "start", "script"}, ctx);
            field(n, "host", [&](const YAML::Node& v) {
                a.host = text(v, "a host name");
                if (!sc_.find_host(a.host)) fail(v, "unknown host " + quote(a.host) + " for app " + quote(a.name) + suggest(a.host, host_names()));
            });
            field(n, "start", [&](const YAML::Node& v) { a.start = duration(v, "start"); });
            script = required(n, "script", ctx);
        }
        if (a.host.empty() && !n["host"]) {
            if (sc_.find_host(a.name)) a.host = a.name;
            else
                error(a.mark, "app " + quote(a.name) + " needs 'host:' (no host is named " + quote(a.name) + ")" +
                                  suggest(a.name, host_names()));
        }
        need_seq(script, "the script of app " + quote(a.name));
        auto& fds = app_fds_[a.name];
        for (const auto& s : script) guard([&] { a.steps.push_back(step(s, a, fds)); });
    }

    std::string fd_ref(const YAML::Node& v, const AppSpec& a, const std::vector<std::string>& fds) {
        auto s = text(v, "a socket name");
        if (std::find(fds.begin(), fds.end(), s) == fds.end()) {
            if (fds.empty())
                fail(v, "unknown socket " + quote(s) + " in app " + quote(a.name) + ": no socket is created before this call (use 'socket: " + s + "')");
            fail(v, "unknown socket " + quote(s) + " in app " + quote(a.name) + suggest(s, fds) + "; sockets so far: " + one_of(fds));
        }
        return s;
    }
    std::string new_fd(const YAML::Node& v, std::vector<std::string>& fds) {
        auto s = name(v, "socket name");
        if (std::find(fds.begin(), fds.end(), s) == fds.end()) fds.push_back(s);
        return s;
    }

    unsigned msg_flags(const YAML::Node& v) {
        static const std::vector<std::pair<std::string, unsigned>> table{
            {"MSG_OOB", msg::Oob}, {"MSG_PEEK", msg::Peek}, {"MSG_WAITALL", msg::Waitall},
            {"MSG_DONTWAIT", msg::Dontwait}, {"MSG_MORE", msg::More}, {"MSG_NOSIGNAL", msg::Nosignal}};
        return bit_names(v, table, "send/recv flag");
    }
    unsigned poll_events(const YAML::Node& v) {
        static const std::vector<std::pair<std::string, unsigned>> table{
            {"POLLIN", pollev::In}, {"POLLPRI", pollev::Pri}, {"POLLOUT", pollev::Out}, {"POLLERR", pollev::Err},
            {"POLLHUP", pollev::Hup}, {"POLLRDHUP", pollev::Rdhup}, {"POLLNVAL", pollev::Nval}};
        return bit_names(v, table, "poll event");
    }
    // "A|B", [A, B] or 0.
    unsigned bit_names(const YAML::Node& v, const std::vector<std::pair<std::string, unsigned>>& table, const std::string& what) {
        std::vector<std::pair<YAML::Node, std::string>> words;
        if (v.IsSequence()) {
            for (const auto& x : v) words.push_back({x, text(x, "a " + what)});
        } else {
            auto s = text(v, what + "s");
            if (trim(s) == "0") return 0;
            std::size_t start = 0;
            while (true) {
                auto bar = s.find('|', start);
                words.push_back({v, std::string(trim(s.substr(start, bar == std::string::npos ? std::string::npos : bar - start)))});
                if (bar == std::string::npos) break;
                start = bar + 1;
            }
        }
        std::vector<std::string> names;
        for (const auto& [k, b] : table) names.push_back(k);
        unsigned bits = 0;
        for (const auto& [node, w] : words) {
            const std::string word = upper(w);  // clang < 16 cannot capture the binding w in a lambda
            auto it = std::find_if(table.begin(), table.end(), [&](const auto& p) { return p.first == word; });
            if (it == table.end()) fail(node, "unknown " + what + " " + quote(w) + suggest(upper(w), names) + "; expected " + one_of(names));
            bits |= (*it).second;
        }
        return bits;
    }

    ByteVector hex_bytes(const YAML::Node& v) {
        auto s = text(v, "hex bytes");
        try {
            return from_hex(s);
        } catch (const std::exception&) {
            fail(v, "bad hex " + quote(s) + ": expected pairs of hex digits like 'de ad be ef'");
        }
    }

    Step step(const YAML::Node& n, const AppSpec& a, std::vector<std::string>& fds) {
        std::string ctx = "in a step of app " + quote(a.name);
        need_map(n, "a call (e.g. '- connect: {fd: s, to: server:80}')");
        Step st;
        st.mark = mark_of(n);
        // Exactly one call key; the rest are modifiers.
        std::vector<std::string> allowed = kCalls;
        allowed.insert(allowed.end(), {"at", "after", "expect"});
        check_keys(n, allowed, ctx);
        YAML::Node args;
        for (auto it = n.begin(); it != n.end(); ++it) {
            if (!(*it).first.IsScalar()) continue;
            const auto& k = (*it).first.Scalar();
            if (std::find(kCalls.begin(), kCalls.end(), k) == kCalls.end()) continue;
            if (!st.written.empty())
                fail((*it).first, "a step holds one call, but this one has both " + quote(st.written) + " and " + quote(k) +
                                    " (write them as two list items)");
            st.written = k;
            st.mark = mark_of((*it).first);
            args = (*it).second;
        }
        if (st.written.empty()) {
            bool unknown_key_reported = false;
            for (auto it = n.begin(); it != n.end(); ++it)
                if ((*it).first.IsScalar() && std::find(allowed.begin(), allowed.end(), (*it).first.Scalar()) == allowed.end())
                    unknown_key_reported = true;
            if (unknown_key_reported) throw Fail{};
            fail(n, "this step has no call; expected one of " + one_of(kCalls));
        }
        static const std::map<std::string, Call> calls{
            {"socket", Call::Socket}, {"bind", Call::Bind}, {"listen", Call::Listen}, {"accept", Call::Accept},
            {"connect", Call::Connect}, {"send", Call::Send}, {"write", Call::Send}, {"recv", Call::Recv},
            {"read", Call::Recv}, {"shutdown", Call::Shutdown}, {"close", Call::Close},
            {"setsockopt", Call::Setsockopt}, {"getsockopt", Call::Getsockopt}, {"fcntl", Call::Fcntl},
            {"poll", Call::Poll}, {"sleep", Call::Sleep}, {"getsockname", Call::Getsockname},
            {"getpeername", Call::Getpeername}, {"dup", Call::Dup}};
        st.call = calls.at(st.written);
        field(n, "at", [&](const YAML::Node& v) { st.at = duration(v, "at"); });
        field(n, "after", [&](const YAML::Node& v) { st.after = duration(v, "after"); });
        if (n["at"] && n["after"]) error(key_mark(n, "after"), "a step takes 'at:' (absolute time) or 'after:' (delay), not both");
        std::string cctx = "in " + st.written + " (app " + quote(a.name) + ")";
        // Scalar shorthand: the main argument.
        auto map_args = [&](const std::vector<std::string>& keys) {
            need_map(args, st.written + " arguments {" + one_of(keys) + "}");
            check_keys(args, keys, cctx);
        };
        auto fd_arg = [&]() { st.fd = fd_ref(required(args, "fd", cctx), a, fds); };
        switch (st.call) {
            case Call::Socket:
                if (args.IsScalar()) st.as = new_fd(args, fds);
                else {
                    map_args({"as", "nonblock"});
                    st.as = new_fd(required(args, "as", cctx), fds);
                    field(args, "nonblock", [&](const YAML::Node& v) { st.nonblock = boolean(v, "nonblock"); });
                }
                break;
            case Call::Bind:
                map_args({"fd", "addr"});
                fd_arg();
                st.endpoint = endpoint(required(args, "addr", cctx), "bind address");
                st.has_endpoint = true;
                break;
            case Call::Listen:
                if (args.IsScalar()) st.fd = fd_ref(args, a, fds);
                else {
                    map_args({"fd", "backlog"});
                    fd_arg();
                    field(args, "backlog", [&](const YAML::Node& v) { st.backlog = static_cast<int>(integer(v, "backlog", -1, 65535)); });
                }
                break;
            case Call::Accept:
                map_args({"fd", "as"});
                fd_arg();
                st.as = new_fd(required(args, "as", cctx), fds);
                break;
            case Call::Connect:
                map_args({"fd", "to"});
                fd_arg();
                st.endpoint = endpoint(required(args, "to", cctx), "connect address");
                st.has_endpoint = true;
                break;
            case Call::Send: {
                map_args({"fd", "data", "hex", "bytes", "flags"});
                fd_arg();
                int sources = (args["data"] ? 1 : 0) + (args["hex"] ? 1 : 0) + (args["bytes"] ? 1 : 0);
                if (sources != 1) fail(args, st.written + " needs exactly one of data (text), hex or bytes (a generated size)");
                field(args, "data", [&](const YAML::Node& v) { st.data.literal = to_vector(as_bytes(text(v, "text data"))); });
                field(args, "hex", [&](const YAML::Node& v) { st.data.literal = hex_bytes(v); });
                field(args, "bytes", [&](const YAML::Node& v) { st.data.generated = size(v, "bytes", 1, 1ull << 34); });
                field(args, "flags", [&](const YAML::Node& v) { st.flags = msg_flags(v); });
                break;
            }
            case Call::Recv:
                if (args.IsScalar()) st.fd = fd_ref(args, a, fds), st.size = 65536;
                else {
                    map_args({"fd", "size", "flags"});
                    fd_arg();
                    st.size = 65536;
                    field(args, "size", [&](const YAML::Node& v) {
                        if (v.IsScalar() && lower(v.Scalar()) == "all") st.read_all = true;
                        else st.size = size(v, "size", 1, 1ull << 34);
                    });
                    field(args, "flags", [&](const YAML::Node& v) { st.flags = msg_flags(v); });
                }
                break;
            case Call::Shutdown:
                map_args({"fd", "how"});
                fd_arg();
                st.how = choice<ShutdownHow>(required(args, "how", cctx), "shutdown mode",
                                             {{"SHUT_RD", ShutdownHow::Read}, {"SHUT_WR", ShutdownHow::Write}, {"SHUT_RDWR", ShutdownHow::Both}});
                break;
            case Call::Close:
            case Call::Getsockname:
            case Call::Getpeername:
                if (args.IsScalar()) st.fd = fd_ref(args, a, fds);
                else {
                    map_args({"fd"});
                    fd_arg();
                }
                break;
            case Call::Dup:
                map_args({"fd", "as"});
                fd_arg();
                st.as = new_fd(required(args, "as", cctx), fds);
                break;
            case Call::Setsockopt:
            case Call::Getsockopt: {
                bool set = st.call == Call::Setsockopt;
                map_args(set ? std::vector<std::string>{"fd", "option", "value"} : std::vector<std::string>{"fd", "option"});
                fd_arg();
                auto o = required(args, "option", cctx);
                auto oname = upper(text(o, "a socket option"));
                st.option = find_socket_option(oname);
                if (!st.option) fail(o, "unknown socket option " + quote(o.Scalar()) + suggest(oname, socket_option_names()));
                if (set) {
                    if (st.option->readonly) fail(o, oname + " can only be read (getsockopt)");
                    st.option_value = option_value(required(args, "value", cctx), *st.option);
                }
                break;
            }
            case Call::Fcntl:
                map_args({"fd", "cmd", "nonblock"});
                fd_arg();
                st.fcntl_cmd = choice<Step::FcntlCmd>(required(args, "cmd", cctx), "fcntl command",
                                                      {{"F_GETFL", Step::FcntlCmd::GetFl}, {"F_SETFL", Step::FcntlCmd::SetFl}});
                if (st.fcntl_cmd == Step::FcntlCmd::SetFl)
                    st.nonblock = boolean(required(args, "nonblock", "in fcntl F_SETFL"), "nonblock");
                else if (args["nonblock"])
                    error(key_mark(args, "nonblock"), "F_GETFL takes no 'nonblock:'; check it with expect: {nonblock: true}");
                break;
            case Call::Poll:
                map_args({"fds", "timeout"});
                {
                    auto f = required(args, "fds", cctx);
                    need_map(f, "'fds:' (socket: events, e.g. {c: POLLIN|POLLOUT})");
                    for (auto it = f.begin(); it != f.end(); ++it)
                        guard([&] { st.poll.push_back({fd_ref((*it).first, a, fds), poll_events((*it).second)}); });
                }
                field(args, "timeout", [&](const YAML::Node& v) {
                    if (v.IsScalar() && (lower(v.Scalar()) == "infinite" || v.Scalar() == "-1")) return;
                    st.timeout = duration(v, "timeout");
                });
                break;
            case Call::Sleep:
                st.duration = duration(args, "sleep");
                break;
        }
        field(n, "expect", [&](const YAML::Node& v) { call_expect(v, st, a, fds); });
        return st;
    }

    OptionValue option_value(const YAML::Node& v, const SocketOption& o) {
        OptionValue ov;
        switch (o.kind) {
            case OptionValueKind::Bool:
                if (v.IsScalar() && (v.Scalar() == "0" || v.Scalar() == "1")) ov.integer = v.Scalar() == "1";
                else ov.integer = boolean(v, o.name) ? 1 : 0;
                break;
            case OptionValueKind::Int:
                if (o.name == "SO_RCVBUF" || o.name == "SO_SNDBUF") ov.integer = static_cast<std::int64_t>(size(v, o.name, 0, INT32_MAX));
                else ov.integer = integer(v, o.name, 0, INT32_MAX);
                break;
            case OptionValueKind::Duration:
                ov.duration = duration(v, o.name);
                break;
            case OptionValueKind::Linger:
                need_map(v, "SO_LINGER {onoff:, linger:}");
                check_keys(v, {"onoff", "linger"}, "in SO_LINGER");
                ov.integer = boolean(required(v, "onoff", "in SO_LINGER"), "onoff") ? 1 : 0;
                ov.duration = std::chrono::seconds(integer(required(v, "linger", "in SO_LINGER (seconds)"), "linger (seconds)", 0, INT32_MAX));
                break;
        }
        return ov;
    }

    void call_expect(const YAML::Node& n, Step& st, const AppSpec& a, const std::vector<std::string>& fds) {
        std::string ctx = "in the expect of " + st.written;
        need_map(n, "'expect:' {ret:, errno:, ...}");
        std::vector<std::string> keys{"ret", "errno", "blocked", "returns_at"};
        switch (st.call) {
            case Call::Recv: keys.insert(keys.end(), {"data", "hex"}); break;
            case Call::Getsockopt: keys.push_back("value"); break;
            case Call::Fcntl: keys.push_back("nonblock"); break;
            case Call::Accept:
            case Call::Getsockname:
            case Call::Getpeername: keys.insert(keys.end(), {"addr", "ephemeral"}); break;
            case Call::Poll: keys.push_back("revents"); break;
            default: break;
        }
        check_keys(n, keys, ctx);
        auto& e = st.expect;
        e.mark = mark_of(n);
        field(n, "ret", [&](const YAML::Node& v) { e.ret = integer(v, "ret", INT64_MIN, INT64_MAX); });
        field(n, "errno", [&](const YAML::Node& v) {
            e.error = errno_value(v);
            e.error_name = upper(v.Scalar());
        });
        field(n, "blocked", [&](const YAML::Node& v) { e.blocked = boolean(v, "blocked"); });
        field(n, "returns_at", [&](const YAML::Node& v) { e.returns_at = duration(v, "returns_at"); });
        field(n, "data", [&](const YAML::Node& v) { e.data = to_vector(as_bytes(text(v, "text data"))); });
        field(n, "hex", [&](const YAML::Node& v) { e.data = hex_bytes(v); });
        field(n, "nonblock", [&](const YAML::Node& v) { e.value = boolean(v, "nonblock") ? 1 : 0; });
        field(n, "value", [&](const YAML::Node& v) {
            switch (st.option ? st.option->kind : OptionValueKind::Int) {
                case OptionValueKind::Duration: e.duration_value = duration(v, st.option->name); break;
                case OptionValueKind::Linger: {
                    auto ov = option_value(v, *st.option);
                    e.linger_value = std::pair{ov.integer, std::chrono::duration_cast<std::chrono::seconds>(ov.duration).count()};
                    break;
                }
                case OptionValueKind::Bool:
                case OptionValueKind::Int:
                    if (st.option && st.option->name == "SO_ERROR" && v.IsScalar() && !v.Scalar().empty() && std::isalpha(static_cast<unsigned char>(v.Scalar()[0])))
                        e.value = errno_value(v);
                    else if (st.option && st.option->kind == OptionValueKind::Bool && v.IsScalar() && !std::isdigit(static_cast<unsigned char>(v.Scalar()[0])))
                        e.value = boolean(v, st.option->name) ? 1 : 0;
                    else
                        e.value = integer(v, "value", INT64_MIN, INT64_MAX);
                    break;
            }
        });
        field(n, "addr", [&](const YAML::Node& v) { e.address = endpoint(v, "address"); });
        field(n, "ephemeral", [&](const YAML::Node& v) {
            if (boolean(v, "ephemeral")) e.port_at_least = 1;
        });
        field(n, "revents", [&](const YAML::Node& v) {
            need_map(v, "'revents:' (socket: events)");
            for (auto it = v.begin(); it != v.end(); ++it)
                guard([&] {
                    auto fd = fd_ref((*it).first, a, fds);
                    if (std::none_of(st.poll.begin(), st.poll.end(), [&](const PollEntry& p) { return p.fd == fd; }))
                        fail((*it).first, "socket " + quote(fd) + " is not among the polled sockets");
                    e.revents.push_back({fd, poll_events((*it).second)});
                });
        });
    }

    // ---- expectations

    SocketRef socket_ref(const YAML::Node& v) {
        auto s = std::string(trim(text(v, "a socket (app.socket)")));
        SocketRef r;
        r.mark = mark_of(v);
        auto dot = s.find('.');
        if (dot == std::string::npos) fail(v, "expected a socket as app.socket (e.g. client.sock), found " + quote(s));
        r.app = s.substr(0, dot);
        r.fd = s.substr(dot + 1);
        auto it = app_fds_.find(r.app);
        if (it == app_fds_.end()) {
            std::vector<std::string> names;
            for (const auto& [k, _] : app_fds_) names.push_back(k);
            fail(v, "unknown app " + quote(r.app) + " in " + quote(s) + suggest(r.app, names));
        }
        if (std::find((*it).second.begin(), (*it).second.end(), r.fd) == (*it).second.end())
            fail(v, "unknown socket " + quote(r.fd) + " in app " + quote(r.app) + suggest(r.fd, (*it).second));
        return r;
    }

    void expectations(const YAML::Node& n) {
        need_seq(n, "'expect:' (a list of expectations)");
        for (const auto& e : n) guard([&] { sc_.expectations.push_back(expectation(e)); });
    }

    Expectation expectation(const YAML::Node& n) {
        static const std::vector<std::string> kinds{"state", "states", "delivered", "segment", "count"};
        need_map(n, "an expectation (state, states, delivered, segment or count)");
        Expectation e;
        e.mark = mark_of(n);
        if (n.size() != 1) {
            check_keys(n, kinds, "in an expectation");
            fail(n, "an expectation holds exactly one of " + one_of(kinds) + " (write several as separate list items)");
        }
        auto it = n.begin();
        auto key = text((*it).first, "an expectation kind");
        e.mark = mark_of((*it).first);
        auto v = (*it).second;
        std::string ctx = "in expectation " + quote(key);
        auto relation = [&](const YAML::Node& m, const char* default_key) {
            int given = (m["is"] ? 1 : 0) + (m["at_least"] ? 1 : 0) + (m["at_most"] ? 1 : 0);
            if (given > 1) fail(m, "give one of is, at_least or at_most");
            if (auto x = m["is"]) e.compare = Compare::Eq, e.count = static_cast<std::uint64_t>(integer(x, "is", 0, INT64_MAX));
            else if (auto y = m["at_least"]) e.compare = Compare::AtLeast, e.count = static_cast<std::uint64_t>(integer(y, "at_least", 0, INT64_MAX));
            else if (auto z = m["at_most"]) e.compare = Compare::AtMost, e.count = static_cast<std::uint64_t>(integer(z, "at_most", 0, INT64_MAX));
            else if (default_key) fail(m, std::string("missing is, at_least or at_most ") + ctx);
        };
        if (key == "state") {
            e.kind = Expectation::Kind::State;
            need_map(v, "state {of: app.socket, is: STATE, at: time}");
            check_keys(v, {"of", "is", "at"}, ctx);
            e.of = socket_ref(required(v, "of", ctx));
            e.state = state(required(v, "is", ctx));
            field(v, "at", [&](const YAML::Node& x) { e.at = duration(x, "at"); });
            e.text = "state of " + e.of.to_string() + (e.at ? " at " + format_duration(*e.at) : " at the end") + " is " + tcp::to_string(e.state);
        } else if (key == "states") {
            e.kind = Expectation::Kind::States;
            need_map(v, "states {of: app.socket, are: [STATE, ...]}");
            check_keys(v, {"of", "are"}, ctx);
            e.of = socket_ref(required(v, "of", ctx));
            auto are = required(v, "are", ctx);
            need_seq(are, "'are:' (the states in order)");
            for (const auto& s : are) e.states.push_back(state(s));
            if (e.states.empty()) fail(are, "'are:' is empty");
            e.text = "states of " + e.of.to_string() + " are";
            for (auto s : e.states) e.text += std::string(" ") + tcp::to_string(s);
        } else if (key == "delivered") {
            e.kind = Expectation::Kind::Delivered;
            need_map(v, "delivered {from: app.socket, to: app.socket, bytes: N}");
            check_keys(v, {"from", "to", "bytes"}, ctx);
            e.from = socket_ref(required(v, "from", ctx));
            e.to = socket_ref(required(v, "to", ctx));
            field(v, "bytes", [&](const YAML::Node& x) { e.bytes = size(x, "bytes", 0, 1ull << 40); });
            e.text = "bytes sent on " + e.from.to_string() + " are delivered to " + e.to.to_string();
        } else if (key == "segment") {
            e.kind = Expectation::Kind::Segment;
            need_map(v, "segment {link:, from:, flags:, seq:, ack:, len:, win:, options:, count:}");
            std::vector<std::string> keys = kMatchKeys;
            keys.insert(keys.end(), {"link", "is", "at_least", "at_most"});
            check_keys(v, keys, ctx);
            const LinkSpec* l = nullptr;
            field(v, "link", [&](const YAML::Node& x) {
                e.link = text(x, "a link name");
                l = sc_.find_link(e.link);
                std::vector<std::string> names;
                for (const auto& k : sc_.links) names.push_back(k.name);
                if (!l && !is_live_dev(e.link)) fail(x, "unknown link " + quote(e.link) + suggest(e.link, names));
            });
            segment_match(v, e.match, l);
            e.compare = Compare::AtLeast;
            e.count = 1;
            relation(v, nullptr);
            e.text = "segment";
            if (e.match.flags) e.text += " [" + flags_to_string(*e.match.flags) + "]";
            if (e.match.flags_set) e.text += " with " + flags_to_string(*e.match.flags_set);
            if (e.match.has_data) e.text += *e.match.has_data ? " with data" : " without data";
            if (e.match.window) e.text += " win " + std::to_string(*e.match.window);
            if (e.match.from_host) e.text += " from " + *e.match.from_host;
            if (!e.link.empty()) e.text += " on link " + e.link;
        } else if (key == "count") {
            e.kind = Expectation::Kind::Count;
            need_map(v, "count {what: retransmissions|resets|drops|segments|frames, host:, link:, is:|at_least:|at_most:}");
            check_keys(v, {"what", "host", "link", "is", "at_least", "at_most"}, ctx);
            e.counter = choice<Expectation::Counter>(required(v, "what", ctx), "counter",
                                                     {{"retransmissions", Expectation::Counter::Retransmissions},
                                                      {"resets", Expectation::Counter::Resets},
                                                      {"drops", Expectation::Counter::Drops},
                                                      {"segments", Expectation::Counter::Segments},
                                                      {"frames", Expectation::Counter::Frames}});
            field(v, "host", [&](const YAML::Node& x) {
                e.host = text(x, "a host name");
                if (!sc_.find_host(e.host)) fail(x, "unknown host " + quote(e.host) + suggest(e.host, host_names()));
            });
            field(v, "link", [&](const YAML::Node& x) {
                e.link = text(x, "a link name");
                std::vector<std::string> names;
                for (const auto& k : sc_.links) names.push_back(k.name);
                if (!sc_.find_link(e.link) && !is_live_dev(e.link)) fail(x, "unknown link " + quote(e.link) + suggest(e.link, names));
            });
            relation(v, "is");
            e.text = std::string("count of ") + to_string(e.counter) + (e.host.empty() ? "" : " by " + e.host) +
                     (e.link.empty() ? "" : " on " + e.link);
        } else {
            fail((*it).first, "unknown expectation " + quote(key) + suggest(key, kinds) + "; expected " + one_of(kinds));
        }
        return e;
    }
};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* error) {
    auto set = [&](std::string m) {
        if (error) *error = std::move(m);
        return std::nullopt;
    };
    auto s = trim(text);
    auto num = split_number(s);
    if (!num) return set("expected a duration such as 10ms, 1.5s or 250us, found " + quote(s));
    if (num->first.negative) return set("negative duration " + quote(s) + ": a time or delay cannot be negative");
    if (num->second.empty()) {
        if (num->first.mantissa == 0) return Duration::zero();
        return set("the duration " + quote(s) + " needs a unit: write " + std::string(s) + "s, " + std::string(s) + "ms, " +
                   std::string(s) + "us or " + std::string(s) + "ns");
    }
    for (const auto& u : kTimeUnits)
        if (num->second == u.name) {
            auto v = scaled(num->first, u.scale);
            if (!v) return set("duration " + quote(s) + " is finer than a nanosecond or too large");
            return Duration{*v};
        }
    return set("unknown time unit " + quote(num->second) + " in " + quote(s) + "; use ns, us, ms, s, min or h");
}

std::string format_duration(Duration d) {
    auto ns = d.count();
    if (ns == 0) return "0s";
    struct U {
        std::int64_t scale;
        const char* name;
    };
    for (U u : {U{1'000'000'000, "s"}, U{1'000'000, "ms"}, U{1'000, "us"}}) {
        if (ns % u.scale == 0) return std::to_string(ns / u.scale) + u.name;
        if (std::abs(ns) >= u.scale) {
            // Trim trailing zeros of the fraction.
            auto whole = ns / u.scale;
            auto frac = std::abs(ns % u.scale);
            std::string f = std::to_string(frac);
            std::string digits = std::to_string(u.scale).substr(1);
            f = std::string(digits.size() - f.size(), '0') + f;
            while (!f.empty() && f.back() == '0') f.pop_back();
            return std::to_string(whole) + "." + f + u.name;
        }
    }
    return std::to_string(ns) + "ns";
}

Scenario parse_scenario(std::string_view text, const std::string& file) { return Loader(file).load(text); }

Scenario load_scenario(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw ScenarioError({Diagnostic{path, {}, "cannot read the scenario: it is a directory"}});
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ScenarioError({Diagnostic{path, {}, std::string("cannot read the scenario: ") + std::strerror(errno)}});
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_scenario(ss.str(), path);
}

}  // namespace tcpsim::stack::scenario
