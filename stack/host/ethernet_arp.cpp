// Host: Ethernet input and output, ARP requests, replies and the queue of datagrams waiting
// for a neighbour.
#include "stack/host/host_internal.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "ip/icmp.hpp"
#include "link/arp/arp.hpp"

namespace tcpsim::stack {

using namespace host_detail;

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
    link::ArpEntry* e = arp_.confirm(arp->sender_ip, arp->sender_mac, ifindex, now(),
                               for_us && arp->op == link::ArpOp::Request);
    // Resolved: the pending probe would only be a no-op that keeps an idle run going.
    if (e != nullptr && e->state != link::ArpState::Incomplete) {
        if (auto t = arp_probe_timers_.find(arp->sender_ip); t != arp_probe_timers_.end()) {
            world_.cancel(t->second);
            arp_probe_timers_.erase(t);
        }
    }
    if (e != nullptr && !e->queue.empty()) flush_arp_queue(*e);
    if (for_us && arp->op == link::ArpOp::Request)
        send_arp(ifindex, static_cast<std::uint16_t>(link::ArpOp::Reply), arp->sender_mac, arp->sender_mac,
                 arp->sender_ip);
}

void Host::arp_resolve(link::ArpEntry& e, Bytes datagram) {
    if (arp_.enqueue(e, datagram) != 0) drop(DropReason::ArpQueueFull, e.ip.to_string());
    if (e.probes_sent == 0) arp_probe(e.ip);
}

void Host::arp_probe(Ipv4Addr ip) {
    link::ArpEntry* e = arp_.find(ip);
    if (e == nullptr || e->state != link::ArpState::Incomplete) {
        arp_probe_timers_.erase(ip);
        return;
    }
    if (e->probes_sent >= config_.arp.probes) {
        arp_probe_timers_.erase(ip);
        return arp_failed(ip);
    }
    ++e->probes_sent;
    send_arp(e->ifindex, static_cast<std::uint16_t>(link::ArpOp::Request), MacAddr::broadcast(), MacAddr{}, ip);
    arp_probe_timers_[ip] = world_.at(now() + config_.arp.retrans, *this, kTagArpProbe | ip.value);
}

void Host::arp_failed(Ipv4Addr ip) {
    link::ArpEntry* e = arp_.find(ip);
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

void Host::flush_arp_queue(link::ArpEntry& e) {
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

}  // namespace tcpsim::stack
