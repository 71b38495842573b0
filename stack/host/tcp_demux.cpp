// Host: TCP demultiplexing (the 4-tuple table), TCP output with input-batch ACK holding, and
// the lifetime of connection records (kill, reap, release).
#include "stack/host/host_internal.hpp"

#include <algorithm>
#include <cerrno>

#include "tcp/segment.hpp"

namespace tcpsim::stack {

using namespace host_detail;

void Host::kill(ConnectionRecord& r, std::error_code err, std::string_view cause) {
    // Linux tcp_done() after an ICMP hard error: no RST, the connection is simply gone.
    const tcp::State from = r.state();
    r.hard_error_ = err;
    r.dead_ = true;
    world_.cancel(r.timer_);
    table_erase(r);
    closed_port(r);
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::State)) bus.emit(StateEvent{now(), name_, r.tuple_, from, tcp::State::Closed, cause});
    if (r.parent_ != nullptr && !r.accepted_ready_) child_gone(r);
    if (r.owner != nullptr)
        r.owner->connection_changed();
    else
        schedule_reap(r);
}

void Host::send_tcp(ConnectionRecord* rec, const tcp::FourTuple& tuple, const tcp::Segment& seg) {
    if (rec != nullptr && batch_depth_ > 0) {
        if (hold_ack(*rec, seg)) return;
        if (rec->held_ack_) {
            // An ACK-bearing segment carries a newer (or equal) ACK and the current window: it
            // supersedes the held one. Anything else (a bare RST) must not overtake it.
            if (seg.flags.any(tcp::Ack)) {
                ++stats_.acks_coalesced;
            } else {
                send_tcp_now(rec, tuple, *rec->held_ack_);
            }
            rec->held_ack_.reset();
        }
    }
    send_tcp_now(rec, tuple, seg);
}

bool Host::hold_ack(ConnectionRecord& rec, const tcp::Segment& seg) {
    // Only a pure ACK that acknowledges new data may wait for the end of the batch: duplicate
    // ACKs and SACKs drive the peer's loss recovery and go out at once (RFC 5681 §4.2).
    if (seg.flags != tcp::Ack || !seg.payload.empty() || !seg.options.sack_blocks().empty()) return false;
    if (!rec.wire_ack_sent_ || !(rec.wire_ack_ < seg.ack)) return false;
    // Linux: GRO aggregates at most 64 KiB, and the receiver ACKs each aggregate. Also never
    // sit on more than half of the window the peer last saw: it would stall on a full window
    // until the batch ends instead of sending on (small buffers, no autotuning).
    constexpr std::uint32_t kMaxAggregate = 65536;
    const std::uint32_t limit = std::min(kMaxAggregate, rec.wire_window_ / 2);
    if (static_cast<std::uint32_t>(seg.ack - rec.wire_ack_) >= limit) return false;
    if (rec.held_ack_)
        ++stats_.acks_coalesced;
    else
        held_acks_.push_back(&rec);
    rec.held_ack_ = seg;
    return true;
}

void Host::end_input_batch() {
    if (batch_depth_ == 0 || --batch_depth_ > 0) return;
    // Sending can run connection code that queues more (it does not today); index, not iterators.
    for (std::size_t i = 0; i < held_acks_.size(); ++i) {
        ConnectionRecord* r = held_acks_[i];
        if (!r->held_ack_) continue;
        tcp::Segment seg = *r->held_ack_;
        r->held_ack_.reset();
        send_tcp_now(r, r->conn().tuple(), seg);
    }
    held_acks_.clear();
}

