#include "stack/host/host.hpp"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

#include "ip/checksum.hpp"
#include "ip/icmp.hpp"
#include "ip/ipv4.hpp"
#include "link/arp/arp.hpp"
#include "link/ethernet/ethernet.hpp"
#include "stack/sockets/sockets.hpp"
#include "tcp/isn.hpp"
#include "tcp/segment.hpp"

namespace tcpsim::stack {
namespace {

constexpr std::size_t kEth = link::kEthernetHeaderSize;
constexpr std::size_t kIp = ip::kIpv4MinHeaderSize;
// Host event tags: kind in the top byte, argument below.
constexpr std::uint64_t kTagArpProbe = 1ull << 56;
constexpr std::uint64_t kTagReap = 2ull << 56;
constexpr std::uint64_t kTagReassembly = 3ull << 56;
constexpr std::uint64_t kTagKindMask = 0xffull << 56;

std::error_code errno_code(int e) { return std::error_code(e, std::generic_category()); }

// Linux icmp_err_convert[] (net/ipv4/icmp.c): errno for each destination-unreachable code.
int unreachable_errno(std::uint8_t code) {
    switch (code) {
        case 0: return ENETUNREACH;   // net unreachable
        case 1: return EHOSTUNREACH;  // host unreachable
        case 2: return ENOPROTOOPT;   // protocol unreachable
        case 3: return ECONNREFUSED;  // port unreachable
        case 4: return EMSGSIZE;      // fragmentation needed
        case 5: return EOPNOTSUPP;    // source route failed
        case 6: return ENETUNREACH;
        case 7: return EHOSTDOWN;
        case 8: return ENONET;
        case 9: return ENETUNREACH;
        case 10: return EHOSTUNREACH;
        case 11: return ENETUNREACH;
        case 12: return EHOSTUNREACH;
        case 13: return EHOSTUNREACH;
        case 14: return EHOSTUNREACH;
        case 15: return EHOSTUNREACH;
        default: return 0;
    }
}

std::string icmp_cause(std::uint8_t type, std::uint8_t code) {
    if (type == static_cast<std::uint8_t>(ip::IcmpType::TimeExceeded)) return "ICMP time exceeded";
    switch (code) {
        case 0: return "ICMP net unreachable";
        case 1: return "ICMP host unreachable";
        case 2: return "ICMP protocol unreachable";
        case 3: return "ICMP port unreachable";
        case 4: return "ICMP fragmentation needed";
        default: return "ICMP unreachable code " + std::to_string(code);
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pieces

struct Host::Interface final : FrameSink {
    Host* host;
    std::size_t index;
    InterfaceConfig cfg;
    FrameSink* out = nullptr;
    Interface(Host* h, std::size_t i, InterfaceConfig c) : host(h), index(i), cfg(std::move(c)) {}
    void accept_frame(Bytes frame) override { host->receive_frame(index, frame); }
    Ipv4Addr directed_broadcast() const { return Ipv4Addr{cfg.address.addr.value | ~cfg.address.mask()}; }
};

// A transmit buffer from the host's pool (no allocation once the pool has warmed up). Nested
// sends (a send that triggers another) take the next buffer, so none is overwritten in use.
class Host::TxBuffer {
public:
    TxBuffer(Host& h, std::size_t size) : h_(h) {
        if (h.tx_pool_.size() <= h.tx_depth_) h.tx_pool_.emplace_back();
        ByteVector& b = h.tx_pool_[h.tx_depth_++];
        if (b.size() < size) b.resize(size);
        bytes_ = MutableBytes(b.data(), size);
    }
    ~TxBuffer() { --h_.tx_depth_; }
    TxBuffer(const TxBuffer&) = delete;
    TxBuffer& operator=(const TxBuffer&) = delete;
    MutableBytes bytes() const { return bytes_; }

private:
    Host& h_;
    MutableBytes bytes_;
};

// ---------------------------------------------------------------------------------------------
// ConnectionRecord

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

// ---------------------------------------------------------------------------------------------
// Host: construction, interfaces, routes

Host::Host(World& world, std::string name)
    : world_(world), name_(std::move(name)), arp_(config_.arp),
      isn_(std::make_unique<tcp::Rfc6528IsnGenerator>(world.rng("isn/" + name_).next_u64())),
      cookies_(std::make_unique<tcp::SynCookies>(world.rng("syncookie/" + name_).next_u64())),
      port_rng_(world.rng("ports/" + name_)), ip_rng_(world.rng("ip/" + name_)) {
    port_secret_ = port_rng_.next_u64();
    icmp_ip_id_ = static_cast<std::uint16_t>(ip_rng_.next_u32());
    sockets_ = std::make_unique<Sockets>(*this);
}

Host::~Host() {
    world_.cancel(reassembly_timer_);
    sockets_.reset();
    for (auto& [p, r] : records_) world_.cancel(r->timer_);
    records_.clear();
}

std::size_t Host::add_interface(InterfaceConfig cfg) {
    if (cfg.name.empty()) throw std::invalid_argument(name_ + ": interface name must not be empty");
    if (find_interface(cfg.name)) throw std::invalid_argument(name_ + ": duplicate interface '" + cfg.name + "'");
    if (cfg.mtu < 68 || cfg.mtu > 65535)
        throw std::invalid_argument(name_ + "/" + cfg.name + ": MTU " + std::to_string(cfg.mtu) + " outside 68..65535");
    if (cfg.address.length < 0 || cfg.address.length > 32)
        throw std::invalid_argument(name_ + "/" + cfg.name + ": bad prefix length");
    if (cfg.mac.is_multicast()) throw std::invalid_argument(name_ + "/" + cfg.name + ": MAC must be unicast");
    const std::size_t i = interfaces_.size();
    interfaces_.push_back(std::make_unique<Interface>(this, i, std::move(cfg)));
    const auto& a = interfaces_.back()->cfg.address;
    if (!a.addr.is_any()) routes_.push_back(Route{Ipv4Prefix{a.network(), a.length}, Ipv4Addr::any(), i});
    return i;
}

const InterfaceConfig& Host::interface(std::size_t ifindex) const {
    if (ifindex >= interfaces_.size()) throw std::out_of_range(name_ + ": no interface " + std::to_string(ifindex));
    return interfaces_[ifindex]->cfg;
}

std::optional<std::size_t> Host::find_interface(std::string_view n) const {
    for (const auto& i : interfaces_)
        if (i->cfg.name == n) return i->index;
    return std::nullopt;
}

void Host::attach(std::size_t ifindex, FrameSink& out) {
    interface(ifindex);  // range check
    interfaces_[ifindex]->out = &out;
}

FrameSink& Host::input(std::size_t ifindex) {
    interface(ifindex);
    return *interfaces_[ifindex];
}

void Host::add_route(Ipv4Prefix dest, Ipv4Addr gateway) {
    if (dest.length < 0 || dest.length > 32) throw std::invalid_argument(name_ + ": bad route prefix");
    routes_.push_back(Route{Ipv4Prefix{dest.network(), dest.length}, gateway, 0});
}

bool Host::is_local_address(Ipv4Addr a) const {
    for (const auto& i : interfaces_)
        if (!a.is_any() && i->cfg.address.addr == a) return true;
    return false;
}

std::optional<Host::NextHop> Host::route(Ipv4Addr dst) const {
    const Route* best = nullptr;
    for (const Route& r : routes_)
        if (r.dest.contains(dst) && (best == nullptr || r.dest.length > best->dest.length)) best = &r;
    if (best == nullptr) return std::nullopt;
    if (best->gateway.is_any()) return NextHop{best->ifindex, dst};
    // A gateway route: the gateway itself must be on-link (one level, as Linux without onlink).
    for (const Route& r : routes_)
        if (r.gateway.is_any() && r.dest.contains(best->gateway)) return NextHop{r.ifindex, best->gateway};
    return std::nullopt;
}

std::optional<Ipv4Addr> Host::source_address_for(Ipv4Addr dst) const {
    if (is_local_address(dst)) return dst;
    auto hop = route(dst);
    if (!hop) return std::nullopt;
    return interfaces_[hop->ifindex]->cfg.address.addr;
}

void Host::set_isn_generator(std::unique_ptr<tcp::IsnGenerator> gen) {
    if (gen) isn_ = std::move(gen);
}

tcp::SeqNum Host::next_iss(const tcp::FourTuple& t) { return isn_->generate(now(), t); }

void Host::drop(DropReason reason, std::string_view detail, Bytes data) {
    ++stats_.drops;
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Drop)) bus.emit(DropEvent{now(), name_, reason, detail, data});
}

void Host::note(std::string_view text) {
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Note)) bus.emit(NoteEvent{now(), name_, text});
}

