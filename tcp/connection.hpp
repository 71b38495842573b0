// A TCP connection (one TCB, RFC 9293 §3.3.1) as a sans-I/O object: inputs are user calls,
// segments and timer expiries, each with `now`; outputs go to a ConnectionEnv (segments to send,
// state changes, wake-ups, deadline changes). The simulation, the TAP runtime and the transcript
// tests drive the very same object (DESIGN.md principle 1).
//
// CONTRACT (shared by tcp/ and stack/): the public API below is what stack/ codes against. The
// engine may add members; renaming or removing one means updating every caller in the same commit.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "tcp/config.hpp"
#include "tcp/segment.hpp"
#include "tcp/seq.hpp"
#include "tcp/types.hpp"

namespace tcpsim::tcp {

class Connection;

enum class TimerKind {
    Retransmission, Persist, DelayedAck, Keepalive, TimeWait, Cork, Linger, UserTimeout,
    LossProbe,  // tail loss probe (RFC 8985 §7.2 PTO; Linux ICSK_TIME_LOSS_PROBE)
};
const char* to_string(TimerKind k);

// What a connection tells its owner. All calls happen synchronously inside a Connection method;
// the owner must not destroy the connection from inside a callback (defer it).
class ConnectionEnv {
public:
    virtual ~ConnectionEnv() = default;
    // Put a segment on the wire, from conn.tuple().local to conn.tuple().remote. The segment's
    // payload views the connection's buffers: copy it before returning.
    virtual void transmit(Connection& conn, const Segment& seg) = 0;
    // Every state change, with a short cause ("rcv SYN,ACK", "close()", "2MSL timeout").
    virtual void state_changed(Connection& conn, State from, State to, std::string_view cause) = 0;
    // Readiness may have changed: data/EOF/error to read, send space, connection established.
    virtual void wake(Connection& conn) = 0;
    // next_deadline() may have changed.
    virtual void deadline_changed(Connection& conn) = 0;
    // Optional observability: a timer fired; congestion variables changed.
    virtual void timer_fired(Connection& /*conn*/, TimerKind /*kind*/) {}
    virtual void congestion_changed(Connection& /*conn*/) {}
};

// Per-call flags of send().
struct SendFlags {
    bool more = false;  // MSG_MORE: hold back like TCP_CORK until a call without it
    bool oob = false;   // MSG_OOB: the last byte of this call becomes urgent (Linux/BSD reading)
};

// Per-call flags of receive().
struct ReceiveFlags {
    bool peek = false;  // MSG_PEEK
    bool oob = false;   // MSG_OOB: read the out-of-band byte
};

class Connection {
public:
    Connection(const Config& config, ConnectionEnv& env);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // ---- opening ----
    // Passive open: CLOSED -> LISTEN. A listening connection never receives segments itself; the
    // owner asks listen_reply() what to do with a segment addressed to it.
    void listen(Time now, Endpoint local);
    // Active open: CLOSED -> SYN_SENT, sends SYN.
    void connect(Time now, FourTuple tuple, SeqNum iss);
    // Child of a listener: CLOSED -> SYN_RECV on `syn` (which listen_reply() classified as
    // NewConnection), sends SYN-ACK.
    void accept_syn(Time now, FourTuple tuple, SeqNum iss, const Segment& syn);

    // ---- segments and timers ----
    void on_segment(Time now, const Segment& seg);
    void on_timer(Time now);  // call when now >= next_deadline()
    Time next_deadline() const;  // kTimeNever when no timer is armed

    // ---- user calls (RFC 9293 §3.10.1-3.10.6) ----
    // Queues up to data.size() bytes; returns how many were taken (0 when the buffer is full).
    // Errors: EPIPE after shutdown_send()/close or once the peer reset; ENOTCONN before connect.
    std::size_t send(Time now, Bytes data, SendFlags flags, std::error_code& ec);
    // Copies up to out.size() bytes; 0 with no error means EOF; EAGAIN when nothing is there yet.
    std::size_t receive(Time now, MutableBytes out, ReceiveFlags flags, std::error_code& ec);
    void shutdown_send(Time now);     // FIN after queued data (SHUT_WR)
    void shutdown_receive(Time now);  // SHUT_RD (Linux: later data still readable)
    // close(): FIN after queued data; RST instead when unread data is queued (RFC 2525, Linux).
    void close(Time now);
    void abort(Time now);  // RST now (SO_LINGER {1,0}); state -> CLOSED

    // ---- options ----
    void set_nodelay(Time now, bool on);
    void set_cork(Time now, bool on);
    void set_keepalive(Time now, bool on);
    void set_keepalive_params(Duration idle, Duration interval, int count);
    void set_user_timeout(Duration timeout);  // 0 = off (TCP_USER_TIMEOUT)
    void set_receive_buffer(std::uint32_t bytes);  // already doubled by the socket layer
    void set_send_buffer(std::uint32_t bytes);
    void set_oob_inline(bool on);
    void set_max_segment(std::uint16_t mss);  // TCP_MAXSEG before connect

    // ---- queries ----
    State state() const;
    const FourTuple& tuple() const;
    const Config& config() const;
    std::size_t readable_bytes() const;    // FIONREAD / SIOCINQ (in-order, unread)
    bool at_eof() const;                   // FIN received and all data before it read
    bool peer_closed() const;              // FIN received (POLLRDHUP)
    std::size_t send_space() const;        // bytes send() would take now
    std::size_t send_queue_bytes() const;  // SIOCOUTQ: unsent + unacknowledged
    std::size_t unsent_bytes() const;      // SIOCOUTQNSD
    bool has_urgent_data() const;          // an OOB byte waiting (POLLPRI)
    bool at_urgent_mark() const;           // SIOCATMARK
    std::error_code error() const;         // pending error (SO_ERROR), without clearing
    std::error_code take_error();          // SO_ERROR read: returns and clears
    std::uint16_t effective_mss() const;   // TCP_MAXSEG
    ConnectionInfo info(Time now) const;   // TCP_INFO

    // ---- TIME_WAIT reuse (Linux tcp_timewait_state_process) ----
    // True when this connection is in TIME_WAIT and `syn` (a SYN for the same tuple) may start a
    // new incarnation: its sequence number is above the old rcv.nxt, or its timestamp is newer.
    // The owner then destroys this connection and hands the SYN to the listener, using
    // time_wait_next_iss() as the new ISS. Otherwise deliver the SYN here (it draws an ACK).
    bool time_wait_accepts_syn(const Segment& syn) const;
    SeqNum time_wait_next_iss() const;

private:
    struct Impl;  // the TCB (tcp/connection.cpp)
    std::unique_ptr<Impl> impl_;
};

// What to do with a segment addressed to a LISTEN endpoint (RFC 9293 §3.10.7.2).
enum class ListenAction {
    Drop,           // RST (ignore), or anything else that merits no reply
    Reset,          // an ACK to a listener: reply with the RST from reset_for()
    NewConnection,  // a plain SYN: create a child and call accept_syn()
};
ListenAction listen_reply(const Segment& seg);

// The RST that answers `seg` when no connection exists (RFC 9293 §3.10.7.1): <SEQ=SEG.ACK><CTL=RST>
// if ACK is set, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Ports swapped. No reply to an RST
// (returns nullopt).
std::optional<Segment> reset_for(const Segment& seg);

}  // namespace tcpsim::tcp
