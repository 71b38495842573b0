// The scenario runner: Scenario -> World, app scripts as parked coroutines in virtual time,
// outputs (log, pcap, tcpdump/teach trace, states, netstat) and the expectation verdicts.
#include "stack/scenario/runner.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "link/virtual/fault.hpp"
#include "link/virtual/virtual_link.hpp"
#include "link/capture/pcap.hpp"
#include "stack/scenario/live.hpp"
#include "stack/scenario/loader.hpp"
#include "stack/trace/trace.hpp"
#include "stack/sim/world.hpp"

#include "stack/host/host.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/trace/tcpdump_format.hpp"

namespace tcpsim::stack::scenario {

bool RunResult::all_held() const {
    for (const auto& e : expectations)
        if (!e.held) return false;
    return true;
}

std::string per_link_path(const std::string& path, const std::string& link) {
    auto slash = path.rfind('/');
    std::size_t base = slash == std::string::npos ? 0 : slash + 1;
    auto dot = path.rfind('.');
    if (dot == std::string::npos || dot <= base) return path + "-" + link;
    return path.substr(0, dot) + "-" + link + path.substr(dot);
}

namespace {

constexpr Duration kDefaultLimit = 3600s;  // a scenario without `until:` stops when idle, or here

// ---------------------------------------------------------------- small helpers

// FNV-1a 64 over everything written; forwards to `next` when set (the pcap file).
class HashingBuf final : public std::streambuf {
public:
    void forward_to(std::streambuf* next) { next_ = next; }
    std::uint64_t digest() const { return hash_; }

protected:
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        for (std::streamsize i = 0; i < n; ++i) hash_ = (hash_ ^ static_cast<unsigned char>(s[i])) * 0x100000001b3ull;
        if (next_ && next_->sputn(s, n) != n) return 0;
        return n;
    }
    int_type overflow(int_type c) override {
        if (c == traits_type::eof()) return traits_type::not_eof(c);
        char ch = static_cast<char>(c);
        return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
    }
    int sync() override { return next_ ? next_->pubsync() : 0; }

private:
    std::streambuf* next_ = nullptr;
    std::uint64_t hash_ = 0xcbf29ce484222325ull;
};

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

bool seq_before(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }

std::string where(const Scenario& sc, Mark m) {
    return sc.file + ":" + std::to_string(m.line);
}

link::DelayDistribution to_link(DelayDistribution d) {
    switch (d) {
        case DelayDistribution::Uniform: return link::DelayDistribution::Uniform;
        case DelayDistribution::Normal: return link::DelayDistribution::Normal;
        case DelayDistribution::Pareto: return link::DelayDistribution::Pareto;
        case DelayDistribution::ParetoNormal: return link::DelayDistribution::ParetoNormal;
    }
    return link::DelayDistribution::Uniform;
}

link::Impairments to_impairments(const ImpairmentSpec& s, std::uint32_t mtu) {
    link::Impairments im;
    if (s.delay) im.delay.delay = *s.delay;
    if (s.jitter) im.delay.jitter = *s.jitter;
    if (s.delay_correlation) im.delay.correlation = *s.delay_correlation;
    if (s.distribution) im.delay.distribution = to_link(*s.distribution);
    if (s.rate_bps) im.rate.bits_per_second = *s.rate_bps;
    if (s.queue_limit) im.rate.queue_packets = *s.queue_limit;
    if (s.loss) {
        const auto& l = *s.loss;
        switch (l.model) {
            case LossSpec::Model::Random:
                if (l.probability > 0) im.loss = link::RandomLoss{l.probability, l.correlation};
                break;
            case LossSpec::Model::GilbertElliott:
                im.loss = link::GilbertElliottLoss{l.p, l.r, l.one_minus_h, l.one_minus_k};
                break;
            case LossSpec::Model::FourState:
                im.loss = link::FourStateLoss{l.p13, l.p31, l.p32, l.p23, l.p14};
                break;
        }
    }
    if (s.duplicate) im.duplicate = {s.duplicate->probability, s.duplicate->correlation};
    if (s.corrupt) im.corrupt = {s.corrupt->probability, s.corrupt->correlation};
    if (s.reorder) im.reorder = {s.reorder->probability, s.reorder->correlation, s.reorder->gap};
    im.mtu = mtu;
    return im;
}

std::string describe(const ImpairmentSpec& s) {
    std::string d;
    auto add = [&](const std::string& x) { d += (d.empty() ? "" : ", ") + x; };
    auto pct = [](double p) {
        std::ostringstream o;
        o << p * 100 << "%";
        return o.str();
    };
    if (s.delay) add("delay " + format_duration(*s.delay) + (s.jitter ? " +-" + format_duration(*s.jitter) : ""));
    if (s.rate_bps) add("rate " + std::to_string(*s.rate_bps) + " bit/s");
    if (s.queue_limit) add("queue " + std::to_string(*s.queue_limit));
    if (s.loss) {
        if (s.loss->model == LossSpec::Model::Random) {
            if (s.loss->probability > 0) add("loss " + pct(s.loss->probability));
        } else {
            add(s.loss->model == LossSpec::Model::GilbertElliott ? "loss gemodel" : "loss 4-state");
        }
    }
    if (s.duplicate && s.duplicate->probability > 0) add("duplicate " + pct(s.duplicate->probability));
    if (s.corrupt && s.corrupt->probability > 0) add("corrupt " + pct(s.corrupt->probability));
    if (s.reorder && s.reorder->probability > 0) add("reorder " + pct(s.reorder->probability));
    return d.empty() ? "perfect" : d;
}

// ---------------------------------------------------------------- socket constants

struct OptionConst {
    int level;
    int name;
};
OptionConst option_const(std::string_view n) {
    static const std::map<std::string_view, OptionConst> table{
        {"SO_REUSEADDR", {SOL_SOCKET, SO_REUSEADDR}}, {"SO_REUSEPORT", {SOL_SOCKET, SO_REUSEPORT}},
        {"SO_KEEPALIVE", {SOL_SOCKET, SO_KEEPALIVE}}, {"SO_RCVBUF", {SOL_SOCKET, SO_RCVBUF}},
        {"SO_SNDBUF", {SOL_SOCKET, SO_SNDBUF}},       {"SO_RCVLOWAT", {SOL_SOCKET, SO_RCVLOWAT}},
        {"SO_SNDLOWAT", {SOL_SOCKET, SO_SNDLOWAT}},   {"SO_RCVTIMEO", {SOL_SOCKET, SO_RCVTIMEO}},
        {"SO_SNDTIMEO", {SOL_SOCKET, SO_SNDTIMEO}},   {"SO_LINGER", {SOL_SOCKET, SO_LINGER}},
        {"SO_OOBINLINE", {SOL_SOCKET, SO_OOBINLINE}}, {"SO_ERROR", {SOL_SOCKET, SO_ERROR}},
        {"SO_TYPE", {SOL_SOCKET, SO_TYPE}},           {"SO_ACCEPTCONN", {SOL_SOCKET, SO_ACCEPTCONN}},
        {"TCP_NODELAY", {IPPROTO_TCP, TCP_NODELAY}},  {"TCP_CORK", {IPPROTO_TCP, TCP_CORK}},
        {"TCP_MAXSEG", {IPPROTO_TCP, TCP_MAXSEG}},    {"TCP_KEEPIDLE", {IPPROTO_TCP, TCP_KEEPIDLE}},
        {"TCP_KEEPINTVL", {IPPROTO_TCP, TCP_KEEPINTVL}}, {"TCP_KEEPCNT", {IPPROTO_TCP, TCP_KEEPCNT}},
        {"TCP_USER_TIMEOUT", {IPPROTO_TCP, TCP_USER_TIMEOUT}}, {"TCP_QUICKACK", {IPPROTO_TCP, TCP_QUICKACK}},
    };
    auto it = table.find(n);
    return it == table.end() ? OptionConst{-1, -1} : it->second;
}

int system_msg_flags(unsigned f) {
    int r = 0;
    if (f & msg::Oob) r |= MSG_OOB;
    if (f & msg::Peek) r |= MSG_PEEK;
    if (f & msg::Dontwait) r |= MSG_DONTWAIT;
    if (f & msg::More) r |= MSG_MORE;
    if (f & msg::Nosignal) r |= MSG_NOSIGNAL;
    return r;  // MSG_WAITALL is the runner's: it repeats recv() until the size is reached
}

short system_poll_events(unsigned e) {
    short r = 0;
    if (e & pollev::In) r |= POLLIN;
    if (e & pollev::Pri) r |= POLLPRI;
    if (e & pollev::Out) r |= POLLOUT;
    if (e & pollev::Err) r |= POLLERR;
    if (e & pollev::Hup) r |= POLLHUP;
    if (e & pollev::Rdhup) r |= POLLRDHUP;
    if (e & pollev::Nval) r |= POLLNVAL;
    return r;
}
unsigned model_poll_events(short e) {
    unsigned r = 0;
    if (e & POLLIN) r |= pollev::In;
    if (e & POLLPRI) r |= pollev::Pri;
    if (e & POLLOUT) r |= pollev::Out;
    if (e & POLLERR) r |= pollev::Err;
    if (e & POLLHUP) r |= pollev::Hup;
    if (e & POLLRDHUP) r |= pollev::Rdhup;
    if (e & POLLNVAL) r |= pollev::Nval;
    return r;
}

std::string result_text(long value, int err) {
    if (value == -1 && err != 0) return "-1 " + std::string(errno_name(err));
    return std::to_string(value);
}

// struct linger as the run log shows it: "{l_onoff=1, l_linger=5}".
std::string linger_text(std::int64_t onoff, std::int64_t seconds) {
    return "{l_onoff=" + std::to_string(onoff) + ", l_linger=" + std::to_string(seconds) + "}";
}

std::string printable(const ByteVector& b, std::size_t max = 40) {
    std::string s = "\"";
    for (std::size_t i = 0; i < b.size() && i < max; ++i) {
        auto c = std::to_integer<unsigned char>(b[i]);
        if (c == '\n') s += "\\n";
        else if (c == '\r') s += "\\r";
        else if (c == '\t') s += "\\t";
        else if (c == '"' || c == '\\') s += std::string("\\") + static_cast<char>(c);
        else if (c >= 0x20 && c < 0x7f) s += static_cast<char>(c);
        else {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            s += buf;
        }
    }
    s += "\"";
    if (b.size() > max) s += "...";
    return s;
}

// ---------------------------------------------------------------- the run

struct SegRecord {
    std::uint16_t link;
    std::uint16_t host;  // sender
    std::uint8_t flags;
    std::uint8_t options;  // bit per kind (option_bit)
    bool retransmission;
    std::uint32_t seq, ack, len, win;
    Time at;
};

unsigned option_bit(std::string_view kind) {
    if (kind == "mss") return 1;
    if (kind == "wscale") return 2;
    if (kind == "sackOK") return 4;
    if (kind == "sack") return 8;
    if (kind == "TS") return 16;
    if (kind == "nop") return 32;
    if (kind == "eol") return 64;
    return 0;
}

class Run;

// One app: its script runs step by step; a call that cannot complete parks the app until the
// socket layer wakes it (or its timeout passes), in virtual time.
class AppExec {
public:
    AppExec(Run& run, const AppSpec& spec, Host& host, std::size_t host_index)
        : run_(run), spec_(spec), host_(host), host_index_(host_index) {}
    void start();
    // At the end of the run: verdicts for call expectations not reached or still blocked.
    void finish(std::vector<ExpectationResult>& out) const;