// ---------------------------------------------------------------------------------------------
// Link layer

void Host::receive_frame(std::size_t ifindex, Bytes frame) {
    if (ifindex >= interfaces_.size()) return;
    ++stats_.frames_in;
    auto eth = link::parse_ethernet(frame);
    if (!eth) return drop(DropReason::Malformed, link::to_string(eth.error()), frame);
    const Interface& itf = *interfaces_[ifindex];
    const bool broadcast = eth->header.dst.is_broadcast();
    if (!broadcast && eth->header.dst != itf.cfg.mac) {
        // Not addressed to us (a NIC without promiscuous mode filters it; multicast: no groups
        // joined). Counted, so a misaddressed peer shows up in the drop trace.
        return drop(DropReason::NotForUs,
                    eth->header.dst.is_multicast() ? "multicast frame, no group joined" : "frame for another MAC", frame);
    }
    switch (eth->header.type) {
        case link::EtherType::Arp: return input_arp(ifindex, eth->payload);
        case link::EtherType::Ipv4: return input_ipv4(ifindex, eth->payload, broadcast);
        case link::EtherType::Vlan: return drop(DropReason::UnsupportedProtocol, "VLAN-tagged frame", frame);
        case link::EtherType::Ipv6: return drop(DropReason::UnsupportedProtocol, "IPv6 frame", frame);
    }
    // Unknown EtherTypes: not spoken here (Linux counts them as rx_dropped/unknown protocol).
    drop(DropReason::UnsupportedProtocol, "unknown EtherType", frame);
}

