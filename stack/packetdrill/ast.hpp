// The syntax tree of a packetdrill script. Every node carries the line:column where it starts, so
// the interpreter can report `file:line:column: ...` for a mismatch deep inside an argument.
//
// Shape (packetdrill grammar, see docs/packetdrill.md):
//   Script  = options, an optional setup `command`, events, an optional cleanup `command`
//   Event   = time + one action: a packet (< injected, > expected), a system call,
//             a `shell command` or a %{ python }% block
// System call arguments are generic expressions (numbers, named constants, `a|b`, arrays,
// {structs} with optional `name=` fields, calls such as htons(8080), and the `...` wildcard):
// the interpreter knows from the call and argument position which C struct is meant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "link/base/time.hpp"
#include "stack/packetdrill/diagnostic.hpp"
#include "tcp/segment.hpp"

namespace tcpsim::stack::packetdrill {

// ---------------------------------------------------------------------------------------------
// Expressions (system call arguments and results)

struct Expr {
    enum class Kind {
        Ellipsis,  // ...            matches/supplies anything
        Integer,   // 42, -1, 0x2    (`hex` remembers the spelling)
        Word,      // SOCK_STREAM    a named constant (or an unknown word)
        String,    // "abc"          (`prefix`: "abc"... matches any string starting with abc)
        BitOr,     // A|B|C          items = operands, flattened
        Field,     // name=value, name(count)=value   items = {value}, args = the (count)
        Call,      // htons(8080), inet_addr("192.0.2.1")   args = arguments
        Array,     // [a, b]         items = elements
        Struct,    // {a, b} / {x=1, y=2}   items = elements (Field or positional)
    };
    Kind kind = Kind::Ellipsis;
    SourceLoc loc;
    std::int64_t integer = 0;  // Integer
    bool hex = false;          // Integer written as 0x...
    std::string text;          // Word name, String contents, Field/Call name
    bool prefix = false;       // String followed by ...
    std::vector<Expr> items;
    std::vector<Expr> args;

    bool is_ellipsis() const { return kind == Kind::Ellipsis; }
    bool is_int() const { return kind == Kind::Integer; }
    bool is_word(std::string_view w) const { return kind == Kind::Word && text == w; }
    // Field value (Field only).
    const Expr& value() const { return items.front(); }
    // The `name=` field of a Struct, or nullptr.
    const Expr* field(std::string_view name) const;
    // Source-like rendering: `{fd=3, events=POLLIN|POLLOUT}`.
    std::string to_string() const;
};

// ---------------------------------------------------------------------------------------------
// Packets

enum class Direction {
    Inbound,   // '<' the script injects it into the stack under test
    Outbound,  // '>' the stack under test must send it
};

struct TcpOption {
    enum class Kind {
        Nop, Eol, Mss, WindowScale, SackPermitted, Sack, Timestamp,
        FastOpen,     // FO [cookie]      (kind 34, RFC 7413)
        FastOpenExp,  // FOEXP [cookie]   (kind 254 + magic 0xF989)
        Md5,          // md5 <hex digest> (kind 19, RFC 2385)
        AccEcn,       // ECN e0b N ceb N e1b N (AccECN option; field order picks kind 172/174)
    };
    Kind kind = Kind::Nop;
    SourceLoc loc;
    std::uint32_t value = 0;           // mss; window scale shift
    bool wildcard = false;             // `wscale *`: any shift count matches
    std::vector<tcp::SackBlock> sack;  // relative sequence numbers, as written
    tcp::Timestamps ts;                // TS val/ecr as written
    std::vector<std::uint8_t> bytes;   // FO/FOEXP cookie, md5 digest
    std::vector<std::pair<std::string, std::uint32_t>> accecn;  // (e0b|ceb|e1b, value) in order

