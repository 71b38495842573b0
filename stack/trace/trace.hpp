// The observability bus (DESIGN.md principle 6). Producers (links, hosts, the socket layer) emit
// typed events with timestamps; printers subscribe (pcap, tcpdump text, state log, netstat,
// diagrams). Nothing is formatted unless someone listens: producers test
// `bus.wants(TraceKind::X)` (one load and a mask) before building an event.
//
// Event structs hold views (string_view, Bytes, references) valid only during the callback;
// a subscriber that keeps anything copies it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string_view>
#include <vector>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "tcp/connection.hpp"
#include "tcp/segment.hpp"
#include "tcp/types.hpp"

namespace tcpsim::stack {

enum class TraceKind : std::uint8_t { Frame, Segment, State, Timer, Socket, Drop, Note };
inline constexpr unsigned trace_bit(TraceKind k) { return 1u << static_cast<unsigned>(k); }
inline constexpr unsigned kTraceAll = 0x7f;

// A frame on a link. `endpoint` names the attachment that sent or received it ("client/eth0").
enum class FrameAction : std::uint8_t {
    Sent,       // put on the link by `endpoint` (what a capture on the wire sees)
    Delivered,  // handed to `endpoint` at the far side
    Lost,       // dropped by the link (impairment, queue overflow)
};
const char* to_string(FrameAction a);

struct FrameEvent {
    Time at;
    std::string_view link;
    std::string_view endpoint;
    FrameAction action = FrameAction::Sent;
    Bytes frame;  // the whole Ethernet frame
};

enum class Direction : std::uint8_t { In, Out };

// A TCP segment entering (after validation, before demultiplexing) or leaving a host.
struct SegmentEvent {
    Time at;
    std::string_view host;
    Direction dir = Direction::In;
    Ipv4Addr src;
    Ipv4Addr dst;
    const tcp::Segment& segment;
};

// Every connection state change: `time host 4-tuple OLD -> NEW (cause)`.
struct StateEvent {
    Time at;
    std::string_view host;
    tcp::FourTuple tuple;
    tcp::State from;
    tcp::State to;
    std::string_view cause;
};

struct TimerEvent {
    Time at;
    std::string_view host;
    tcp::FourTuple tuple;
    tcp::TimerKind kind;
};

// A socket call and its result: `result` as the system call returns it (-1 on error, with `err`
// an errno value; 0 when it succeeded). `detail` is producer-formatted arguments (only built when
// wants(Socket)).
struct SocketEvent {
    Time at;
    std::string_view host;
    int fd = -1;
    std::string_view call;
    std::string_view detail;
    long result = 0;
    int err = 0;
};

// Why a frame/packet/segment went nowhere.
enum class DropReason : std::uint8_t {
    Malformed,         // a codec rejected it (detail says which)
    BadChecksum,       // IPv4 header, ICMP or TCP checksum
    NotForUs,          // wrong MAC or IPv4 destination on a non-forwarding host
    NoRoute,           // no on-link prefix or gateway
    ArpTimeout,        // next hop never answered ARP
    ArpQueueFull,      // too many packets waiting on one resolution
    TtlExceeded,       // forwarding with TTL <= 1
    UnsupportedProtocol,
    NoSocket,          // TCP to a closed port (answered with RST)
    ListenQueueFull,   // SYN/ACK dropped because the SYN or accept queue was full (Linux)
    Reassembly,        // fragment dropped or reassembly timed out
    LinkLoss,          // the link dropped it
    Other,
};
const char* to_string(DropReason r);

struct DropEvent {
    Time at;
    std::string_view where;  // host or link name
    DropReason reason = DropReason::Other;
    std::string_view detail;
    Bytes data;  // what was dropped, as far as known (may be empty)
};

// Free-form remarks (ICMP errors received, ARP resolution, ...).
struct NoteEvent {
    Time at;
    std::string_view where;
    std::string_view text;
};

class TraceSubscriber {
public:
    virtual ~TraceSubscriber() = default;
    // Which kinds this subscriber wants (trace_bit()s); read once at subscribe().
    virtual unsigned interests() const { return kTraceAll; }
    virtual void on_frame(const FrameEvent&) {}
    virtual void on_segment(const SegmentEvent&) {}
    virtual void on_state(const StateEvent&) {}
    virtual void on_timer(const TimerEvent&) {}
    virtual void on_socket(const SocketEvent&) {}
    virtual void on_drop(const DropEvent&) {}
    virtual void on_note(const NoteEvent&) {}
};

class TraceBus {
public:
    // The bus does not own subscribers; unsubscribe before destroying one. Safe to call from
    // inside a callback (the change applies to the next event).
    void subscribe(TraceSubscriber& s);
    void unsubscribe(TraceSubscriber& s);