void Host::send_frame(std::size_t ifindex, MacAddr dst, std::uint16_t ethertype, Bytes frame_with_header) {
    Interface& itf = *interfaces_[ifindex];
    if (itf.out == nullptr) return drop(DropReason::Other, "interface not attached", frame_with_header);
    link::EthernetHeader h{dst, itf.cfg.mac, static_cast<link::EtherType>(ethertype)};
    // The header space is ours (callers reserve 14 bytes up front).
    auto* raw = const_cast<std::byte*>(frame_with_header.data());
    link::encode_ethernet_header(h, MutableBytes(raw, kEth));
    ++stats_.frames_out;
    if (frame_with_header.size() < link::kEthernetMinFrameSize) {
        // Pad to the Ethernet minimum like a NIC, so frame sizes and pcaps look real.
        std::array<std::byte, link::kEthernetMinFrameSize> padded{};
        std::copy(frame_with_header.begin(), frame_with_header.end(), padded.begin());
        itf.out->accept_frame(padded);
        return;
    }
    itf.out->accept_frame(frame_with_header);
}

void Host::send_arp(std::size_t ifindex, std::uint16_t op, MacAddr dst_mac, MacAddr target_mac, Ipv4Addr target_ip) {
    const Interface& itf = *interfaces_[ifindex];
    link::ArpPacket p{static_cast<link::ArpOp>(op), itf.cfg.mac, itf.cfg.address.addr, target_mac, target_ip};
    TxBuffer buf(*this, kEth + link::kArpSize);
    link::encode_arp(p, buf.bytes().subspan(kEth));
    if (p.op == link::ArpOp::Request)
        ++stats_.arp_requests_sent;
    else
        ++stats_.arp_replies_sent;
    send_frame(ifindex, dst_mac, static_cast<std::uint16_t>(link::EtherType::Arp), buf.bytes());
}

void Host::input_arp(std::size_t ifindex, Bytes payload) {
    auto arp = link::parse_arp(payload);
    if (!arp) return drop(DropReason::Malformed, link::to_string(arp.error()), payload);
    const Interface& itf = *interfaces_[ifindex];
    const bool for_us = !itf.cfg.address.addr.is_any() && arp->target_ip == itf.cfg.address.addr;
    if (arp->sender_ip.is_any() || arp->sender_mac.is_multicast()) {
        // An ARP probe (RFC 5227) or nonsense: nothing to learn. Still answer probes for us.
        if (for_us && arp->op == link::ArpOp::Request)
            send_arp(ifindex, static_cast<std::uint16_t>(link::ArpOp::Reply), arp->sender_mac, arp->sender_mac,
                     arp->sender_ip);
        return;
    }
    // RFC 826: merge the sender first; create an entry only when the packet is for us and a
    // request (Linux arp_accept = 0 never creates from replies or gratuitous ARP).
    ArpEntry* e = arp_.confirm(arp->sender_ip, arp->sender_mac, ifindex, now(),
                               for_us && arp->op == link::ArpOp::Request);
    // Resolved: the pending probe would only be a no-op that keeps an idle run going.
    if (e != nullptr && e->state != ArpState::Incomplete) world_.cancel(e->probe_timer);
    if (e != nullptr && !e->queue.empty()) flush_arp_queue(*e);
    if (for_us && arp->op == link::ArpOp::Request)
        send_arp(ifindex, static_cast<std::uint16_t>(link::ArpOp::Reply), arp->sender_mac, arp->sender_mac,
                 arp->sender_ip);
}

void Host::arp_resolve(ArpEntry& e, Bytes datagram) {
    if (arp_.enqueue(e, datagram) != 0) drop(DropReason::ArpQueueFull, e.ip.to_string());
    if (e.probes_sent == 0) arp_probe(e.ip);
}

void Host::arp_probe(Ipv4Addr ip) {
    ArpEntry* e = arp_.find(ip);
    if (e == nullptr || e->state != ArpState::Incomplete) return;
    if (e->probes_sent >= config_.arp.probes) return arp_failed(ip);
    ++e->probes_sent;
    send_arp(e->ifindex, static_cast<std::uint16_t>(link::ArpOp::Request), MacAddr::broadcast(), MacAddr{}, ip);
    e->probe_timer = world_.at(now() + config_.arp.retrans, *this, kTagArpProbe | ip.value);
}

void Host::arp_failed(Ipv4Addr ip) {
    ArpEntry* e = arp_.find(ip);
    if (e == nullptr) return;
    std::vector<ByteVector> queue = std::move(e->queue);
    arp_.erase(ip);
    note("ARP: " + ip.to_string() + " did not answer");
    // Linux: each queued packet is dropped through ipv4_link_failure(), which sends ICMP host
    // unreachable to its source; our own TCP then fails the connect with EHOSTUNREACH.
    for (const ByteVector& d : queue) {
        drop(DropReason::ArpTimeout, ip.to_string(), d);
        auto pkt = ip::parse_ipv4(d, {.verify_checksum = false});
        if (!pkt) continue;
        if (is_local_address(pkt->src)) {
            if (pkt->protocol == ip::Protocol::Tcp && pkt->payload.size() >= 4)
                apply_icmp_error(tcp::FourTuple{{pkt->src, load_be16(pkt->payload, 0)}, {pkt->dst, load_be16(pkt->payload, 2)}},
                                 static_cast<std::uint8_t>(ip::IcmpType::DestUnreachable),
                                 static_cast<std::uint8_t>(ip::UnreachableCode::Host));
        } else {
            send_icmp_error(*pkt, d, static_cast<std::uint8_t>(ip::IcmpType::DestUnreachable),
                            static_cast<std::uint8_t>(ip::UnreachableCode::Host));
        }
    }
}

