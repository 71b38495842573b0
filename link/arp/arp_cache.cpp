#include "link/arp/arp_cache.hpp"

namespace tcpsim::link {

const char* to_string(ArpState s) {
    switch (s) {
        case ArpState::Incomplete: return "INCOMPLETE";
        case ArpState::Reachable: return "REACHABLE";
        case ArpState::Stale: return "STALE";
        case ArpState::Static: return "PERMANENT";
    }
    return "?";
}

ArpEntry* ArpCache::find(Ipv4Addr ip) {
    auto it = entries_.find(ip);
    return it == entries_.end() ? nullptr : &it->second;
}

const ArpEntry* ArpCache::find(Ipv4Addr ip) const {
    auto it = entries_.find(ip);
    return it == entries_.end() ? nullptr : &it->second;
}

ArpEntry& ArpCache::get_or_create(Ipv4Addr ip, std::size_t ifindex) {
    auto [it, inserted] = entries_.try_emplace(ip);
    if (inserted) {
        it->second.ip = ip;
        it->second.ifindex = ifindex;
    }
    return it->second;
}

void ArpCache::erase(Ipv4Addr ip) { entries_.erase(ip); }

void ArpCache::add_static(Ipv4Addr ip, MacAddr mac, std::size_t ifindex) {
    ArpEntry& e = get_or_create(ip, ifindex);
    e.mac = mac;
    e.state = ArpState::Static;
    e.ifindex = ifindex;
}

const MacAddr* ArpCache::resolved(Ipv4Addr ip, Time now) {
    ArpEntry* e = find(ip);
    if (e == nullptr) return nullptr;
    switch (e->state) {
        case ArpState::Incomplete: return nullptr;
        case ArpState::Reachable:
            if (now - e->confirmed >= config_.reachable) e->state = ArpState::Stale;
            return &e->mac;
        case ArpState::Stale:
        case ArpState::Static: return &e->mac;
    }
    return nullptr;
}

ArpEntry* ArpCache::confirm(Ipv4Addr ip, MacAddr mac, std::size_t ifindex, Time now, bool create) {
    ArpEntry* e = find(ip);
    if (e == nullptr) {
        if (!create) return nullptr;
        e = &get_or_create(ip, ifindex);
    }
    if (e->state == ArpState::Static) return e;  // Linux: NUD_PERMANENT is never overridden
    e->mac = mac;
    e->ifindex = ifindex;
    e->state = ArpState::Reachable;
    e->confirmed = now;
    e->probes_sent = 0;
    e->refresh_sent = false;
    return e;
}

std::size_t ArpCache::enqueue(ArpEntry& e, Bytes datagram) {
    if (datagram.size() > config_.queue_bytes) return 1;
    std::size_t dropped = 0;
    while (!e.queue.empty() && e.queued_bytes + datagram.size() > config_.queue_bytes) {
        e.queued_bytes -= e.queue.front().size();
        e.queue.erase(e.queue.begin());
        ++dropped;
    }
    e.queue.emplace_back(datagram.begin(), datagram.end());
    e.queued_bytes += datagram.size();
    return dropped;
}

}  // namespace tcpsim::link