    struct Conn {
        tcp::FourTuple tuple;
        bool known = false;
        Time since{};
    };
    const Conn* conn(const std::string& fd) const {
        auto it = conns_.find(fd);
        return it == conns_.end() ? nullptr : &it->second;
    }
    struct Flow {
        std::uint64_t bytes = 0;
        std::uint64_t hash = 0xcbf29ce484222325ull;
        void add(Bytes b) {
            bytes += b.size();
            for (auto x : b) hash = (hash ^ std::to_integer<std::uint8_t>(x)) * 0x100000001b3ull;
        }
    };
    const Flow* sent(const std::string& fd) const { return find(sent_, fd); }
    const Flow* received(const std::string& fd) const { return find(received_, fd); }
    const std::string& name() const { return spec_.name; }

private:
    static const Flow* find(const std::map<std::string, Flow>& m, const std::string& k) {
        auto it = m.find(k);
        return it == m.end() ? nullptr : &it->second;
    }
    void proceed();
    void begin_step();
    bool attempt();  // true when the current call completed
    void park(int fd, short events);
    void woken(short revents);
    void complete(long value, int err);
    void check(const Step& st);
    void log_call(const Step& st, const std::string& suffix);
    std::string call_text(const Step& st) const;
    int fd_of(const std::string& name) const {
        auto it = fds_.find(name);
        return it == fds_.end() ? -1 : it->second;
    }
    void remember_connection(const std::string& name, int fd, std::optional<tcp::Endpoint> remote);
    Sockets& so();

    Run& run_;
    const AppSpec& spec_;
    Host& host_;
    std::size_t host_index_;
    std::size_t pc_ = 0;
    bool waited_for_start_ = false;
    int display_fd_ = -1;  // the step's descriptor when it started (close() forgets it)
    bool parked_ = false;
    Time call_start_{};
    std::map<std::string, int> fds_;
    std::map<std::string, Conn> conns_;
    std::map<std::string, Flow> sent_, received_;
    // The call in progress.
    long value_ = 0;
    int err_ = 0;
    std::uint64_t progress_ = 0;
    ByteVector buffer_;
    ByteVector got_;
    tcp::Endpoint addr_;
    bool has_addr_ = false;
    std::optional<std::int64_t> observed_value_;
    std::optional<Duration> observed_duration_;
    std::optional<std::pair<std::int64_t, std::int64_t>> observed_linger_;  // {l_onoff, l_linger}
    // SO_RCVTIMEO/SO_SNDTIMEO deadline, fixed when the call first blocks (Linux computes timeo
    // once per call and sk_wait_data() counts it down across wake-ups).
    std::optional<Time> call_deadline_;
    std::vector<std::pair<std::string, unsigned>> observed_revents_;
    std::vector<Sockets::WaitId> waits_;
    bool timed_out_ = false;
    std::uint64_t wake_generation_ = 0;
    std::vector<ExpectationResult> results_;
    friend class Run;
};

class Run final : public TraceSubscriber {
public:
    Run(const Scenario& sc, const RunOptions& opt)
        : sc_(sc),
          opt_(opt),
          live_(sc.live_host() ? std::make_unique<LiveSession>(sc, opt.seed.value_or(sc.seed)) : nullptr),
          world_(live_ ? live_->world() : sim_world_.emplace(opt.seed.value_or(sc.seed))) {}
    RunResult execute();

    World& world() { return world_; }
    const Scenario& scenario() const { return sc_; }
    // A run-log line: "  time  who  text".
    void log(const std::string& who, const std::string& text) {
        if (!log_) return;
        auto t = format_seconds(world_.now());
        if (t.size() < 10) t.insert(0, 10 - t.size(), ' ');
        *log_ << t << "  " << pad(who) << text << '\n';
    }

    unsigned interests() const override {
        return trace_bit(TraceKind::Frame) | trace_bit(TraceKind::State) | trace_bit(TraceKind::Drop);
    }
    void on_frame(const FrameEvent& e) override;
    void on_state(const StateEvent& e) override;
    void on_drop(const DropEvent& e) override;

private:
    struct LinkOut {
        std::string name;
        HashingBuf hash;
        std::unique_ptr<std::ofstream> pcap_file;
        std::unique_ptr<std::ostream> pcap_stream;
        std::unique_ptr<link::PcapWriter> pcap;
        std::ostream* trace = nullptr;
        std::unique_ptr<std::ofstream> trace_file;
        std::uint64_t frames = 0, drops = 0;
    };
    struct StateRecord {
        Time at;
        std::size_t host;
        tcp::FourTuple tuple;
        tcp::State from, to;
    };
    struct FlowKey {
        std::uint32_t src, dst;
        std::uint16_t sport, dport;
        auto operator<=>(const FlowKey&) const = default;
    };
    struct FlowState {
        std::uint32_t iss = 0, max_end = 0;
    };

    void build();
    void run_live(Time limit);      // live.cpp-backed: the scripts in real time
    void end_live(std::ostream* out);
    void open_outputs();
    void print_header();
    void netstat(Time at);
    void evaluate(RunResult& r);
    ExpectationResult evaluate(const Expectation& e);
    std::string pad(const std::string& who) const {
        std::string s = who;
        if (s.size() < width_) s.append(width_ - s.size(), ' ');
        return s + "  ";
    }
    std::size_t host_index(std::string_view name) const {
        for (std::size_t i = 0; i < sc_.hosts.size(); ++i)
            if (sc_.hosts[i].name == name) return i;
        return SIZE_MAX;
    }
    std::size_t link_index(std::string_view name) const {
        for (std::size_t i = 0; i < outs_.size(); ++i)
            if (outs_[i]->name == name) return i;
        return SIZE_MAX;
    }
    std::string host_of(Ipv4Addr a) const {
        for (const auto& h : sc_.hosts)
            for (const auto& i : h.interfaces)
                if (i.address.addr == a) return h.name;
        return a.to_string();
    }
    std::vector<tcp::State> path(const AppExec::Conn& c, std::size_t host, std::optional<Time> until) const;