void Host::flush_arp_queue(ArpEntry& e) {
    std::vector<ByteVector> queue = std::move(e.queue);
    e.queue.clear();
    e.queued_bytes = 0;
    const MacAddr mac = e.mac;
    const std::size_t ifindex = e.ifindex;
    for (const ByteVector& d : queue) {
        TxBuffer buf(*this, kEth + d.size());
        std::copy(d.begin(), d.end(), buf.bytes().begin() + kEth);
        send_frame(ifindex, mac, static_cast<std::uint16_t>(link::EtherType::Ipv4), buf.bytes());
    }
}

void Host::on_event(Time, std::uint64_t tag) {
    switch (tag & kTagKindMask) {
        case kTagArpProbe: return arp_probe(Ipv4Addr{static_cast<std::uint32_t>(tag)});
        case kTagReap: return reap();
        case kTagReassembly:
            reassembly_timer_ = {};
            return expire_fragments();
        default: return;
    }
}

// ---------------------------------------------------------------------------------------------
// IPv4

bool Host::output_ipv4(MutableBytes frame, Ipv4Addr dst, std::optional<NextHop> hop) {
    if (!hop) hop = route(dst);
    if (!hop) {
        drop(DropReason::NoRoute, dst.to_string(), frame.subspan(kEth));
        return false;
    }
    const Bytes datagram = frame.subspan(kEth);
    const std::size_t mtu = interfaces_[hop->ifindex]->cfg.mtu;
    ++stats_.ip_out;
    if (datagram.size() <= mtu || is_local_address(dst)) {
        output_to_hop(frame, dst, *hop);
        return true;
    }
    // Too big for the link: fragment (RFC 791 §3.2) unless DF forbids it.
    auto pkt = ip::parse_ipv4(datagram, {.verify_checksum = false});
    if (!pkt) return false;
    auto frag = ip::Fragmenter::create(*pkt, mtu);
    if (!frag) {
        drop(DropReason::Other, std::string("datagram exceeds MTU: ") + ip::to_string(frag.error()), datagram);
        return false;
    }
    while (!frag->done()) {
        TxBuffer buf(*this, kEth + frag->next_size());
        frag->next(buf.bytes().subspan(kEth));
        output_to_hop(buf.bytes(), dst, *hop);
    }
    return true;
}

void Host::output_to_hop(MutableBytes frame, Ipv4Addr dst, const NextHop& hop) {
    Interface& itf = *interfaces_[hop.ifindex];
    const Bytes datagram = frame.subspan(kEth);
    if (is_local_address(dst)) {
        // Loopback: deliver to ourselves on the next event (never re-entrantly).
        auto copy = std::make_shared<ByteVector>(datagram.begin(), datagram.end());
        const std::size_t ifindex = hop.ifindex;
        world_.at(now(), [this, copy, ifindex] { input_ipv4(ifindex, *copy, false); });
        return;
    }
    if (dst.is_broadcast() || dst == itf.directed_broadcast()) {
        send_frame(hop.ifindex, MacAddr::broadcast(), static_cast<std::uint16_t>(link::EtherType::Ipv4), frame);
        return;
    }
    if (const MacAddr* mac = arp_.resolved(hop.addr, now())) {
        const MacAddr m = *mac;
        ArpEntry* e = arp_.find(hop.addr);
        if (e != nullptr && e->state == ArpState::Stale && !e->refresh_sent) {
            // Re-confirm a stale neighbour with a unicast request (Linux NUD_PROBE), keep sending.
            e->refresh_sent = true;
            send_arp(hop.ifindex, static_cast<std::uint16_t>(link::ArpOp::Request), m, MacAddr{}, hop.addr);
        }
        send_frame(hop.ifindex, m, static_cast<std::uint16_t>(link::EtherType::Ipv4), frame);
        return;
    }
    arp_resolve(arp_.get_or_create(hop.addr, hop.ifindex), datagram);
}

void Host::input_fragment(const ip::Ipv4Packet& pkt, Bytes datagram, bool link_broadcast) {
    const auto r = reassembler_.add(now(), pkt);
    switch (r.outcome) {
        case ip::ReassemblyOutcome::Complete: {
            auto whole = ip::parse_ipv4(r.datagram);
            if (!whole) return drop(DropReason::Reassembly, ip::to_string(whole.error()), r.datagram);
            // r.datagram stays valid until the next add(); delivery never re-enters reassembly.
            deliver_local(*whole, r.datagram, link_broadcast);
            break;
        }
        case ip::ReassemblyOutcome::Pending:
        case ip::ReassemblyOutcome::Duplicate: break;
        case ip::ReassemblyOutcome::NotAFragment: return deliver_local(pkt, datagram, link_broadcast);
        case ip::ReassemblyOutcome::DroppedOverlap:
        case ip::ReassemblyOutcome::DroppedBadLength:
        case ip::ReassemblyOutcome::DroppedOversize:
        case ip::ReassemblyOutcome::DroppedNoRoom:
            drop(DropReason::Reassembly, ip::to_string(r.outcome), datagram);
            break;
    }
    arm_reassembly_timer();
}

