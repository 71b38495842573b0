// The scenario model: what a YAML scenario file says, validated and with every name resolved.
// The loader (loader.hpp) builds it; the runner (runner.hpp) turns it into a World and runs it.
// Every element keeps the line:column it came from so run-time failures can point at the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "tcp/config.hpp"
#include "tcp/types.hpp"

namespace tcpsim::stack::scenario {

// 1-based line and column in the scenario file; 0 means "not from the file".
struct Mark {
    int line = 0;
    int column = 0;
    auto operator<=>(const Mark&) const = default;
};

// ---------------------------------------------------------------- hosts

// Behaviour personalities the seeds contrast (SEEDS-CHECKLIST 9.1): Linux is the default.
enum class Personality { Linux, Bsd, Rfc };
const char* to_string(Personality p);

struct InterfaceSpec {
    Mark mark;
    std::string name;  // "eth0"
    Ipv4Prefix address;
    MacAddr mac;  // given, or derived deterministically from host and interface index
    std::uint32_t mtu = 1500;
};

struct RouteSpec {
    Mark mark;
    Ipv4Prefix destination;
    Ipv4Addr via;
};

// Socket-layer knobs (Linux sysctls) that are not per-connection TCP parameters.
struct SocketLayerSpec {
    std::uint32_t rmem_max = 212992;   // net.core.rmem_max
    std::uint32_t wmem_max = 212992;   // net.core.wmem_max
    std::uint32_t somaxconn = 4096;    // net.core.somaxconn
    std::uint8_t syncookies = 1;       // net.ipv4.tcp_syncookies: 0 off, 1 on SYN-queue overflow, 2 always
    std::uint16_t ephemeral_low = 32768;   // net.ipv4.ip_local_port_range
    std::uint16_t ephemeral_high = 60999;
};

// `live:` - the host's stack runs on a Linux TAP device in real time; the kernel is its peer
// (stack/scenario/live.hpp). At most one per scenario, with one interface and no links.
struct LiveSpec {
    Mark mark;
    std::string dev;                        // the TAP device
    Mark create_mark;
    bool create = false;                    // create the device (root), gone when the run ends
    std::optional<Ipv4Prefix> kernel;       // with create: the kernel's address on the device
};

struct HostSpec {
    Mark mark;
    std::string name;
    std::vector<InterfaceSpec> interfaces;
    std::optional<Ipv4Addr> gateway;
    std::vector<RouteSpec> routes;
    bool forwarding = false;  // a router (net.ipv4.ip_forward)
    Personality personality = Personality::Linux;
    tcp::Config tcp;  // `stack:` block over the personality's defaults
    SocketLayerSpec sockets;
    std::optional<LiveSpec> live;

    bool mss_set = false;  // `stack: {mss:}` given: advertised on every route (Linux advmss)

    const InterfaceSpec* find_interface(std::string_view name) const;
};

// ---------------------------------------------------------------- links

enum class DelayDistribution { Uniform, Normal, Pareto, ParetoNormal };
const char* to_string(DelayDistribution d);

// Probabilities are fractions in [0, 1] (the file writes percentages).
struct LossSpec {
    enum class Model { Random, GilbertElliott, FourState };
    Model model = Model::Random;
    double probability = 0;  // Random
    double correlation = 0;  // Random
    // Gilbert-Elliott (netem `gemodel p r 1-h 1-k`).
    double p = 0, r = 1, one_minus_h = 1, one_minus_k = 0;
    // 4-state Markov (netem `state p13 p31 p32 p23 p14`).
    double p13 = 0, p31 = 1, p32 = 0, p23 = 1, p14 = 0;
};

struct ChanceSpec {
    double probability = 0;
    double correlation = 0;
};

struct ReorderSpec {
    double probability = 0;
    double correlation = 0;
    std::uint32_t gap = 0;  // netem `gap`: every gap-th packet is sent at once
};

// netem-like impairments of one direction. Unset fields inherit from the link-level block.
struct ImpairmentSpec {
    std::optional<Duration> delay;
    std::optional<Duration> jitter;
    std::optional<double> delay_correlation;
    std::optional<DelayDistribution> distribution;
    std::optional<std::uint64_t> rate_bps;  // serialisation rate; 0 = unlimited
    std::optional<std::uint32_t> queue_limit;  // packets waiting for the wire
    std::optional<LossSpec> loss;
    std::optional<ChanceSpec> duplicate;
    std::optional<ChanceSpec> corrupt;
    std::optional<ReorderSpec> reorder;

