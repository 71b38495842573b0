// Helpers for the sockets facade tests: an established pair, blocking calls run in virtual time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "stack/sim_net.hpp"

namespace tcpsim::testing {

inline Bytes B(std::string_view s) { return Bytes(reinterpret_cast<const std::byte*>(s.data()), s.size()); }
inline std::string S(Bytes b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

struct Net : TwoHosts {
    int l = -1, c = -1, s = -1;  // listener and accepted socket on the server, client socket
    Net() { client.add_route(*Ipv4Prefix::parse("198.51.100.0/24"), server_ip); }  // a black hole
    static constexpr Ipv4Addr blackhole{198, 51, 100, 9};

    // An established connection on `port`; all three descriptors non-blocking.
    void pair(std::uint16_t port = 80) {
        l = listen_on(port);
        c = connect_to(port);
        run_for(100ms);
        s = static_cast<int>(ss.accept(l).value);
    }
    static void make_blocking(stack::Sockets& so, int fd) { so.fcntl(fd, F_SETFL, 0); }
    // Starts a blocking call and runs the world until it completes (at most `limit`).
    std::optional<stack::SysResult> run(const std::function<void(stack::Sockets::Done)>& start, Duration limit = 1000s) {
        std::optional<stack::SysResult> res;
        start([&res](stack::SysResult r) { res = r; });
        const Time end = world.now() + limit;
        while (!res && world.step(end)) {
        }
        return res;
    }
    std::string drain(stack::Sockets& so, int fd) {
        std::string out;
        std::array<std::byte, 4096> buf{};
        for (;;) {
            stack::SysResult r = so.recv(fd, buf, MSG_DONTWAIT);
            if (r.value <= 0) break;
            out += S(Bytes(buf.data(), static_cast<std::size_t>(r.value)));
        }
        return out;
    }
    int fresh(stack::Sockets& so, int flags = 0) { return static_cast<int>(so.socket(AF_INET, SOCK_STREAM | flags, 0).value); }
};

}  // namespace tcpsim::testing
