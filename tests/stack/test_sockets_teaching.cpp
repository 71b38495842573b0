// The teaching scenarios of SEEDS-CHECKLIST.md §11 that concern the sockets facade, in virtual
// time. Test names start with the scenario number (t01_ ...).
#define BOOST_TEST_MODULE stack_sockets_teaching
#include <boost/test/unit_test.hpp>

#include <array>

#include "stack/sockets_test_util.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using namespace tcpsim::testing;
using tcp::State;

namespace {
// A server that accepts on `port` and closes first (active close), leaving TIME_WAIT.
void serve_and_close_first(Net& n, std::uint16_t port, bool reuse) {
    int l = n.fresh(n.ss, SOCK_NONBLOCK);
    if (reuse) n.ss.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, 1);
    n.ss.bind(l, {Ipv4Addr::any(), port});
    n.ss.listen(l, 5);
    n.c = n.connect_to(port);
    n.run_for(100ms);
    n.s = static_cast<int>(n.ss.accept(l).value);
    n.ss.close(n.s);
    n.ss.close(l);
    n.run_for(100ms);
    n.cs.close(n.c);
    n.run_for(100ms);
}
bool has_state(const Host& h, State s) {
    for (const auto& c : h.connections())
        if (c.state == s) return true;
    return false;
}
}  // namespace

BOOST_AUTO_TEST_CASE(t01_server_restart_vs_time_wait) {
    {
        Net n;
        serve_and_close_first(n, 55555, false);
        BOOST_TEST(has_state(n.server, State::TimeWait));
        int again = n.fresh(n.ss);
        BOOST_TEST(n.ss.bind(again, {Ipv4Addr::any(), 55555}).err == EADDRINUSE);
        n.run_for(60s);  // 2 * MSL (30 s)
        BOOST_TEST(!has_state(n.server, State::TimeWait));
        BOOST_TEST(n.ss.bind(again, {Ipv4Addr::any(), 55555}).ok());
    }
    {
        Net n;  // SO_REUSEADDR on the old and the new socket: at once (Linux)
        serve_and_close_first(n, 55555, true);
        int again = n.fresh(n.ss);
        n.ss.setsockopt(again, SOL_SOCKET, SO_REUSEADDR, 1);
        BOOST_TEST(n.ss.bind(again, {Ipv4Addr::any(), 55555}).ok());
    }
    for (bool bsd : {false, true}) {
        Net n;  // only the new socket: fails on Linux, works on FreeBSD
        n.server.config().bsd_reuseaddr = bsd;
        serve_and_close_first(n, 55555, false);
        int again = n.fresh(n.ss);
        n.ss.setsockopt(again, SOL_SOCKET, SO_REUSEADDR, 1);
        BOOST_TEST(n.ss.bind(again, {Ipv4Addr::any(), 55555}).ok() == bsd);
    }
}

BOOST_AUTO_TEST_CASE(t02_restart_while_a_child_still_serves) {
    Net n;
    int l = n.fresh(n.ss, SOCK_NONBLOCK);
    n.ss.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, 1);
    n.ss.bind(l, {Ipv4Addr::any(), 21});
    n.ss.listen(l, 5);
    n.c = n.connect_to(21);
    n.run_for(100ms);
    n.s = static_cast<int>(n.ss.accept(l).value);
    n.ss.close(l);  // the parent exits; the child keeps serving
    BOOST_TEST(n.ss.state(n.s) == State::Established);
    int plain = n.fresh(n.ss);
    BOOST_TEST(n.ss.bind(plain, {Ipv4Addr::any(), 21}).err == EADDRINUSE);
    int reuse = n.fresh(n.ss);
    n.ss.setsockopt(reuse, SOL_SOCKET, SO_REUSEADDR, 1);
    BOOST_TEST(n.ss.bind(reuse, {Ipv4Addr::any(), 21}).ok());
    BOOST_TEST(n.ss.listen(reuse, 5).ok());
}

