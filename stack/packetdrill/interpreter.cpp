#include "stack/packetdrill/interpreter.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include <linux/errqueue.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "ip/ipv4.hpp"
#include "stack/host/host.hpp"
#include "stack/packetdrill/code.hpp"
#include "stack/packetdrill/symbols.hpp"
#include "stack/packetdrill/wire.hpp"
#include "stack/trace/pcap_sink.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/trace/tcpdump_format.hpp"
#include "stack/sim/world.hpp"
#include "tcp/segment.hpp"

namespace tcpsim::stack::packetdrill {

std::string Verdict::to_string() const {
    std::string where = file;
    if (loc.line != 0) where += ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
    switch (kind) {
        case Kind::Pass: return where + ": PASS";
        case Kind::Fail: return where + ": FAIL: " + message;
        case Kind::Unsupported: return where + ": " + message;
    }
    return where;
}

namespace {

constexpr std::uint32_t kRemoteIsn = 0;  // packetdrill's remote side starts at 0 (absolute = relative)
constexpr std::uint16_t kRemotePort = 48102;
constexpr std::uint16_t kDefaultPort = 8080;  // --bind_port / --connect_port defaults

// Thrown inside the run to stop it with a verdict (never escapes run_script).
struct Stop {
    Verdict::Kind kind;
    SourceLoc loc;
    std::string message;
};

std::string fmt_time(Time t) { return format_duration(t - kTimeZero); }

// The socket facade grows (value-result options, ioctl, TCP_INFO): use the full forms when this
// build has them, the int-only core otherwise. Templates, so the checks are SFINAE-friendly.
template <class So>
SysResult set_option(So& so, int fd, int level, int name, const void* val, socklen_t len, int ival) {
    if constexpr (requires { so.setsockopt(fd, level, name, val, len); }) return so.setsockopt(fd, level, name, val, len);
    else return so.setsockopt(fd, level, name, ival);
}
template <class So>
SysResult get_option(So& so, int fd, int level, int name, void* val, socklen_t* len) {
    if constexpr (requires { so.getsockopt(fd, level, name, val, len); }) {
        return so.getsockopt(fd, level, name, val, len);
    } else {
        int v = 0;
        SysResult r = so.getsockopt(fd, level, name, v);
        if (r.ok() && *len >= static_cast<socklen_t>(sizeof v)) std::memcpy(val, &v, sizeof v);
        return r;
    }
}
template <class So>
constexpr bool has_files() {
    return requires(So& so, long* off) {
        so.open_memory_file(Bytes{});
        so.sendfile(0, 0, off, std::size_t{0});
    };
}
template <class So>
SysResult open_file(So& so, Bytes content) {
    if constexpr (has_files<So>()) return so.open_memory_file(content);
    else return SysResult::failure(ENOSYS);
}
template <class So>
SysResult send_file(So& so, int out, int in, long* off, std::size_t count) {
    if constexpr (has_files<So>()) return so.sendfile(out, in, off, count);
    else return SysResult::failure(ENOSYS);
}
template <class So>
constexpr bool has_epoll() {
    return requires(So& so, epoll_event* ev, std::span<epoll_event> evs) {
        so.epoll_create(1);
        so.epoll_create1(0);
        so.epoll_ctl(0, 0, 0, ev);
        so.epoll_wait(0, evs);
    };
}
template <class So>
constexpr bool has_ioctl() { return requires(So& so, int* a) { so.ioctl(0, 0ul, a); }; }
template <class So>
SysResult do_ioctl(So& so, int fd, unsigned long req, int* arg) {
    if constexpr (has_ioctl<So>()) return so.ioctl(fd, req, arg);
    else return SysResult::failure(ENOTTY);
}

// One frame the stack sent, decoded.
struct Sent {
    Time at;
    bool tcp = false;
    std::string other;  // non-TCP: what it was
    tcp::FourTuple tuple;  // local = the stack's side
    tcp::SeqNum seq, ack;
    tcp::Flags flags;
    std::uint16_t window = 0;
    std::uint32_t payload = 0;
    tcp::Options options;
};

class StateLog final : public TraceSubscriber {
public:
    explicit StateLog(std::ostream& out) : out_(out) {}
    unsigned interests() const override { return trace_bit(TraceKind::State); }
    void on_state(const StateEvent& e) override {
        out_ << fmt_time(e.at) << ' ' << e.host << ' ' << e.tuple.local.to_string() << ' ' << e.tuple.remote.to_string()
             << ' ' << tcp::to_string(e.from) << " -> " << tcp::to_string(e.to);
        if (!e.cause.empty()) out_ << " (" << e.cause << ')';
        out_ << '\n';
    }

private:
    std::ostream& out_;
};

class Runner final : public FrameSink {
public:
    Runner(const Script& s, const InterpreterOptions& o) : script_(s), opt_(o), world_(o.seed) {}

    Verdict run();

    void accept_frame(Bytes frame) override;

private:
    // ---- setup ----
    void configure();
    void apply_sysctl(const SysctlSetting& s);
    void read_defaults(const std::string& command);

    // ---- events ----
    void packet_in(const Event& e, const PacketSpec& p);
    void packet_out(const Event& e, const PacketSpec& p, const ScheduledEvent& se, Time start, Time end);
    void syscall(const Event& e, const SyscallSpec& c, const ScheduledEvent& se, Time start);
    void code(const Event& e, const CodeSpec& c);
    void await_pending();
    void note_socket(const SyscallSpec& c, SysResult r) {
        if (c.name == "accept" && r.ok()) conn_fd_ = static_cast<int>(r.value);
        if (c.name == "connect" && !c.args.empty() && c.args[0].is_int()) conn_fd_ = static_cast<int>(c.args[0].integer);
    }
    void run_until(Time t);
    void pump();  // one world event, with the event budget

    // ---- system calls ----
    using Attempt = std::function<SysResult()>;
    SysResult call(const SyscallSpec& c, int& fd_for_wait, Attempt& retry);
    void check_result(const SyscallSpec& c, SysResult r);
    std::int64_t int_arg(const SyscallSpec& c, std::size_t i, std::int64_t dflt = 0);
    const Expr& arg(const SyscallSpec& c, std::size_t i);
    tcp::Endpoint sockaddr_arg(const SyscallSpec& c, std::size_t i, tcp::Endpoint dflt);
    std::uint64_t iov_total(const Expr& iov);
    std::vector<std::size_t> iov_lengths(const Expr& iov);
    SysResult message_call(const SyscallSpec& c, Attempt& retry);
    // Checks of what a call wrote back (recvmsg control data), run once it has returned.
    std::function<void(SysResult)> verify_;
    // A call that ends by itself after this time (poll's timeout) with result 0.
    std::optional<Time> call_timeout_;
    [[noreturn]] void unsupported(SourceLoc loc, const std::string& what) {
        throw Stop{Verdict::Kind::Unsupported, loc, "unsupported: " + what};
    }
    [[noreturn]] void fail(SourceLoc loc, const std::string& what) { throw Stop{Verdict::Kind::Fail, loc, what}; }

    // ---- formatting ----
    std::string describe(const Sent& s) const;
    std::string describe_options(const tcp::Options& o, std::uint32_t sack_base) const;
    std::string expected_text(const Event& e) const { return to_string(e); }

    const Script& script_;
    InterpreterOptions opt_;
    World world_;
    Host* host_ = nullptr;
    FrameSink* wire_in_ = nullptr;  // frames the remote side sends go here
    MacAddr local_mac_, remote_mac_;
    Ipv4Addr local_ip_, remote_ip_;
    std::uint16_t bind_port_ = kDefaultPort, connect_port_ = kDefaultPort;
    std::optional<std::uint32_t> local_isn_;
    std::uint16_t local_port_ = kDefaultPort, remote_port_ = kRemotePort;
    std::int64_t ts_offset_ = 0;
    std::optional<std::uint32_t> ts_base_;  // --tcp_ts_tick_usecs: stack TS val - script TS val  // stack TS val - script TS val, from the last outbound TS
    std::deque<Sent> sent_;
    int conn_fd_ = -1;
    std::map<std::string, std::uint64_t> files_;  // path -> size (zeros), from shell commands
    void scan_files(const std::string& command);  // the socket under test: the last accepted or connecting descriptor
    std::vector<std::string> notes_;
    CodeEnv code_env_;
    std::uint64_t budget_ = 0;
    std::vector<std::byte> buffer_;
    std::string pkt_ip_;  // frames whose addresses are not the script's connection: reported