    const Scenario& sc_;
    const RunOptions& opt_;
    std::unique_ptr<LiveSession> live_;  // a `live:` host: the world runs in real time (live.hpp)
    std::optional<World> sim_world_;
    World& world_;
    std::vector<Host*> hosts_;
    std::vector<std::unique_ptr<Wire>> links_;
    std::vector<std::unique_ptr<LinkOut>> outs_;
    std::vector<std::unique_ptr<AppExec>> apps_;
    std::ostream* log_ = nullptr;
    std::size_t width_ = 6;
    // Trace outputs.
    std::unique_ptr<std::ofstream> trace_all_file_;
    std::ostream* trace_all_ = nullptr;  // every link's lines (stdout, or a single link's file)
    std::unique_ptr<TeachingFormatter> teach_;
    std::unique_ptr<std::ofstream> states_file_;
    std::unique_ptr<StateLogSubscriber> states_log_;
    std::string line_;
    std::vector<std::string> files_;
    // Observations.
    std::vector<StateRecord> states_;
    std::vector<SegRecord> segs_;
    std::map<FlowKey, FlowState> flows_;
    std::vector<std::uint64_t> host_drops_;
    friend class AppExec;
};

// ---------------------------------------------------------------- building the world

void Run::build() {
    for (std::size_t hi = 0; hi < sc_.hosts.size(); ++hi) {
        const auto& hs = sc_.hosts[hi];
        Host& h = world_.add_host(hs.name);
        auto& cfg = h.config();
        cfg.tcp = hs.tcp;
        cfg.ephemeral_low = hs.sockets.ephemeral_low;
        cfg.ephemeral_high = hs.sockets.ephemeral_high;
        cfg.somaxconn = static_cast<int>(hs.sockets.somaxconn);
        cfg.syncookies = hs.sockets.syncookies == 0   ? SyncookieMode::Off
                         : hs.sockets.syncookies == 2 ? SyncookieMode::Always
                                                      : SyncookieMode::Overflow;
        cfg.rmem_max = hs.sockets.rmem_max;
        cfg.wmem_max = hs.sockets.wmem_max;
        if (hs.mss_set) cfg.advmss = hs.tcp.mss;  // else each route's MTU - 40
        // The socket-layer contrasts of SEEDS-CHECKLIST 9.1 (the TCP defaults are the loader's).
        if (hs.personality == Personality::Bsd) {
            cfg.bsd_reuseaddr = true;             // FreeBSD: SO_REUSEADDR on the later socket suffices
            cfg.accept_inherits_nonblock = true;  // TLPI 61.11: other UNIXes copy O_NONBLOCK
            cfg.shut_rd_discards = true;          // TLPI 61.6.6: BSD SHUT_RD reads EOF for good
        }
        if (hs.personality == Personality::Rfc) cfg.rfc1122_icmp_errors = true;  // RFC 1122 §4.2.3.9
        cfg.forwarding = hs.forwarding;
        for (const auto& i : hs.interfaces) h.add_interface(InterfaceConfig{i.name, i.mac, i.address, i.mtu});
        for (const auto& r : hs.routes) h.add_route(r.destination, r.via);
        if (hs.gateway) h.set_default_gateway(*hs.gateway);
        hosts_.push_back(&h);
        width_ = std::max(width_, hs.name.size());
    }
    host_drops_.assign(hosts_.size(), 0);
    for (const auto& ls : sc_.links) {
        auto seed = world_.rng("link/" + ls.name).next_u64();
        auto l = std::make_unique<Wire>(world_, ls.name, seed);
        auto& vl = *l->vlink();
        vl.configure(link::Side::A, to_impairments(ls.a_to_b, ls.mtu));
        vl.configure(link::Side::B, to_impairments(ls.b_to_a, ls.mtu));
        for (const auto& f : ls.faults) {
            link::FaultRule rule;
            rule.name = "the fault at line " + std::to_string(f.mark.line);
            auto& m = rule.match;
            m.ip_protocol = link::kIpProtocolTcp;
            if (f.match.from_host) m.from = *f.match.from_host == ls.a.host ? link::Side::A : link::Side::B;
            if (f.match.flags) {
                m.flags_set = *f.match.flags;
                m.flags_clear = static_cast<std::uint8_t>(~*f.match.flags);
            }
            if (f.match.flags_set) m.flags_set |= *f.match.flags_set;
            if (f.match.length) m.payload_min = m.payload_max = *f.match.length;
            if (f.match.has_data) {
                if (*f.match.has_data) m.payload_min = 1;
                else m.payload_max = 0;
            }
            m.final_ack = f.match.final_ack;
            switch (f.action) {
                case FaultSpec::Action::Drop: rule.action = link::FaultAction::drop(); break;
                case FaultSpec::Action::Delay: rule.action = link::FaultAction::delay_by(f.delay); break;
                case FaultSpec::Action::Duplicate: rule.action = link::FaultAction::duplicate(); break;
                case FaultSpec::Action::Corrupt: rule.action = link::FaultAction::corrupt(link::FaultAction::Base::Tcp); break;
            }
            rule.nth = f.nth;
            rule.count = f.count;
            if (f.after) rule.active_from = Time{*f.after};
            if (f.before) rule.active_until = Time{*f.before};
            vl.add_fault(std::move(rule));
        }
        // Schedule `set:` entries change only the keys they name: accumulate per direction.
        ImpairmentSpec cur[2] = {ls.a_to_b, ls.b_to_a};
        for (const auto& s : ls.schedule) {
            for (auto side : {link::Side::A, link::Side::B}) {
                if (s.direction == LinkDirection::AtoB && side != link::Side::A) continue;
                if (s.direction == LinkDirection::BtoA && side != link::Side::B) continue;
                Time t{s.at};
                if (s.up) vl.add_schedule(*s.up ? link::ScheduleEntry::up(t, side) : link::ScheduleEntry::down(t, side));
                auto& c = cur[link::index(side)];
                c.overlay(s.set);
                vl.add_schedule(link::ScheduleEntry::set(t, to_impairments(c, ls.mtu), side));
            }
        }
        for (const auto* end : {&ls.a, &ls.b}) {  // side A first, then B
            Host& h = *hosts_[host_index(end->host)];
            auto ifindex = *h.find_interface(end->interface);
            auto& out = l->attach(end->host + "/" + end->interface, h.input(ifindex));
            h.attach(ifindex, out);
        }
        l->arm_schedule();
        width_ = std::max(width_, ls.name.size());
        auto o = std::make_unique<LinkOut>();
        o->name = ls.name;
        outs_.push_back(std::move(o));
        links_.push_back(std::move(l));
    }
    if (live_) {
        live_->attach(*hosts_[host_index(live_->host_spec().name)]);
        outs_.push_back(std::make_unique<LinkOut>());
        outs_.back()->name = live_->link_name();
    }
    for (const auto& a : sc_.apps) {
        auto hi = host_index(a.host);
        apps_.push_back(std::make_unique<AppExec>(*this, a, *hosts_[hi], hi));
        width_ = std::max(width_, a.name.size());
    }
}

void Run::open_outputs() {
    bool several = outs_.size() > 1;
    for (auto& o : outs_) {
        if (!opt_.pcap_path.empty()) {
            auto path = several ? per_link_path(opt_.pcap_path, o->name) : opt_.pcap_path;
            o->pcap_file = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
            if (!*o->pcap_file) throw std::runtime_error("cannot write the pcap file '" + path + "'");
            o->hash.forward_to(o->pcap_file->rdbuf());
            files_.push_back(path);
        }
        o->pcap_stream = std::make_unique<std::ostream>(&o->hash);
        o->pcap = std::make_unique<link::PcapWriter>(*o->pcap_stream);
    }
    if (!opt_.trace_path.empty()) {
        if (opt_.trace_format == TraceFormat::Teach) {
            TeachingOptions to;
            to.host_name = [this](Ipv4Addr a) { return host_of(a); };
            teach_ = std::make_unique<TeachingFormatter>(std::move(to));
        }
        if (opt_.trace_path == "-") {
            trace_all_ = &std::cout;
        } else if (!several || opt_.trace_format == TraceFormat::Teach) {
            // Teaching traces interleave all links (with state changes) in one file.
            trace_all_file_ = std::make_unique<std::ofstream>(opt_.trace_path, std::ios::trunc);
            if (!*trace_all_file_) throw std::runtime_error("cannot write the trace file '" + opt_.trace_path + "'");
            trace_all_ = trace_all_file_.get();
            files_.push_back(opt_.trace_path);
        } else {
            for (auto& o : outs_) {
                auto path = per_link_path(opt_.trace_path, o->name);
                o->trace_file = std::make_unique<std::ofstream>(path, std::ios::trunc);
                if (!*o->trace_file) throw std::runtime_error("cannot write the trace file '" + path + "'");
                o->trace = o->trace_file.get();
                files_.push_back(path);
            }
        }
    }
    if (!opt_.states_path.empty()) {
        std::ostream* out = &std::cout;
        if (opt_.states_path != "-") {
            states_file_ = std::make_unique<std::ofstream>(opt_.states_path, std::ios::trunc);
            if (!*states_file_) throw std::runtime_error("cannot write the states file '" + opt_.states_path + "'");
            out = states_file_.get();
            files_.push_back(opt_.states_path);
        }
        states_log_ = std::make_unique<StateLogSubscriber>(*out);
        world_.trace().subscribe(*states_log_);
    }
    // Machine-readable output on stdout replaces the run log.
    bool stdout_taken = opt_.trace_path == "-" || opt_.states_path == "-";
    log_ = (opt_.quiet || stdout_taken) ? nullptr : opt_.log;
}

void Run::print_header() {
    if (!log_) return;
    auto& o = *log_;
    o << "tcpsim run " << sc_.file << " (seed " << world_.seed() << ")\n";
    if (!sc_.description.empty()) o << "  " << sc_.description << "\n";
    for (const auto& h : sc_.hosts) {
        o << "  host " << h.name << ":";
        for (const auto& i : h.interfaces) o << " " << i.name << " " << i.address.to_string() << " (" << i.mac.to_string() << ")";
        if (h.gateway) o << ", gateway " << h.gateway->to_string();
        if (h.forwarding) o << ", forwarding";
        if (h.personality != Personality::Linux) o << ", personality " << to_string(h.personality);
        if (h.live) o << ", live on " << h.live->dev << " (real time; the kernel is the peer)";
        o << "\n";
    }
    for (const auto& l : sc_.links) {
        o << "  link " << l.name << ": " << l.a.host << ":" << l.a.interface << " <-> " << l.b.host << ":" << l.b.interface;
        auto ab = describe(l.a_to_b), ba = describe(l.b_to_a);
        if (ab == ba) o << ", " << ab;
        else o << ", " << l.a.host << "->" << l.b.host << " " << ab << "; " << l.b.host << "->" << l.a.host << " " << ba;
        if (!l.faults.empty()) o << ", " << l.faults.size() << " fault rule" << (l.faults.size() > 1 ? "s" : "");
        if (!l.schedule.empty()) o << ", " << l.schedule.size() << " scheduled change" << (l.schedule.size() > 1 ? "s" : "");
        o << "\n";
    }
    o << "\n";
}

// ---------------------------------------------------------------- live runs (live.hpp)

void Run::run_live(Time limit) {
    // Scripts done: every app ran its last step. A scenario without apps runs until `until:`.
    auto end = live_->run(limit, [this] {
        if (apps_.empty()) return false;
        for (const auto& a : apps_)
            if (a->pc_ < a->spec_.steps.size()) return false;
        return true;
    });
    if (end == LiveSession::End::Signal) log(live_->host_spec().name, "interrupted (SIGINT/SIGTERM): ending the run");
    if (end == LiveSession::End::Limit) log(live_->host_spec().name, "reached until: " + format_seconds(world_.now()));
}

void Run::end_live(std::ostream* out) {
    for (auto& a : apps_) ++a->wake_generation_;  // parked calls stay parked: the run is over
    int open = live_->abandon();
    if (out && log_) {
        *out << "live: " << live_->summary() << '\n';
        if (open) *out << "live: reset " << open << " descriptor" << (open == 1 ? "" : "s") << " still open at the end\n";
    }
}

// ---------------------------------------------------------------- trace events

void Run::on_frame(const FrameEvent& e) {
    auto li = link_index(e.link);
    if (li == SIZE_MAX) return;
    auto& out = *outs_[li];
    auto sender = e.endpoint.substr(0, e.endpoint.find('/'));
    if (e.action == FrameAction::Lost) {
        ++out.drops;  // logged by on_drop(), with the reason
        return;
    }
    if (e.action != FrameAction::Sent) return;
    ++out.frames;
    out.pcap->write(e.at, e.frame);
    bool need_text = log_ || out.trace || (trace_all_ && !teach_);
    if (need_text) {
        line_.clear();
        format_tcpdump(e.at, e.frame, line_);
        if (out.trace) *out.trace << line_ << '\n';
        if (trace_all_ && !teach_) *trace_all_ << line_ << '\n';
        if (log_) log(out.name, line_.substr(line_.find(' ') + 1));
    }
    if (teach_ && trace_all_) {
        line_.clear();
        teach_->format(e.at, e.frame, line_);
        *trace_all_ << format_seconds(e.at) << ' ' << line_ << '\n';
    }
    // Observations for expectations.
    auto s = link::summarize_frame(e.frame);
    if (!s.tcp) return;
    SegRecord r{};
    r.link = static_cast<std::uint16_t>(li);
    r.host = static_cast<std::uint16_t>(host_index(sender));
    r.flags = s.flags;
    r.seq = s.seq;
    r.ack = s.ack;
    r.len = static_cast<std::uint32_t>(s.payload_len);
    r.at = e.at;
    if (s.tcp_offset + 20 <= e.frame.size()) r.win = load_be16(e.frame, s.tcp_offset + 14);
    // Option kinds present (a TLV walk bounded by the header).
    for (std::size_t i = s.tcp_offset + 20; i < s.payload_offset && i < e.frame.size();) {
        auto kind = load_u8(e.frame, i);
        static constexpr std::uint8_t bits[9] = {64, 32, 1, 2, 4, 8, 0, 0, 16};
        if (kind <= 8) r.options |= bits[kind];
        if (kind == 0) break;
        if (kind == 1) {
            ++i;
            continue;
        }
        if (i + 1 >= e.frame.size() || load_u8(e.frame, i + 1) < 2) break;
        i += load_u8(e.frame, i + 1);
    }
    // Retransmission: sequence space sent before on this flow (a new SYN starts a new incarnation).
    std::uint32_t consumed = r.len + ((r.flags & flag::Syn) ? 1 : 0) + ((r.flags & flag::Fin) ? 1 : 0);
    FlowKey k{s.src.value, s.dst.value, s.src_port, s.dst_port};
    auto [it, fresh] = flows_.try_emplace(k);
    auto& f = it->second;
    if (r.flags & flag::Syn) {
        if (fresh || f.iss != r.seq) {
            f.iss = r.seq;
            f.max_end = r.seq + 1;
        } else {
            r.retransmission = true;
        }
    } else if (consumed > 0 && !(r.flags & flag::Rst)) {
        if (fresh) f.max_end = r.seq + consumed;
        else if (seq_before(r.seq, f.max_end)) r.retransmission = true;
        if (fresh || seq_before(f.max_end, r.seq + consumed)) f.max_end = r.seq + consumed;
    }
    segs_.push_back(r);
}

void Run::on_state(const StateEvent& e) {
    auto hi = host_index(e.host);
    states_.push_back({e.at, hi, e.tuple, e.from, e.to});
    if (log_)
        log(std::string(e.host), format_tuple(e.tuple) + "  " + tcp::to_string(e.from) + " -> " + tcp::to_string(e.to) +
                                     (e.cause.empty() ? "" : "  (" + std::string(e.cause) + ")"));
    if (teach_ && trace_all_)
        *trace_all_ << format_seconds(e.at) << "   " << e.host << "." << e.tuple.local.port << ": " << tcp::to_string(e.from) << " -> "
                    << tcp::to_string(e.to) << (e.cause.empty() ? "" : " (" + std::string(e.cause) + ")") << '\n';
}

void Run::on_drop(const DropEvent& e) {
    if (e.reason == DropReason::LinkLoss) {
        // The frame's line was printed when it was sent, just before.
        if (log_) log(std::string(e.where), "^ lost on the link: " + std::string(e.detail));
        return;
    }
    auto hi = host_index(e.where);
    if (hi != SIZE_MAX) ++host_drops_[hi];
    if (log_) log(std::string(e.where), std::string("drop: ") + to_string(e.reason) + (e.detail.empty() ? "" : " (" + std::string(e.detail) + ")"));
}

// ---------------------------------------------------------------- netstat

void Run::netstat(Time at) {
    std::ostream& o = opt_.log ? *opt_.log : std::cout;
    o << "\nnetstat at " << format_seconds(at) << " (virtual time)\n";
    for (auto* h : hosts_) {
        o << "[" << h->name() << "] Active Internet connections (servers and established)\n";
        char buf[160];
        std::snprintf(buf, sizeof buf, "%-5s %6s %6s %-23s %-23s %s\n", "Proto", "Recv-Q", "Send-Q", "Local Address",
                      "Foreign Address", "State");
        o << buf;
        for (const auto& c : h->connections()) {
            auto local = c.tuple.local.addr.to_string() + ":" + std::to_string(c.tuple.local.port);
            auto remote = c.tuple.remote.port == 0 && c.tuple.remote.addr.is_any()
                              ? std::string("0.0.0.0:*")
                              : c.tuple.remote.addr.to_string() + ":" + std::to_string(c.tuple.remote.port);
            // Linux: netstat reads /proc/net/tcp, where a listener's rx_queue is its accept queue
            // length and tx_queue is write_seq - snd_una = 0 (the backlog in Send-Q is ss's).
            const std::size_t send_q = c.state == tcp::State::Listen ? 0 : c.send_q;
            // net-tools netstat -tan: "%-4s  %6ld %6ld %-23s %-23s %-11s".
            std::snprintf(buf, sizeof buf, "%-4s  %6zu %6zu %-23s %-23s %s\n", "tcp", c.recv_q, send_q, local.c_str(),
                          remote.c_str(), tcp::to_string(c.state));
            o << buf;
        }
    }
    o << "\n";
}

// ---------------------------------------------------------------- apps

Sockets& AppExec::so() { return host_.sockets(); }

void AppExec::start() {
    Time t = spec_.start ? Time{*spec_.start} : kTimeZero;
    run_.world().at(t, [this] { proceed(); });
}

void AppExec::proceed() {
    auto& w = run_.world();
    while (pc_ < spec_.steps.size()) {
        const Step& st = spec_.steps[pc_];
        if (!waited_for_start_) {
            Time start = w.now();
            if (st.at) start = std::max(start, Time{*st.at});
            if (st.after) start = w.now() + *st.after;
            if (st.call == Call::Sleep) start += st.duration;
            if (start > w.now()) {
                waited_for_start_ = true;
                w.at(start, [this] { proceed(); });
                return;
            }
        }
        waited_for_start_ = false;
        begin_step();
        if (!attempt()) {
            parked_ = true;
            return;
        }
        check(st);
        ++pc_;
    }
}

void AppExec::begin_step() {
    call_start_ = run_.world().now();
    display_fd_ = fd_of(spec_.steps[pc_].fd);
    value_ = 0;
    err_ = 0;
    progress_ = 0;
    got_.clear();
    has_addr_ = false;
    observed_value_.reset();
    observed_duration_.reset();
    observed_linger_.reset();
    observed_revents_.clear();
    timed_out_ = false;
    call_deadline_.reset();
}

void AppExec::park(int fd, short events) {
    // The socket's own SO_RCVTIMEO/SO_SNDTIMEO (POLLIN/POLLOUT), as Sockets::drive() uses them.
    if (!call_deadline_) call_deadline_ = so().deadline_for(fd, events);
    Time deadline = *call_deadline_;
    if (run_.log_ && progress_ == 0 && waits_.empty()) log_call(spec_.steps[pc_], " ... blocks");
    auto gen = ++wake_generation_;
    waits_.push_back(so().wait(fd, events, deadline, [this, gen](short revents) {
        if (gen != wake_generation_) return;
        woken(revents);
    }));
}

void AppExec::woken(short revents) {
    for (auto id : waits_) so().cancel_wait(id);
    waits_.clear();
    ++wake_generation_;
    timed_out_ = revents == 0;
    const Step& st = spec_.steps[pc_];
    if (!attempt()) return;  // parked again
    parked_ = false;
    check(st);
    ++pc_;
    proceed();
}

void AppExec::complete(long value, int err) {
    value_ = value;
    err_ = err;
}

void AppExec::remember_connection(const std::string& name, int fd, std::optional<tcp::Endpoint> remote) {
    Conn c;
    c.since = call_start_;
    tcp::Endpoint local, peer;
    if (so().getsockname(fd, local).ok()) c.tuple.local = local;
    if (remote) c.tuple.remote = *remote;
    else if (so().getpeername(fd, peer).ok()) c.tuple.remote = peer;
    c.known = true;
    auto it = conns_.find(name);
    if (it != conns_.end() && it->second.known && it->second.tuple == c.tuple) return;  // keep `since`
    conns_[name] = c;
}

bool AppExec::attempt() {
    const Step& st = spec_.steps[pc_];
    int fd = fd_of(st.fd);
    switch (st.call) {
        case Call::Socket: {
            auto r = so().socket(AF_INET, SOCK_STREAM | (st.nonblock ? SOCK_NONBLOCK : 0), 0);
            complete(r.value, r.err);
            if (r.ok()) {
                fds_[st.as] = static_cast<int>(r.value);
                conns_.erase(st.as);
                sent_.erase(st.as);
                received_.erase(st.as);
            }
            return true;
        }
        case Call::Bind: {
            auto r = so().bind(fd, st.endpoint);
            complete(r.value, r.err);
            return true;
        }
        case Call::Listen: {
            auto r = so().listen(fd, st.backlog);
            complete(r.value, r.err);
            if (r.ok()) remember_connection(st.fd, fd, tcp::Endpoint{});
            return true;
        }
        case Call::Accept: {
            if (timed_out_) {
                complete(-1, EAGAIN);
                return true;
            }
            tcp::Endpoint peer;
            auto r = so().accept(fd, &peer);
            if (r.would_block()) {
                park(fd, r.wait_for);
                return false;
            }
            complete(r.value, r.err);
            if (r.ok()) {
                fds_[st.as] = static_cast<int>(r.value);
                sent_.erase(st.as);
                received_.erase(st.as);
                addr_ = peer;
                has_addr_ = true;
                conns_.erase(st.as);
                remember_connection(st.as, static_cast<int>(r.value), peer);
            }
            return true;
        }
        case Call::Connect: {
            if (timed_out_) {
                complete(-1, EINPROGRESS);  // socket(7): SO_SNDTIMEO on connect
                return true;
            }
            auto r = so().connect(fd, st.endpoint);
            if (progress_ == 0) remember_connection(st.fd, fd, st.endpoint);
            progress_ = 1;
            if (r.would_block()) {
                park(fd, r.wait_for);
                return false;
            }
            complete(r.value, r.err);
            if (r.ok()) remember_connection(st.fd, fd, std::nullopt);
            return true;
        }
        case Call::Send: {
            const std::uint64_t total = st.data.size();
            int flags = system_msg_flags(st.flags);
            while (true) {
                if (timed_out_) {
                    if (progress_ > 0) complete(static_cast<long>(progress_), 0);
                    else complete(-1, EAGAIN);
                    return true;
                }
                Bytes chunk;
                if (st.data.is_generated()) {
                    auto n = std::min<std::uint64_t>(total - progress_, 65536);
                    buffer_.resize(n);
                    for (std::uint64_t i = 0; i < n; ++i) buffer_[i] = pattern_byte(progress_ + i);
                    chunk = buffer_;
                } else {
                    chunk = Bytes(st.data.literal).subspan(progress_);
                }
                auto r = so().send(fd, chunk, flags);
                if (r.value > 0) {
                    sent_[st.fd].add(chunk.first(static_cast<std::size_t>(r.value)));
                    progress_ += static_cast<std::uint64_t>(r.value);
                }
                if (progress_ >= total && total > 0) {
                    complete(static_cast<long>(progress_), 0);
                    return true;
                }
                if (r.would_block()) {
                    park(fd, r.wait_for);
                    return false;
                }
                if (r.value < 0 || r.value == 0) {
                    // An error (or a non-blocking socket with a full buffer): a partial count wins.
                    if (progress_ > 0) complete(static_cast<long>(progress_), 0);
                    else complete(r.value, r.err);
                    return true;
                }
                // A non-blocking send that took less than this chunk: the buffer is full, partial.
                // (Generated data goes in 64 KiB chunks; a chunk taken whole is followed by the next.)
                if (static_cast<std::size_t>(r.value) < chunk.size() && (so().nonblocking(fd) || (st.flags & msg::Dontwait))) {
                    complete(static_cast<long>(progress_), 0);
                    return true;
                }
            }
        }
        case Call::Recv: {
            const bool waitall = (st.flags & msg::Waitall) != 0 && !(st.flags & (msg::Peek | msg::Oob));
            const bool loop = waitall || st.read_all;
            int flags = system_msg_flags(st.flags);
            auto take = [&](const SysResult& r) {
                auto got = Bytes(buffer_).first(static_cast<std::size_t>(r.value));
                got_.insert(got_.end(), got.begin(), got.end());
                if (!(st.flags & msg::Peek)) received_[st.fd].add(got);
                progress_ += static_cast<std::uint64_t>(r.value);
            };
            while (true) {
                std::uint64_t want = st.read_all ? 65536 : st.size - progress_;
                buffer_.resize(static_cast<std::size_t>(want));
                if (timed_out_) {
                    // Linux tcp_recvmsg(): once the timeout is spent, whatever is queued (below
                    // SO_RCVLOWAT too) is returned; nothing at all is EAGAIN (socket(7)).
                    auto r = so().recv(fd, buffer_, flags | MSG_DONTWAIT);
                    if (r.value > 0) take(r);
                    if (progress_ > 0) complete(static_cast<long>(progress_), 0);
                    else complete(-1, EAGAIN);
                    return true;
                }
                auto r = so().recv(fd, buffer_, flags);
                if (r.value > 0) {
                    take(r);
                    if (!loop || (waitall && progress_ >= st.size)) {
                        complete(static_cast<long>(progress_), 0);
                        return true;
                    }
                    // Linux tcp_recvmsg(): a read that copied something stops at the urgent mark,
                    // MSG_WAITALL or not, so SIOCATMARK can tell the reader where it is.
                    int mark = 0;
                    if (waitall && so().ioctl(fd, SIOCATMARK, &mark).ok() && mark != 0) {
                        complete(static_cast<long>(progress_), 0);
                        return true;
                    }
                    continue;
                }
                if (r.value == 0) {  // EOF
                    complete(static_cast<long>(progress_), 0);
                    return true;
                }
                if (r.would_block()) {
                    park(fd, r.wait_for);
                    return false;
                }
                if (progress_ > 0) complete(static_cast<long>(progress_), 0);
                else complete(r.value, r.err);
                return true;
            }
        }
        case Call::Shutdown: {
            int how = st.how == ShutdownHow::Read ? SHUT_RD : st.how == ShutdownHow::Write ? SHUT_WR : SHUT_RDWR;
            auto r = so().shutdown(fd, how);
            complete(r.value, r.err);
            return true;
        }
        case Call::Close: {
            if (progress_ > 0) {  // woken from a lingering close: Linux close() returns 0 either way
                complete(0, 0);
                return true;
            }
            auto r = so().close(fd);
            if (r.ok()) fds_[st.fd] = -1;  // later calls on this name get EBADF
            if (r.would_block()) {
                // SO_LINGER with data in flight: close() blocks until it is acknowledged or
                // l_linger passes (Linux sk_stream_wait_close(), O_NONBLOCK or not).
                progress_ = 1;
                if (run_.log_) log_call(st, " ... blocks (SO_LINGER)");
                auto gen = ++wake_generation_;
                so().wait_close([this, gen](short revents) {
                    if (gen != wake_generation_) return;
                    woken(revents);
                });
                return false;
            }
            complete(r.value, r.err);
            return true;
        }
        case Call::Dup: {
            auto r = so().dup(fd);
            complete(r.value, r.err);
            if (r.ok()) {
                fds_[st.as] = static_cast<int>(r.value);
                if (auto it = conns_.find(st.fd); it != conns_.end()) conns_[st.as] = it->second;
            }
            return true;
        }
        case Call::Setsockopt: {
            auto oc = option_const(st.option->name);
            switch (st.option->kind) {
                case OptionValueKind::Duration: {
                    // The socket keeps the timeout; park() asks it for the deadline.
                    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(st.option_value.duration).count();
                    const timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
                    auto r = so().setsockopt(fd, oc.level, oc.name, &tv, sizeof tv);
                    complete(r.value, r.err);
                    return true;
                }
                case OptionValueKind::Linger: {
                    const linger l{static_cast<int>(st.option_value.integer),
                                   static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(st.option_value.duration).count())};
                    auto r = so().setsockopt(fd, oc.level, oc.name, &l, sizeof l);
                    complete(r.value, r.err);
                    return true;
                }
                case OptionValueKind::Bool:
                case OptionValueKind::Int: {
                    auto r = so().setsockopt(fd, oc.level, oc.name, static_cast<int>(st.option_value.integer));
                    complete(r.value, r.err);
                    return true;
                }
            }
            return true;
        }
        case Call::Getsockopt: {
            auto oc = option_const(st.option->name);
            if (st.option->kind == OptionValueKind::Duration) {
                timeval tv{};
                socklen_t len = sizeof tv;
                auto r = so().getsockopt(fd, oc.level, oc.name, &tv, &len);
                complete(r.value, r.err);
                if (r.ok()) observed_duration_ = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
                return true;
            }
            if (st.option->kind == OptionValueKind::Linger) {
                linger l{};
                socklen_t len = sizeof l;
                auto r = so().getsockopt(fd, oc.level, oc.name, &l, &len);
                complete(r.value, r.err);
                if (r.ok()) observed_linger_ = std::pair<std::int64_t, std::int64_t>{l.l_onoff, l.l_linger};
                return true;
            }
            int value = 0;
            auto r = so().getsockopt(fd, oc.level, oc.name, value);
            complete(r.value, r.err);
            if (r.ok()) observed_value_ = value;
            return true;
        }
        case Call::Fcntl: {
            if (st.fcntl_cmd == Step::FcntlCmd::GetFl) {
                auto r = so().fcntl(fd, F_GETFL);
                complete(r.value, r.err);
                if (r.ok()) observed_value_ = (r.value & O_NONBLOCK) ? 1 : 0;
            } else {
                auto r = so().fcntl(fd, F_SETFL, st.nonblock ? O_NONBLOCK : 0);
                complete(r.value, r.err);
            }
            return true;
        }
        case Call::Poll: {
            int ready = 0;
            observed_revents_.clear();
            for (const auto& p : st.poll) {
                int pfd = fd_of(p.fd);
                short want = static_cast<short>(system_poll_events(p.events) | POLLERR | POLLHUP | POLLNVAL);
                short rev = static_cast<short>(so().poll(pfd) & want);
                observed_revents_.push_back({p.fd, model_poll_events(rev)});
                if (rev) ++ready;
            }
            bool zero_timeout = st.timeout && *st.timeout == Duration::zero();
            if (ready > 0 || zero_timeout || timed_out_) {
                complete(ready, 0);
                return true;
            }
            // Wait on every polled socket; the first wake-up (or the timeout) re-evaluates.
            if (run_.log_ && waits_.empty()) log_call(st, " ... blocks");
            Time deadline = st.timeout ? run_.world().now() + *st.timeout : kTimeNever;
            auto gen = ++wake_generation_;
            for (const auto& p : st.poll) {
                auto events = static_cast<short>(system_poll_events(p.events));
                waits_.push_back(so().wait(fd_of(p.fd), events, deadline, [this, gen](short revents) {
                    if (gen != wake_generation_) return;
                    woken(revents);
                }));
                deadline = kTimeNever;  // one timeout is enough
            }
            return false;
        }
        case Call::Sleep:
            complete(0, 0);
            return true;
        case Call::Getsockname:
        case Call::Getpeername: {
            tcp::Endpoint ep;
            auto r = st.call == Call::Getsockname ? so().getsockname(fd, ep) : so().getpeername(fd, ep);
            complete(r.value, r.err);
            if (r.ok()) {
                addr_ = ep;
                has_addr_ = true;
            }
            return true;
        }
    }
    return true;
}