    // Bytes on the wire (kind and length included).
    std::size_t wire_size() const;
    std::string to_string() const;
};

// ip_info in `[ect0]`, `(tos 0x10)`, `[ttl 64]`, `[ce, flowlabel 0x1]`.
struct IpInfo {
    enum class Ecn { None, NotEct, Ect0, Ect1, Ce, Ect01 /* outbound: ECT0 or ECT1 */ };
    SourceLoc loc;
    Ecn ecn = Ecn::None;
    std::optional<std::uint8_t> tos;
    std::optional<std::uint32_t> flow_label;  // IPv6 only
    std::optional<std::uint8_t> ttl;
};

// An encapsulation prefix before the inner packet (`ipv4 a > b:`, `gre ...:`, `mpls ...:`);
// tcpsim does not run these, the parser keeps them so classify() can say so.
struct Encapsulation {
    std::string kind;  // "ipv4", "ipv6", "gre", "mpls"
    SourceLoc loc;
    std::string text;  // source text of the prefix
};

struct TcpSpec {
    std::string flags_text;         // as written: "S.", "P.", "SEW", "-"
    tcp::Flags flags;               // FIN SYN RST PSH ACK URG ECE CWR
    bool ae = false;                // 'A': AccECN AE bit (the reserved bit next to CWR)
    std::optional<std::uint8_t> ace;  // a digit 0-7 in the flags: the AccECN ACE field
    std::optional<std::uint16_t> src_port, dst_port;  // `1234>80` (rarely written)
    std::uint32_t seq_start = 0;    // relative to the sender's ISN
    std::uint32_t seq_end = 0;
    std::uint32_t payload = 0;      // bytes of payload (all zero on the wire)
    std::optional<std::uint32_t> ack;     // `ack N`, relative to the receiver's ISN
    std::optional<std::uint16_t> window;  // `win N` (unscaled, as on the wire); none = unchecked
    std::optional<std::uint16_t> urgent;  // `urg N`
    enum class OptionsMode {
        Exact,  // no <...> written (= no options) or a listed set: must match exactly
        Any,    // `<...>`: options are not checked (outbound only)
    };
    OptionsMode options_mode = OptionsMode::Exact;
    std::vector<TcpOption> options;
    SourceLoc options_loc;
    std::optional<std::string> fuzz;  // a trailing `{...}` fuzzing directive, kept verbatim

    std::size_t options_wire_size() const;
};

struct UdpSpec {
    std::optional<std::uint16_t> src_port, dst_port;
    std::uint32_t payload = 0;
};

// `icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`
struct IcmpSpec {
    std::string type;  // echo_reply, unreachable, time_exceeded, ... or type_N
    std::optional<std::string> code;  // net_unreachable, port_unreachable, frag_needed, ... or code_N
    int type_value = -1;  // resolved IPv4 numbers (-1: unknown name)
    int code_value = 0;
    std::optional<std::uint16_t> mtu;
    std::optional<std::uint16_t> echo_id;
    enum class Echoed { None, Tcp, Udp, Raw };
    Echoed echoed = Echoed::None;    // what the quoted datagram is
    std::uint32_t echoed_seq = 0;    // Tcp: start sequence (relative)
    std::uint32_t echoed_payload = 0;
};

struct PacketSpec {
    Direction direction = Direction::Inbound;
    SourceLoc loc;
    std::vector<Encapsulation> encapsulation;
    std::optional<IpInfo> ip;
    std::variant<TcpSpec, UdpSpec, IcmpSpec> body;

    const TcpSpec* tcp() const { return std::get_if<TcpSpec>(&body); }
    std::string to_string() const;
};

// ---------------------------------------------------------------------------------------------
// System calls, commands, code

struct SyscallSpec {
    std::string name;
    SourceLoc name_loc;
    std::vector<Expr> args;
    Expr result;                       // what `= ...` says
    std::optional<std::string> errno_name;  // `-1 EAGAIN (...)`: "EAGAIN"
    SourceLoc errno_loc;
    std::optional<std::string> note;   // the parenthesized text after the result, verbatim
    // Blocking call: `start...end name(...)`. The end is on the same clock as the start: for a
    // relative start, an offset from the same base (packetdrill run.c adjusts both).
    std::optional<Duration> end_time;
    SourceLoc end_loc;
};

struct CommandSpec {
    std::string text;  // between the backquotes, verbatim (may span lines)
    SourceLoc loc;
};

struct CodeSpec {
    std::string text;  // between %{ and }%, blanks trimmed at both ends
    SourceLoc loc;     // the %{
    SourceLoc text_loc;  // the first character of `text`
};

// ---------------------------------------------------------------------------------------------
// Events and their times

struct EventTime {
    enum class Kind {
        Absolute,       // 1.5
        Relative,       // +.1                (after the previous event)
        Any,            // *                  (outbound packets only: whenever it comes)
        AbsoluteRange,  // 1.0~1.1            (outbound packets only)
        RelativeRange,  // +.3~+.4            (outbound packets only)
    };
    Kind kind = Kind::Absolute;
    SourceLoc loc;
    Duration start{};  // the number as written (absolute time or offset)
    Duration end{};    // ranges: second number as written; otherwise == start