void Host::arm_reassembly_timer() {
    const Time d = reassembler_.next_deadline();
    if (d == kTimeNever) {
        world_.cancel(reassembly_timer_);
        return;
    }
    if (world_.pending(reassembly_timer_) && world_.queue_due(reassembly_timer_) <= d) return;
    world_.cancel(reassembly_timer_);
    reassembly_timer_ = world_.at(d, *this, kTagReassembly);
}

void Host::expire_fragments() {
    while (auto e = reassembler_.expire(now())) {
        drop(DropReason::Reassembly, "reassembly timeout", e->first_fragment);
        if (e->first_fragment.empty()) continue;
        // RFC 792 / Linux ip_expire(): time exceeded, code 1, only if the first fragment came.
        auto first = ip::parse_ipv4(e->first_fragment, {.verify_checksum = false, .allow_truncated = true});
        if (first)
            send_icmp_error(*first, e->first_fragment, static_cast<std::uint8_t>(ip::IcmpType::TimeExceeded),
                            static_cast<std::uint8_t>(ip::TimeExceededCode::ReassemblyTimeExceeded));
    }
    arm_reassembly_timer();
}

void Host::input_ipv4(std::size_t ifindex, Bytes payload, bool link_broadcast) {
    auto pkt = ip::parse_ipv4(payload);
    if (!pkt) {
        const auto reason = pkt.error() == ip::Ipv4Error::BadChecksum ? DropReason::BadChecksum : DropReason::Malformed;
        return drop(reason, ip::to_string(pkt.error()), payload);
    }
    ++stats_.ip_in;
    const Bytes datagram = payload.first(pkt->wire_size());
    const Interface& itf = *interfaces_[ifindex];
    const bool to_broadcast = pkt->dst.is_broadcast() || pkt->dst == itf.directed_broadcast();
    if (is_local_address(pkt->dst) || to_broadcast) {
        if (pkt->is_fragment()) return input_fragment(*pkt, datagram, link_broadcast || to_broadcast);
        return deliver_local(*pkt, datagram, link_broadcast || to_broadcast);
    }
    if (pkt->dst.is_multicast()) return;  // no groups joined
    if (!config_.forwarding) return drop(DropReason::NotForUs, pkt->dst.to_string(), datagram);
    if (link_broadcast) return drop(DropReason::NotForUs, "link broadcast", datagram);
    forward(ifindex, *pkt, datagram);
}

void Host::deliver_local(const ip::Ipv4Packet& pkt, Bytes datagram, bool broadcast) {
    switch (pkt.protocol) {
        case ip::Protocol::Tcp:
            if (broadcast) return drop(DropReason::NotForUs, "TCP to a broadcast address", datagram);
            return input_tcp(pkt, datagram);
        case ip::Protocol::Icmp: return input_icmp(pkt, datagram, broadcast);
        case ip::Protocol::Udp: break;
    }
    drop(DropReason::UnsupportedProtocol, "IP protocol " + std::to_string(static_cast<int>(pkt.protocol)), datagram);
    // RFC 1122 §3.2.2.1: protocol unreachable (Linux does so when no raw socket wants it).
    send_icmp_error(pkt, datagram, static_cast<std::uint8_t>(ip::IcmpType::DestUnreachable),
                    static_cast<std::uint8_t>(ip::UnreachableCode::Protocol), 0, broadcast);
}

void Host::forward(std::size_t in_ifindex, const ip::Ipv4Packet& pkt, Bytes datagram) {
    (void)in_ifindex;
    if (pkt.ttl <= 1) {
        drop(DropReason::TtlExceeded, pkt.dst.to_string(), datagram);
        // RFC 1812 §5.3.1.
        return send_icmp_error(pkt, datagram, static_cast<std::uint8_t>(ip::IcmpType::TimeExceeded),
                               static_cast<std::uint8_t>(ip::TimeExceededCode::TtlExceeded));
    }
    auto hop = route(pkt.dst);
    if (!hop) {
        drop(DropReason::NoRoute, pkt.dst.to_string(), datagram);
        return send_icmp_error(pkt, datagram, static_cast<std::uint8_t>(ip::IcmpType::DestUnreachable),
                               static_cast<std::uint8_t>(ip::UnreachableCode::Net));
    }
    if (datagram.size() > interfaces_[hop->ifindex]->cfg.mtu && pkt.dont_fragment) {
        drop(DropReason::Other, "needs fragmentation, DF set", datagram);
        // RFC 1191: tell the sender the next-hop MTU.
        return send_icmp_error(pkt, datagram, static_cast<std::uint8_t>(ip::IcmpType::DestUnreachable),
                               static_cast<std::uint8_t>(ip::UnreachableCode::FragmentationNeeded),
                               static_cast<std::uint16_t>(interfaces_[hop->ifindex]->cfg.mtu));
    }
    TxBuffer buf(*this, kEth + datagram.size());
    MutableBytes d = buf.bytes().subspan(kEth);
    std::copy(datagram.begin(), datagram.end(), d.begin());
    // TTL - 1 with the incremental checksum update of RFC 1624 (word: TTL | protocol).
    const std::uint16_t old_word = load_be16(d, 8);
    const auto new_word = static_cast<std::uint16_t>(old_word - 0x100);
    store_be16(d, 8, new_word);
    store_be16(d, 10, ip::checksum_update(load_be16(d, 10), old_word, new_word));
    ++stats_.ip_forwarded;
    output_ipv4(buf.bytes(), pkt.dst, hop);
}

