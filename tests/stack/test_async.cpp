#define BOOST_TEST_MODULE stack_async
#include <boost/test/unit_test.hpp>

#include "stack/sockets/async.hpp"  // first: it includes <utility> before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "stack/sim_net.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using namespace tcpsim::testing;
namespace asio = boost::asio;
using async::error_code;
using asio::awaitable;
using asio::use_awaitable;

namespace {
// Two hosts on a 1 ms wire and an io_context declared after the world (destroyed first).
struct Net : TwoHosts {
    asio::io_context io;
    void run(Time until = kTimeNever) { async::run(world, io, until); }
    Time at(Duration d) const { return Time(d); }
};

std::string text(const std::vector<char>& v, std::size_t n) { return std::string(v.data(), n); }

// On a perfect 1 ms wire with empty ARP caches, the first SYN leaves after an ARP
// request/reply (2 ms), so a handshake's SYN-ACK (or RST) arrives at 4 ms.
constexpr Duration kFirstReply = 4ms;
}  // namespace

BOOST_AUTO_TEST_CASE(connect_refused_completes_with_econnrefused_at_the_rst) {
    Net n;
    async::Socket s(n.io.get_executor(), n.client);
    std::optional<error_code> result;
    Time when{};
    s.async_connect({TwoHosts::server_ip, 80}, [&](error_code ec) {
        result = ec;
        when = n.world.now();
    });
    BOOST_TEST(!result.has_value());  // never inside the initiating call
    n.run();
    BOOST_REQUIRE(result.has_value());
    BOOST_TEST(*result == error_code(ECONNREFUSED, boost::system::system_category()));
    BOOST_TEST(result->message() == std::string(std::strerror(ECONNREFUSED)));
    BOOST_TEST(when == n.at(kFirstReply));
}

BOOST_AUTO_TEST_CASE(callbacks_accept_connect_write_and_read_at_virtual_times) {
    Net n;
    async::Acceptor acc(n.io.get_executor(), n.server, {Ipv4Addr::any(), 80});
    async::Socket client(n.io.get_executor(), n.client);
    std::optional<async::Socket> served;
    Time connected{}, accepted{}, read_at{};
    std::vector<char> buf(64);
    std::size_t got = 0;
    const std::string msg = "hello";

    acc.async_accept([&](error_code ec, async::Socket s) {
        BOOST_TEST(!ec);
        accepted = n.world.now();
        served.emplace(std::move(s));
        served->async_read_some(asio::buffer(buf), [&](error_code ec2, std::size_t k) {
            BOOST_TEST(!ec2);
            got = k;
            read_at = n.world.now();
        });
    });
    client.async_connect({TwoHosts::server_ip, 80}, [&](error_code ec) {
        BOOST_TEST(!ec);
        connected = n.world.now();
        async::async_write(client, asio::buffer(msg), [&](error_code ec2, std::size_t k) {
            BOOST_TEST(!ec2);
            BOOST_TEST(k == msg.size());
            BOOST_TEST(n.world.now() == connected);  // queued at once: completes in the same instant
        });
    });
    n.run(n.at(1s));
    BOOST_TEST(connected == n.at(kFirstReply));         // SYN-ACK at 4 ms
    BOOST_TEST(accepted == n.at(kFirstReply + 1ms));    // the handshake's ACK at 5 ms
    BOOST_TEST(read_at == n.at(kFirstReply + 1ms));     // data rides right behind that ACK
    BOOST_TEST(text(buf, got) == msg);
    BOOST_TEST(client.remote_endpoint() == (tcp::Endpoint{TwoHosts::server_ip, 80}));
    BOOST_TEST(served->remote_endpoint() == client.local_endpoint());
}

BOOST_AUTO_TEST_CASE(coroutines_echo_and_see_eof_after_the_peer_shuts_down) {
    Net n;
    std::vector<std::string> echoed;
    bool server_saw_eof = false;
    Time eof_at{};
    asio::co_spawn(
        n.io,
        [&]() -> awaitable<void> {
            async::Acceptor acc(co_await asio::this_coro::executor, n.server, {Ipv4Addr::any(), 7});
            async::Socket s = co_await acc.async_accept(use_awaitable);
            std::vector<char> buf(256);
            for (;;) {
                error_code ec;
                std::size_t k = 0;
                try {
                    k = co_await s.async_read_some(asio::buffer(buf), use_awaitable);
                } catch (const boost::system::system_error& e) {
                    ec = e.code();
                }
                if (ec == asio::error::eof) {
                    server_saw_eof = true;
                    eof_at = n.world.now();
                    break;
                }
                BOOST_REQUIRE(!ec);
                co_await async::async_write(s, asio::buffer(buf.data(), k), use_awaitable);
            }
        },
        asio::detached);
    asio::co_spawn(
        n.io,
        [&]() -> awaitable<void> {
            async::Socket c(co_await asio::this_coro::executor, n.client);
            co_await c.async_connect({TwoHosts::server_ip, 7}, use_awaitable);
            for (std::string m : {"one", "two", "three"}) {
                co_await async::async_write(c, asio::buffer(m), use_awaitable);
                std::string back(m.size(), '\0');
                std::size_t k = co_await async::async_read(c, asio::buffer(back), use_awaitable);
                BOOST_TEST(k == m.size());
                echoed.push_back(back);
            }
            BOOST_TEST(!c.shutdown(SHUT_WR));
        },
        asio::detached);
    n.run();
    BOOST_TEST(echoed == (std::vector<std::string>{"one", "two", "three"}));
    BOOST_TEST(server_saw_eof);
    // Connected at 4 ms; three round trips of 2 ms each; the FIN arrives 1 ms after the last echo.
    BOOST_TEST(eof_at == n.at(kFirstReply + 3 * 2ms + 1ms));
}