BOOST_AUTO_TEST_CASE(t03_listener_on_the_wildcard_blocks_every_address) {
    Net n;
    int l = n.fresh(n.ss);
    n.ss.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, 1);
    n.ss.bind(l, {Ipv4Addr::any(), 8080});
    n.ss.listen(l, 5);
    int b = n.fresh(n.ss);
    n.ss.setsockopt(b, SOL_SOCKET, SO_REUSEADDR, 1);
    BOOST_TEST(n.ss.bind(b, {Net::server_ip, 8080}).err == EADDRINUSE);
}

BOOST_AUTO_TEST_CASE(t10_half_close_echo_client) {
    Net n;
    n.pair(7);
    const std::string file(5000, 'f');
    BOOST_TEST(n.cs.send(n.c, B(file)).value == 5000);
    BOOST_TEST(n.cs.shutdown(n.c, SHUT_WR).ok());
    BOOST_TEST(n.cs.send(n.c, B("x")).err == EPIPE);
    BOOST_TEST(n.cs.last_call_raised_sigpipe());
    BOOST_TEST(n.cs.send(n.c, B("x"), MSG_NOSIGNAL).err == EPIPE);
    BOOST_TEST(!n.cs.last_call_raised_sigpipe());
    n.run_for(200ms);
    const std::string got = n.drain(n.ss, n.s);
    BOOST_TEST(got == file);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf).value == 0);  // EOF after all the data
    BOOST_TEST(n.ss.state(n.s) == State::CloseWait);
    BOOST_TEST(n.cs.state(n.c) == State::FinWait2);  // still receiving
    n.ss.send(n.s, B(got));
    n.ss.close(n.s);
    n.run_for(200ms);
    BOOST_TEST(n.drain(n.cs, n.c) == file);
    BOOST_TEST(n.cs.recv(n.c, buf).value == 0);
    BOOST_TEST(n.cs.state(n.c) == State::TimeWait);
}

BOOST_AUTO_TEST_CASE(t11_dup_then_close_vs_shutdown) {
    {
        Net n;
        n.pair(80);
        int fd2 = static_cast<int>(n.cs.dup(n.c).value);
        n.cs.close(n.c);
        n.run_for(100ms);
        BOOST_TEST(n.ss.state(n.s) == State::Established);  // no FIN
        n.cs.send(fd2, B("via fd2"));
        n.run_for(100ms);
        BOOST_TEST(n.drain(n.ss, n.s) == "via fd2");
    }
    {
        Net n;
        n.pair(80);
        int fd2 = static_cast<int>(n.cs.dup(n.c).value);
        n.cs.shutdown(n.c, SHUT_RDWR);
        n.run_for(100ms);
        BOOST_TEST(n.ss.state(n.s) == State::CloseWait);  // the FIN went out at once
        std::array<std::byte, 8> buf{};
        BOOST_TEST(n.cs.recv(fd2, buf).value == 0);
        BOOST_TEST(n.cs.send(fd2, B("x"), MSG_NOSIGNAL).err == EPIPE);
        BOOST_TEST(n.cs.valid(n.c));
        BOOST_TEST(n.cs.valid(fd2));
    }
}

BOOST_AUTO_TEST_CASE(t15_implicit_bind_and_ephemeral_ports) {
    Net n;
    int l = n.fresh(n.ss, SOCK_NONBLOCK);
    n.ss.listen(l, 5);  // no bind()
    tcp::Endpoint le;
    n.ss.getsockname(l, le);
    BOOST_TEST(le.port >= 32768);
    int c = n.fresh(n.cs, SOCK_NONBLOCK);
    n.cs.connect(c, {Net::server_ip, le.port});  // no bind()
    n.run_for(100ms);
    tcp::Endpoint ce;
    n.cs.getsockname(c, ce);
    BOOST_TEST(ce.port >= 32768);
    int b = n.fresh(n.cs);
    n.cs.bind(b, {Ipv4Addr::any(), 0});
    tcp::Endpoint be;
    n.cs.getsockname(b, be);
    BOOST_TEST(be.port >= 32768);
    BOOST_TEST(be.port != ce.port);
    // netstat: the listener, and the connection seen from both ends.
    auto srv = n.server.connections();
    BOOST_TEST(srv.size() == 2u);
    BOOST_TEST(has_state(n.server, State::Listen));
    BOOST_TEST(has_state(n.server, State::Established));
}