// ---------------------------------------------------------------------------------------------
// ICMP

void Host::send_icmp(Ipv4Addr src, Ipv4Addr dst, std::uint8_t tos, std::uint8_t type, std::uint8_t code,
                     std::uint32_t rest, Bytes body) {
    ip::IcmpMessage m;
    m.type = static_cast<ip::IcmpType>(type);
    m.code = code;
    m.rest = rest;
    m.body = body;
    ip::Ipv4Packet h;
    h.tos = tos;
    h.id = icmp_ip_id_++;
    h.ttl = config_.ttl;
    h.protocol = ip::Protocol::Icmp;
    h.src = src;
    h.dst = dst;
    const std::size_t size = kEth + kIp + m.wire_size();
    if (m.wire_size() + kIp > ip::kIpv4MaxDatagram) return;
    TxBuffer buf(*this, size);
    ip::encode_icmp(m, buf.bytes().subspan(kEth + kIp));
    ip::encode_ipv4_header(h, m.wire_size(), buf.bytes().subspan(kEth, kIp));
    ++stats_.icmp_out;
    output_ipv4(buf.bytes(), dst);
}

void Host::send_icmp_error(const ip::Ipv4Packet& original, Bytes original_bytes, std::uint8_t type, std::uint8_t code,
                           std::uint16_t mtu, bool link_broadcast) {
    if (!ip::may_send_icmp_error(original, link_broadcast)) return;
    auto src = source_address_for(original.src);
    if (!src) return;
    ip::IcmpMessage m = type == static_cast<std::uint8_t>(ip::IcmpType::TimeExceeded)
                            ? ip::IcmpMessage::time_exceeded(static_cast<ip::TimeExceededCode>(code), original_bytes)
                            : ip::IcmpMessage::dest_unreachable(static_cast<ip::UnreachableCode>(code), original_bytes, mtu);
    const ip::Ipv4Packet h = ip::icmp_error_ipv4_header(original, *src);
    send_icmp(h.src, h.dst, h.tos, type, code, m.rest, m.body);
}

bool Host::ping(Ipv4Addr dst, std::uint16_t id, std::uint16_t seq, Bytes data) {
    auto src = source_address_for(dst);
    if (!src) return false;
    const auto m = ip::IcmpMessage::echo_request(id, seq, data);
    send_icmp(*src, dst, 0, static_cast<std::uint8_t>(m.type), m.code, m.rest, m.body);
    return true;
}

void Host::input_icmp(const ip::Ipv4Packet& pkt, Bytes datagram, bool broadcast) {
    auto m = ip::parse_icmp(pkt.payload);
    if (!m) {
        const auto reason = m.error() == ip::IcmpError::BadChecksum ? DropReason::BadChecksum : DropReason::Malformed;
        return drop(reason, ip::to_string(m.error()), datagram);
    }
    ++stats_.icmp_in;
    switch (m->type) {
        case ip::IcmpType::EchoRequest: {
            if (broadcast && config_.icmp_echo_ignore_broadcasts) return;  // Linux default
            const auto reply = ip::IcmpMessage::echo_reply_to(*m);
            const Ipv4Addr src = broadcast ? source_address_for(pkt.src).value_or(pkt.dst) : pkt.dst;
            return send_icmp(src, pkt.src, pkt.tos, static_cast<std::uint8_t>(reply.type), reply.code, reply.rest, reply.body);
        }
        case ip::IcmpType::EchoReply:
            ++stats_.echo_replies_received;
            if (world_.trace().wants(TraceKind::Note))
                note("ICMP echo reply from " + pkt.src.to_string() + " id " + std::to_string(m->echo_id()) + " seq " +
                     std::to_string(m->echo_seq()));
            return;
        case ip::IcmpType::DestUnreachable:
        case ip::IcmpType::TimeExceeded: {
            auto q = ip::quoted_datagram(*m);
            if (!q) return drop(DropReason::Malformed, ip::to_string(q.error()), datagram);
            if (q->protocol != ip::Protocol::Tcp || q->payload.size() < 4 || !is_local_address(q->src)) return;
            const tcp::FourTuple t{{q->src, load_be16(q->payload, 0)}, {q->dst, load_be16(q->payload, 2)}};
            return apply_icmp_error(t, static_cast<std::uint8_t>(m->type), m->code);
        }
        case ip::IcmpType::SourceQuench:  // RFC 6633: ignored
        case ip::IcmpType::Redirect:
        case ip::IcmpType::ParameterProblem:
        case ip::IcmpType::TimestampRequest:
        case ip::IcmpType::TimestampReply: return;
    }
}