void Host::send_tcp_now(ConnectionRecord* rec, const tcp::FourTuple& tuple, const tcp::Segment& seg) {
    if (rec != nullptr && seg.flags.any(tcp::Ack)) {
        rec->wire_ack_ = seg.ack;
        rec->wire_ack_sent_ = true;
        if (!seg.flags.any(tcp::Syn)) {  // a SYN's window is unscaled (RFC 7323 §2.2)
            if (rec->rcv_wscale_ < 0) rec->rcv_wscale_ = rec->conn_->info(now()).rcv_wscale;
            rec->wire_window_ = std::uint32_t{seg.window} << rec->rcv_wscale_;
        } else {
            rec->wire_window_ = seg.window;
        }
    }
    const std::size_t tcp_size = seg.wire_size();
    TxBuffer buf(*this, kEth + kIp + tcp_size);
    MutableBytes b = buf.bytes();
    tcp::encode_segment(seg, b.subspan(kEth + kIp, tcp_size), tcp::PseudoHeader{tuple.local.addr, tuple.remote.addr});
    ip::Ipv4Packet h;
    // Linux: DF on (PMTU discovery); IP id 0 on RSTs and SYN-ACKs of request sockets, else the
    // connection's counter (inet_id, random start).
    h.dont_fragment = true;
    h.id = 0;
    if (rec != nullptr && !(rec->parent_ != nullptr && rec->state() == tcp::State::SynRecv)) h.id = rec->ip_id_++;
    h.ttl = config_.ttl;
    h.protocol = ip::Protocol::Tcp;
    h.src = tuple.local.addr;
    h.dst = tuple.remote.addr;
    ip::encode_ipv4_header(h, tcp_size, b.subspan(kEth, kIp));
    ++stats_.tcp_out;
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Segment))
        bus.emit(SegmentEvent{now(), name_, Direction::Out, tuple.local.addr, tuple.remote.addr, seg});
    output_ipv4(b, tuple.remote.addr);
}

ConnectionRecord* Host::find_listener(Ipv4Addr addr, std::uint16_t port, const tcp::Endpoint& from) {
    auto it = listeners_.find(port);
    if (it == listeners_.end()) return nullptr;
    // A specific address beats the wildcard; among equals (an SO_REUSEPORT group) a hash of the
    // peer picks one, so a client always lands on the same listener (Linux reuseport).
    bool specific = false;
    std::size_t count = 0;
    for (ConnectionRecord* l : it->second) specific |= l->tuple_.local.addr == addr;
    for (ConnectionRecord* l : it->second)
        if (specific ? l->tuple_.local.addr == addr : l->tuple_.local.addr.is_any()) ++count;
    if (count == 0) return nullptr;
    std::uint64_t h = (std::uint64_t{from.addr.value} << 16 | from.port) * 0x9e3779b97f4a7c15ull;
    std::size_t index = static_cast<std::size_t>((h >> 32) % count);
    ConnectionRecord* pick = nullptr;
    for (ConnectionRecord* l : it->second)
        if (specific ? l->tuple_.local.addr == addr : l->tuple_.local.addr.is_any()) {
            if (index-- == 0) {
                pick = l;
                break;
            }
        }
    return pick;
}