BOOST_AUTO_TEST_CASE(t16_nonblocking_connect) {
    {
        Net n;
        n.l = n.listen_on(80);
        int fd = n.fresh(n.cs, SOCK_NONBLOCK);
        BOOST_TEST(n.cs.connect(fd, {Net::server_ip, 80}).err == EINPROGRESS);
        n.run_for(100ms);
        BOOST_TEST((n.cs.poll(fd) & POLLOUT) != 0);
        int err = -1;
        n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err);
        BOOST_TEST(err == 0);
    }
    {
        Net n;  // nobody listens: RST, POLLERR, SO_ERROR = ECONNREFUSED
        int fd = n.fresh(n.cs, SOCK_NONBLOCK);
        n.cs.connect(fd, {Net::server_ip, 80});
        n.run_for(100ms);
        BOOST_TEST((n.cs.poll(fd) & POLLERR) != 0);
        int err = 0;
        n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err);
        BOOST_TEST(err == ECONNREFUSED);
    }
    {
        Net n;  // SO_SNDTIMEO 1 s on a blocking socket, SYNs vanish
        int fd = n.fresh(n.cs);
        timeval tv{1, 0};
        n.cs.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        const Time t0 = n.world.now();
        auto r = n.run([&](auto done) { n.cs.blocking_connect(fd, {Net::blackhole, 80}, done); });
        BOOST_REQUIRE(r.has_value());
        BOOST_TEST(r->err == EINPROGRESS);
        BOOST_TEST(n.world.now() - t0 == Duration(1s));
    }
}

BOOST_AUTO_TEST_CASE(t17_receive_timeout) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.ss, n.s);
    timeval tv{2, 0};
    n.ss.setsockopt(n.s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::array<std::byte, 64> buf{};
    Time t0 = n.world.now();
    auto r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, 0, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->err == EAGAIN);
    BOOST_TEST(n.world.now() - t0 == Duration(2s));
    // Some bytes first: the partial count.
    n.world.after(500ms, [&] { n.cs.send(n.c, B("part")); });
    r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, MSG_WAITALL, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->value == 4);
    // poll() does not use SO_RCVTIMEO.
    std::optional<int> polled;
    n.ss.poll_wait({{n.s, POLLIN, 0}}, -1, [&](std::vector<pollfd>&, int k) { polled = k; });
    n.run_for(5s);
    BOOST_TEST(!polled.has_value());
    n.cs.send(n.c, B("x"));
    n.run_for(100ms);
    BOOST_REQUIRE(polled.has_value());
    BOOST_TEST(*polled == 1);
}

BOOST_AUTO_TEST_CASE(t18_partial_reads_and_msg_waitall) {
    auto three_segments = [](Net& n) {
        n.cs.setsockopt(n.c, IPPROTO_TCP, TCP_NODELAY, 1);
        n.cs.send(n.c, B(std::string(40, 'a')));
        n.world.after(10ms, [&n] { n.cs.send(n.c, B(std::string(40, 'b'))); });
        n.world.after(20ms, [&n] { n.cs.send(n.c, B(std::string(20, 'c'))); });
    };
    std::array<std::byte, 100> buf{};
    {
        Net n;
        n.pair(80);
        Net::make_blocking(n.ss, n.s);
        three_segments(n);
        auto r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, 0, done); });
        BOOST_REQUIRE(r.has_value());
        BOOST_TEST(r->value < 100);
    }
    {
        Net n;
        n.pair(80);
        Net::make_blocking(n.ss, n.s);
        three_segments(n);
        auto r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, MSG_WAITALL, done); });
        BOOST_REQUIRE(r.has_value());
        BOOST_TEST(r->value == 100);
    }
    {
        Net n;  // the peer closes after 60 bytes
        n.pair(80);
        Net::make_blocking(n.ss, n.s);
        n.cs.send(n.c, B(std::string(60, 'a')));
        n.world.after(10ms, [&n] { n.cs.close(n.c); });
        auto r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, MSG_WAITALL, done); });
        BOOST_REQUIRE(r.has_value());
        BOOST_TEST(r->value == 60);
        r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, MSG_WAITALL, done); });
        BOOST_REQUIRE(r.has_value());
        BOOST_TEST(r->value == 0);
    }
    {
        Net n;  // an urgent byte inside the range ends MSG_WAITALL early
        n.pair(80);
        Net::make_blocking(n.ss, n.s);
        n.cs.send(n.c, B(std::string(30, 'a')));
        n.cs.send(n.c, B("U"), MSG_OOB);
        n.world.after(10ms, [&n] { n.cs.send(n.c, B(std::string(69, 'b'))); });
        auto r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, MSG_WAITALL, done); }, 5s);
        BOOST_REQUIRE(r.has_value());
        BOOST_TEST(r->value == 30);
    }
}