    struct Pending {
        const Event* event = nullptr;
        const SyscallSpec* spec = nullptr;
        Time start{}, expected_end{}, deadline{};
        Duration tolerance{};
        bool done = false, timed_out = false;
        SysResult result;
        Time finished{};
        Attempt retry;
        std::function<void(SysResult)> verify;
        std::optional<Time> call_timeout;
    };
    std::unique_ptr<Pending> pending_;
    void park(Pending& p, int fd, short events);
};

// ------------------------------------------------------------------------------------------------
// Setup

void Runner::read_defaults(const std::string& command) {
    // `../common/defaults.sh` is read as data: its sysctl lines say what the script assumes.
    // The word naming defaults.sh (the command may span lines and hold other commands).
    std::string path;
    {
        std::istringstream words(command);
        std::string w;
        while (words >> w)
            if (w.find("defaults.sh") != std::string::npos) {
                path = w;
                break;
            }
    }
    std::filesystem::path p = std::filesystem::path(script_.file).parent_path() / path;
    std::ifstream in(p);
    Script data;
    data.file = p.string();
    std::string line;
    std::uint32_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        Event ev;
        ev.action = CommandSpec{line, SourceLoc{n, 1}};
        data.events.push_back(std::move(ev));
    }
    auto found = classify(data).sysctls;
    if (found.empty()) {
        // The shared tree carries only a stub of upstream's gtests/net/common/defaults.sh; its
        // settings (commit 2c4001c era) are what every script assumes, so they are built in.
        notes_.push_back(p.string() + ": no sysctls in the file; using upstream packetdrill defaults.sh settings");
        static const std::pair<const char*, const char*> kUpstream[] = {
            {"net.ipv4.tcp_rmem", "4096 540000 15728640"},
            {"net.ipv4.tcp_wmem", "4096 262144 4194304"},
            {"net.ipv4.tcp_timestamps", "1"},
            {"net.ipv4.tcp_syn_retries", "5"},
            {"net.ipv4.tcp_synack_retries", "5"},
            {"net.ipv4.tcp_frto", "2"},
            {"net.ipv4.tcp_sack", "1"},
            {"net.ipv4.tcp_dsack", "1"},
            {"net.ipv4.tcp_fack", "0"},
            {"net.ipv4.tcp_reordering", "3"},
            {"net.ipv4.tcp_congestion_control", "cubic"},
            {"net.ipv4.tcp_slow_start_after_idle", "0"},
            {"net.ipv4.tcp_early_retrans", "4"},
            {"net.ipv4.tcp_recovery", "1"},
            {"net.ipv4.tcp_tso_win_divisor", "3"},
            {"net.ipv4.tcp_ecn", "0"},
            {"net.ipv4.tcp_syncookies", "1"},
        };
        for (const auto& [name, value] : kUpstream) found.push_back(SysctlSetting{name, value, SourceLoc{}});
    }
    for (const auto& s : found) apply_sysctl(s);
}

namespace {
// Shell arithmetic in sysctl values, as upstream defaults.sh writes them:
// tcp_rmem="4096 540000 $((15*1024*1024))". Integers with + - * / % and parentheses; anything
// else leaves the text as it was (the setting is then reported as ignored).
std::optional<long long> shell_arith(std::string_view e) {
    std::size_t i = 0;
    int depth = 0;
    std::function<std::optional<long long>()> sum;
    auto skip = [&] {
        while (i < e.size() && e[i] == ' ') ++i;
    };
    auto atom = [&]() -> std::optional<long long> {
        skip();
        if (i < e.size() && e[i] == '(') {
            if (++depth > 32) return std::nullopt;
            ++i;
            auto v = sum();
            skip();
            if (!v || i >= e.size() || e[i] != ')') return std::nullopt;
            ++i;
            --depth;
            return v;
        }
        bool neg = false;
        if (i < e.size() && (e[i] == '-' || e[i] == '+')) neg = e[i++] == '-';
        skip();
        long long v = 0;
        std::size_t start = i;
        while (i < e.size() && e[i] >= '0' && e[i] <= '9') {
            if (v > (1LL << 50)) return std::nullopt;
            v = v * 10 + (e[i++] - '0');
        }
        if (i == start) return std::nullopt;
        return neg ? -v : v;
    };
    auto product = [&]() -> std::optional<long long> {
        auto v = atom();
        while (v) {
            skip();
            if (i >= e.size() || (e[i] != '*' && e[i] != '/' && e[i] != '%')) break;
            char op = e[i++];
            auto r = atom();
            if (!r || ((op == '/' || op == '%') && *r == 0)) return std::nullopt;
            if (op == '*' && *r != 0 && (*v > (1LL << 52) / std::max(1LL, *r < 0 ? -*r : *r))) return std::nullopt;
            v = op == '*' ? *v * *r : op == '/' ? *v / *r : *v % *r;
        }
        return v;
    };
    sum = [&]() -> std::optional<long long> {
        auto v = product();
        while (v) {
            skip();
            if (i >= e.size() || (e[i] != '+' && e[i] != '-')) break;
            char op = e[i++];
            auto r = product();
            if (!r) return std::nullopt;
            v = op == '+' ? *v + *r : *v - *r;
        }
        return v;
    };
    auto v = sum();
    skip();
    if (!v || i != e.size()) return std::nullopt;
    return v;
}

std::string expand_arith(const std::string& text) {
    std::string out;
    std::size_t pos = 0;
    while (true) {
        std::size_t b = text.find("$((", pos);
        if (b == std::string::npos) break;
        std::size_t end = text.find("))", b + 3);
        if (end == std::string::npos) break;
        auto v = shell_arith(std::string_view(text).substr(b + 3, end - b - 3));
        if (!v) return text;
        out += text.substr(pos, b - pos) + std::to_string(*v);
        pos = end + 2;
    }
    return out + text.substr(pos);
}
}  // namespace

void Runner::apply_sysctl(const SysctlSetting& setting) {
    SysctlSetting s = setting;
    s.value = expand_arith(s.value);
    auto& cfg = host_->config().tcp;
    std::vector<long long> v;
    {
        std::istringstream is(s.value);
        long long x;
        while (is >> x) v.push_back(x);
    }
    std::string name = s.name;
    for (char& ch : name)
        if (ch == '/') ch = '.';
    if (auto p = name.rfind("net.ipv4."); p != std::string::npos) name = name.substr(p + 9);
    auto one = [&]() -> std::optional<long long> { return v.size() == 1 ? std::optional(v[0]) : std::nullopt; };
    bool used = true;
    if (name == "tcp_timestamps" && one()) cfg.timestamps = *one() != 0;
    else if (name == "tcp_sack" && one()) cfg.sack = *one() != 0;
    else if (name == "tcp_window_scaling" && one()) cfg.window_scaling = *one() != 0;
    else if (name == "tcp_rmem" && v.size() == 3) {
        cfg.receive_buffer = static_cast<std::uint32_t>(v[1]);
        cfg.receive_buffer_max = static_cast<std::uint32_t>(v[2]);
    } else if (name == "tcp_wmem" && v.size() == 3) cfg.send_buffer = static_cast<std::uint32_t>(v[1]);
    else if (name == "tcp_slow_start_after_idle" && one()) cfg.slow_start_after_idle = *one() != 0;
    else if (name == "tcp_syn_retries" && one()) cfg.syn_retries = static_cast<int>(*one());
    else if (name == "tcp_synack_retries" && one()) cfg.synack_retries = static_cast<int>(*one());
    else if (name == "tcp_retries2" && one()) cfg.retries2 = static_cast<int>(*one());
    else if (name == "tcp_orphan_retries" && one()) cfg.orphan_retries = static_cast<int>(*one());
    else if (name == "tcp_early_retrans" && one()) cfg.tail_loss_probe = *one() == 3 || *one() == 4;  // TLP on
    else if (name == "tcp_fin_timeout" && one()) cfg.fin_timeout = std::chrono::seconds(*one());
    else if (name == "tcp_keepalive_time" && one()) cfg.keepalive_idle = std::chrono::seconds(*one());
    else if (name == "tcp_keepalive_intvl" && one()) cfg.keepalive_interval = std::chrono::seconds(*one());
    else if (name == "tcp_keepalive_probes" && one()) cfg.keepalive_count = static_cast<int>(*one());
    else if (name == "tcp_notsent_lowat" && one() && *one() >= 0 && *one() <= 0xffffffffLL)
        host_->sockets().set_default_notsent_lowat(static_cast<std::uint32_t>(*one()));
    else if (name == "tcp_congestion_control") {
        if (s.value == "reno") cfg.congestion = tcp::CongestionAlgorithm::Reno;
        else if (s.value == "cubic") cfg.congestion = tcp::CongestionAlgorithm::Cubic;
        else used = false;
    } else if (name == "tcp_dsack" && one()) {
        cfg.dsack = *one() != 0;
    } else if (name == "tcp_syncookies" && one() && *one() >= 0 && *one() <= 2) {
        host_->config().syncookies = *one() == 0 ? stack::SyncookieMode::Off
                                     : *one() == 2 ? stack::SyncookieMode::Always
                                                   : stack::SyncookieMode::Overflow;
    } else if (name == "tcp_ecn" && one() && *one() == 0) {
        // tcpsim never negotiates ECN.
    } else used = false;
    if (!used) {
        std::string where = s.loc.line != 0 ? script_.file + ":" + std::to_string(s.loc.line) : script_.file + " (defaults.sh)";
        notes_.push_back(where + ": ignored sysctl " + s.name + "=" + s.value);
    }
}

// Files the script's shell commands create, as data: `dd ... if=/dev/zero of=PATH bs=B count=N`
// makes PATH hold B*N zero bytes, `rm -f PATH` removes it. Nothing is run.
void Runner::scan_files(const std::string& command) {
    std::istringstream lines(command);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream ws(line);
        std::vector<std::string> w;
        for (std::string x; ws >> x;) w.push_back(x);
        if (w.empty()) continue;
        std::string prog = w[0].substr(w[0].rfind('/') == std::string::npos ? 0 : w[0].rfind('/') + 1);
        if (prog == "rm") {
            for (std::size_t i = 1; i < w.size(); ++i)
                if (w[i][0] != '-') files_.erase(w[i]);
        } else if (prog == "dd") {
            std::string in, out;
            std::uint64_t bs = 512, count = 0;
            bool ok = true;
            for (std::size_t i = 1; i < w.size(); ++i) {
                auto eq = w[i].find('=');
                if (eq == std::string::npos) continue;
                std::string k = w[i].substr(0, eq), v = w[i].substr(eq + 1);
                auto num = [&] {
                    try {
                        return static_cast<std::uint64_t>(std::stoull(v));
                    } catch (...) {
                        ok = false;
                        return std::uint64_t{0};
                    }
                };
                if (k == "if") in = v;
                else if (k == "of") out = v;
                else if (k == "bs") bs = num();
                else if (k == "count") count = num();
            }
            if (ok && in == "/dev/zero" && !out.empty() && bs * count <= (1u << 26)) files_[out] = bs * count;
        }
    }
}

