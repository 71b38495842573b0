#include "ip/route.hpp"

namespace tcpsim::ip {

void RoutingTable::add(Ipv4Prefix dest, Ipv4Addr gateway, std::size_t ifindex) {
    routes_.push_back(Route{Ipv4Prefix{dest.network(), dest.length}, gateway, ifindex});
}

std::optional<NextHop> RoutingTable::lookup(Ipv4Addr dst) const {
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

}  // namespace tcpsim::ip