BOOST_AUTO_TEST_CASE(t21_buffer_size_doubling) {
    Net n;
    int fd = n.fresh(n.ss, SOCK_NONBLOCK);
    int v = 0;
    n.ss.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4096);
    n.ss.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, v);
    BOOST_TEST(v == 8192);
    int t = n.fresh(n.ss);
    n.ss.setsockopt(t, SOL_SOCKET, SO_RCVBUF, 1);
    n.ss.getsockopt(t, SOL_SOCKET, SO_RCVBUF, v);
    BOOST_TEST(v == 2304);  // Linux today; the seed's socket(7) says 256
    n.ss.setsockopt(t, SOL_SOCKET, SO_SNDBUF, 1);
    n.ss.getsockopt(t, SOL_SOCKET, SO_SNDBUF, v);
    BOOST_TEST(v == 4608);  // the seed says 2048
    n.ss.setsockopt(t, SOL_SOCKET, SO_SNDBUF, 1 << 30);
    n.ss.getsockopt(t, SOL_SOCKET, SO_SNDBUF, v);
    BOOST_TEST(v == 2 * 212992);  // wmem_max, doubled
    BOOST_TEST(n.ss.setsockopt(t, SOL_SOCKET, SO_SNDLOWAT, 1).err == ENOPROTOOPT);
    // About half the buffer shows up as window: the receiver that never reads holds ~4096.
    n.ss.bind(fd, {Ipv4Addr::any(), 80});
    n.ss.listen(fd, 5);
    n.c = n.connect_to(80);
    n.run_for(100ms);
    n.s = static_cast<int>(n.ss.accept(fd).value);
    n.cs.send(n.c, B(std::string(100000, 'x')));
    n.run_for(2s);
    int queued = 0;
    n.ss.ioctl(n.s, FIONREAD, &queued);
    BOOST_TEST(queued > 2048);
    BOOST_TEST(queued <= 8192 / 2 + 1460);
}

BOOST_AUTO_TEST_CASE(t22_so_rcvlowat_readiness) {
    Net n;
    n.pair(80);
    n.ss.setsockopt(n.s, SOL_SOCKET, SO_RCVLOWAT, 10);
    Net::make_blocking(n.ss, n.s);
    std::array<std::byte, 64> buf{};
    std::optional<SysResult> r;
    n.ss.blocking_recv(n.s, buf, 0, [&](SysResult x) { r = x; });
    n.cs.send(n.c, B("1234"));
    n.run_for(100ms);
    BOOST_TEST((n.ss.poll(n.s) & POLLIN) == 0);  // 4 < 10
    BOOST_TEST(!r.has_value());
    n.cs.send(n.c, B("567890"));
    n.run_for(100ms);
    BOOST_TEST(r.has_value());
    if (r) BOOST_TEST(r->value == 10);
}