std::string AppExec::call_text(const Step& st) const {
    std::string s = st.written + "(";
    auto fdname = [&](const std::string& n) {
        int fd = n == st.fd && display_fd_ >= 0 ? display_fd_ : fd_of(n);
        return n + (fd >= 0 ? "=" + std::to_string(fd) : "");
    };
    switch (st.call) {
        case Call::Socket: s += std::string("AF_INET, SOCK_STREAM") + (st.nonblock ? "|SOCK_NONBLOCK" : ""); break;
        case Call::Bind:
        case Call::Connect:
            s += fdname(st.fd) + ", " + (st.endpoint.addr.is_any() ? "0.0.0.0" : st.endpoint.addr.to_string()) + ":" +
                 std::to_string(st.endpoint.port);
            break;
        case Call::Listen: s += fdname(st.fd) + ", " + std::to_string(st.backlog); break;
        case Call::Send:
            s += fdname(st.fd) + ", " +
                 (st.data.is_generated() ? std::to_string(st.data.generated) + " bytes" : printable(st.data.literal)) +
                 (st.flags ? ", " + msg_flags_to_string(st.flags) : "");
            break;
        case Call::Recv:
            s += fdname(st.fd) + ", " + (st.read_all ? std::string("all") : std::to_string(st.size)) +
                 (st.flags ? ", " + msg_flags_to_string(st.flags) : "");
            break;
        case Call::Shutdown:
            s += fdname(st.fd) + (st.how == ShutdownHow::Read ? ", SHUT_RD" : st.how == ShutdownHow::Write ? ", SHUT_WR" : ", SHUT_RDWR");
            break;
        case Call::Setsockopt:
        case Call::Getsockopt:
            s += fdname(st.fd) + ", " + std::string(st.option->name);
            if (st.call == Call::Setsockopt) {
                if (st.option->kind == OptionValueKind::Duration) s += ", " + format_duration(st.option_value.duration);
                else if (st.option->kind == OptionValueKind::Linger)
                    s += ", " + linger_text(st.option_value.integer,
                                            std::chrono::duration_cast<std::chrono::seconds>(st.option_value.duration).count());
                else s += ", " + std::to_string(st.option_value.integer);
            }
            break;
        case Call::Fcntl:
            s += fdname(st.fd) + (st.fcntl_cmd == Step::FcntlCmd::GetFl ? ", F_GETFL" : std::string(", F_SETFL, ") + (st.nonblock ? "O_NONBLOCK" : "0"));
            break;
        case Call::Poll: {
            bool first = true;
            s += "{";
            for (const auto& p : st.poll) {
                s += (first ? "" : ", ") + p.fd + ": " + poll_events_to_string(p.events);
                first = false;
            }
            s += "}, " + (st.timeout ? format_duration(*st.timeout) : std::string("-1"));
            break;
        }
        case Call::Sleep: s += format_duration(st.duration); break;
        case Call::Accept:
        case Call::Close:
        case Call::Getsockname:
        case Call::Getpeername:
        case Call::Dup: s += fdname(st.fd); break;
    }
    return s + ")";
}