BOOST_AUTO_TEST_CASE(composed_read_collects_all_bytes_across_many_segments) {
    Net n;
    constexpr std::size_t kSize = 200'000;  // ~140 full-size segments, several windows
    std::vector<char> out(kSize), in(kSize);
    for (std::size_t i = 0; i < kSize; ++i) out[i] = static_cast<char>('a' + i % 26);
    std::size_t read = 0, written = 0;
    Time read_done{}, connected{};
    async::Acceptor acc(n.io.get_executor(), n.server, {Ipv4Addr::any(), 9});
    std::optional<async::Socket> served;
    acc.async_accept([&](error_code ec, async::Socket s) {
        BOOST_REQUIRE(!ec);
        served.emplace(std::move(s));
        async::async_read(*served, asio::buffer(in), [&](error_code ec2, std::size_t k) {
            BOOST_TEST(!ec2);
            read = k;
            read_done = n.world.now();
        });
    });
    async::Socket c(n.io.get_executor(), n.client);
    c.async_connect({TwoHosts::server_ip, 9}, [&](error_code ec) {
        BOOST_REQUIRE(!ec);
        connected = n.world.now();
        async::async_write(c, asio::buffer(out), [&](error_code ec2, std::size_t k) {
            BOOST_TEST(!ec2);
            written = k;
        });
    });
    n.run(n.at(60s));
    BOOST_TEST(written == kSize);
    BOOST_TEST(read == kSize);
    BOOST_TEST((in == out));
    // More than one round trip: the send buffer and the windows make it take several.
    BOOST_TEST(read_done > connected + 2ms);
    BOOST_TEST(read_done < n.at(10s));
}

BOOST_AUTO_TEST_CASE(read_of_more_than_the_peer_sends_ends_with_eof_and_the_count) {
    Net n;
    async::Acceptor acc(n.io.get_executor(), n.server, {Ipv4Addr::any(), 9});
    std::optional<async::Socket> served;
    std::vector<char> in(100);
    std::optional<error_code> result;
    std::size_t got = 0;
    acc.async_accept([&](error_code, async::Socket s) {
        served.emplace(std::move(s));
        async::async_read(*served, asio::buffer(in), [&](error_code ec, std::size_t k) {
            result = ec;
            got = k;
        });
    });
    async::Socket c(n.io.get_executor(), n.client);
    const std::string msg = "only forty-two bytes, then the peer quits.";
    c.async_connect({TwoHosts::server_ip, 9}, [&](error_code) {
        async::async_write(c, asio::buffer(msg), [&](error_code, std::size_t) { c.close(); });
    });
    n.run(n.at(1s));
    BOOST_REQUIRE(result.has_value());
    BOOST_TEST(*result == asio::error::eof);
    BOOST_TEST(got == msg.size());
    BOOST_TEST(text(in, got) == msg);
}

BOOST_AUTO_TEST_CASE(async_wait_reports_readiness_when_it_happens) {
    Net n;
    async::Acceptor acc(n.io.get_executor(), n.server, {Ipv4Addr::any(), 80});
    Time listen_readable{}, writable{}, readable{};
    acc.async_wait(async::WaitType::read, [&](error_code ec) {
        BOOST_TEST(!ec);
        listen_readable = n.world.now();
    });
    async::Socket c(n.io.get_executor(), n.client);
    c.async_connect({TwoHosts::server_ip, 80}, [&](error_code) {
        c.async_wait(async::WaitType::write, [&](error_code ec) {
            BOOST_TEST(!ec);
            writable = n.world.now();
        });
        c.async_wait(async::WaitType::read, [&](error_code ec) {
            BOOST_TEST(!ec);
            readable = n.world.now();
        });
    });
    std::optional<async::Socket> served;
    n.run(n.at(50ms));
    BOOST_TEST(listen_readable == n.at(kFirstReply + 1ms));  // the completed handshake
    BOOST_TEST(writable == n.at(kFirstReply));               // an established socket is writable
    BOOST_TEST(readable == Time{});                           // nothing sent yet
    acc.async_accept([&](error_code, async::Socket s) {
        served.emplace(std::move(s));
        async::async_write(*served, asio::buffer(std::string_view("x")), [](error_code, std::size_t) {});
    });
    n.run(n.at(100ms));
    BOOST_TEST(readable == n.at(50ms + 1ms));  // accepted and written at 50 ms, 1 ms of wire
}