BOOST_AUTO_TEST_CASE(t23_what_accept_inherits) {
    for (bool bsd : {false, true}) {
        Net n;
        n.server.config().accept_inherits_nonblock = bsd;
        int l = n.fresh(n.ss, SOCK_NONBLOCK | SOCK_CLOEXEC);
        n.ss.setsockopt(l, SOL_SOCKET, SO_KEEPALIVE, 1);
        n.ss.setsockopt(l, SOL_SOCKET, SO_RCVBUF, 4096);
        n.ss.bind(l, {Ipv4Addr::any(), 80});
        n.ss.listen(l, 5);
        n.connect_to(80);
        n.run_for(100ms);
        int s = static_cast<int>(n.ss.accept(l).value);
        BOOST_TEST(n.ss.nonblocking(s) == bsd);
        BOOST_TEST(n.ss.fcntl(s, F_GETFD).value == 0);
        int v = 0, lv = 0;
        n.ss.getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, v);
        BOOST_TEST(v == 1);
        n.ss.getsockopt(s, SOL_SOCKET, SO_RCVBUF, v);
        n.ss.getsockopt(l, SOL_SOCKET, SO_RCVBUF, lv);
        BOOST_TEST(v == lv);
        BOOST_TEST(v == 8192);
    }
}

BOOST_AUTO_TEST_CASE(t24_so_linger) {
    auto stuffed = [](Net& n) {
        // The server never reads and has a small buffer: its window closes.
        int l = n.fresh(n.ss, SOCK_NONBLOCK);
        n.ss.setsockopt(l, SOL_SOCKET, SO_RCVBUF, 4096);
        n.ss.bind(l, {Ipv4Addr::any(), 80});
        n.ss.listen(l, 5);
        n.c = n.connect_to(80);
        n.cs.setsockopt(n.c, SOL_SOCKET, SO_SNDBUF, 1 << 20);
        n.run_for(100ms);
        n.s = static_cast<int>(n.ss.accept(l).value);
        n.cs.send(n.c, B(std::string(1 << 20, 'x')));
        n.run_for(1s);
    };
    {
        Net n;
        stuffed(n);
        linger lg{1, 5};
        n.cs.setsockopt(n.c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        const Time t0 = n.world.now();
        SysResult r = n.cs.close(n.c);
        BOOST_TEST(r.wait_for == POLLOUT);
        std::optional<short> done;
        Time when{};
        n.cs.wait_close([&](short ev) {
            done = ev;
            when = n.world.now();
        });
        n.run_for(10s);
        BOOST_REQUIRE(done.has_value());
        BOOST_TEST(*done == 0);  // the linger time ran out first
        BOOST_TEST(when - t0 == Duration(5s));
    }
    {
        Net n;
        stuffed(n);
        SysResult r = n.cs.close(n.c);  // linger off: at once; the FIN waits behind the data
        BOOST_TEST(r.ok());
        BOOST_TEST(r.wait_for == 0);
        BOOST_TEST(n.client.connections().at(0).state == State::FinWait1);
        BOOST_TEST(n.client.connections().at(0).send_q > 0u);
    }
    {
        Net n;
        stuffed(n);
        linger lg{1, 0};
        n.cs.setsockopt(n.c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        n.cs.close(n.c);
        n.run_for(100ms);
        BOOST_TEST(n.client.connections().empty());
        std::array<std::byte, 8> buf{};
        SysResult rr{};
        do rr = n.ss.recv(n.s, buf);
        while (rr.value > 0);
        BOOST_TEST(rr.err == ECONNRESET);
    }
}

BOOST_AUTO_TEST_CASE(t25_backlog_overflow) {
    Net n;
    n.client.config().tcp.syn_retries = 2;
    n.l = n.listen_on(80, 1);
    std::vector<int> fds;
    for (int i = 0; i < 3; ++i) {
        fds.push_back(n.connect_to(80));
        n.run_for(100ms);
    }
    n.run_for(400ms);
    int established = 0;
    for (const auto& c : n.server.connections()) established += c.state == State::Established ? 1 : 0;
    BOOST_TEST(established == 2);  // Linux: backlog + 1 wait in the accept queue, unaccepted
    BOOST_TEST(n.cs.state(fds[2]) == State::SynSent);  // its SYNs are dropped, not refused
    n.run_for(20s);
    int err = 0;
    n.cs.getsockopt(fds[2], SOL_SOCKET, SO_ERROR, err);
    BOOST_TEST(err == ETIMEDOUT);
}