void Runner::configure() {
    host_ = &world_.add_host("tcpsim");
    local_mac_ = *MacAddr::parse("02:00:00:00:00:01");
    remote_mac_ = *MacAddr::parse("02:00:00:00:00:02");
    const auto& cfg = script_.config;
    auto ip = [&](const std::optional<std::string>& text, const char* dflt, const char* what) {
        auto a = Ipv4Addr::parse(text ? *text : dflt);
        if (!a) unsupported({}, std::string(what) + " '" + *text + "' (IPv4 only)");
        return *a;
    };
    local_ip_ = ip(cfg.local_ip, "192.168.0.1", "--local_ip");
    remote_ip_ = ip(cfg.remote_ip, "192.0.2.1", "--remote_ip");
    Ipv4Addr gateway = ip(cfg.gateway_ip, "192.168.0.2", "--gateway_ip");
    if (cfg.bind_port) bind_port_ = *cfg.bind_port;
    if (cfg.connect_port) connect_port_ = *cfg.connect_port;
    std::uint32_t mtu = cfg.mtu.value_or(1500);
    if (mtu < 68 || mtu > 65535) unsupported({}, "--mtu " + std::to_string(mtu));
    auto prefix = *Ipv4Prefix::parse(local_ip_.to_string() + "/16");
    auto eth0 = host_->add_interface({.name = "eth0", .mac = local_mac_, .address = prefix, .mtu = mtu});
    host_->set_default_gateway(gateway);
    host_->arp().add_static(gateway, remote_mac_, eth0);
    host_->arp().add_static(remote_ip_, remote_mac_, eth0);
    Wire& wire = world_.add_wire("tun0", 0s);
    world_.connect(*host_, eth0, wire);
    wire_in_ = &wire.attach("remote", *this);
}

// ------------------------------------------------------------------------------------------------
// Frames

void Runner::accept_frame(Bytes frame) {
    Sent s;
    s.at = world_.now();
    if (frame.size() < 14) return;
    std::uint16_t type = static_cast<std::uint16_t>((std::to_integer<unsigned>(frame[12]) << 8) | std::to_integer<unsigned>(frame[13]));
    if (type == 0x0806) return;  // ARP: answered by the static entries; requests are harmless
    if (type != 0x0800) {
        s.other = "ethertype " + std::to_string(type);
    } else if (auto pkt = ip::parse_ipv4(frame.subspan(14)); !pkt) {
        s.other = "bad IPv4 datagram";
    } else if (pkt->protocol != ip::Protocol::Tcp) {
        s.other = "IP protocol " + std::to_string(static_cast<int>(pkt->protocol)) + " " + pkt->src.to_string() + " > " + pkt->dst.to_string();
    } else if (auto seg = tcp::parse_segment(pkt->payload, {pkt->src, pkt->dst}); !seg) {
        s.other = std::string("bad TCP segment: ") + tcp::to_string(seg.error());
    } else {
        s.tcp = true;
        s.tuple = {{pkt->src, seg->src_port}, {pkt->dst, seg->dst_port}};
        s.seq = seg->seq;
        s.ack = seg->ack;
        s.flags = seg->flags;
        s.window = seg->window;
        s.payload = static_cast<std::uint32_t>(seg->payload.size());
        s.options = seg->options;
        // Learn the connection from the stack's SYN / SYN-ACK (packetdrill does the same).
        if (seg->flags.any(tcp::Syn)) {
            local_isn_ = seg->seq.raw();
            local_port_ = seg->src_port;
            remote_port_ = seg->dst_port;
        }
    }
    if (opt_.log) *opt_.log << "  " << fmt_time(s.at) << " tcpsim sent: " << describe(s) << '\n';
    sent_.push_back(std::move(s));
}

std::string Runner::describe_options(const tcp::Options& o, std::uint32_t sack_base) const {
    std::string out;
    for (auto item : o) {
        if (!out.empty()) out += ',';
        auto u8 = [&](std::size_t i) { return std::to_integer<std::uint32_t>(item.data[i]); };
        auto u16 = [&](std::size_t i) { return (u8(i) << 8) | u8(i + 1); };
        auto u32 = [&](std::size_t i) { return (u16(i) << 16) | u16(i + 2); };
        switch (item.kind) {
            case 0: out += "eol"; break;
            case 1: out += "nop"; break;
            case 2: out += item.data.size() == 2 ? "mss " + std::to_string(u16(0)) : "mss ?"; break;
            case 3: out += item.data.size() == 1 ? "wscale " + std::to_string(u8(0)) : "wscale ?"; break;
            case 4: out += "sackOK"; break;
            case 5:
                out += "sack";
                for (std::size_t i = 0; i + 8 <= item.data.size(); i += 8)
                    out += " " + std::to_string(u32(i) - sack_base) + ":" + std::to_string(u32(i + 4) - sack_base);
                break;
            case 8:
                out += item.data.size() == 8 ? "TS val " + std::to_string(u32(0)) + " ecr " + std::to_string(u32(4)) : "TS ?";
                break;
            default: out += "kind " + std::to_string(item.kind); break;
        }
    }
    return "<" + out + ">";
}

// packetdrill notation with relative sequence numbers: "P. 1:1001(1000) ack 1 win 502 <...>".
std::string Runner::describe(const Sent& s) const {
    if (!s.tcp) return s.other;
    std::uint32_t base = local_isn_.value_or(0);
    std::string f = s.flags.to_tcpdump();
    std::uint32_t start = s.seq.raw() - base;
    std::string out = f + " " + std::to_string(start) + ":" + std::to_string(start + s.payload) + "(" + std::to_string(s.payload) + ")";
    if (s.flags.any(tcp::Ack)) out += " ack " + std::to_string(s.ack.raw() - kRemoteIsn);
    out += " win " + std::to_string(s.window);
    if (!s.options.empty()) out += " " + describe_options(s.options, kRemoteIsn);
    if (s.tuple.local.port != local_port_ || s.tuple.remote.port != remote_port_)
        out += " (" + s.tuple.local.to_string() + " > " + s.tuple.remote.to_string() + ")";
    return out;
}

void Runner::pump() {
    if (++budget_ > opt_.max_world_events) fail({}, "the simulation ran more than " + std::to_string(opt_.max_world_events) + " events (runaway script?)");
}

void Runner::run_until(Time t) {
    while (world_.step(t)) pump();
    if (world_.now() < t) world_.run_until(t);
}

// ------------------------------------------------------------------------------------------------
// Packets

void Runner::packet_in(const Event& e, const PacketSpec& p) {
    const TcpSpec* t = p.tcp();
    if (!t) unsupported(p.loc, "non-TCP packet");
    tcp::Segment seg;
    seg.src_port = t->src_port.value_or(remote_port_);
    seg.dst_port = t->dst_port.value_or(local_port_);
    seg.seq = tcp::SeqNum(kRemoteIsn + t->seq_start);
    seg.flags = t->flags;
    if (t->ack) seg.ack = tcp::SeqNum(local_isn_.value_or(0) + *t->ack);
    seg.window = t->window.value_or(0);
    seg.urgent = t->urgent.value_or(0);
    if (t->ae || t->ace) unsupported(p.loc, "AccECN");
    auto opts = build_options(t->options, local_isn_.value_or(0));
    if (!opts) fail(t->options_loc, opts.error());
    tcp::Options o;
    // Inbound TS ecr echoes the stack's clock: shift it like packetdrill maps its TS values.
    for (auto item : *opts) {
        if (item.kind == 8 && item.data.size() == 8) {
            auto rd = [&](std::size_t i) {
                std::uint32_t v = 0;
                for (std::size_t k = 0; k < 4; ++k) v = (v << 8) | std::to_integer<std::uint32_t>(item.data[i + k]);
                return v;
            };
            std::uint32_t ecr = rd(4);
            o.timestamps(rd(0), ecr == 0 ? 0 : static_cast<std::uint32_t>(ecr + ts_offset_));
        } else if (item.kind == 1) o.nop();
        else if (item.kind == 0) o.eol();
        else o.unknown(item.kind, item.data);
    }
    seg.options = o;
    if (t->payload > ip::kIpv4MaxDatagram) fail(p.loc, "packet larger than an IPv4 datagram");
    if (buffer_.size() < t->payload) buffer_.resize(t->payload);
    std::fill(buffer_.begin(), buffer_.begin() + t->payload, std::byte{0});
    seg.payload.first = Bytes(buffer_.data(), t->payload);
    auto tcp_bytes = tcp::encode_segment(seg, {remote_ip_, local_ip_});
    ip::Ipv4Packet pkt;
    pkt.src = remote_ip_;
    pkt.dst = local_ip_;
    pkt.protocol = ip::Protocol::Tcp;
    pkt.dont_fragment = true;
    pkt.payload = tcp_bytes;
    if (pkt.wire_size() > ip::kIpv4MaxDatagram) fail(p.loc, "packet larger than an IPv4 datagram");
    ByteVector frame(14);
    for (std::size_t i = 0; i < 6; ++i) {
        frame[i] = std::byte{local_mac_.octets[i]};
        frame[6 + i] = std::byte{remote_mac_.octets[i]};
    }
    frame[12] = std::byte{0x08};
    frame[13] = std::byte{0x00};
    auto ipb = ip::encode_ipv4(pkt);
    frame.insert(frame.end(), ipb.begin(), ipb.end());
    if (opt_.log) *opt_.log << "  " << fmt_time(world_.now()) << " inject: " << to_string(e) << '\n';
    wire_in_->accept_frame(frame);
}

