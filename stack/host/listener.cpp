// Host: listener policy: children in the SYN queue and the accept queue, SYN cookies, and
// passive opens.
#include "stack/host/host_internal.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "tcp/isn.hpp"
#include "tcp/segment.hpp"

namespace tcpsim::stack {

using namespace host_detail;

// A segment for a listener that no connection claimed (RFC 9293 §3.10.7.2): SYN cookies, the
// SYN and accept queue bounds, and the new child. `reuse_iss` is set when the SYN ends a
// TIME_WAIT of the same tuple.
void Host::input_listener(ConnectionRecord& listener, const tcp::FourTuple& tuple, const tcp::Segment& seg,
                          Bytes datagram, std::optional<tcp::SeqNum> reuse_iss) {
    switch (tcp::listen_reply(seg)) {
        case tcp::ListenAction::Drop: return;
        case tcp::ListenAction::Reset:
            // Linux cookie_v4_check(): an ACK to a listener that sent cookies lately may be the
            // end of a cookie handshake.
            if (config_.syncookies != SyncookieMode::Off && listener.cookie_sent_at_ != kTimeNever &&
                now() - listener.cookie_sent_at_ < std::chrono::minutes(2) && seg.flags.any(tcp::Ack) &&
                !seg.flags.any(tcp::Syn | tcp::Rst) && accept_syncookie(listener, tuple, seg, datagram))
                return;
            send_reset_for(tuple, seg);
            return;
        case tcp::ListenAction::NewConnection: break;
    }
    // Linux tcp_conn_request(): a full SYN queue (or tcp_syncookies = 2) means a cookie, unless
    // the SYN reuses a TIME_WAIT tuple; a full accept queue drops the SYN either way.
    const int backlog = listener.listener_backlog_;
    const bool syn_queue_full = static_cast<int>(listener.syn_children_.size()) >= backlog;
    const bool want_cookie = !reuse_iss && (config_.syncookies == SyncookieMode::Always ||
                                            (config_.syncookies == SyncookieMode::Overflow && syn_queue_full));
    if (static_cast<int>(listener.accept_queue_.size()) > backlog || (!want_cookie && syn_queue_full && !reuse_iss)) {
        ++stats_.listen_drops;
        return drop(DropReason::ListenQueueFull, format_tuple(tuple), datagram);
    }
    if (want_cookie) return send_syncookie(listener, tuple, seg);
    ConnectionRecord* child = new_child(listener, tuple);
    child->conn().accept_syn(now(), tuple, reuse_iss ? *reuse_iss : next_iss(tuple), seg);
}

ConnectionRecord* Host::new_child(ConnectionRecord& listener, const tcp::FourTuple& tuple) {
    ConnectionRecord* child = new_record(with_route_mss(listener.conn().config(), tuple.remote.addr));
    child->parent_ = &listener;
    listener.syn_children_.push_back(child);
    // Read the listener's lease before add_lease(): it may grow the same vector and move it.
    const PortUser* lu = find_lease(listener.port_lease_);
    const bool parent_reuse_addr = lu != nullptr && lu->reuse_addr;
    const bool parent_reuse_port = lu != nullptr && lu->reuse_port;
    child->port_lease_ = add_lease(tuple.local.port, tuple.local.addr, parent_reuse_addr, true);
    if (PortUser* cu = find_lease(child->port_lease_)) {
        cu->rec = child;
        cu->reuse_port = parent_reuse_port;  // Linux: the child clones sk_reuseport
    }
    child->tuple_ = tuple;
    table_insert(*child);
    if (listener.user_mss_ != 0) child->conn().set_max_segment(listener.user_mss_);
    return child;
}

namespace {

// Catches what a throwaway connection sends: the SYN-ACK a real child would send.
struct CaptureEnv final : tcp::ConnectionEnv {
    std::optional<tcp::Segment> sent;
    void transmit(tcp::Connection&, const tcp::Segment& seg) override {
        if (!sent) sent = seg;
    }
    void state_changed(tcp::Connection&, tcp::State, tcp::State, std::string_view) override {}
    void wake(tcp::Connection&) override {}
    void deadline_changed(tcp::Connection&) override {}
};

// The SYN a cookie stands for, as far as the cookie (and timestamps) kept it.
tcp::Segment cookie_syn(const tcp::Segment& ack, std::uint16_t mss, bool timestamps) {
    tcp::Segment syn;
    syn.src_port = ack.src_port;
    syn.dst_port = ack.dst_port;
    syn.seq = ack.seq - 1;
    syn.flags = tcp::Syn;
    syn.window = ack.window;
    syn.options.mss(mss);
    const auto ts = ack.options.timestamps_value();
    if (timestamps && ts && ts->echo_reply != 0) {
        // Linux cookie_timestamp_decode(): wscale and SACK-permitted come back from our echoed
        // timestamp; without timestamps they are lost (Linux clears them before the SYN-ACK).
        const auto o = tcp::SynCookies::decode_timestamp(ts->echo_reply);
        if (o.sack) syn.options.sack_permitted();
        syn.options.timestamps(ts->value, 0);
        if (o.wscale) syn.options.window_scale(*o.wscale);
    }
    return syn;
}

}  // namespace

void Host::send_syncookie(ConnectionRecord& listener, const tcp::FourTuple& tuple, const tcp::Segment& syn) {
    // Linux tcp_syn_flood_action(): the warning is for overflow cookies, not tcp_syncookies = 2.
    if (config_.syncookies == SyncookieMode::Overflow &&
        (listener.cookie_sent_at_ == kTimeNever || now() - listener.cookie_sent_at_ >= std::chrono::minutes(2)))
        note("possible SYN flooding on port " + std::to_string(tuple.local.port) + ", sending cookies");
    listener.cookie_sent_at_ = now();
    const tcp::Config cfg = with_route_mss(listener.conn().config(), tuple.remote.addr);
    const auto peer_ts = syn.options.timestamps_value();
    const bool ts = cfg.timestamps && peer_ts.has_value();
    const std::uint16_t peer_mss = syn.options.mss_value().value_or(cfg.default_peer_mss);
    const std::uint32_t index = tcp::SynCookies::mss_index(peer_mss);
    const tcp::SeqNum iss = cookies_->make(tuple, syn.seq, tcp::SynCookies::minute(now()), index);
    // The SYN-ACK is what a child would send, from the SYN the ACK will let us rebuild. A
    // throwaway connection computes it, so window, scale and options match the rebuilt child.
    tcp::Segment kept = syn;
    kept.options = tcp::Options{};
    kept.options.mss(tcp::SynCookies::kMssTable[index]);
    if (ts) {
        if (cfg.sack && syn.options.has_sack_permitted()) kept.options.sack_permitted();
        kept.options.timestamps(peer_ts->value, 0);
        if (cfg.window_scaling && syn.options.window_scale_value()) kept.options.window_scale(*syn.options.window_scale_value());
    }
    CaptureEnv env;
    {
        tcp::Connection scratch(cfg, env);
        if (listener.user_mss_ != 0) scratch.set_max_segment(listener.user_mss_);
        scratch.accept_syn(now(), tuple, iss, kept);
    }
    if (!env.sent) return;
    tcp::Segment synack = *env.sent;
    if (ts) {
        // Our timestamp carries the options the ISN cannot (Linux cookie_init_timestamp()).
        tcp::SynCookies::TsOptions o;
        o.sack = kept.options.has_sack_permitted();
        o.wscale = kept.options.window_scale_value();
        tcp::Options rebuilt;
        for (const tcp::OptionItem& item : synack.options) {
            switch (static_cast<tcp::OptionKind>(item.kind)) {
                case tcp::OptionKind::Timestamps: {
                    const auto mine = synack.options.timestamps_value();
                    rebuilt.timestamps(tcp::SynCookies::encode_timestamp(mine->value, o), mine->echo_reply);
                    break;
                }
                case tcp::OptionKind::Nop: rebuilt.nop(); break;
                case tcp::OptionKind::Mss: rebuilt.mss(*synack.options.mss_value()); break;
                case tcp::OptionKind::WindowScale: rebuilt.window_scale(*synack.options.window_scale_value()); break;
                case tcp::OptionKind::SackPermitted: rebuilt.sack_permitted(); break;
                default: rebuilt.unknown(item.kind, item.data); break;
            }
        }
        synack.options = rebuilt;
    }
    ++stats_.syncookies_sent;
    send_tcp(nullptr, tuple, synack);
}

bool Host::accept_syncookie(ConnectionRecord& listener, const tcp::FourTuple& tuple, const tcp::Segment& ack,
                            Bytes datagram) {
    const auto mss = cookies_->check(tuple, ack.seq - 1, ack.ack - 1, tcp::SynCookies::minute(now()));
    if (!mss) {
        ++stats_.syncookies_failed;
        return false;
    }
    ++stats_.syncookies_recv;
    if (static_cast<int>(listener.accept_queue_.size()) > listener.listener_backlog_) {
        // Linux tcp_v4_syn_recv_sock(): accept queue full -> ListenOverflows, the ACK is dropped.
        ++stats_.listen_drops;
        drop(DropReason::ListenQueueFull, format_tuple(tuple), datagram);
        return true;
    }
    // Linux tcp_get_cookie_sock(): the connection starts ESTABLISHED. We replay the SYN the
    // cookie stands for (its SYN-ACK is muted: the peer has it already), then the ACK.
    ConnectionRecord* child = new_child(listener, tuple);
    const bool ts = child->conn().config().timestamps;
    // Replay the SYN when our SYN-ACK left, as far as the echoed timestamp tells (Linux measures
    // the handshake RTT from it, tcp_ack_update_rtt); without timestamps, now.
    Time sent = now();
    if (const auto t = ack.options.timestamps_value(); ts && t && t->echo_reply != 0) {
        const auto ms_now = static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(now().time_since_epoch()).count());
        const auto d = static_cast<std::int32_t>(ms_now - t->echo_reply);
        if (d >= 0 && d < 120'000 && std::chrono::milliseconds(d) <= now().time_since_epoch())
            sent = now() - std::chrono::milliseconds(d);
    }
    child->mute_ = true;  // no SYN-ACK, no timer for the replayed SYN
    child->conn().accept_syn(sent, tuple, ack.ack - 1, cookie_syn(ack, *mss, ts));
    child->mute_ = false;
    child->conn().on_segment(now(), ack);
    return true;
}

void Host::child_established(ConnectionRecord& child) {
    ConnectionRecord* l = child.parent_;
    std::erase(l->syn_children_, &child);
    l->accept_queue_.push_back(&child);
    child.accepted_ready_ = true;
    if (l->owner != nullptr) l->owner->connection_changed();
}

void Host::child_gone(ConnectionRecord& child) {
    ConnectionRecord* l = child.parent_;
    if (l != nullptr) std::erase(l->syn_children_, &child);
    child.parent_ = nullptr;
}

Host::Opened Host::open_passive(std::uint64_t lease, int backlog, const tcp::Config& cfg, ConnectionOwner* owner) {
    PortUser* pu = find_lease(lease);
    if (pu == nullptr) return Opened{nullptr, EINVAL};
    // Linux inet_csk_listen_start() re-checks the port: a connect()ed socket may share it.
    const std::uint16_t port = lease_port_.at(lease);
    if (port_conflicts(port, pu->addr, false, lease) &&
        std::any_of(ports_[port].begin(), ports_[port].end(), [&](const PortUser& u) {
            return u.lease != lease && u.rec != nullptr && u.rec->is_listener() && !(pu->reuse_port && u.reuse_port) &&
                   (u.addr.is_any() || pu->addr.is_any() || u.addr == pu->addr);
        }))
        return Opened{nullptr, EADDRINUSE};
    ConnectionRecord* r = new_record(cfg);
    r->owner = owner;
    r->port_lease_ = lease;
    r->listener_backlog_ = std::max(0, backlog);
    pu->rec = r;
    r->tuple_ = tcp::FourTuple{{pu->addr, port}, {}};
    listeners_[port].push_back(r);
    r->conn().listen(now(), r->tuple_.local);
    return Opened{r, 0};
}

void Host::set_backlog(ConnectionRecord& listener, int backlog) { listener.listener_backlog_ = std::max(0, backlog); }

}  // namespace tcpsim::stack