void AppExec::log_call(const Step& st, const std::string& suffix) { run_.log(spec_.name, call_text(st) + suffix); }

void AppExec::check(const Step& st) {
    auto& w = run_.world();
    if (run_.log_) {
        std::string r = " = " + result_text(value_, err_);
        if (st.call == Call::Socket || st.call == Call::Accept || st.call == Call::Dup)
            if (value_ >= 0) r += " (" + st.as + ")";
        if (has_addr_) r += "  " + addr_.addr.to_string() + ":" + std::to_string(addr_.port);
        if (!got_.empty()) r += "  " + printable(got_);
        if (observed_value_) {
            r += "  value " + std::to_string(*observed_value_);
            if (st.option && st.option->name == "SO_ERROR" && *observed_value_ != 0)
                r += " (" + std::string(errno_name(static_cast<int>(*observed_value_))) + ")";
        }
        if (observed_duration_) r += "  value " + format_duration(*observed_duration_);
        if (observed_linger_) r += "  value " + linger_text(observed_linger_->first, observed_linger_->second);
        for (const auto& [fd, ev] : observed_revents_)
            if (ev) r += "  " + fd + ": " + poll_events_to_string(ev);
        if (w.now() > call_start_ && st.call != Call::Sleep) r += "  [after " + format_duration(w.now() - call_start_) + "]";
        if (st.call != Call::Sleep) log_call(st, r);
    }
    const auto& e = st.expect;
    if (!e.any()) return;
    std::vector<std::string> bad;
    std::string text = spec_.name + ": " + call_text(st);
    if (e.blocked && *e.blocked) bad.push_back("expected to block to the end, but it returned " + result_text(value_, err_));
    if (e.ret && *e.ret != value_) bad.push_back("expected ret " + std::to_string(*e.ret) + ", got " + result_text(value_, err_));
    if (e.error) {
        if (*e.error == 0 && err_ != 0) bad.push_back("expected success, got " + result_text(value_, err_));
        else if (*e.error != 0 && err_ != *e.error)
            bad.push_back("expected errno " + e.error_name + ", got " + (err_ ? std::string(errno_name(err_)) : "success (" + std::to_string(value_) + ")"));
    }
    if (e.data && *e.data != got_) bad.push_back("expected data " + printable(*e.data) + ", got " + printable(got_));
    if (e.value && (!observed_value_ || *observed_value_ != *e.value))
        bad.push_back("expected value " + std::to_string(*e.value) + ", got " + (observed_value_ ? std::to_string(*observed_value_) : "nothing"));
    if (e.duration_value && (!observed_duration_ || *observed_duration_ != *e.duration_value))
        bad.push_back("expected " + format_duration(*e.duration_value) + ", got " + (observed_duration_ ? format_duration(*observed_duration_) : "nothing"));
    if (e.linger_value && (!observed_linger_ || *observed_linger_ != *e.linger_value))
        bad.push_back("expected " + linger_text(e.linger_value->first, e.linger_value->second) + ", got " +
                      (observed_linger_ ? linger_text(observed_linger_->first, observed_linger_->second) : "nothing"));
    if (e.address) {
        bool ok = has_addr_ && addr_.addr == e.address->addr && (e.address->port == 0 || addr_.port == e.address->port);
        if (!ok) bad.push_back("expected address " + e.address->addr.to_string() + ":" + (e.address->port ? std::to_string(e.address->port) : "*") +
                               ", got " + (has_addr_ ? addr_.addr.to_string() + ":" + std::to_string(addr_.port) : "none"));
    }
    if (e.port_at_least) {
        const auto& hs = run_.scenario().hosts[host_index_];
        bool ok = has_addr_ && addr_.port >= hs.sockets.ephemeral_low && addr_.port <= hs.sockets.ephemeral_high;
        if (!ok) bad.push_back("expected an ephemeral port (" + std::to_string(hs.sockets.ephemeral_low) + "-" + std::to_string(hs.sockets.ephemeral_high) +
                               "), got " + (has_addr_ ? std::to_string(addr_.port) : "none"));
    }
    for (const auto& [fd, ev] : e.revents) {
        unsigned seen = 0;
        for (const auto& [f, v] : observed_revents_)
            if (f == fd) seen = v;
        if (seen != ev) bad.push_back("expected revents " + fd + ": " + poll_events_to_string(ev) + ", got " + poll_events_to_string(seen));
    }
    if (e.returns_at && w.now() != Time{*e.returns_at})
        bad.push_back("expected to return at " + format_duration(*e.returns_at) + ", returned at " + format_seconds(w.now()));
    ExpectationResult r;
    r.mark = e.mark.line ? e.mark : st.mark;
    r.text = text;
    r.held = bad.empty();
    for (const auto& b : bad) r.detail += (r.detail.empty() ? "" : "; ") + b;
    if (!r.held && run_.log_) run_.log(spec_.name, "!! " + r.detail + " (" + where(run_.scenario(), r.mark) + ")");
    results_.push_back(std::move(r));
}