void Runner::packet_out(const Event& e, const PacketSpec& p, const ScheduledEvent& se, Time start, Time end) {
    const TcpSpec* t = p.tcp();
    if (!t) unsupported(p.loc, "outbound non-TCP packet");
    Duration tol = se.tolerance;
    Time latest = se.any_time ? world_.now() + opt_.any_time_limit : end + tol;
    auto next_packet = [&](const char* what) -> Sent {
        while (sent_.empty() && world_.step(latest)) pump();
        if (sent_.empty()) {
            fail(e.loc(), "expected " + std::string(what) + "`" + to_string(e) + "` by " + fmt_time(latest) +
                               " but tcpsim sent nothing (now " + fmt_time(std::max(world_.now(), latest)) + ")");
        }
        Sent s = std::move(sent_.front());
        sent_.pop_front();
        return s;
    };
    Sent s = next_packet("");
    auto mismatch = [&](const Sent& got, const std::string& why) {
        fail(e.loc(), why + "\n    expected: " + to_string(e) + "\n    tcpsim sent at " + fmt_time(got.at) + ": " + describe(got));
    };
    auto check_time = [&](const Sent& got) {
        if (se.any_time) return;
        if (got.at + tol < start || got.at > end + tol) {
            std::string window = se.offset == se.offset_end ? fmt_time(start) : fmt_time(start) + "~" + fmt_time(end);
            mismatch(got, "timing error: expected at " + window + " (tolerance " + format_duration(tol) + "), sent at " + fmt_time(got.at));
        }
    };
    if (!s.tcp) mismatch(s, "not a TCP segment");
    check_time(s);
    std::uint32_t lisn = local_isn_.value_or(0);
    std::uint32_t want_len = t->payload;
    tcp::Flags want = t->flags;
    // Covering segments (TSO): only while the expected payload is longer than what came.
    std::uint32_t covered = 0;
    // Several segments for one expected super-segment: Linux's PSH placement inside a write
    // follows its skb boundaries, which a stack without TSO does not have, so PSH is not
    // compared on the pieces; FIN may only be on the last one.
    bool cover = s.tcp && s.payload < want_len && !script_.config.strict_segments;
    for (int piece = 0;; ++piece) {
        std::uint32_t rel = s.seq.raw() - lisn;
        bool last_piece = covered + s.payload >= want_len;
        tcp::Flags got = s.flags;
        tcp::Flags exp = want;
        if (!last_piece) exp = exp & ~tcp::Fin;
        if (cover) {
            got = got & ~tcp::Psh;
            exp = exp & ~tcp::Psh;
        }
        if (got != exp) mismatch(s, "bad outbound TCP flags: expected " + exp.to_tcpdump() + ", got " + s.flags.to_tcpdump());
        if (rel != t->seq_start + covered)
            mismatch(s, "bad outbound sequence number: expected " + std::to_string(t->seq_start + covered) + ", got " + std::to_string(rel));
        if (t->ack && s.flags.any(tcp::Ack) && s.ack.raw() - kRemoteIsn != *t->ack)
            mismatch(s, "bad outbound ack number: expected " + std::to_string(*t->ack) + ", got " + std::to_string(s.ack.raw() - kRemoteIsn));
        if (t->window && s.window != *t->window)
            mismatch(s, "bad outbound window: expected " + std::to_string(*t->window) + ", got " + std::to_string(s.window));
        if (t->urgent && s.flags.any(tcp::Urg) && 0) mismatch(s, "urgent pointer");
        OptionMatchRules rules;
        rules.sack_base = kRemoteIsn;
        rules.check_ts_val = false;
        if (auto why = match_options(*t, s.options, rules)) mismatch(s, "bad outbound TCP options: " + *why);
        if (auto ts = s.options.timestamps_value(); ts && t->options_mode == TcpSpec::OptionsMode::Exact) {
            for (const auto& o : t->options) {
                if (o.kind != TcpOption::Kind::Timestamp) continue;
                // TS val is the stack's clock. With --tcp_ts_tick_usecs (packetdrill) the first
                // one sets the offset and later ones must advance with time within tolerance.
                if (script_.config.ts_tick) {
                    if (!ts_base_) ts_base_ = ts->value - o.ts.value;
                    std::uint32_t exp_val = o.ts.value + *ts_base_;
                    auto diff = static_cast<std::int32_t>(ts->value - exp_val);
                    std::int64_t slack = tol / *script_.config.ts_tick + 1;
                    if (diff > slack || diff < -slack)
                        mismatch(s, "bad outbound TS val: expected " + std::to_string(o.ts.value) + " (+" + std::to_string(*ts_base_) +
                                        " offset = " + std::to_string(exp_val) + "), got " + std::to_string(ts->value));
                }
                // Inbound TS ecr values are mapped with the latest offset.
                ts_offset_ = static_cast<std::int64_t>(ts->value) - o.ts.value;
            }
        }
        covered += s.payload;
        if (covered > want_len) mismatch(s, "bad outbound payload length: expected " + std::to_string(want_len - (covered - s.payload)) + ", got " + std::to_string(s.payload));
        if (covered == want_len) break;
        if (s.payload == 0 || script_.config.strict_segments)
            mismatch(s, "bad outbound payload length: expected " + std::to_string(want_len) + ", got " + std::to_string(s.payload));
        s = next_packet("the rest of ");
        if (!s.tcp) mismatch(s, "not a TCP segment");
        check_time(s);
    }
    if (opt_.log) *opt_.log << "  " << fmt_time(s.at) << " matched: " << to_string(e) << '\n';
}

// ------------------------------------------------------------------------------------------------
// System calls

const Expr& Runner::arg(const SyscallSpec& c, std::size_t i) {
    static const Expr kEllipsis;
    if (i >= c.args.size()) return kEllipsis;
    return c.args[i];
}

std::int64_t Runner::int_arg(const SyscallSpec& c, std::size_t i, std::int64_t dflt) {
    const Expr& e = arg(c, i);
    if (e.is_ellipsis()) return dflt;
    const Expr* v = &e;
    if (v->kind == Expr::Kind::Array && v->items.size() == 1) v = &v->items[0];
    auto r = evaluate_integer(*v);
    if (!r) unsupported(e.loc, c.name + " argument " + std::to_string(i + 1) + ": " + r.error());
    return *r;
}

tcp::Endpoint Runner::sockaddr_arg(const SyscallSpec& c, std::size_t i, tcp::Endpoint dflt) {
    const Expr& e = arg(c, i);
    if (e.is_ellipsis()) return dflt;
    if (e.kind != Expr::Kind::Struct) unsupported(e.loc, c.name + " address " + e.to_string());
    tcp::Endpoint ep = dflt;
    if (const Expr* port = e.field("sin_port")) {
        const Expr& v = *port;
        if (v.kind == Expr::Kind::Call && v.text == "htons" && v.args.size() == 1 && v.args[0].is_int())
            ep.port = static_cast<std::uint16_t>(v.args[0].integer);
        else if (!v.is_ellipsis()) unsupported(v.loc, "sin_port " + v.to_string());
    }
    if (const Expr* addr = e.field("sin_addr")) {
        const Expr& v = *addr;
        if (v.kind == Expr::Kind::Call && v.text == "inet_addr" && v.args.size() == 1 && v.args[0].kind == Expr::Kind::String) {
            auto a = Ipv4Addr::parse(v.args[0].text);
            if (!a) unsupported(v.loc, "address " + v.to_string());
            ep.addr = *a;
        } else if (!v.is_ellipsis()) unsupported(v.loc, "sin_addr " + v.to_string());
    }
    if (const Expr* fam = e.field("sa_family"); fam && !fam->is_word("AF_INET") && !fam->is_ellipsis())
        unsupported(fam->loc, "address family " + fam->to_string());
    return ep;
}

// The iov_len of each `[{iov_base=..., iov_len=N}, ...]` (or positional `{..., N}`).
std::vector<std::size_t> Runner::iov_lengths(const Expr& iov) {
    if (iov.is_ellipsis()) unsupported(iov.loc, "iovec `...` (length unknown)");
    if (iov.kind != Expr::Kind::Array) unsupported(iov.loc, "iovec " + iov.to_string());
    std::vector<std::size_t> out;
    for (const Expr& v : iov.items) {
        const Expr* len = v.field("iov_len");
        if (!len && v.kind == Expr::Kind::Struct && v.items.size() == 2) len = &v.items[1];
        const Expr& n = len ? *len : v;
        auto r = evaluate_integer(n);
        if (!r || *r < 0 || *r > (std::int64_t{1} << 40)) unsupported(v.loc, "iovec " + v.to_string());
        out.push_back(static_cast<std::size_t>(*r));
    }
    return out;
}

std::uint64_t Runner::iov_total(const Expr& iov) {
    std::uint64_t total = 0;
    for (std::size_t n : iov_lengths(iov)) total += n;
    return total;
}