    // Fields set in `over` replace those here.
    void overlay(const ImpairmentSpec& over);
};

enum class LinkDirection { Both, AtoB, BtoA };
const char* to_string(LinkDirection d);

// TCP flag bits as on the wire.
namespace flag {
inline constexpr std::uint8_t Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20,
                              Ece = 0x40, Cwr = 0x80;
}
// "S", "S.", "F.", "P.", "R", "." ... (tcpdump letters), or names "SYN|ACK".
std::string flags_to_string(std::uint8_t flags);

// Which TCP segments a rule or an expectation is about. Unset fields match anything.
struct SegmentMatch {
    std::optional<std::string> from_host;  // sender host
    std::optional<std::uint8_t> flags;     // these flag bits exactly (tcpdump "S." = SYN|ACK)
    std::optional<std::uint8_t> flags_set; // at least these bits
    std::optional<std::uint32_t> seq;
    std::optional<std::uint32_t> ack;
    std::optional<std::uint32_t> length;   // payload bytes
    std::optional<std::uint32_t> window;
    std::optional<bool> has_data;
    std::vector<std::string> options;      // option kinds that must be present: mss, sackOK, TS, wscale, sack, eol, nop
    bool final_ack = false;                // faults only: the last ACK of a close (link/fault.hpp)
};

// A targeted fault: act on the nth..(nth+count-1)th segments matching, in a time window.
struct FaultSpec {
    Mark mark;
    LinkDirection direction = LinkDirection::Both;
    SegmentMatch match;
    std::uint32_t nth = 1;     // first matching segment to affect (1-based)
    std::uint32_t count = 1;   // how many matching segments to affect; 0 = all from nth on
    std::optional<Duration> after;   // only segments sent at or after this time
    std::optional<Duration> before;  // only segments sent before this time
    enum class Action { Drop, Delay, Duplicate, Corrupt };
    Action action = Action::Drop;
    Duration delay{};  // Action::Delay: extra delay
};
const char* to_string(FaultSpec::Action a);

// A time-based change of a link: new impairments, or the link going down/up.
struct ScheduleSpec {
    Mark mark;
    Duration at{};
    LinkDirection direction = LinkDirection::Both;
    ImpairmentSpec set;
    std::optional<bool> up;  // false: every frame is lost until a later `up`
};

struct LinkEndSpec {
    Mark mark;
    std::string host;
    std::string interface;
};

struct LinkSpec {
    Mark mark;
    std::string name;
    LinkEndSpec a, b;
    std::uint32_t mtu = 0;  // 0: the smaller interface MTU
    ImpairmentSpec a_to_b, b_to_a;  // link-level fields already merged in
    std::vector<FaultSpec> faults;
    std::vector<ScheduleSpec> schedule;
};

// ---------------------------------------------------------------- apps

enum class Call {
    Socket, Bind, Listen, Accept, Connect, Send, Recv, Shutdown, Close, Setsockopt, Getsockopt, Fcntl,
    Poll, Sleep, Getsockname, Getpeername, Dup,
};
const char* to_string(Call c);

// send/recv flags (bit values are ours; the runner maps them).
namespace msg {
inline constexpr unsigned Oob = 1, Peek = 2, Waitall = 4, Dontwait = 8, More = 16, Nosignal = 32;
}
// poll events.
namespace pollev {
inline constexpr unsigned In = 1, Pri = 2, Out = 4, Err = 8, Hup = 16, Rdhup = 32, Nval = 64;
}
std::string msg_flags_to_string(unsigned flags);
std::string poll_events_to_string(unsigned events);

enum class ShutdownHow { Read, Write, Both };

// What send() writes: literal bytes, or `bytes: N` of a deterministic pattern.
struct DataSpec {
    ByteVector literal;
    std::uint64_t generated = 0;  // when > 0, send this many pattern bytes
    bool is_generated() const { return generated > 0; }
    std::uint64_t size() const { return is_generated() ? generated : literal.size(); }
};
// The pattern generated data uses: byte i of a call. Printable so `tcpdump -A` stays readable.
std::byte pattern_byte(std::uint64_t i);

enum class OptionValueKind { Int, Bool, Duration, Linger };
struct SocketOption {
    std::string_view name;  // "SO_RCVBUF"
    bool tcp_level = false;  // IPPROTO_TCP (else SOL_SOCKET)
    OptionValueKind kind = OptionValueKind::Int;
    bool readonly = false;  // SO_ERROR, SO_TYPE, TCP_INFO-like
};
// nullptr when unknown.
const SocketOption* find_socket_option(std::string_view name);
std::vector<std::string> socket_option_names();

struct OptionValue {
    std::int64_t integer = 0;  // Int/Bool; Linger: l_onoff
    Duration duration{};       // Duration; Linger: l_linger
};

struct PollEntry {
    std::string fd;
    unsigned events = 0;
};

// What a call is expected to return. Unset fields are not checked.
struct CallExpect {
    Mark mark;
    std::optional<std::int64_t> ret;
    std::optional<int> error;  // errno value; 0 means "no error"
    std::string error_name;
    std::optional<ByteVector> data;  // recv: the bytes read
    std::optional<std::int64_t> value;  // getsockopt int/bool, fcntl F_GETFL nonblock bit
    std::optional<Duration> duration_value;  // getsockopt timeouts
    std::optional<std::pair<std::int64_t, std::int64_t>> linger_value;
    std::optional<tcp::Endpoint> address;  // getsockname/getpeername/accept peer
    std::optional<std::uint16_t> port_at_least;  // ephemeral ports: "an ephemeral port"
    std::vector<std::pair<std::string, unsigned>> revents;  // poll
    std::optional<bool> blocked;  // true: the call is still parked when the run ends
    std::optional<Duration> returns_at;  // virtual time the call completes
    bool any() const;
};

struct Step {
    Mark mark;
    Call call = Call::Sleep;
    std::string written;        // the name used in the file ("write" for Call::Send)
    std::optional<Duration> at;     // start no earlier than this virtual time
    std::optional<Duration> after;  // start this long after the previous step finished
    std::string fd;             // the descriptor operated on
    std::string as;             // socket/accept/dup: the new descriptor's name
    tcp::Endpoint endpoint;     // bind/connect
    bool has_endpoint = false;
    int backlog = 128;
    DataSpec data;
    std::uint64_t size = 0;     // recv size
    bool read_all = false;      // recv size: all (loop until EOF)
    unsigned flags = 0;         // msg:: flags
    ShutdownHow how = ShutdownHow::Write;
    const SocketOption* option = nullptr;
    OptionValue option_value;
    enum class FcntlCmd { GetFl, SetFl } fcntl_cmd = FcntlCmd::GetFl;
    bool nonblock = false;      // F_SETFL O_NONBLOCK
    std::vector<PollEntry> poll;
    std::optional<Duration> timeout;  // poll (none = infinite)
    Duration duration{};        // sleep
    CallExpect expect;
};

struct AppSpec {
    Mark mark;
    std::string name;
    std::string host;
    std::optional<Duration> start;
    std::vector<Step> steps;
};

// ---------------------------------------------------------------- expectations

// A descriptor of an app: "client.sock".
struct SocketRef {
    Mark mark;
    std::string app;
    std::string fd;
    std::string to_string() const { return app + "." + fd; }
};

enum class Compare { Eq, AtLeast, AtMost };

struct Expectation {
    Mark mark;
    enum class Kind { State, States, Delivered, Segment, Count };
    Kind kind = Kind::State;
    std::string text;  // how to name it in a failure message

