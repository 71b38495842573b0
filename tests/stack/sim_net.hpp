// Test helpers for stack tests: small topologies on perfect wires and Boost.Test printers.
#pragma once

#include <ostream>
#include <string>

#include "stack/host/host.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/sim/world.hpp"

namespace tcpsim {
inline std::ostream& operator<<(std::ostream& os, Time t) { return os << format_seconds(t); }
inline std::ostream& operator<<(std::ostream& os, Ipv4Addr a) { return os << a.to_string(); }
namespace tcp {
inline std::ostream& operator<<(std::ostream& os, State s) { return os << to_string(s); }
inline std::ostream& operator<<(std::ostream& os, const Endpoint& e) { return os << e.to_string(); }
}  // namespace tcp
namespace link {
inline std::ostream& operator<<(std::ostream& os, ArpState s) { return os << to_string(s); }
}  // namespace link
namespace stack {
inline std::ostream& operator<<(std::ostream& os, DropReason r) { return os << to_string(r); }
}  // namespace stack
}  // namespace tcpsim

namespace tcpsim::testing {

inline MacAddr mac(int n) { return MacAddr{{0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(n)}}; }

// A host with one interface "eth0" on `wire`.
inline stack::Host& add_host(stack::World& w, stack::Wire& wire, const std::string& name, const std::string& prefix,
                             int mac_id) {
    stack::Host& h = w.add_host(name);
    auto i = h.add_interface({.name = "eth0", .mac = mac(mac_id), .address = *Ipv4Prefix::parse(prefix)});
    w.connect(h, i, wire);
    return h;
}

// client 192.0.2.1 and server 192.0.2.2 on one 1 ms wire.
struct TwoHosts {
    stack::World world{7};
    stack::Wire& wire = world.add_wire("l1", 1ms);
    stack::Host& client = add_host(world, wire, "client", "192.0.2.1/24", 1);
    stack::Host& server = add_host(world, wire, "server", "192.0.2.2/24", 2);
    stack::Sockets& cs = client.sockets();
    stack::Sockets& ss = server.sockets();
    static constexpr Ipv4Addr client_ip{192, 0, 2, 1};
    static constexpr Ipv4Addr server_ip{192, 0, 2, 2};

    // A listening socket on the server.
    int listen_on(std::uint16_t port, int backlog = 16) {
        int fd = static_cast<int>(ss.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
        ss.bind(fd, {Ipv4Addr::any(), port});
        ss.listen(fd, backlog);
        return fd;
    }
    // A non-blocking client socket whose connect() has been issued.
    int connect_to(std::uint16_t port) {
        int fd = static_cast<int>(cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
        cs.connect(fd, {server_ip, port});
        return fd;
    }
    void run_for(Duration d) { world.run_until(world.now() + d); }
};

}  // namespace tcpsim::testing