void Host::apply_icmp_error(const tcp::FourTuple& tuple, std::uint8_t type, std::uint8_t code) {
    auto it = table_.find(tuple);
    if (it == table_.end()) return;
    ConnectionRecord& r = *it->second;
    const bool time_exceeded = type == static_cast<std::uint8_t>(ip::IcmpType::TimeExceeded);
    const std::string cause = icmp_cause(type, code);
    if (!time_exceeded && code == static_cast<std::uint8_t>(ip::UnreachableCode::FragmentationNeeded)) {
        // Path MTU discovery (RFC 1191) needs an engine hook to lower the MSS; noted only.
        return note(cause + " for " + format_tuple(tuple) + " (PMTU not applied)");
    }
    const int err = time_exceeded ? EHOSTUNREACH : unreachable_errno(code);
    if (err == 0) return;
    const tcp::State st = r.state();
    if (r.parent_ != nullptr && st == tcp::State::SynRecv) {
        // Linux tcp_req_err(): a request socket dies quietly on net/host unreachable or time
        // exceeded; other codes leave it to its SYN-ACK retransmissions.
        if (time_exceeded || code == 0 || code == 1) kill(r, errno_code(err), cause);
        return;
    }
    bool hard;
    if (config_.rfc1122_icmp_errors)
        hard = !time_exceeded && (code == 2 || code == 3);  // RFC 1122 §4.2.3.9: codes 2-4 hard
    else
        hard = st == tcp::State::SynSent || st == tcp::State::SynRecv;  // Linux tcp_v4_err()
    if (hard)
        kill(r, errno_code(err), cause);
    else {
        r.soft_error_ = errno_code(err);  // Linux sk_err_soft: reported if the connection times out
        note(cause + " for " + format_tuple(tuple) + " (soft error)");
    }
}

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

// ---------------------------------------------------------------------------------------------
// TCP

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
        if (auto rst = tcp::reset_for(*seg)) {
            ++stats_.tcp_resets_sent;
            send_tcp(nullptr, tuple, *rst);
        }
        return;
    }
    switch (tcp::listen_reply(*seg)) {
        case tcp::ListenAction::Drop: return;
        case tcp::ListenAction::Reset:
            // Linux cookie_v4_check(): an ACK to a listener that sent cookies lately may be the
            // end of a cookie handshake.
            if (config_.syncookies != SyncookieMode::Off && listener->cookie_sent_at_ != kTimeNever &&
                now() - listener->cookie_sent_at_ < std::chrono::minutes(2) && seg->flags.any(tcp::Ack) &&
                !seg->flags.any(tcp::Syn | tcp::Rst) && accept_syncookie(*listener, tuple, *seg, datagram))
                return;
            if (auto rst = tcp::reset_for(*seg)) {
                ++stats_.tcp_resets_sent;
                send_tcp(nullptr, tuple, *rst);
            }
            return;
        case tcp::ListenAction::NewConnection: break;
    }
    // Linux tcp_conn_request(): a full SYN queue (or tcp_syncookies = 2) means a cookie, unless
    // the SYN reuses a TIME_WAIT tuple; a full accept queue drops the SYN either way.
    const int backlog = listener->listener_backlog_;
    const bool syn_queue_full = static_cast<int>(listener->syn_children_.size()) >= backlog;
    const bool want_cookie = !reuse_iss && (config_.syncookies == SyncookieMode::Always ||
                                            (config_.syncookies == SyncookieMode::Overflow && syn_queue_full));
    if (static_cast<int>(listener->accept_queue_.size()) > backlog || (!want_cookie && syn_queue_full && !reuse_iss)) {
        ++stats_.listen_drops;
        return drop(DropReason::ListenQueueFull, format_tuple(tuple), datagram);
    }
    if (want_cookie) return send_syncookie(*listener, tuple, *seg);
    ConnectionRecord* child = new_child(*listener, tuple);
    child->conn().accept_syn(now(), tuple, reuse_iss ? *reuse_iss : next_iss(tuple), *seg);
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

// ---------------------------------------------------------------------------------------------
// Ports and opens

Host::PortUser* Host::find_lease(std::uint64_t lease) {
    if (lease == 0) return nullptr;
    auto p = lease_port_.find(lease);
    if (p == lease_port_.end()) return nullptr;
    for (PortUser& u : ports_[p->second])
        if (u.lease == lease) return &u;
    return nullptr;
}

std::uint64_t Host::add_lease(std::uint16_t port, Ipv4Addr addr, bool reuse, bool explicit_bind) {
    const std::uint64_t id = next_lease_++;
    ports_[port].push_back(PortUser{id, addr, reuse, explicit_bind, nullptr});
    lease_port_[id] = port;
    return id;
}

void Host::release_port(std::uint64_t lease) {
    if (lease == 0) return;
    auto p = lease_port_.find(lease);
    if (p == lease_port_.end()) return;
    auto it = ports_.find(p->second);
    lease_port_.erase(p);
    if (it == ports_.end()) return;
    std::erase_if(it->second, [&](const PortUser& x) { return x.lease == lease; });
    if (it->second.empty()) ports_.erase(it);
}

void Host::set_lease_reuse(std::uint64_t lease, bool reuse_addr) {
    if (PortUser* u = find_lease(lease)) u->reuse_addr = reuse_addr;
}

bool Host::port_conflicts(std::uint16_t port, Ipv4Addr addr, bool reuse, std::uint64_t except, bool reuse_port) const {
    auto it = ports_.find(port);
    if (it == ports_.end()) return false;
    for (const PortUser& u : it->second) {
        if (u.lease == except) continue;
        if (!(u.addr.is_any() || addr.is_any() || u.addr == addr)) continue;
        // Linux inet_bind_conflict(): both SO_REUSEADDR and the other not listening -> fine.
        // FreeBSD (bsd_reuseaddr): the later socket's SO_REUSEADDR alone is enough.
        if (reuse && (u.reuse_addr || config_.bsd_reuseaddr) && !(u.rec != nullptr && u.rec->is_listener())) continue;
        // SO_REUSEPORT on both (one simulated user, so the uid check always passes).
        if (reuse_port && u.reuse_port) continue;
        return true;
    }
    return false;
}