namespace {
// A struct msghdr built from a script: one zero-filled buffer of the iovec total, iovecs of the
// written lengths (zero-length ones kept: the facade must skip them) and, when the script has
// msg_control, a control buffer.
struct MessageBuffers {
    std::vector<std::byte> data;
    std::vector<std::size_t> lens;
    std::vector<iovec> iov;
    alignas(cmsghdr) std::array<unsigned char, 512> control{};
    bool with_control = false;
    msghdr h{};
    std::uint64_t done = 0;  // bytes a blocking sendmsg moved so far
    // (Re)builds the header for the bytes not yet moved.
    void prepare() {
        iov.clear();
        if (done == 0) {
            std::size_t off = 0;
            for (std::size_t len : lens) {
                iov.push_back(iovec{data.data() + off, len});
                off += len;
            }
        } else {
            iov.push_back(iovec{data.data() + done, data.size() - done});
        }
        h = msghdr{};
        h.msg_iov = iov.data();
        h.msg_iovlen = iov.size();
        if (with_control) {
            h.msg_control = control.data();
            h.msg_controllen = control.size();
        }
    }
};
}  // namespace

// sendmsg/recvmsg through the facade's own calls, so its iovec and control-message handling is
// what runs. recvmsg compares msg_flags and the control messages with the script (packetdrill
// run_system_call.c does the same).
SysResult Runner::message_call(const SyscallSpec& c, Attempt& retry) {
    Sockets& so = host_->sockets();
    const std::string& n = c.name;
    const Expr& msg = arg(c, 1);
    if (msg.kind != Expr::Kind::Struct) unsupported(msg.loc, n + " message " + msg.to_string());
    auto m = std::make_shared<MessageBuffers>();
    if (const Expr* iov = msg.field("msg_iov")) m->lens = iov_lengths(*iov);
    std::uint64_t total = 0;
    for (std::size_t len : m->lens) total += len;
    if (total > (64u << 20)) unsupported(c.name_loc, n + " of " + std::to_string(total) + " bytes (tcpsim's interpreter moves at most 64 MiB per call)");
    m->data.resize(static_cast<std::size_t>(total));
    const Expr* control = msg.field("msg_control");
    const bool has_control = control != nullptr && !(control->kind == Expr::Kind::Array && control->items.empty());
    const int flags = static_cast<int>(int_arg(c, 2));
    const int f = static_cast<int>(int_arg(c, 0, -1));
    if (n == "sendmsg") {
        // Linux ignores msg_flags on input: the flags argument is what counts.
        if (has_control && !control->is_ellipsis()) unsupported(control->loc, "sendmsg control messages (msg_control)");
        retry = [&so, f, flags, m]() -> SysResult {
            m->prepare();
            SysResult r = so.sendmsg(f, &m->h, flags);
            if (r.value > 0) m->done += static_cast<std::uint64_t>(r.value);
            const auto done = static_cast<long>(m->done);
            if (r.would_block()) {
                if (m->done == m->data.size()) return SysResult::success(done);
                return SysResult::blocked(EAGAIN, r.wait_for);
            }
            if (!r.ok()) return m->done > 0 ? SysResult::success(done) : r;
            return SysResult::success(done);
        };
        return retry();
    }
    m->with_control = has_control;
    const Expr* want_flags = msg.field("msg_flags");
    verify_ = [this, m, control, want_flags, has_control](SysResult r) {
        if (!r.ok()) return;
        if (want_flags != nullptr && !want_flags->is_ellipsis()) {
            auto w = evaluate_integer(*want_flags);
            if (!w) unsupported(want_flags->loc, "msg_flags " + want_flags->to_string());
            if (*w != m->h.msg_flags)
                fail(want_flags->loc, "recvmsg msg_flags: expected " + want_flags->to_string() + " (" + std::to_string(*w) + "), got " +
                                          std::to_string(m->h.msg_flags));
        }
        if (!has_control || control->is_ellipsis()) return;
        if (control->kind != Expr::Kind::Array) unsupported(control->loc, "msg_control " + control->to_string());
        std::vector<const cmsghdr*> got;
        for (const cmsghdr* cm = CMSG_FIRSTHDR(&m->h); cm != nullptr; cm = CMSG_NXTHDR(&m->h, const_cast<cmsghdr*>(cm)))
            got.push_back(cm);
        auto describe_cmsg = [](const cmsghdr* cm) {
            std::string d = "{cmsg_level=" + std::to_string(cm->cmsg_level) + ", cmsg_type=" + std::to_string(cm->cmsg_type);
            if (cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int v = 0;
                std::memcpy(&v, CMSG_DATA(cm), sizeof v);
                d += ", cmsg_data=" + std::to_string(v);
            }
            return d + "}";
        };
        std::string got_text;
        for (const cmsghdr* cm : got) got_text += (got_text.empty() ? "" : ", ") + describe_cmsg(cm);
        if (got.size() != control->items.size())
            fail(control->loc, "recvmsg msg_control: expected " + std::to_string(control->items.size()) + " control message(s), got " +
                                   std::to_string(got.size()) + " [" + got_text + "]");
        for (std::size_t i = 0; i < got.size(); ++i) {
            const Expr& want = control->items[i];
            const cmsghdr* cm = got[i];
            if (want.is_ellipsis()) continue;
            if (want.kind != Expr::Kind::Struct) unsupported(want.loc, "control message " + want.to_string());
            auto field = [&](const char* name, std::int64_t actual) {
                const Expr* e = want.field(name);
                if (e == nullptr || e->is_ellipsis()) return;
                auto w = evaluate_integer(*e);
                if (!w) unsupported(e->loc, std::string(name) + " " + e->to_string());
                if (*w != actual)
                    fail(e->loc, "recvmsg control message " + std::to_string(i + 1) + ": expected " + name + "=" + e->to_string() + " (" +
                                     std::to_string(*w) + "), got " + std::to_string(actual) + " [" + got_text + "]");
            };
            field("cmsg_level", cm->cmsg_level);
            field("cmsg_type", cm->cmsg_type);
            field("cmsg_len", static_cast<std::int64_t>(cm->cmsg_len));
            const Expr* data = want.field("cmsg_data");
            if (data == nullptr || data->is_ellipsis()) continue;
            const std::size_t data_len = cm->cmsg_len - CMSG_LEN(0);
            if (data->kind == Expr::Kind::Struct) {
                // struct sock_extended_err (IP_RECVERR), compared field by field.
                if (!(cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) || data_len < sizeof(sock_extended_err))
                    unsupported(data->loc, "cmsg_data " + data->to_string());
                sock_extended_err ee{};
                std::memcpy(&ee, CMSG_DATA(cm), sizeof ee);
                for (const Expr& fe : data->items) {
                    if (fe.kind != Expr::Kind::Field) unsupported(fe.loc, "cmsg_data " + data->to_string());
                    static const std::pair<const char*, std::uint32_t sock_extended_err::*> kU32[] = {
                        {"ee_errno", &sock_extended_err::ee_errno}, {"ee_info", &sock_extended_err::ee_info},
                        {"ee_data", &sock_extended_err::ee_data}};
                    std::optional<std::int64_t> actual;
                    for (const auto& [name, mp] : kU32)
                        if (fe.text == name) actual = ee.*mp;
                    if (fe.text == "ee_origin") actual = ee.ee_origin;
                    if (fe.text == "ee_type") actual = ee.ee_type;
                    if (fe.text == "ee_code") actual = ee.ee_code;
                    if (!actual) unsupported(fe.loc, "cmsg_data field " + fe.text);
                    const Expr& v = fe.value();
                    if (v.is_ellipsis()) continue;
                    auto w = evaluate_integer(v);
                    if (!w) unsupported(v.loc, fe.text + " " + v.to_string());
                    if (*w != *actual)
                        fail(v.loc, "recvmsg control message " + std::to_string(i + 1) + ": expected " + fe.text + "=" + v.to_string() +
                                        ", got " + std::to_string(*actual));
                }
                continue;
            }
            auto w = evaluate_integer(*data);
            if (!w) unsupported(data->loc, "cmsg_data " + data->to_string());
            if (data_len < sizeof(int)) fail(data->loc, "recvmsg control message " + std::to_string(i + 1) + ": " + std::to_string(data_len) + " data bytes, expected an int");
            int v = 0;
            std::memcpy(&v, CMSG_DATA(cm), sizeof v);
            if (*w != v)
                fail(data->loc, "recvmsg control message " + std::to_string(i + 1) + ": expected cmsg_data=" + data->to_string() + ", got " +
                                    std::to_string(v) + " [" + got_text + "]");
        }
    };
    retry = [&so, f, flags, m] {
        m->prepare();
        return so.recvmsg(f, &m->h, flags);
    };
    return retry();
}

