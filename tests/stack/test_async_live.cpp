// ctest-labels: root live
// The async facade on the live runtime: the same coroutine echo server as in simulation, on a
// TAP device in a network namespace this process creates (unshare), talked to by the kernel's
// TCP through nc. Bounded in wall time; needs root and nc.
#define BOOST_TEST_MODULE stack_async_live
#include <boost/test/unit_test.hpp>

#include "stack/sockets/async.hpp"  // first: <utility> before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sched.h>

#include <array>
#include <cstdio>
#include <string>
#include <thread>

#include "link/tap/tap_device.hpp"
#include "stack/host/host.hpp"
#include "stack/live/runtime.hpp"
#include "stack/sim/world.hpp"
#include "support/skip.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {
std::string run_shell(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    std::array<char, 1024> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    ::pclose(p);
    return out;
}

awaitable<void> echo(async::Socket s, int& served) {
    std::array<char, 512> buf;
    for (;;) {
        async::error_code ec;
        std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
        if (ec) break;  // eof: the kernel's nc shut down its side
        co_await async::async_write(s, asio::buffer(buf.data(), n), use_awaitable);
    }
    ++served;
}
}  // namespace

BOOST_AUTO_TEST_CASE(coroutine_echo_server_answers_the_kernels_nc) {
    if (!testing::is_root() || !testing::have_program("nc") || !testing::have_program("timeout")) {
        testing::announce_skip("needs root, nc and timeout");
        return;
    }
    BOOST_REQUIRE(::unshare(CLONE_NEWNET) == 0);  // a private namespace: everything vanishes with us
    auto tap = link::TapDevice::open("tap-async", {.create = true});
    BOOST_REQUIRE(tap.has_value());
    BOOST_REQUIRE(!tap->set_kernel_address(*Ipv4Prefix::parse("192.0.2.1/24")));
    BOOST_REQUIRE(!tap->set_up(true));

    LiveRuntime rt(1);
    Host& h = rt.world().add_host("sim");
    auto eth0 = h.add_interface({.name = "eth0", .mac = MacAddr{{0x02, 0, 0, 0, 0, 2}},
                                 .address = *Ipv4Prefix::parse("192.0.2.2/24")});
    rt.attach(h, eth0, std::move(*tap));
    async::set_activity_hook(rt.io_context(), [&rt] { rt.wake(); });

    int served = 0;
    asio::co_spawn(
        rt.io_context(),
        [&]() -> awaitable<void> {
            async::Acceptor acc(co_await asio::this_coro::executor, h, {Ipv4Addr::any(), 7});
            async::Socket s = co_await acc.async_accept(use_awaitable);
            co_await echo(std::move(s), served);
        },
        asio::detached);

    std::string reply;
    std::thread kernel_side([&] {
        reply = run_shell("printf 'hello from the kernel\\n' | timeout 10 nc -N -w 5 192.0.2.2 7");
        asio::post(rt.io_context(), [&rt] { rt.stop(); });
    });
    rt.run(15s);
    kernel_side.join();
    BOOST_TEST(reply == "hello from the kernel\n");
    BOOST_TEST(served == 1);
}