    bool has_subscribers() const { return mask_ != 0; }
    bool wants(TraceKind k) const { return (mask_ & trace_bit(k)) != 0; }

    void emit(const FrameEvent& e);
    void emit(const SegmentEvent& e);
    void emit(const StateEvent& e);
    void emit(const TimerEvent& e);
    void emit(const SocketEvent& e);
    void emit(const DropEvent& e);
    void emit(const NoteEvent& e);

private:
    struct Entry {
        TraceSubscriber* sub;
        unsigned mask;
    };
    template <class Fn>
    void dispatch(TraceKind k, Fn&& fn);
    void recompute();
    std::vector<Entry> subs_;
    unsigned mask_ = 0;
    int depth_ = 0;
    bool dirty_ = false;
};

// "192.0.2.1:33000>192.0.2.2:80" (local>remote), the 4-tuple form used by text printers.
std::string format_tuple(const tcp::FourTuple& t);

// State log: one line per state change, `12.000100 client 192.0.2.1:33000>192.0.2.2:80
// SYN_SENT -> ESTABLISHED (rcv SYN,ACK)`.
class StateLogSubscriber : public TraceSubscriber {
public:
    explicit StateLogSubscriber(std::ostream& out) : out_(out) {}
    unsigned interests() const override { return trace_bit(TraceKind::State); }
    void on_state(const StateEvent& e) override;

private:
    std::ostream& out_;
};

// Records events in memory (tests, `tcpsim run --expect`). Copies what it keeps.
class TraceRecorder : public TraceSubscriber {
public:
    struct State {
        Time at;
        std::string host;
        tcp::FourTuple tuple;
        tcp::State from;
        tcp::State to;
        std::string cause;
    };
    struct Drop {
        Time at;
        std::string where;
        DropReason reason;
        std::string detail;
    };
    struct Segment {
        Time at;
        std::string host;
        Direction dir;
        Ipv4Addr src, dst;
        std::uint16_t src_port, dst_port;
        tcp::Flags flags;
        std::uint32_t seq, ack;
        std::size_t payload;
    };
    explicit TraceRecorder(unsigned interests = kTraceAll) : interests_(interests) {}
    unsigned interests() const override { return interests_; }
    void on_state(const StateEvent& e) override;
    void on_drop(const DropEvent& e) override;
    void on_segment(const SegmentEvent& e) override;
    void on_frame(const FrameEvent&) override { ++frames; }
    void on_socket(const SocketEvent&) override { ++socket_calls; }
    void on_timer(const TimerEvent&) override { ++timers; }

    std::vector<State> states;
    std::vector<Drop> drops;
    std::vector<Segment> segments;
    std::size_t frames = 0, socket_calls = 0, timers = 0;

    // The states one connection went through: [from of its first change, then each `to`], from
    // the changes recorded on `host` for exactly `tuple`.
    std::vector<tcp::State> path(std::string_view host, const tcp::FourTuple& tuple) const;

private:
    unsigned interests_;
};

}  // namespace tcpsim::stack