// Performs the call once. `retry` is set for calls that may have to be repeated after a wait
// (blocking semantics), `fd_for_wait` to the descriptor to wait on.
SysResult Runner::call(const SyscallSpec& c, int& fd_for_wait, Attempt& retry) {
    Sockets& so = host_->sockets();
    const std::string& n = c.name;
    auto fd = [&] { return static_cast<int>(int_arg(c, 0, -1)); };
    fd_for_wait = c.args.empty() ? -1 : (arg(c, 0).is_int() ? static_cast<int>(arg(c, 0).integer) : -1);
    if (n == "socket") {
        int domain = static_cast<int>(int_arg(c, 0, AF_INET));
        return so.socket(domain, static_cast<int>(int_arg(c, 1, SOCK_STREAM)), static_cast<int>(int_arg(c, 2, 0)));
    }
    if (n == "close") return so.close(fd());
    if (n == "bind") return so.bind(fd(), sockaddr_arg(c, 1, {local_ip_, bind_port_}));
    if (n == "listen") return so.listen(fd(), static_cast<int>(int_arg(c, 1, 1)));
    if (n == "shutdown") return so.shutdown(fd(), static_cast<int>(int_arg(c, 1, SHUT_RDWR)));
    if (n == "getsockname" || n == "getpeername") {
        tcp::Endpoint ep;
        return n == "getsockname" ? so.getsockname(fd(), ep) : so.getpeername(fd(), ep);
    }
    if (n == "accept") {
        int f = fd();
        retry = [&so, f] { return so.accept(f); };
        return retry();
    }
    if (n == "connect") {
        int f = fd();
        tcp::Endpoint remote = sockaddr_arg(c, 1, {remote_ip_, connect_port_});
        retry = [&so, f, remote] { return so.connect(f, remote); };
        return retry();
    }
    if (n == "fcntl") {
        long a = c.args.size() > 2 ? static_cast<long>(int_arg(c, 2)) : 0;
        return so.fcntl(fd(), static_cast<int>(int_arg(c, 1)), a);
    }
    // Data transfer: payloads are zeros, as packetdrill's are.
    // Data lengths are real allocations here: bound them (scripts move kilobytes).
    constexpr std::uint64_t kMaxIo = 64u << 20;
    auto check_len = [&](std::uint64_t len) {
        if (len > kMaxIo) unsupported(c.name_loc, c.name + " of " + std::to_string(len) + " bytes (tcpsim's interpreter moves at most 64 MiB per call)");
    };
    auto sender = [&](std::uint64_t len, int flags) -> SysResult {
        check_len(len);
        int f = fd();
        auto sent = std::make_shared<std::uint64_t>(0);
        auto data = std::make_shared<std::vector<std::byte>>(len);
        retry = [&so, f, len, flags, sent, data]() -> SysResult {
            SysResult r = so.send(f, Bytes(data->data() + *sent, len - *sent), flags);
            if (r.value > 0) *sent += static_cast<std::uint64_t>(r.value);
            if (r.would_block()) {
                if (*sent == len) return SysResult::success(static_cast<long>(*sent));
                return SysResult::blocked(EAGAIN, r.wait_for);
            }
            if (!r.ok()) return *sent > 0 ? SysResult::success(static_cast<long>(*sent)) : r;
            return SysResult::success(static_cast<long>(*sent));
        };
        return retry();
    };
    auto receiver = [&](std::uint64_t len, int flags) -> SysResult {
        check_len(len);
        int f = fd();
        auto buf = std::make_shared<std::vector<std::byte>>(len);
        retry = [&so, f, buf, flags] { return so.recv(f, MutableBytes(buf->data(), buf->size()), flags); };
        return retry();
    };
    if (n == "write") return sender(static_cast<std::uint64_t>(int_arg(c, 2)), 0);
    if (n == "send" || n == "sendto") return sender(static_cast<std::uint64_t>(int_arg(c, 2)), static_cast<int>(int_arg(c, 3)));
    if (n == "writev") return sender(iov_total(arg(c, 1)), 0);
    if (n == "read") return receiver(static_cast<std::uint64_t>(int_arg(c, 2)), 0);
    if (n == "recv" || n == "recvfrom") return receiver(static_cast<std::uint64_t>(int_arg(c, 2)), static_cast<int>(int_arg(c, 3)));
    if (n == "readv") return receiver(iov_total(arg(c, 1)), 0);
    if (n == "sendmsg" || n == "recvmsg") return message_call(c, retry);
    if (n == "open" && has_files<Sockets>()) {
        const Expr& path = arg(c, 0);
        if (path.kind != Expr::Kind::String) unsupported(path.loc, "open of " + path.to_string());
        auto f = files_.find(path.text);
        if (f == files_.end()) return SysResult::failure(ENOENT);
        check_len(f->second);
        std::vector<std::byte> zeros(f->second);
        return open_file(so, zeros);
    }
    if (n == "sendfile" && has_files<Sockets>()) {
        int out = fd();
        int in = static_cast<int>(int_arg(c, 1, -1));
        const Expr& off = arg(c, 2);
        auto offset = std::make_shared<long>(0);
        bool use_offset = !(off.is_ellipsis() || off.is_word("NULL"));
        if (use_offset) *offset = static_cast<long>(int_arg(c, 2));
        auto count = static_cast<std::size_t>(int_arg(c, 3));
        retry = [&so, out, in, offset, use_offset, count] {
            return send_file(so, out, in, use_offset ? offset.get() : nullptr, count);
        };
        return retry();
    }
    if (n == "ioctl") {
        long req = static_cast<long>(int_arg(c, 1));
        if constexpr (has_ioctl<Sockets>()) {
            int value = 0;
            SysResult r = do_ioctl(so, fd(), static_cast<unsigned long>(req), &value);
            if (r.err == ENOTTY && c.errno_name != std::optional<std::string>("ENOTTY"))
                unsupported(arg(c, 1).loc, "ioctl " + arg(c, 1).to_string());
            const Expr& out = arg(c, 2);
            if (r.ok() && !out.is_ellipsis()) {
                std::int64_t want = int_arg(c, 2);
                if (want != value) fail(out.loc, "ioctl " + arg(c, 1).to_string() + ": expected " + std::to_string(want) + ", got " + std::to_string(value));
            }
            return r;
        }
        if (req != FIONREAD)  // Linux: SIOCINQ == FIONREAD
        unsupported(arg(c, 1).loc, "ioctl " + arg(c, 1).to_string());
        // SIOCINQ = bytes ready to read: measured with a non-consuming peek.
        int f = fd();
        std::vector<std::byte> buf(1 << 22);
        SysResult r = so.recv(f, MutableBytes(buf.data(), buf.size()), MSG_PEEK | MSG_DONTWAIT);
        long inq = r.ok() ? r.value : 0;
        if (!r.ok() && r.err != EAGAIN) return SysResult::failure(r.err);
        const Expr& out = arg(c, 2);
        if (!out.is_ellipsis()) {
            std::int64_t want = int_arg(c, 2);
            if (want != inq) fail(out.loc, "ioctl " + arg(c, 1).to_string() + ": expected " + std::to_string(want) + ", got " + std::to_string(inq));
        }
        return SysResult::success(0);
    }
    if (n == "setsockopt" || n == "getsockopt") {
        int level = static_cast<int>(int_arg(c, 1));
        int name = static_cast<int>(int_arg(c, 2));
        const Expr& val = arg(c, 3);
        // The value: [N] / N (an int) or {l_onoff=.., l_linger=..} (struct linger).
        bool is_linger = val.kind == Expr::Kind::Struct;
        struct linger lg {};
        int iv = 0;
        auto field_int = [&](const Expr& st, const char* f, std::size_t pos) -> int {
            const Expr* e = st.field(f);
            if (!e && pos < st.items.size() && st.items[pos].kind != Expr::Kind::Field) e = &st.items[pos];
            if (!e || e->is_ellipsis()) return 0;
            auto r = evaluate_integer(*e);
            if (!r) unsupported(e->loc, n + " value " + e->to_string());
            return static_cast<int>(*r);
        };
        if (is_linger && (name != SO_LINGER || level != SOL_SOCKET)) unsupported(val.loc, n + " " + arg(c, 2).to_string() + " with a struct value");
        SysResult r;
        const char* what = n == "setsockopt" ? "setsockopt " : "getsockopt ";
        if (n == "setsockopt") {
            socklen_t len = static_cast<socklen_t>(int_arg(c, 4, is_linger ? sizeof lg : sizeof iv));
            if (is_linger) {
                lg.l_onoff = field_int(val, "l_onoff", 0);
                lg.l_linger = field_int(val, "l_linger", 1);
                r = set_option(so, fd(), level, name, &lg, len, lg.l_onoff);
            } else {
                iv = static_cast<int>(int_arg(c, 3));
                r = set_option(so, fd(), level, name, &iv, len, iv);
            }
        } else {
            socklen_t len = is_linger ? sizeof lg : sizeof iv;
            r = get_option(so, fd(), level, name, is_linger ? static_cast<void*>(&lg) : static_cast<void*>(&iv), &len);
        }
        if (r.err == ENOPROTOOPT && c.errno_name != std::optional<std::string>("ENOPROTOOPT"))
            unsupported(arg(c, 2).loc, what + arg(c, 2).to_string() + " (not in the tcpsim socket facade)");
        if (n == "getsockopt" && r.ok() && !val.is_ellipsis()) {
            if (is_linger) {
                int on = field_int(val, "l_onoff", 0), secs = field_int(val, "l_linger", 1);
                if (on != lg.l_onoff || secs != lg.l_linger)
                    fail(val.loc, "getsockopt SO_LINGER: expected " + val.to_string() + ", got {l_onoff=" + std::to_string(lg.l_onoff) +
                                      ", l_linger=" + std::to_string(lg.l_linger) + "}");
            } else {
                std::int64_t want = int_arg(c, 3);
                // An int option written as an unsigned 32-bit value (TCP_NOTSENT_LOWAT 0xffffffff).
                if (want >= 0 && want <= 0xffffffffLL) want = static_cast<std::int32_t>(static_cast<std::uint32_t>(want));
                if (want != iv) fail(val.loc, "getsockopt " + arg(c, 2).to_string() + ": expected " + std::to_string(want) + ", got " + std::to_string(iv));
            }
        }
        return r;
    }
    if (n == "epoll_create" || n == "epoll_create1") {
        if constexpr (has_epoll<Sockets>()) {
            const int a = static_cast<int>(int_arg(c, 0, n == "epoll_create" ? 1 : 0));
            return n == "epoll_create" ? so.epoll_create(a) : so.epoll_create1(a);
        }
    }
    if (n == "epoll_ctl") {
        if constexpr (has_epoll<Sockets>()) {
            const int epfd = fd();
            const int op = static_cast<int>(int_arg(c, 1));
            const int target = static_cast<int>(int_arg(c, 2, -1));
            const Expr& ev = arg(c, 3);
            epoll_event event{};
            if (ev.kind == Expr::Kind::Struct) {
                for (const Expr& f : ev.items) {
                    if (f.kind != Expr::Kind::Field) unsupported(f.loc, "epoll_event " + ev.to_string());
                    if (f.value().is_ellipsis()) continue;
                    auto v = evaluate_integer(f.value());
                    if (!v) unsupported(f.loc, "epoll_event field " + f.to_string() + ": " + v.error());
                    if (f.text == "events") event.events = static_cast<std::uint32_t>(*v);
                    else if (f.text == "fd") event.data.fd = static_cast<int>(*v);
                    else if (f.text == "u32") event.data.u32 = static_cast<std::uint32_t>(*v);
                    else if (f.text == "u64" || f.text == "ptr") event.data.u64 = static_cast<std::uint64_t>(*v);
                    else unsupported(f.loc, "epoll_event field " + f.text);
                }
            } else if (!ev.is_ellipsis() && !ev.is_word("NULL")) {
                unsupported(ev.loc, "epoll_event " + ev.to_string());
            }
            return so.epoll_ctl(epfd, op, target, ev.is_word("NULL") ? nullptr : &event);
        }
    }
    if (n == "epoll_wait" || n == "epoll_pwait") {
        if constexpr (has_epoll<Sockets>()) {
            const int epfd = fd();
            const std::int64_t max = int_arg(c, 2, 1);
            if (max > 1024) unsupported(arg(c, 2).loc, "epoll_wait maxevents " + std::to_string(max));
            std::vector<epoll_event> out(static_cast<std::size_t>(std::max<std::int64_t>(max, 0)));
            SysResult r = so.epoll_wait(epfd, out);
            if (r.ok() && r.value == 0 && int_arg(c, 3, 0) != 0)
                unsupported(c.name_loc, "epoll_wait that waits (timeout " + arg(c, 3).to_string() + ")");
            // The expected events: one struct or an array of them, compared for the events returned.
            const Expr& want = arg(c, 1);
            std::vector<const Expr*> wanted;
            if (want.kind == Expr::Kind::Struct) wanted.push_back(&want);
            else if (want.kind == Expr::Kind::Array)
                for (const Expr& w : want.items) wanted.push_back(&w);
            else if (!want.is_ellipsis()) unsupported(want.loc, "epoll_wait events " + want.to_string());
            for (std::size_t i = 0; r.ok() && i < static_cast<std::size_t>(r.value) && i < wanted.size(); ++i) {
                const Expr& w = *wanted[i];
                if (w.kind != Expr::Kind::Struct) unsupported(w.loc, "epoll_event " + w.to_string());
                for (const Expr& f : w.items) {
                    if (f.kind != Expr::Kind::Field || f.value().is_ellipsis()) continue;
                    auto v = evaluate_integer(f.value());
                    if (!v) unsupported(f.loc, "epoll_event field " + f.to_string() + ": " + v.error());
                    std::int64_t got = 0;
                    if (f.text == "events") got = out[i].events;
                    else if (f.text == "fd") got = out[i].data.fd;
                    else if (f.text == "u32") got = out[i].data.u32;
                    else if (f.text == "u64" || f.text == "ptr") got = static_cast<std::int64_t>(out[i].data.u64);
                    else unsupported(f.loc, "epoll_event field " + f.text);
                    if (got != *v && !(f.text == "events" && static_cast<std::uint32_t>(got) == static_cast<std::uint32_t>(*v)))
                        fail(f.loc, "epoll_wait event " + std::to_string(i + 1) + ": expected " + f.text + "=" + f.value().to_string() +
                                        " (" + std::to_string(*v) + "), got " + std::to_string(got));
                }
            }
            return r;
        }
    }
    if (n == "poll") {
        const Expr& fds = arg(c, 0);
        if (fds.kind != Expr::Kind::Array) unsupported(fds.loc, "poll descriptors " + fds.to_string());
        struct Item {
            int fd;
            short events;
            const Expr* want;
        };
        std::vector<Item> items;
        for (const Expr& p : fds.items) {
            const Expr* pf = p.field("fd");
            const Expr* ev = p.field("events");
            if (!pf || !ev) unsupported(p.loc, "pollfd " + p.to_string());
            auto fdv = evaluate_integer(*pf);
            auto evv = evaluate_integer(*ev);
            if (!fdv || !evv) unsupported(p.loc, "pollfd " + p.to_string());
            const Expr* want = p.field("revents");
            items.push_back(Item{static_cast<int>(*fdv), static_cast<short>(*evv), want != nullptr && !want->is_ellipsis() ? want : nullptr});
        }
        auto revents = [&so](const Item& it) { return static_cast<short>(so.poll(it.fd) & (it.events | POLLERR | POLLHUP | POLLNVAL)); };
        auto measure = [items, revents] {
            long ready = 0;
            for (const Item& it : items)
                if (revents(it) != 0) ++ready;
            return ready;
        };
        auto compare = [this, items, revents] {
            for (const Item& it : items) {
                if (it.want == nullptr) continue;
                auto w = evaluate_integer(*it.want);
                if (!w) unsupported(it.want->loc, "revents " + it.want->to_string());
                const short re = revents(it);
                if (*w != re) fail(it.want->loc, "poll revents: expected " + it.want->to_string() + " (" + std::to_string(*w) + "), got " + std::to_string(re));
            }
        };
        const long ready = measure();
        const std::int64_t timeout = int_arg(c, 2, 0);
        if (ready > 0 || timeout == 0) {
            compare();
            return SysResult::success(ready);
        }
        // Nothing ready: a blocking poll waits (Linux do_poll()) for the descriptor or the
        // timeout (negative: forever); the revents are compared when it returns.
        if (items.size() != 1) unsupported(c.name_loc, "poll that waits on several descriptors");
        fd_for_wait = items[0].fd;
        const short events = static_cast<short>(items[0].events | POLLERR | POLLHUP);
        retry = [measure, events]() -> SysResult {
            const long r = measure();
            return r > 0 ? SysResult::success(r) : SysResult::blocked(EAGAIN, events);
        };
        verify_ = [compare](SysResult r) {
            if (r.ok()) compare();
        };
        if (timeout > 0) call_timeout_ = world_.now() + std::chrono::milliseconds(timeout);
        return SysResult::blocked(EAGAIN, events);
    }
    unsupported(c.name_loc, "system call " + n);
}