BOOST_AUTO_TEST_CASE(close_completes_pending_operations_with_operation_aborted) {
    Net n;
    n.listen_on(80);  // a plain listener: the connection is never accepted, reads stay pending
    async::Acceptor acc(n.io.get_executor(), n.server, {Ipv4Addr::any(), 81});
    std::optional<error_code> accept_ec, read_ec, wait_ec;
    Time accept_at{}, read_at{};
    acc.async_accept([&](error_code ec, async::Socket s) {
        accept_ec = ec;
        accept_at = n.world.now();
        BOOST_TEST(!s.is_open());
    });
    async::Socket c(n.io.get_executor(), n.client);
    std::vector<char> buf(16);
    c.async_connect({TwoHosts::server_ip, 80}, [&](error_code ec) {
        BOOST_TEST(!ec);
        c.async_read_some(asio::buffer(buf), [&](error_code e, std::size_t k) {
            read_ec = e;
            read_at = n.world.now();
            BOOST_TEST(k == 0u);
        });
        c.async_wait(async::WaitType::read, [&](error_code e) { wait_ec = e; });
    });
    n.run(n.at(40ms));
    BOOST_TEST(!read_ec.has_value());
    BOOST_TEST(!accept_ec.has_value());
    acc.close();
    c.close();
    BOOST_TEST(!accept_ec.has_value());  // completions are posted, never run inside close()
    n.run(n.at(60ms));
    BOOST_REQUIRE(accept_ec.has_value());
    BOOST_REQUIRE(read_ec.has_value());
    BOOST_REQUIRE(wait_ec.has_value());
    BOOST_TEST(*accept_ec == asio::error::operation_aborted);
    BOOST_TEST(*read_ec == asio::error::operation_aborted);
    BOOST_TEST(*wait_ec == asio::error::operation_aborted);
    BOOST_TEST(accept_at == n.at(40ms));  // at the instant of the close, not later
    BOOST_TEST(read_at == n.at(40ms));
    BOOST_TEST(!c.is_open());
    // Operations on a closed socket fail (posted) with bad_descriptor.
    std::optional<error_code> late;
    c.async_read_some(asio::buffer(buf), [&](error_code e, std::size_t) { late = e; });
    BOOST_TEST(!late.has_value());
    n.run(n.at(70ms));
    BOOST_REQUIRE(late.has_value());
    BOOST_TEST(*late == asio::error::bad_descriptor);
}

BOOST_AUTO_TEST_CASE(use_future_works_as_a_completion_token) {
    Net n;
    async::Socket s(n.io.get_executor(), n.client);
    std::future<void> f = s.async_connect({TwoHosts::server_ip, 80}, asio::use_future);
    n.run();
    BOOST_CHECK_EXCEPTION(f.get(), boost::system::system_error, [](const boost::system::system_error& e) {
        return e.code() == error_code(ECONNREFUSED, boost::system::system_category());
    });
}

BOOST_AUTO_TEST_CASE(destroying_the_io_context_frees_suspended_coroutines) {
    TwoHosts net;
    bool frame_destroyed = false;
    std::optional<async::Socket> survivor;  // outlives the io_context: may still close
    struct Flag {
        bool* f;
        ~Flag() { *f = true; }
    };
    {
        asio::io_context io;
        asio::co_spawn(
            io,
            [&]() -> awaitable<void> {
                Flag guard{&frame_destroyed};
                async::Acceptor acc(co_await asio::this_coro::executor, net.server, {Ipv4Addr::any(), 80});
                co_await acc.async_accept(use_awaitable);  // nobody connects
                BOOST_FAIL("accept completed without a connection");
            },
            asio::detached);
        survivor.emplace(io.get_executor(), net.client);
        survivor->async_connect({TwoHosts::server_ip, 80}, [](error_code) { BOOST_FAIL("handler ran after shutdown"); });
        async::run(net.world, io, Time(3ms));  // the SYN-ACK arrives at 4 ms: still pending
        BOOST_TEST(net.cs.open_descriptors() == 1u);
        BOOST_TEST(!frame_destroyed);
    }
    BOOST_TEST(frame_destroyed);
    BOOST_TEST(net.ss.open_descriptors() == 0u);  // the acceptor closed its descriptor
    net.run_for(1s);                               // the connection completes; nobody is told
    BOOST_TEST(survivor->is_open());
    survivor.reset();
    BOOST_TEST(net.cs.open_descriptors() == 0u);
}

BOOST_AUTO_TEST_CASE(run_stops_at_until_and_sets_the_clock) {
    Net n;
    async::Socket s(n.io.get_executor(), n.client);
    bool done = false;
    s.async_connect({TwoHosts::server_ip, 80}, [&](error_code) { done = true; });
    n.run(n.at(3ms));
    BOOST_TEST(!done);
    BOOST_TEST(n.world.now() == n.at(3ms));
    n.run();
    BOOST_TEST(done);
}