void Host::input_tcp(const ip::Ipv4Packet& pkt, Bytes datagram) {
    auto seg = tcp::parse_segment(pkt.payload, tcp::PseudoHeader{pkt.src, pkt.dst});
    if (!seg) {
        const auto reason = seg.error() == tcp::ParseError::BadChecksum ? DropReason::BadChecksum : DropReason::Malformed;
        return drop(reason, tcp::to_string(seg.error()), datagram);
    }
    ++stats_.tcp_in;
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Segment)) bus.emit(SegmentEvent{now(), name_, Direction::In, pkt.src, pkt.dst, *seg});
    const tcp::FourTuple tuple{{pkt.dst, seg->dst_port}, {pkt.src, seg->src_port}};
    const bool pure_syn = seg->flags.any(tcp::Syn) && !seg->flags.any(tcp::Ack | tcp::Rst);

    std::optional<tcp::SeqNum> reuse_iss;
    if (auto it = table_.find(tuple); it != table_.end()) {
        ConnectionRecord& r = *it->second;
        if (r.state() == tcp::State::TimeWait && pure_syn && find_listener(pkt.dst, seg->dst_port, {pkt.src, seg->src_port}) != nullptr &&
            r.conn().time_wait_accepts_syn(*seg)) {
            // Linux tcp_timewait_state_process(): a new SYN above the old window (or with a newer
            // timestamp) ends TIME_WAIT and opens a new incarnation through the listener.
            reuse_iss = r.conn().time_wait_next_iss();
            kill(r, {}, "SYN reuses the tuple");
        } else {
            if (r.parent_ != nullptr && r.state() == tcp::State::SynRecv && seg->flags.any(tcp::Ack) &&
                !seg->flags.any(tcp::Rst | tcp::Syn) &&
                static_cast<int>(r.parent_->accept_queue_.size()) > r.parent_->listener_backlog_) {
                // Linux: accept queue full -> the final ACK is dropped (tcp_abort_on_overflow = 0);
                // the child stays in SYN_RECV and retransmits its SYN-ACK.
                ++stats_.listen_drops;
                return drop(DropReason::ListenQueueFull, format_tuple(tuple), datagram);
            }
            r.conn().on_segment(now(), *seg);
            return;
        }
    }

    ConnectionRecord* listener = find_listener(pkt.dst, seg->dst_port, {pkt.src, seg->src_port});
    if (listener == nullptr) {
        drop(DropReason::NoSocket, format_tuple(tuple), datagram);
        // RFC 9293 §3.10.7.1: a segment for a closed port draws a RST (never a RST for a RST).
        send_reset_for(tuple, *seg);
        return;
    }
    input_listener(*listener, tuple, *seg, datagram, reuse_iss);
}

void Host::send_reset_for(const tcp::FourTuple& tuple, const tcp::Segment& seg) {
    if (auto rst = tcp::reset_for(seg)) {
        ++stats_.tcp_resets_sent;
        send_tcp(nullptr, tuple, *rst);
    }
}

tcp::Config Host::with_route_mss(tcp::Config cfg, Ipv4Addr remote) const {
    // Linux advmss: the route's MTU minus the IPv4 and TCP headers (tcp_mss_clamp aside).
    std::uint32_t mtu = 1500;
    if (auto hop = route(remote)) mtu = interfaces_[hop->ifindex]->cfg.mtu;
    cfg.mss = static_cast<std::uint16_t>(std::clamp<std::uint32_t>(mtu, 88, 65535) - 40);
    if (config_.advmss != 0) cfg.mss = config_.advmss;  // Linux: dst_metric_advmss() when set
    return cfg;
}

ConnectionRecord* Host::new_record(const tcp::Config& cfg) {
    auto r = std::make_unique<ConnectionRecord>(*this, cfg);
    r->ip_id_ = static_cast<std::uint16_t>(ip_rng_.next_u32());
    ConnectionRecord* p = r.get();
    records_.emplace(p, std::move(r));
    return p;
}

void Host::table_insert(ConnectionRecord& r) {
    table_[r.tuple_] = &r;
    r.in_table_ = true;
}

void Host::table_erase(ConnectionRecord& r) {
    if (!r.in_table_) return;
    auto it = table_.find(r.tuple_);
    if (it != table_.end() && it->second == &r) table_.erase(it);
    r.in_table_ = false;
}

void Host::schedule_reap(ConnectionRecord& r) {
    if (r.reaping_) return;
    r.reaping_ = true;
    reap_list_.push_back(&r);
    if (!reap_scheduled_) {
        reap_scheduled_ = true;
        world_.at(now(), *this, kTagReap);
    }
}

void Host::reap() {
    reap_scheduled_ = false;
    std::vector<ConnectionRecord*> list;
    list.swap(reap_list_);
    for (ConnectionRecord* r : list) destroy(r);
}

