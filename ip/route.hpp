// IPv4 routing table (RFC 1812 §5.2.4.3): longest prefix match, and a gateway route resolved to
// the on-link route that reaches the gateway. Plain data and rules; the host adds the on-link
// route of each interface and the routes the user configures.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "link/base/addr.hpp"

namespace tcpsim::ip {

struct Route {
    Ipv4Prefix dest;
    Ipv4Addr gateway;        // any() = on-link (no gateway)
    std::size_t ifindex = 0;  // meaningful for on-link routes; a gateway route takes its gateway's
};

// Where a datagram for some destination goes next: out of `ifindex` to the neighbour `addr`
// (the destination itself when on-link, else the gateway).
struct NextHop {
    std::size_t ifindex = 0;
    Ipv4Addr addr;
};

class RoutingTable {
public:
    // Adds a route (the prefix is stored as its network address).
    void add(Ipv4Prefix dest, Ipv4Addr gateway, std::size_t ifindex = 0);
    // Longest prefix wins; among equal prefixes the first added. A gateway must itself be on-link
    // (one level, as Linux without `onlink`); otherwise there is no route.
    std::optional<NextHop> lookup(Ipv4Addr dst) const;
    const std::vector<Route>& routes() const { return routes_; }

private:
    std::vector<Route> routes_;
};

}  // namespace tcpsim::ip