void AppExec::finish(std::vector<ExpectationResult>& out) const {
    out.insert(out.end(), results_.begin(), results_.end());
    for (std::size_t i = pc_; i < spec_.steps.size(); ++i) {
        const auto& st = spec_.steps[i];
        if (!st.expect.any()) continue;
        ExpectationResult r;
        r.mark = st.expect.mark.line ? st.expect.mark : st.mark;
        r.text = spec_.name + ": " + call_text(st);
        if (i == pc_ && parked_) {
            r.held = st.expect.blocked && *st.expect.blocked;
            if (!r.held) r.detail = "never returned: still blocked when the run ended";
        } else {
            r.held = false;
            const auto& cur = spec_.steps[pc_];
            r.detail = "never ran: the script was still in " + cur.written + " (" + where(run_.scenario(), cur.mark) + ") when the run ended";
        }
        out.push_back(std::move(r));
    }
}

// ---------------------------------------------------------------- expectations

std::vector<tcp::State> Run::path(const AppExec::Conn& c, std::size_t host, std::optional<Time> until) const {
    std::vector<tcp::State> p;
    for (const auto& s : states_) {
        if (s.host != host || s.at < c.since) continue;
        if (until && s.at > *until) break;
        bool same = s.tuple == c.tuple;
        // A socket's local address may be the wildcard (listeners) or not yet chosen.
        if (!same && c.tuple.remote.port == 0 && s.tuple.remote.port == 0 && s.tuple.local.port == c.tuple.local.port) same = true;
        if (!same) continue;
        if (p.empty()) p.push_back(s.from);
        p.push_back(s.to);
    }
    return p;
}