    // State: `of` is in state `state` at time `at` (default: end of the run).
    // States: `of` went through exactly `states` (first state after CLOSED on).
    SocketRef of;
    std::optional<Duration> at;
    tcp::State state = tcp::State::Closed;
    std::vector<tcp::State> states;

    // Delivered: everything sent on `from` arrived, in order, on `to`.
    SocketRef from, to;
    std::optional<std::uint64_t> bytes;

    // Segment: frames on `link` matching `match`; Count: counters.
    std::string link;  // empty: any link
    SegmentMatch match;
    enum class Counter { Segments, Retransmissions, Resets, Drops, Frames };
    Counter counter = Counter::Segments;
    std::string host;  // Count: restrict to a host (retransmissions, resets sent)
    Compare compare = Compare::AtLeast;
    std::uint64_t count = 1;
};
const char* to_string(Expectation::Counter c);

// ---------------------------------------------------------------- the whole file

struct Scenario {
    std::string file;         // as given on the command line (for messages)
    std::string description;  // optional `description:`
    std::uint64_t seed = 1;
    std::optional<Duration> until;  // stop at this virtual time; default: when idle (capped)
    std::vector<HostSpec> hosts;
    std::vector<LinkSpec> links;
    std::vector<AppSpec> apps;
    std::vector<Expectation> expectations;

    const HostSpec* find_host(std::string_view name) const;
    const LinkSpec* find_link(std::string_view name) const;
    const AppSpec* find_app(std::string_view name) const;
    const HostSpec* live_host() const;  // the `live:` host, or nullptr
};

}  // namespace tcpsim::stack::scenario
