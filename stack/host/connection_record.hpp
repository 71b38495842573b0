// ConnectionRecord: one tcp::Connection (or listener) as the host keeps it, and ConnectionOwner,
// the interface through which the socket that owns it hears about changes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "link/base/time.hpp"
#include "stack/sim/event_queue.hpp"
#include "tcp/config.hpp"
#include "tcp/connection.hpp"
#include "tcp/segment.hpp"
#include "tcp/types.hpp"

namespace tcpsim::stack {

class Host;

// Connection events for the socket that owns a connection (implemented by stack/sockets).
// Called from inside tcp::Connection callbacks: record what changed and defer real work.
class ConnectionOwner {
public:
    virtual void connection_changed() = 0;

protected:
    ~ConnectionOwner() = default;
};

// One connection (or listener) as the host keeps it: the tcp::Connection plus demultiplexing,
// timer and ownership bookkeeping. Created and destroyed only by the Host; the socket layer
// holds pointers while it owns one (owner != nullptr).
class ConnectionRecord final : public tcp::ConnectionEnv, public EventTarget {
public:
    ConnectionRecord(Host& host, const tcp::Config& config);
    ~ConnectionRecord() override;

    tcp::Connection& conn() { return *conn_; }
    const tcp::Connection& conn() const { return *conn_; }
    Host& host() { return host_; }
    // CLOSED for the host: the engine reached CLOSED, or an ICMP hard error killed the attempt.
    bool closed() const { return dead_ || conn_->state() == tcp::State::Closed; }
    tcp::State state() const { return dead_ ? tcp::State::Closed : conn_->state(); }
    // Pending error for SO_ERROR/calls: an ICMP hard error, else the engine's, with Linux's
    // rule that a timeout reports the last soft ICMP error instead of ETIMEDOUT.
    std::error_code error() const;
    std::error_code take_error();
    std::error_code soft_error() const { return soft_error_; }

    ConnectionOwner* owner = nullptr;  // the socket; nullptr once closed by the user (orphan)

    // ---- listeners ----
    bool is_listener() const { return listener_backlog_ >= 0; }
    int backlog() const { return listener_backlog_; }
    // Established children waiting for accept(), oldest first.
    std::size_t accept_queue_size() const { return accept_queue_.size(); }
    std::size_t syn_queue_size() const { return syn_children_.size(); }
    // Takes the oldest established child (ownership of the record stays with the host).
    ConnectionRecord* pop_accepted();

private:
    friend class Host;
    // tcp::ConnectionEnv
    void transmit(tcp::Connection& conn, const tcp::Segment& seg) override;
    void state_changed(tcp::Connection& conn, tcp::State from, tcp::State to, std::string_view cause) override;
    void wake(tcp::Connection& conn) override;
    void deadline_changed(tcp::Connection& conn) override;
    void timer_fired(tcp::Connection& conn, tcp::TimerKind kind) override;
    // EventTarget: the connection's timer.
    void on_event(Time now, std::uint64_t tag) override;

    Host& host_;
    std::unique_ptr<tcp::Connection> conn_;
    TimerHandle timer_;
    Time timer_at_ = kTimeNever;
    tcp::FourTuple tuple_;   // the key in the host's 4-tuple table
    bool in_table_ = false;
    bool dead_ = false;      // killed by an ICMP hard error (the engine never saw CLOSED)
    bool reaping_ = false;   // queued for destruction
    std::error_code hard_error_;
    std::error_code soft_error_;
    std::uint16_t ip_id_ = 0;
    std::uint64_t port_lease_ = 0;
    std::uint16_t user_mss_ = 0;  // listener: TCP_MAXSEG for its children
    // Listener side.
    int listener_backlog_ = -1;
    std::vector<ConnectionRecord*> accept_queue_;
    std::vector<ConnectionRecord*> syn_children_;  // children still in SYN_RECV
    // Linux last_overflow: when this listener last sent a SYN cookie; cookies are checked only
    // within two minutes of it (tcp_synq_no_recent_overflow).
    Time cookie_sent_at_ = kTimeNever;
    bool mute_ = false;  // a child being rebuilt from a cookie: its SYN-ACK went out already
    // Child side: the listener until accept() takes it (nullptr afterwards or if orphaned).
    ConnectionRecord* parent_ = nullptr;
    bool accepted_ready_ = false;  // in parent's accept queue
    // Input batches (Host::begin_input_batch): the ACK held back, and the last ACK number and
    // window (bytes) that actually went out (what the peer has seen).
    std::optional<tcp::Segment> held_ack_;
    tcp::SeqNum wire_ack_;
    std::uint32_t wire_window_ = 0;
    int rcv_wscale_ = -1;  // our window scale, learnt once from the engine
    bool wire_ack_sent_ = false;
};

}  // namespace tcpsim::stack
