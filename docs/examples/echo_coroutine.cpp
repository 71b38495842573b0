// An echo server and a client written with C++20 coroutines (co_await, use_awaitable) on two
// simulated hosts joined by a 1 ms Wire. Everything runs in virtual time: the transcript shows
// the simulated instant of each step and is identical on every run.
//
//   build/docs/examples/echo_coroutine      exits 0 only when every echo matched
#include "stack/sockets/async.hpp"  // first: <utility> before Asio (PLATFORM.md)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "stack/host/host.hpp"
#include "stack/sim/world.hpp"

namespace asio = boost::asio;
namespace async = tcpsim::stack::async;
using asio::awaitable;
using asio::use_awaitable;
using tcpsim::Ipv4Addr;
using tcpsim::Ipv4Prefix;
using tcpsim::MacAddr;
using tcpsim::stack::Host;
using tcpsim::stack::World;

namespace {

constexpr std::uint16_t kPort = 7;  // RFC 862 echo
constexpr Ipv4Addr kServerIp{192, 0, 2, 2};

void say(World& w, const char* who, const std::string& what) {
    std::printf("%12s  %-6s %s\n", tcpsim::format_seconds(w.now()).c_str(), who, what.c_str());
}

// A message as the transcript shows it: long ones abbreviated.
std::string shown(const std::string& m) {
    if (m.size() <= 32) return "\"" + m + "\"";
    return "\"" + m.substr(0, 12) + "...\" (" + std::to_string(m.size()) + " bytes)";
}

// Echoes one connection until the peer closes it.
awaitable<void> serve(World& w, async::Socket s) {
    std::vector<char> buf(1024);
    for (;;) {
        async::error_code ec;
        std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
        if (ec == asio::error::eof) {
            say(w, "server", "peer closed; closing");
            co_return;  // ~Socket closes
        }
        if (ec) throw boost::system::system_error(ec, "server read");
        co_await async::async_write(s, asio::buffer(buf.data(), n), use_awaitable);
        say(w, "server", "echoed " + std::to_string(n) + " bytes");
    }
}

awaitable<void> listen(World& w, Host& server) {
    async::Acceptor acceptor(co_await asio::this_coro::executor, server, {Ipv4Addr::any(), kPort});
    say(w, "server", "listening on port " + std::to_string(kPort));
    for (;;) {
        async::Socket s = co_await acceptor.async_accept(use_awaitable);
        say(w, "server", "accepted " + s.remote_endpoint().to_string());
        asio::co_spawn(acceptor.get_executor(), serve(w, std::move(s)), asio::detached);
    }
}

awaitable<void> client(World& w, Host& host, const std::vector<std::string>& messages, int& matched) {
    async::Socket s(co_await asio::this_coro::executor, host);
    co_await s.async_connect({kServerIp, kPort}, use_awaitable);
    say(w, "client", "connected from " + s.local_endpoint().to_string());
    for (const std::string& m : messages) {
        co_await async::async_write(s, asio::buffer(m), use_awaitable);
        say(w, "client", "sent    " + shown(m));
        std::string back(m.size(), '\0');
        co_await async::async_read(s, asio::buffer(back), use_awaitable);  // all of it, however segmented
        say(w, "client", "echoed  " + shown(back) + (back == m ? "" : "  MISMATCH"));
        if (back == m) ++matched;
    }
    s.close();
    say(w, "client", "closed");
}

Host& add_host(World& w, tcpsim::stack::Wire& wire, const char* name, const char* prefix, std::uint8_t id) {
    Host& h = w.add_host(name);
    auto eth0 = h.add_interface({.name = "eth0", .mac = MacAddr{{0x02, 0, 0, 0, 0, id}}, .address = *Ipv4Prefix::parse(prefix)});
    w.connect(h, eth0, wire);
    return h;
}

}  // namespace

int main() {
    World world(1);
    auto& wire = world.add_wire("lan", std::chrono::milliseconds(1));
    Host& client_host = add_host(world, wire, "client", "192.0.2.1/24", 1);
    Host& server_host = add_host(world, wire, "server", "192.0.2.2/24", 2);

    asio::io_context io;  // after the world: destroyed first, so suspended coroutines end cleanly
    const std::vector<std::string> messages = {"hello", "echo, echo", std::string(3000, 'x') + "end"};
    int matched = 0;
    bool failed = false;
    auto report = [&](std::exception_ptr e) {
        if (!e) return;
        failed = true;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::fprintf(stderr, "error: %s\n", x.what());
        }
    };
    asio::co_spawn(io, listen(world, server_host), report);
    asio::co_spawn(io, client(world, client_host, messages, matched), report);

    // The listener waits forever; run until the virtual world is quiet (TIME_WAIT included).
    async::run(world, io);
    const bool ok = !failed && matched == static_cast<int>(messages.size());
    std::printf("%d/%zu echoes matched: %s\n", matched, messages.size(), ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
