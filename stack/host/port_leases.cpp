// Host: port leases (bind() conflicts, ephemeral ports for bind() and connect()).
#include "stack/host/host_internal.hpp"

#include <algorithm>
#include <cerrno>

namespace tcpsim::stack {

using namespace host_detail;

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

}  // namespace tcpsim::stack