std::string state_list(const std::vector<tcp::State>& v) {
    std::string s;
    for (auto x : v) s += (s.empty() ? "" : " ") + std::string(tcp::to_string(x));
    return s.empty() ? "(no state changes)" : s;
}

ExpectationResult Run::evaluate(const Expectation& e) {
    ExpectationResult r;
    r.mark = e.mark;
    r.text = e.text;
    auto find_app = [&](const std::string& n) -> const AppExec* {
        for (const auto& a : apps_)
            if (a->name() == n) return a.get();
        return nullptr;
    };
    auto compare = [&](std::uint64_t n) {
        switch (e.compare) {
            case Compare::Eq: return n == e.count;
            case Compare::AtLeast: return n >= e.count;
            case Compare::AtMost: return n <= e.count;
        }
        return false;
    };
    auto relation = [&]() {
        switch (e.compare) {
            case Compare::Eq: return std::string("exactly ") + std::to_string(e.count);
            case Compare::AtLeast: return "at least " + std::to_string(e.count);
            case Compare::AtMost: return "at most " + std::to_string(e.count);
        }
        return std::string();
    };
    switch (e.kind) {
        case Expectation::Kind::State:
        case Expectation::Kind::States: {
            const AppExec* a = find_app(e.of.app);
            const AppExec::Conn* c = a ? a->conn(e.of.fd) : nullptr;
            if (!c) {
                r.detail = e.of.to_string() + " never had a connection (its script did not get that far)";
                return r;
            }
            auto host = host_index(a->spec_.host);
            if (e.kind == Expectation::Kind::State) {
                if (e.at && Time{*e.at} > world_.now()) {
                    r.detail = "the run ended at " + format_seconds(world_.now()) + ", before " + format_duration(*e.at);
                    return r;
                }
                auto p = path(*c, host, e.at ? std::optional<Time>(Time{*e.at}) : std::nullopt);
                tcp::State s = p.empty() ? tcp::State::Closed : p.back();
                r.held = s == e.state;
                if (!r.held) r.detail = std::string("it was ") + tcp::to_string(s) + " (went through " + state_list(p) + ")";
            } else {
                auto p = path(*c, host, std::nullopt);
                auto got = p;
                if (!got.empty() && e.states.front() != got.front()) got.erase(got.begin());  // the initial state is implied
                r.held = got == e.states;
                if (!r.held) r.detail = "it went through " + state_list(p);
            }
            return r;
        }
        case Expectation::Kind::Delivered: {
            const AppExec* from = find_app(e.from.app);
            const AppExec* to = find_app(e.to.app);
            AppExec::Flow none;
            const auto* s = from ? from->sent(e.from.fd) : nullptr;
            const auto* g = to ? to->received(e.to.fd) : nullptr;
            if (!s) s = &none;
            if (!g) g = &none;
            r.held = s->bytes == g->bytes && s->hash == g->hash && (!e.bytes || *e.bytes == s->bytes);
            if (!r.held) {
                if (e.bytes && *e.bytes != s->bytes)
                    r.detail = std::to_string(s->bytes) + " bytes were sent on " + e.from.to_string() + ", not " + std::to_string(*e.bytes);
                else if (s->bytes != g->bytes)
                    r.detail = std::to_string(s->bytes) + " bytes sent, " + std::to_string(g->bytes) + " received on " + e.to.to_string();
                else
                    r.detail = "the same number of bytes (" + std::to_string(s->bytes) + ") but different contents";
            }
            return r;
        }
        case Expectation::Kind::Segment: {
            auto li = e.link.empty() ? SIZE_MAX : link_index(e.link);
            auto hi = e.match.from_host ? host_index(*e.match.from_host) : SIZE_MAX;
            unsigned want_opts = 0;
            for (const auto& o : e.match.options) want_opts |= option_bit(o);
            std::uint64_t n = 0;
            for (const auto& s : segs_) {
                if (li != SIZE_MAX && s.link != li) continue;
                if (hi != SIZE_MAX && s.host != hi) continue;
                if (e.match.flags && s.flags != *e.match.flags) continue;
                if (e.match.flags_set && (s.flags & *e.match.flags_set) != *e.match.flags_set) continue;
                if (e.match.seq && s.seq != *e.match.seq) continue;
                if (e.match.ack && s.ack != *e.match.ack) continue;
                if (e.match.length && s.len != *e.match.length) continue;
                if (e.match.window && s.win != *e.match.window) continue;
                if (e.match.has_data && (s.len > 0) != *e.match.has_data) continue;
                if ((s.options & want_opts) != want_opts) continue;
                ++n;
            }
            r.held = compare(n);
            if (!r.held) r.detail = "seen " + std::to_string(n) + " time" + (n == 1 ? "" : "s") + ", expected " + relation();
            return r;
        }
        case Expectation::Kind::Count: {
            auto li = e.link.empty() ? SIZE_MAX : link_index(e.link);
            auto hi = e.host.empty() ? SIZE_MAX : host_index(e.host);
            std::uint64_t n = 0;
            switch (e.counter) {
                case Expectation::Counter::Segments:
                case Expectation::Counter::Retransmissions:
                case Expectation::Counter::Resets:
                    for (const auto& s : segs_) {
                        if (li != SIZE_MAX && s.link != li) continue;
                        if (hi != SIZE_MAX && s.host != hi) continue;
                        if (e.counter == Expectation::Counter::Retransmissions && !s.retransmission) continue;
                        if (e.counter == Expectation::Counter::Resets && !(s.flags & flag::Rst)) continue;
                        ++n;
                    }
                    break;
                case Expectation::Counter::Frames:
                    for (std::size_t i = 0; i < outs_.size(); ++i)
                        if (li == SIZE_MAX || li == i) n += outs_[i]->frames;
                    break;
                case Expectation::Counter::Drops:
                    if (hi == SIZE_MAX)
                        for (std::size_t i = 0; i < outs_.size(); ++i)
                            if (li == SIZE_MAX || li == i) n += outs_[i]->drops;
                    if (li == SIZE_MAX)
                        for (std::size_t i = 0; i < host_drops_.size(); ++i)
                            if (hi == SIZE_MAX || hi == i) n += host_drops_[i];
                    break;
            }
            r.held = compare(n);
            if (!r.held) r.detail = "counted " + std::to_string(n) + ", expected " + relation();
            return r;
        }
    }
    return r;
}

