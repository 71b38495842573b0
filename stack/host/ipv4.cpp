// Host: IPv4 routes, output (fragmentation, loopback, broadcast, ARP), input, reassembly and
// forwarding.
#include "stack/host/host_internal.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include "ip/forward.hpp"
#include "ip/icmp.hpp"
#include "link/arp/arp.hpp"

namespace tcpsim::stack {

using namespace host_detail;

void Host::add_route(Ipv4Prefix dest, Ipv4Addr gateway) {
    if (dest.length < 0 || dest.length > 32) throw std::invalid_argument(name_ + ": bad route prefix");
    routes_.add(dest, gateway);
}

bool Host::is_local_address(Ipv4Addr a) const {
    for (const auto& i : interfaces_)
        if (!a.is_any() && i->cfg.address.addr == a) return true;
    return false;
}

std::optional<ip::NextHop> Host::route(Ipv4Addr dst) const { return routes_.lookup(dst); }

std::optional<Ipv4Addr> Host::source_address_for(Ipv4Addr dst) const {
    if (is_local_address(dst)) return dst;
    auto hop = route(dst);
    if (!hop) return std::nullopt;
    return interfaces_[hop->ifindex]->cfg.address.addr;
}

bool Host::output_ipv4(MutableBytes frame, Ipv4Addr dst, std::optional<ip::NextHop> hop) {
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

void Host::output_to_hop(MutableBytes frame, Ipv4Addr dst, const ip::NextHop& hop) {
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
        link::ArpEntry* e = arp_.find(hop.addr);
        if (e != nullptr && e->state == link::ArpState::Stale && !e->refresh_sent) {
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
    const auto hop = route(pkt.dst);
    const auto d = ip::decide_forward(pkt, datagram.size(), hop, hop ? interfaces_[hop->ifindex]->cfg.mtu : 0);
    switch (d.action) {
        case ip::ForwardAction::Forward: break;
        case ip::ForwardAction::TtlExceeded: drop(DropReason::TtlExceeded, pkt.dst.to_string(), datagram); break;
        case ip::ForwardAction::NoRoute: drop(DropReason::NoRoute, pkt.dst.to_string(), datagram); break;
        case ip::ForwardAction::FragmentationNeeded: drop(DropReason::Other, "needs fragmentation, DF set", datagram); break;
    }
    if (d.action != ip::ForwardAction::Forward)
        return send_icmp_error(pkt, datagram, static_cast<std::uint8_t>(d.icmp_type), d.icmp_code, d.icmp_mtu);
    TxBuffer buf(*this, kEth + datagram.size());
    MutableBytes out = buf.bytes().subspan(kEth);
    std::copy(datagram.begin(), datagram.end(), out.begin());
    ip::decrement_ttl(out);
    ++stats_.ip_forwarded;
    output_ipv4(buf.bytes(), pkt.dst, d.hop);
}

}  // namespace tcpsim::stack
