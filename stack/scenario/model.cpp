#include "stack/scenario/model.hpp"

#include <algorithm>
#include <array>

#include "stack/scenario/error.hpp"

namespace tcpsim::stack::scenario {

const char* to_string(Personality p) {
    switch (p) {
        case Personality::Linux: return "linux";
        case Personality::Bsd: return "bsd";
        case Personality::Rfc: return "rfc";
    }
    return "?";
}

const char* to_string(DelayDistribution d) {
    switch (d) {
        case DelayDistribution::Uniform: return "uniform";
        case DelayDistribution::Normal: return "normal";
        case DelayDistribution::Pareto: return "pareto";
        case DelayDistribution::ParetoNormal: return "paretonormal";
    }
    return "?";
}

const char* to_string(LinkDirection d) {
    switch (d) {
        case LinkDirection::Both: return "both";
        case LinkDirection::AtoB: return "a_to_b";
        case LinkDirection::BtoA: return "b_to_a";
    }
    return "?";
}

const char* to_string(FaultSpec::Action a) {
    switch (a) {
        case FaultSpec::Action::Drop: return "drop";
        case FaultSpec::Action::Delay: return "delay";
        case FaultSpec::Action::Duplicate: return "duplicate";
        case FaultSpec::Action::Corrupt: return "corrupt";
    }
    return "?";
}

const char* to_string(Call c) {
    switch (c) {
        case Call::Socket: return "socket";
        case Call::Bind: return "bind";
        case Call::Listen: return "listen";
        case Call::Accept: return "accept";
        case Call::Connect: return "connect";
        case Call::Send: return "send";
        case Call::Recv: return "recv";
        case Call::Shutdown: return "shutdown";
        case Call::Close: return "close";
        case Call::Setsockopt: return "setsockopt";
        case Call::Getsockopt: return "getsockopt";
        case Call::Fcntl: return "fcntl";
        case Call::Poll: return "poll";
        case Call::Sleep: return "sleep";
        case Call::Getsockname: return "getsockname";
        case Call::Getpeername: return "getpeername";
        case Call::Dup: return "dup";
    }
    return "?";
}

const char* to_string(Expectation::Counter c) {
    switch (c) {
        case Expectation::Counter::Segments: return "segments";
        case Expectation::Counter::Retransmissions: return "retransmissions";
        case Expectation::Counter::Resets: return "resets";
        case Expectation::Counter::Drops: return "drops";
        case Expectation::Counter::Frames: return "frames";
    }
    return "?";
}

std::string flags_to_string(std::uint8_t f) {
    // tcpdump's letters and order (print-tcp.c: S F P R U W E, '.' for ACK).
    std::string s;
    if (f & flag::Syn) s += 'S';
    if (f & flag::Fin) s += 'F';
    if (f & flag::Psh) s += 'P';
    if (f & flag::Rst) s += 'R';
    if (f & flag::Urg) s += 'U';
    if (f & flag::Cwr) s += 'W';
    if (f & flag::Ece) s += 'E';
    if (f & flag::Ack) s += '.';
    return s.empty() ? "none" : s;
}

std::string msg_flags_to_string(unsigned f) {
    static constexpr std::array<std::pair<unsigned, const char*>, 6> names{{
        {msg::Oob, "MSG_OOB"}, {msg::Peek, "MSG_PEEK"}, {msg::Waitall, "MSG_WAITALL"},
        {msg::Dontwait, "MSG_DONTWAIT"}, {msg::More, "MSG_MORE"}, {msg::Nosignal, "MSG_NOSIGNAL"}}};
    std::string s;
    for (auto [bit, name] : names)
        if (f & bit) s += (s.empty() ? "" : "|") + std::string(name);
    return s.empty() ? "0" : s;
}

std::string poll_events_to_string(unsigned e) {
    static constexpr std::array<std::pair<unsigned, const char*>, 7> names{{
        {pollev::In, "POLLIN"}, {pollev::Pri, "POLLPRI"}, {pollev::Out, "POLLOUT"}, {pollev::Err, "POLLERR"},
        {pollev::Hup, "POLLHUP"}, {pollev::Rdhup, "POLLRDHUP"}, {pollev::Nval, "POLLNVAL"}}};
    std::string s;
    for (auto [bit, name] : names)
        if (e & bit) s += (s.empty() ? "" : "|") + std::string(name);
    return s.empty() ? "0" : s;
}

std::byte pattern_byte(std::uint64_t i) {
    static constexpr std::string_view kPattern = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    return static_cast<std::byte>(kPattern[i % kPattern.size()]);
}

namespace {
constexpr std::array kOptions{
    SocketOption{"SO_REUSEADDR", false, OptionValueKind::Bool},
    SocketOption{"SO_REUSEPORT", false, OptionValueKind::Bool},
    SocketOption{"SO_KEEPALIVE", false, OptionValueKind::Bool},
    SocketOption{"SO_RCVBUF", false, OptionValueKind::Int},
    SocketOption{"SO_SNDBUF", false, OptionValueKind::Int},
    SocketOption{"SO_RCVLOWAT", false, OptionValueKind::Int},
    SocketOption{"SO_SNDLOWAT", false, OptionValueKind::Int},
    SocketOption{"SO_RCVTIMEO", false, OptionValueKind::Duration},
    SocketOption{"SO_SNDTIMEO", false, OptionValueKind::Duration},
    SocketOption{"SO_LINGER", false, OptionValueKind::Linger},
    SocketOption{"SO_OOBINLINE", false, OptionValueKind::Bool},
    SocketOption{"SO_ERROR", false, OptionValueKind::Int, true},
    SocketOption{"SO_TYPE", false, OptionValueKind::Int, true},
    SocketOption{"SO_ACCEPTCONN", false, OptionValueKind::Bool, true},
    SocketOption{"TCP_NODELAY", true, OptionValueKind::Bool},
    SocketOption{"TCP_CORK", true, OptionValueKind::Bool},
    SocketOption{"TCP_MAXSEG", true, OptionValueKind::Int},
    SocketOption{"TCP_KEEPIDLE", true, OptionValueKind::Int},
    SocketOption{"TCP_KEEPINTVL", true, OptionValueKind::Int},
    SocketOption{"TCP_KEEPCNT", true, OptionValueKind::Int},
    SocketOption{"TCP_USER_TIMEOUT", true, OptionValueKind::Int},
    SocketOption{"TCP_QUICKACK", true, OptionValueKind::Bool},
};
}  // namespace

const SocketOption* find_socket_option(std::string_view name) {
    for (const auto& o : kOptions)
        if (o.name == name) return &o;
    return nullptr;
}

std::vector<std::string> socket_option_names() {
    std::vector<std::string> v;
    for (const auto& o : kOptions) v.emplace_back(o.name);
    return v;
}

void ImpairmentSpec::overlay(const ImpairmentSpec& o) {
    if (o.delay) delay = o.delay;
    if (o.jitter) jitter = o.jitter;
    if (o.delay_correlation) delay_correlation = o.delay_correlation;
    if (o.distribution) distribution = o.distribution;
    if (o.rate_bps) rate_bps = o.rate_bps;
    if (o.queue_limit) queue_limit = o.queue_limit;
    if (o.loss) loss = o.loss;
    if (o.duplicate) duplicate = o.duplicate;
    if (o.corrupt) corrupt = o.corrupt;
    if (o.reorder) reorder = o.reorder;
}

bool CallExpect::any() const {
    return ret || error || data || value || duration_value || linger_value || address || port_at_least ||
           !revents.empty() || blocked || returns_at;
}

const InterfaceSpec* HostSpec::find_interface(std::string_view n) const {
    for (const auto& i : interfaces)
        if (i.name == n) return &i;
    return nullptr;
}

const HostSpec* Scenario::find_host(std::string_view n) const {
    for (const auto& h : hosts)
        if (h.name == n) return &h;
    return nullptr;
}
const LinkSpec* Scenario::find_link(std::string_view n) const {
    for (const auto& l : links)
        if (l.name == n) return &l;
    return nullptr;
}
const AppSpec* Scenario::find_app(std::string_view n) const {
    for (const auto& a : apps)
        if (a.name == n) return &a;
    return nullptr;
}
const HostSpec* Scenario::live_host() const {
    for (const auto& h : hosts)
        if (h.live) return &h;
    return nullptr;
}

// ---------------------------------------------------------------- diagnostics

std::string Diagnostic::to_string() const {
    std::string s = file;
    if (mark.line > 0) s += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
    return s + ": " + message;
}

namespace {
std::string join_diagnostics(const std::vector<Diagnostic>& d) {
    std::string s;
    for (const auto& x : d) s += (s.empty() ? "" : "\n") + x.to_string();
    return s;
}
}  // namespace

ScenarioError::ScenarioError(std::vector<Diagnostic> d)
    : std::runtime_error(join_diagnostics(d)), diagnostics_(std::move(d)) {}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Optimal string alignment distance: a transposition ("dealy") costs 1.
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i)
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[a.size()][b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
    auto lower = [](std::string_view s) {
        std::string r(s);
        for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return r;
    };
    std::string w = lower(word);
    std::string best;
    std::size_t best_d = SIZE_MAX;
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(w, lower(c));
        if (d < best_d) best_d = d, best = c;
    }
    // Plausible typo: at most a third of the word wrong (and at least one edit allowed).
    std::size_t longest = std::max(w.size(), best.size());
    std::size_t limit = longest < 3 ? 0 : std::max<std::size_t>(1, longest / 3);
    return best_d <= limit ? best : std::string{};
}

}  // namespace tcpsim::stack::scenario