void Run::evaluate(RunResult& result) {
    for (const auto& a : apps_) a->finish(result.expectations);
    for (const auto& e : sc_.expectations) result.expectations.push_back(evaluate(e));
    std::stable_sort(result.expectations.begin(), result.expectations.end(),
                     [](const ExpectationResult& a, const ExpectationResult& b) { return a.mark.line < b.mark.line; });
}

RunResult Run::execute() {
    build();
    open_outputs();
    print_header();
    world_.trace().subscribe(*this);
    for (auto t : opt_.netstat_at) world_.at(Time{t}, [this, t] { netstat(Time{t}); });
    for (auto& a : apps_) a->start();

    Time limit = sc_.until ? Time{*sc_.until} : Time{kDefaultLimit};
    std::uint64_t n = 0;
    if (live_) {
        run_live(limit);
    } else {
        while (world_.step(limit)) {
            if (opt_.progress && (++n & 0xffff) == 0) opt_.progress(world_.now(), limit);
        }
        if (sc_.until) world_.run_until(limit);  // the clock ends at `until` even if idle earlier
    }
    world_.trace().unsubscribe(*this);
    if (states_log_) world_.trace().unsubscribe(*states_log_);

    RunResult result;
    result.end = world_.now();
    evaluate(result);

    // Fingerprint: FNV-1a 64 of the pcap bytes (one link), or of the per-link digests in link order.
    std::uint64_t fp = 0xcbf29ce484222325ull;
    for (auto& o : outs_) {
        o->pcap->flush();
        o->pcap_stream->flush();
        result.frames += o->frames;
        if (outs_.size() == 1) fp = o->hash.digest();
        else
            for (int i = 0; i < 8; ++i) fp = (fp ^ ((o->hash.digest() >> (8 * i)) & 0xff)) * 0x100000001b3ull;
        if (o->pcap_file) {
            o->pcap_file->flush();
            if (!*o->pcap_file) throw std::runtime_error("writing the pcap file failed");
        }
        if (o->trace_file) o->trace_file->flush();
    }
    if (trace_all_) trace_all_->flush();
    if (states_file_) states_file_->flush();
    result.fingerprint = hex64(fp);
    result.files = files_;

    // Report: the log gets every verdict; --quiet still shows failures and the summary.
    std::ostream* out = opt_.log;
    bool stdout_taken = opt_.trace_path == "-" || opt_.states_path == "-";
    if (out && stdout_taken) out = &std::cerr;
    if (out) {
        std::size_t failed = 0;
        for (const auto& e : result.expectations) failed += e.held ? 0 : 1;
        if (log_) *out << "\nrun ended at " << format_seconds(result.end) << (live_ ? " (wall-clock seconds since the start, live)" : " (virtual time)") << ", " << result.frames << " frames\n";
        if (!result.expectations.empty()) {
            if (log_ || failed) *out << "\nexpectations:\n";
            for (const auto& e : result.expectations) {
                if (e.held && !log_) continue;
                *out << (e.held ? "  ok    " : "  FAIL  ") << where(sc_, e.mark) << "  " << e.text;
                if (!e.held) *out << "\n          " << e.detail;
                *out << '\n';
            }
            *out << (log_ || failed ? "\n" : "") << (failed ? std::to_string(failed) + " of " + std::to_string(result.expectations.size()) + " expectations FAILED"
                                    : "all " + std::to_string(result.expectations.size()) + " expectations held")
                 << '\n';
        }
        for (const auto& f : files_) *out << "wrote " << f << '\n';
        *out << "fingerprint " << result.fingerprint << "  (pcap FNV-1a, " << result.frames << " frames, seed " << world_.seed() << ")\n";
    }
    if (live_) end_live(out);
    return result;
}

}  // namespace

RunResult run_scenario(const Scenario& scenario, const RunOptions& options) {
    Run run(scenario, options);
    return run.execute();
}

}  // namespace tcpsim::stack::scenario