void Runner::check_result(const SyscallSpec& c, SysResult r) {
    std::string got = r.ok() ? std::to_string(r.value) : "-1 " + std::string(errno_name(r.err));
    std::string want = c.result.to_string() + (c.errno_name ? " " + *c.errno_name : "");
    if (!c.result.is_ellipsis()) {
        auto w = evaluate_integer(c.result);
        if (!w) unsupported(c.result.loc, "result " + c.result.to_string());
        if (*w != r.value) fail(c.result.loc, c.name + " returned " + got + ", expected " + want);
    }
    if (c.errno_name) {
        if (r.ok() || *c.errno_name != errno_name(r.err)) fail(c.errno_loc, c.name + " returned " + got + ", expected " + want);
    } else if (!r.ok() && !c.result.is_ellipsis()) {
        fail(c.result.loc, c.name + " returned " + got + ", expected " + want);
    }
}

void Runner::park(Pending& p, int fd, short events) {
    const Time deadline = p.call_timeout ? std::min(p.deadline, *p.call_timeout) : p.deadline;
    host_->sockets().wait(fd, events, deadline, [this, &p, fd](short revents) {
        if (p.done) return;
        if (revents == 0 && p.call_timeout && world_.now() >= *p.call_timeout) {
            p.done = true;  // the call's own timeout: it returns 0
            p.result = SysResult::success(0);
            p.finished = world_.now();
            return;
        }
        if (revents == 0) {
            p.done = p.timed_out = true;
            p.finished = world_.now();
            return;
        }
        SysResult r = p.retry();
        if (r.would_block()) {
            park(p, fd, r.wait_for);
            return;
        }
        p.done = true;
        p.result = r;
        p.finished = world_.now();
    });
}

void Runner::await_pending() {
    if (!pending_) return;
    Pending& p = *pending_;
    while (!p.done && world_.step(p.deadline)) pump();
    if (!p.done) run_until(p.deadline);
    while (!p.done && world_.step(world_.now())) pump();
    const Event& e = *p.event;
    if (!p.done || p.timed_out)
        fail(e.loc(), "blocking call `" + to_string(e) + "` did not return by " + fmt_time(p.deadline) + " (still blocked)");
    check_result(*p.spec, p.result);
    if (p.verify) p.verify(p.result);
    note_socket(*p.spec, p.result);
    if (p.finished + p.tolerance < p.expected_end || p.finished > p.expected_end + p.tolerance)
        fail(e.loc(), "timing error: `" + to_string(e) + "` returned at " + fmt_time(p.finished) + ", expected at " +
                          fmt_time(p.expected_end) + " (tolerance " + format_duration(p.tolerance) + ")");
    if (opt_.log) *opt_.log << "  " << fmt_time(p.finished) << " returned: " << to_string(e) << '\n';
    pending_.reset();
}