    bool relative() const { return kind == Kind::Relative || kind == Kind::RelativeRange || kind == Kind::Any; }
    bool range() const { return kind == Kind::AbsoluteRange || kind == Kind::RelativeRange; }
};

struct Event {
    EventTime time;
    std::variant<PacketSpec, SyscallSpec, CommandSpec, CodeSpec> action;
    SourceLoc loc() const { return time.loc; }

    const PacketSpec* packet() const { return std::get_if<PacketSpec>(&action); }
    const SyscallSpec* syscall() const { return std::get_if<SyscallSpec>(&action); }
    const CommandSpec* command() const { return std::get_if<CommandSpec>(&action); }
    const CodeSpec* code() const { return std::get_if<CodeSpec>(&action); }
};

// `--name` or `--name=value` at the top of a script.
struct OptionSetting {
    std::string name;
    std::optional<std::string> value;
    SourceLoc loc;
};

// What the options say, with packetdrill's defaults (config.c).
struct ScriptConfig {
    enum class IpVersion { Ipv4, Ipv4MappedIpv6, Ipv6 };
    IpVersion ip_version = IpVersion::Ipv4;
    Duration tolerance = std::chrono::microseconds(4000);  // --tolerance_usecs
    double tolerance_percent = 12.5;                       // --tolerance_percent
    std::optional<Duration> ts_tick;   // --tcp_ts_tick_usecs: TS val units checked when set
    bool ts_ecr_scaled = false;        // --tcp_ts_ecr_scaled
    bool strict_segments = false;      // --strict_segments: no TSO-style coalescing in matching
    std::optional<std::string> local_ip, remote_ip, gateway_ip, netmask_ip;
    std::optional<std::uint16_t> bind_port, connect_port;
    std::optional<std::uint32_t> mss, mtu;
    std::vector<std::pair<std::string, std::string>> defines;  // --define=NAME=value
};

// ---------------------------------------------------------------------------------------------
// The schedule: when each event is due, resolved from absolute/relative/`*`/range times.

struct ScheduledEvent {
    std::size_t event = 0;  // index into Script::events
    // What a relative time counts from. packetdrill (run.c adjust_relative_event_times) uses
    // the moment the interpreter reaches the event, except that a relative inbound packet right
    // after another inbound packet counts from that packet's scheduled time.
    enum class Anchor {
        Start,              // absolute time: from the start of the script
        PreviousActual,     // relative: from when the previous event actually happened
        PreviousScheduled,  // relative inbound after inbound: from the previous scheduled time
    };
    Anchor anchor = Anchor::Start;
    Duration offset{};       // from the anchor to the earliest time (start of a range)
    Duration offset_end{};   // from the anchor to the latest time (== offset unless a range)
    bool any_time = false;   // `*`
    // Blocking system call: latest completion, from the same anchor (none: non-blocking).
    std::optional<Duration> blocking_end_offset;
    // Nominal times from script start, assuming every event happens on schedule.
    Duration start{}, end{};
    std::optional<Duration> blocking_end;
    // Timing tolerance for this event: max(--tolerance_usecs, tolerance_percent of the gap
    // since the previous event), as packetdrill's verify_time() computes it.
    Duration tolerance{};
};

struct Schedule {
    std::vector<ScheduledEvent> events;
    Duration tolerance{};            // --tolerance_usecs
    double tolerance_percent = 0;    // --tolerance_percent
};

struct Script {
    std::string file;
    std::vector<OptionSetting> options;
    std::optional<CommandSpec> setup_command;    // untimed `command` before the first event
    std::vector<Event> events;
    std::optional<CommandSpec> cleanup_command;  // untimed `command` after the last event
    ScriptConfig config;
    Schedule schedule;
};

std::string to_string(Direction d);
// Script notation, normalized (one line except multi-line commands and code):
// "+0.1 < S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2>", "+0...0.2 connect(3, ..., ...) = 0".
// Parsing the output gives the same events back.
std::string to_string(const EventTime& t);
std::string to_string(const SyscallSpec& c);
std::string to_string(const Event& e);
std::string to_string(EventTime::Kind k);
std::string format_duration(Duration d);  // "0.2", "1.05", "0" (seconds, no trailing zeros)

}  // namespace tcpsim::stack::packetdrill