Host::Lease Host::bind_port(tcp::Endpoint local, bool reuse_addr, bool reuse_port) {
    if (!local.addr.is_any() && !is_local_address(local.addr)) return Lease{0, local, EADDRNOTAVAIL};
    if (local.port == 0) {
        const std::uint32_t lo = config_.ephemeral_low, hi = std::max(config_.ephemeral_high, config_.ephemeral_low);
        const std::uint32_t n = hi - lo + 1;
        const std::uint32_t start = static_cast<std::uint32_t>(port_rng_.uniform(n));
        // Linux inet_csk_find_open_port(): bind() tries ports of the other parity than connect()
        // first (odd offsets from the range start), then the rest.
        for (int pass = 0; pass < 2 && local.port == 0; ++pass)
            for (std::uint32_t k = 0; k < n; ++k) {
                const std::uint32_t off = (start + k) % n;
                if ((off & 1u) != (pass == 0 ? 1u : 0u)) continue;
                const auto p = static_cast<std::uint16_t>(lo + off);
                if (!port_conflicts(p, local.addr, reuse_addr, 0, reuse_port)) {
                    local.port = p;
                    break;
                }
            }
        if (local.port == 0) return Lease{0, local, EADDRINUSE};
    } else if (port_conflicts(local.port, local.addr, reuse_addr, 0, reuse_port)) {
        return Lease{0, local, EADDRINUSE};
    }
    const std::uint64_t id = add_lease(local.port, local.addr, reuse_addr, true);
    if (PortUser* u = find_lease(id)) u->reuse_port = reuse_port;
    return Lease{id, local, 0};
}

std::uint16_t Host::pick_connect_port(const tcp::Endpoint& local, const tcp::Endpoint& remote) {
    // Linux __inet_hash_connect(): a keyed hash of the destination plus a per-bucket perturbation
    // picks the start; even offsets first (odd ones are left for bind()), then odd. A port is
    // usable when only other connect()s hold it and the 4-tuple is new.
    const std::uint32_t lo = config_.ephemeral_low, hi = std::max(config_.ephemeral_high, config_.ephemeral_low);
    const std::uint32_t n = hi - lo + 1;
    std::uint64_t h = port_secret_ ^ (std::uint64_t{local.addr.value} << 32 | remote.addr.value);
    h = (h ^ remote.port) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    const std::size_t index = h & 255u;
    const std::uint32_t offset = static_cast<std::uint32_t>((h >> 16) + port_perturb_[index]) % n & ~1u;
    for (int pass = 0; pass < 2; ++pass)
        for (std::uint32_t i = 0; i < n; i += 2) {
            const std::uint32_t off = (offset + i + static_cast<std::uint32_t>(pass)) % n;
            const auto p = static_cast<std::uint16_t>(lo + off);
            auto it = ports_.find(p);
            if (it != ports_.end() &&
                std::any_of(it->second.begin(), it->second.end(), [](const PortUser& u) { return u.explicit_bind; }))
                continue;
            if (table_.count(tcp::FourTuple{{local.addr, p}, remote}) != 0) continue;
            port_perturb_[index] = static_cast<std::uint16_t>(port_perturb_[index] + i + 2);
            return p;
        }
    return 0;
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

std::vector<Host::ConnectionSnapshot> Host::connections() const {
    std::vector<ConnectionSnapshot> out;
    out.reserve(records_.size());
    for (const auto& [p, r] : records_) {
        if (r->reaping_) continue;
        ConnectionSnapshot s;
        s.tuple = r->tuple_;
        s.state = r->state();
        s.orphan = r->owner == nullptr && !r->is_listener() && r->parent_ == nullptr;
        if (r->is_listener()) {
            s.recv_q = r->accept_queue_.size();
            s.send_q = static_cast<std::size_t>(r->listener_backlog_);
        } else if (!r->dead_) {
            s.recv_q = r->conn().readable_bytes();
            s.send_q = r->conn().send_queue_bytes();
        }
        out.push_back(s);
    }
    std::sort(out.begin(), out.end(), [](const ConnectionSnapshot& a, const ConnectionSnapshot& b) { return a.tuple < b.tuple; });
    return out;
}

// ---------------------------------------------------------------------------------------------
// World's host functions (here so that the scheduler alone links without the TCP engine).

Host& World::add_host(std::string name) {
    if (name.empty()) throw std::invalid_argument("host name must not be empty");
    if (find_host(name) != nullptr) throw std::invalid_argument("duplicate host name '" + name + "'");
    hosts_.push_back(std::make_shared<Host>(*this, std::move(name)));
    return *hosts_.back();
}

Host* World::find_host(std::string_view name) {
    for (auto& h : hosts_)
        if (h->name() == name) return h.get();
    return nullptr;
}

void World::connect(Host& host, std::size_t ifindex, Wire& wire) {
    FrameSink& out = wire.attach(host.name() + "/" + host.interface(ifindex).name, host.input(ifindex));
    host.attach(ifindex, out);
}

}  // namespace tcpsim::stack
