// ConnectionRecord: a tcp::Connection as the host keeps it (errors, accept queue, the engine's
// callbacks turned into host actions, the connection timer).
#include "stack/host/host_internal.hpp"

namespace tcpsim::stack {

using namespace host_detail;

ConnectionRecord::ConnectionRecord(Host& host, const tcp::Config& config)
    : host_(host), conn_(std::make_unique<tcp::Connection>(config, *this)) {}

ConnectionRecord::~ConnectionRecord() = default;

std::error_code ConnectionRecord::error() const {
    if (hard_error_) return hard_error_;
    std::error_code e = conn_->error();
    // Linux tcp_write_err(): sk_err = sk_err_soft ? : ETIMEDOUT.
    if (e == std::errc::timed_out && soft_error_) return soft_error_;
    return e;
}

std::error_code ConnectionRecord::take_error() {
    if (hard_error_) {
        std::error_code e = hard_error_;
        hard_error_ = {};
        return e;
    }
    std::error_code e = conn_->take_error();
    if (e == std::errc::timed_out && soft_error_) e = soft_error_;
    return e;
}

ConnectionRecord* ConnectionRecord::pop_accepted() {
    if (accept_queue_.empty()) return nullptr;
    ConnectionRecord* c = accept_queue_.front();
    accept_queue_.erase(accept_queue_.begin());
    c->parent_ = nullptr;
    c->accepted_ready_ = false;
    return c;
}

void ConnectionRecord::transmit(tcp::Connection& conn, const tcp::Segment& seg) {
    if (mute_) return;
    host_.send_tcp(this, conn.tuple(), seg);
}

void ConnectionRecord::state_changed(tcp::Connection& conn, tcp::State from, tcp::State to, std::string_view cause) {
    TraceBus& bus = host_.world_.trace();
    if (bus.wants(TraceKind::State))
        bus.emit(StateEvent{host_.now(), host_.name_, conn.tuple(), from, to, cause});
    if (to == tcp::State::Established && parent_ != nullptr && !accepted_ready_) host_.child_established(*this);
    if (to == tcp::State::Closed) {
        host_.table_erase(*this);
        host_.closed_port(*this);
        if (parent_ != nullptr && !accepted_ready_) host_.child_gone(*this);
        // Linux keeps a reset child in the accept queue: accept() returns it, reads then fail.
        if (owner == nullptr && !accepted_ready_) host_.schedule_reap(*this);
    }
    if (owner != nullptr) owner->connection_changed();
}

void ConnectionRecord::wake(tcp::Connection&) {
    if (owner != nullptr) owner->connection_changed();
}

void ConnectionRecord::deadline_changed(tcp::Connection& conn) {
    // One world event per connection. Moving the deadline later keeps the armed event (it fires
    // early and re-arms); only an earlier deadline re-schedules. An RTO restarted on every ACK
    // thus costs nothing per segment.
    const Time d = conn.next_deadline();
    if (reaping_ || dead_ || mute_) return;
    World& w = host_.world_;
    if (d == kTimeNever) {
        // No timer left (the connection closed, or went idle): drop the armed event, so a
        // finished run is not kept going by a stale wake-up (cancel is O(1)).
        w.cancel(timer_);
        timer_at_ = kTimeNever;
        return;
    }
    if (w.pending(timer_) && timer_at_ <= d) return;
    w.cancel(timer_);
    timer_at_ = d;
    timer_ = w.at(d, *this, 0);
}

void ConnectionRecord::timer_fired(tcp::Connection& conn, tcp::TimerKind kind) {
    TraceBus& bus = host_.world_.trace();
    if (bus.wants(TraceKind::Timer)) bus.emit(TimerEvent{host_.now(), host_.name_, conn.tuple(), kind});
}

void ConnectionRecord::on_event(Time now, std::uint64_t) {
    timer_ = {};
    timer_at_ = kTimeNever;
    if (reaping_ || dead_) return;
    if (conn_->next_deadline() <= now) conn_->on_timer(now);
    if (!reaping_ && !dead_) deadline_changed(*conn_);
}

}  // namespace tcpsim::stack