void Runner::syscall(const Event& e, const SyscallSpec& c, const ScheduledEvent& se, Time start) {
    int wfd = -1;
    Attempt retry;
    if (opt_.log) *opt_.log << "  " << fmt_time(world_.now()) << " call: " << to_string(e) << '\n';
    verify_ = nullptr;
    call_timeout_.reset();
    SysResult r = call(c, wfd, retry);
    auto verify = std::move(verify_);
    verify_ = nullptr;
    Time expected_end = se.blocking_end_offset ? start + (*se.blocking_end_offset - se.offset) : start;
    if (r.would_block() && retry && wfd >= 0) {
        pending_ = std::make_unique<Pending>();
        Pending& p = *pending_;
        p.event = &e;
        p.spec = &c;
        p.start = start;
        p.expected_end = expected_end;
        p.tolerance = se.tolerance;
        p.deadline = expected_end + se.tolerance;
        p.retry = std::move(retry);
        p.verify = std::move(verify);
        p.call_timeout = std::exchange(call_timeout_, std::nullopt);
        park(p, wfd, r.wait_for);
        // A call written without `...end` should not block: packetdrill would see it hang.
        if (!se.blocking_end_offset) await_pending();
        return;
    }
    check_result(c, r);
    if (verify) verify(r);
    note_socket(c, r);
    if (se.blocking_end_offset && expected_end - start > se.tolerance)
        fail(e.loc(), "timing error: `" + to_string(e) + "` returned at once (" + fmt_time(world_.now()) + "), expected to block until " + fmt_time(expected_end));
}

void Runner::code(const Event& e, const CodeSpec& c) {
    auto prog = parse_code(c);
    if (!prog) unsupported(prog.error().loc, "python code block (" + prog.error().message + ")");
    // packetdrill evaluates the block with TCP_INFO of the socket under test.
    struct tcp_info ti {};
    socklen_t len = sizeof ti;
    SysResult r = conn_fd_ < 0 ? SysResult::failure(EBADF)
                               : get_option(host_->sockets(), conn_fd_, IPPROTO_TCP, TCP_INFO, &ti, &len);
    if (r.err == ENOPROTOOPT) unsupported(c.loc, "python code block (TCP_INFO is not in the tcpsim socket facade yet)");
    if (!r.ok()) fail(c.loc, std::string("TCP_INFO for the code block: getsockopt failed with ") + errno_name(r.err));
    FieldLookup lookup = [&ti](std::string_view name) -> std::optional<std::int64_t> {
#define TCPSIM_TCPI(f) \
    if (name == #f) return static_cast<std::int64_t>(ti.f);
        TCPSIM_TCPI(tcpi_state) TCPSIM_TCPI(tcpi_ca_state) TCPSIM_TCPI(tcpi_retransmits) TCPSIM_TCPI(tcpi_probes)
        TCPSIM_TCPI(tcpi_backoff) TCPSIM_TCPI(tcpi_options) TCPSIM_TCPI(tcpi_snd_wscale) TCPSIM_TCPI(tcpi_rcv_wscale)
        TCPSIM_TCPI(tcpi_rto) TCPSIM_TCPI(tcpi_ato) TCPSIM_TCPI(tcpi_snd_mss) TCPSIM_TCPI(tcpi_rcv_mss)
        TCPSIM_TCPI(tcpi_unacked) TCPSIM_TCPI(tcpi_sacked) TCPSIM_TCPI(tcpi_lost) TCPSIM_TCPI(tcpi_retrans)
        TCPSIM_TCPI(tcpi_fackets) TCPSIM_TCPI(tcpi_last_data_sent) TCPSIM_TCPI(tcpi_last_ack_sent)
        TCPSIM_TCPI(tcpi_last_data_recv) TCPSIM_TCPI(tcpi_last_ack_recv) TCPSIM_TCPI(tcpi_pmtu)
        TCPSIM_TCPI(tcpi_rcv_ssthresh) TCPSIM_TCPI(tcpi_rtt) TCPSIM_TCPI(tcpi_rttvar) TCPSIM_TCPI(tcpi_snd_ssthresh)
        TCPSIM_TCPI(tcpi_snd_cwnd) TCPSIM_TCPI(tcpi_advmss) TCPSIM_TCPI(tcpi_reordering) TCPSIM_TCPI(tcpi_rcv_rtt)
        TCPSIM_TCPI(tcpi_rcv_space) TCPSIM_TCPI(tcpi_total_retrans)
#undef TCPSIM_TCPI
        return std::nullopt;
    };
    if (auto why = run_code(*prog, lookup, code_env_)) {
        if (why->find("unknown name") != std::string::npos) unsupported(c.loc, "python code block (" + *why + ")");
        fail(c.text_loc, *why + "\n    in: " + to_string(e));
    }
    if (opt_.log) *opt_.log << "  " << fmt_time(world_.now()) << " code block held\n";
}

// ------------------------------------------------------------------------------------------------

Verdict Runner::run() {
    Verdict v;
    v.file = script_.file;
    std::unique_ptr<TcpdumpPrinter> printer;
    std::unique_ptr<StateLog> states;
    std::unique_ptr<PcapSink> pcap;
    try {
        ClassifyOptions co;
        if constexpr (has_files<Sockets>()) co.syscalls.insert({"open", "sendfile"});
        if constexpr (has_epoll<Sockets>()) co.syscalls.insert({"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait"});
        Classification cl = classify(script_, co);
        for (const auto& f : cl.findings) {
            if (f.severity == Finding::Severity::Unsupported) {
                // Code blocks in the assertion subset are reported when reached (TCP_INFO).
                if (f.construct == "python code block") continue;
                throw Stop{Verdict::Kind::Unsupported, f.loc, "unsupported: " + f.construct + (f.detail.empty() ? "" : " (" + f.detail + ")")};
            } else {
                notes_.push_back(f.to_string(script_.file));
            }
        }
        configure();
        if (opt_.trace) {
            printer = std::make_unique<TcpdumpPrinter>(*opt_.trace);
            world_.trace().subscribe(*printer);
        }
        if (opt_.states) {
            states = std::make_unique<StateLog>(*opt_.states);
            world_.trace().subscribe(*states);
        }
        if (!opt_.pcap_path.empty()) {
            pcap = std::make_unique<PcapSink>(opt_.pcap_path);
            if (!pcap->ok()) throw std::runtime_error("cannot write " + opt_.pcap_path);
            world_.trace().subscribe(*pcap);
        }
        auto is_defaults = [](const std::string& t) { return t.find("defaults.sh") != std::string::npos; };
        if (script_.setup_command && is_defaults(script_.setup_command->text)) read_defaults(script_.setup_command->text);
        for (const auto& ev : script_.events)
            if (ev.command() && is_defaults(ev.command()->text)) read_defaults(ev.command()->text);
        for (const auto& s : cl.sysctls) apply_sysctl(s);
        if (script_.setup_command) scan_files(script_.setup_command->text);
        for (const auto& ev : script_.events)
            if (ev.command()) scan_files(ev.command()->text);

        Time last_actual = kTimeZero, last_scheduled = kTimeZero;
        for (const ScheduledEvent& se : script_.schedule.events) {
            const Event& e = script_.events.at(se.event);
            Time base = se.anchor == ScheduledEvent::Anchor::Start ? kTimeZero
                        : se.anchor == ScheduledEvent::Anchor::PreviousActual ? last_actual
                                                                              : last_scheduled;
            Time start = base + se.offset, end = base + se.offset_end;
            if (se.any_time) start = end = world_.now();
            if (const PacketSpec* p = e.packet()) {
                if (p->direction == Direction::Outbound) {
                    packet_out(e, *p, se, start, end);
                    last_actual = std::max(world_.now(), start);
                    last_scheduled = start;
                    continue;
                }
                run_until(std::max(start, world_.now()));
                packet_in(e, *p);
            } else if (const SyscallSpec* c = e.syscall()) {
                // packetdrill waits for a blocking call in progress before the next call.
                await_pending();
                run_until(std::max(start, world_.now()));
                syscall(e, *c, se, start);
            } else if (const CodeSpec* c = e.code()) {
                run_until(std::max(start, world_.now()));
                code(e, *c);
            } else {
                run_until(std::max(start, world_.now()));  // shell commands are never run
            }
            last_actual = world_.now();
            last_scheduled = start;
        }
        await_pending();
        v.kind = Verdict::Kind::Pass;
    } catch (const Stop& s) {
        v.kind = s.kind;
        v.loc = s.loc;
        v.message = s.message;
    } catch (const std::exception& ex) {
        v.kind = Verdict::Kind::Fail;
        v.message = std::string("internal error: ") + ex.what();
    }
    // Leave the world before the subscribers go.
    if (printer) world_.trace().unsubscribe(*printer);
    if (states) world_.trace().unsubscribe(*states);
    if (pcap) {
        pcap->flush();
        world_.trace().unsubscribe(*pcap);
    }
    v.notes = std::move(notes_);
    return v;
}

}  // namespace

Verdict run_script(const Script& script, const InterpreterOptions& options) {
    Runner r(script, options);
    return r.run();
}

Verdict run_file(const std::filesystem::path& path, const InterpreterOptions& options) {
    ParseResult pr = load_script(path);
    if (!pr.ok()) {
        Verdict v;
        v.kind = Verdict::Kind::Fail;
        v.file = path.string();
        v.loc = pr.errors.front().loc;
        v.message = pr.errors.front().message;
        for (std::size_t i = 1; i < pr.errors.size(); ++i) v.message += "\n    " + pr.errors[i].to_string();
        return v;
    }
    return run_script(pr.script, options);
}

}  // namespace tcpsim::stack::packetdrill