void Host::destroy(ConnectionRecord* r) {
    // Always: a record stays listed after a newer segment superseded its held ACK (held_ack_
    // empty again), and end_input_batch() must not meet it once it is gone.
    std::erase(held_acks_, r);
    table_erase(*r);
    if (r->is_listener()) {
        auto it = listeners_.find(r->tuple_.local.port);
        if (it != listeners_.end()) {
            std::erase(it->second, r);
            if (it->second.empty()) listeners_.erase(it);
        }
    }
    if (r->parent_ != nullptr) {
        std::erase(r->parent_->syn_children_, r);
        std::erase(r->parent_->accept_queue_, r);
    }
    release_port(r->port_lease_);
    world_.cancel(r->timer_);
    records_.erase(r);
}

void Host::closed_port(ConnectionRecord& r) {
    // Linux tcp_set_state(TCP_CLOSE): the port goes back unless bind() locked it to a socket
    // that is still open (SOCK_BINDPORT_LOCK); an orphan always lets go.
    const PortUser* u = find_lease(r.port_lease_);
    if (u == nullptr) return;
    if (r.owner == nullptr || !u->explicit_bind || r.is_listener()) {
        release_port(r.port_lease_);
        r.port_lease_ = 0;
    }
}

void Host::release(ConnectionRecord& r) {
    r.owner = nullptr;
    if (r.is_listener()) {
        // Linux inet_csk_listen_stop(): established children not yet accepted are reset;
        // SYN_RECV children vanish (a later ACK from the peer then meets no socket: RST).
        std::vector<ConnectionRecord*> established = r.accept_queue_;
        std::vector<ConnectionRecord*> embryonic = r.syn_children_;
        r.accept_queue_.clear();
        r.syn_children_.clear();
        for (ConnectionRecord* c : embryonic) {
            c->parent_ = nullptr;
            c->dead_ = true;
            world_.cancel(c->timer_);
            table_erase(*c);
            schedule_reap(*c);
        }
        for (ConnectionRecord* c : established) {
            c->parent_ = nullptr;
            c->accepted_ready_ = false;
            if (!c->closed()) c->conn().abort(now());
            schedule_reap(*c);
        }
        auto it = listeners_.find(r.tuple_.local.port);
        if (it != listeners_.end()) {
            std::erase(it->second, &r);
            if (it->second.empty()) listeners_.erase(it);
        }
        if (r.conn().state() != tcp::State::Closed) r.conn().close(now());
        release_port(r.port_lease_);  // synchronously: bind() right after close() must succeed
        r.port_lease_ = 0;
        schedule_reap(r);
        return;
    }
    if (r.closed()) {
        closed_port(r);
        schedule_reap(r);
    }
}

Host::Opened Host::open_active(tcp::Endpoint local, std::uint64_t lease, tcp::Endpoint remote, const tcp::Config& cfg,
                               ConnectionOwner* owner, std::uint16_t user_mss) {
    auto src = source_address_for(remote.addr);
    if (!src) return Opened{nullptr, ENETUNREACH};
    if (local.addr.is_any()) local.addr = *src;
    PortUser* pu = find_lease(lease);
    if (pu == nullptr) {
        local.port = pick_connect_port(local, remote);
        if (local.port == 0) return Opened{nullptr, EADDRNOTAVAIL};
        lease = add_lease(local.port, local.addr, false, false);
        pu = find_lease(lease);
    } else {
        pu->addr = local.addr;  // Linux: connect() fixes a wildcard bind to the source address
    }
    const tcp::FourTuple tuple{local, remote};
    if (table_.count(tuple) != 0) return Opened{nullptr, EADDRNOTAVAIL};
    ConnectionRecord* r = new_record(with_route_mss(cfg, remote.addr));
    r->owner = owner;
    r->port_lease_ = lease;
    pu->rec = r;
    r->tuple_ = tuple;
    table_insert(*r);
    if (user_mss != 0) r->conn().set_max_segment(user_mss);
    r->conn().connect(now(), tuple, next_iss(tuple));
    return Opened{r, 0};
}

}  // namespace tcpsim::stack
