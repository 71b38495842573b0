#define BOOST_TEST_MODULE stack_sockets_core
#include <boost/test/unit_test.hpp>

#include <string>

#include "stack/sim_net.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using namespace tcpsim::testing;
using tcp::State;

namespace {
std::string read_all(Sockets& s, int fd) {
    std::string out;
    std::array<std::byte, 1024> buf{};
    for (;;) {
        SysResult r = s.recv(fd, buf, MSG_DONTWAIT);
        if (r.value <= 0) break;
        out += to_string(Bytes(buf.data(), static_cast<std::size_t>(r.value)));
    }
    return out;
}
// An established pair: client fd `c`, accepted server fd `s`.
struct Pair : TwoHosts {
    int l = -1, c = -1, s = -1;
    Pair() {
        l = listen_on(80);
        c = connect_to(80);
        run_for(100ms);
        s = static_cast<int>(ss.accept(l).value);
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(socket_rejects_what_linux_rejects) {
    TwoHosts n;
    BOOST_TEST(n.cs.socket(AF_INET6, SOCK_STREAM, 0).err == EAFNOSUPPORT);
    BOOST_TEST(n.cs.socket(AF_UNIX, SOCK_STREAM, 0).err == EAFNOSUPPORT);
    BOOST_TEST(n.cs.socket(AF_INET, 0, 0).err == EINVAL);
    BOOST_TEST(n.cs.socket(AF_INET, 12, 0).err == EINVAL);
    BOOST_TEST(n.cs.socket(AF_INET, SOCK_STREAM | 0x100, 0).err == EINVAL);
    BOOST_TEST(n.cs.socket(AF_INET, SOCK_SEQPACKET, 0).err == ESOCKTNOSUPPORT);
    BOOST_TEST(n.cs.socket(AF_INET, SOCK_STREAM, IPPROTO_UDP).err == EPROTONOSUPPORT);
    BOOST_TEST(n.cs.socket(AF_INET, SOCK_STREAM, 132 /* SCTP */).err == EPROTONOSUPPORT);
    BOOST_TEST(n.cs.socket(AF_INET, SOCK_STREAM, -1).err == EINVAL);
    SysResult ok = n.cs.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    BOOST_TEST(ok.ok());
    BOOST_TEST(ok.value == 3);  // 0-2 are stdio
    int v = 0;
    BOOST_TEST(n.cs.getsockopt(3, SOL_SOCKET, SO_TYPE, v).ok());
    BOOST_TEST(v == SOCK_STREAM);
    BOOST_TEST(n.cs.getsockopt(3, SOL_SOCKET, SO_PROTOCOL, v).ok());
    BOOST_TEST(v == IPPROTO_TCP);
    BOOST_TEST(n.cs.getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, v).ok());
    BOOST_TEST(v == 0);
    BOOST_TEST(n.cs.getsockopt(3, SOL_SOCKET, 9999, v).err == ENOPROTOOPT);
}

BOOST_AUTO_TEST_CASE(descriptors_are_lowest_free_and_bad_ones_give_ebadf) {
    TwoHosts n;
    int a = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    int b = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    BOOST_TEST(a == 3);
    BOOST_TEST(b == 4);
    BOOST_TEST(n.cs.close(a).ok());
    BOOST_TEST(n.cs.close(a).err == EBADF);
    BOOST_TEST(n.cs.socket(AF_INET, SOCK_STREAM, 0).value == 3);
    std::array<std::byte, 4> buf{};
    BOOST_TEST(n.cs.recv(42, buf).err == EBADF);
    BOOST_TEST(n.cs.send(-1, buf).err == EBADF);
    BOOST_TEST(n.cs.bind(99, {}).err == EBADF);
    BOOST_TEST(n.cs.poll(99) == POLLNVAL);
}

BOOST_AUTO_TEST_CASE(dup_shares_the_description_but_not_the_descriptor_flags) {
    TwoHosts n;
    int a = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0).value);
    int b = static_cast<int>(n.cs.dup(a).value);
    BOOST_TEST(b == a + 1);
    // O_NONBLOCK lives on the open file description: set through one, seen through the other.
    BOOST_TEST(n.cs.fcntl(a, F_SETFL, O_NONBLOCK).ok());
    BOOST_TEST((n.cs.fcntl(b, F_GETFL).value & O_NONBLOCK) != 0);
    // FD_CLOEXEC lives on the descriptor; dup() clears it.
    BOOST_TEST(n.cs.fcntl(a, F_GETFD).value == FD_CLOEXEC);
    BOOST_TEST(n.cs.fcntl(b, F_GETFD).value == 0);
    BOOST_TEST(n.cs.fcntl(a, 12345).err == EINVAL);
    // bind through one, visible through the other.
    BOOST_TEST(n.cs.bind(b, {Ipv4Addr::any(), 5000}).ok());
    tcp::Endpoint e;
    BOOST_TEST(n.cs.getsockname(a, e).ok());
    BOOST_TEST(e.port == 5000);
}

BOOST_AUTO_TEST_CASE(close_of_one_dup_keeps_the_connection_and_shutdown_affects_all) {
    Pair p;
    int c2 = static_cast<int>(p.cs.dup(p.c).value);
    BOOST_TEST(p.cs.close(p.c).ok());
    p.run_for(100ms);
    BOOST_TEST(p.cs.state(c2) == State::Established);  // no FIN: another descriptor remains
    BOOST_TEST(p.cs.send(c2, as_bytes("still here")).value == 10);
    p.run_for(100ms);
    BOOST_TEST(read_all(p.ss, p.s) == "still here");
    // shutdown() acts on the description (TLPI 61.2): a dup cannot write either.
    int c3 = static_cast<int>(p.cs.dup(c2).value);
    BOOST_TEST(p.cs.shutdown(c2, SHUT_WR).ok());
    BOOST_TEST(p.cs.send(c3, as_bytes("x")).err == EPIPE);
    BOOST_TEST(p.cs.last_call_raised_sigpipe());
    BOOST_TEST(p.cs.send(c3, as_bytes("x"), MSG_NOSIGNAL).err == EPIPE);
    BOOST_TEST(!p.cs.last_call_raised_sigpipe());
    p.run_for(100ms);
    // The peer reads EOF; we can still read what it sends (half-close).
    std::array<std::byte, 8> buf{};
    BOOST_TEST(p.ss.recv(p.s, buf).value == 0);
    BOOST_TEST(p.ss.send(p.s, as_bytes("reply")).value == 5);
    p.run_for(100ms);
    BOOST_TEST(read_all(p.cs, c3) == "reply");
    BOOST_TEST(p.cs.state(c3) == State::FinWait2);
}

BOOST_AUTO_TEST_CASE(bind_rules) {
    TwoHosts n;
    int a = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    int b = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    int c = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    BOOST_TEST(n.cs.bind(a, {Ipv4Addr(198, 51, 100, 1), 80}).err == EADDRNOTAVAIL);  // not ours
    BOOST_TEST(n.cs.bind(a, {n.client_ip, 80}).ok());
    BOOST_TEST(n.cs.bind(a, {n.client_ip, 81}).err == EINVAL);  // already bound
    BOOST_TEST(n.cs.bind(b, {n.client_ip, 80}).err == EADDRINUSE);
    BOOST_TEST(n.cs.bind(b, {Ipv4Addr::any(), 80}).err == EADDRINUSE);  // the wildcard overlaps
    // SO_REUSEADDR on both, neither listening: allowed (Linux).
    BOOST_TEST(n.cs.setsockopt(a, SOL_SOCKET, SO_REUSEADDR, 1).ok());
    BOOST_TEST(n.cs.setsockopt(b, SOL_SOCKET, SO_REUSEADDR, 1).ok());
    BOOST_TEST(n.cs.bind(b, {Ipv4Addr::any(), 80}).ok());
    // ... but not next to a listener.
    BOOST_TEST(n.cs.listen(a, 5).ok());
    BOOST_TEST(n.cs.setsockopt(c, SOL_SOCKET, SO_REUSEADDR, 1).ok());
    BOOST_TEST(n.cs.bind(c, {n.client_ip, 80}).err == EADDRINUSE);
    // Port 0: an ephemeral port, odd offset first for bind() (Linux).
    BOOST_TEST(n.cs.bind(c, {Ipv4Addr::any(), 0}).ok());
    tcp::Endpoint e;
    n.cs.getsockname(c, e);
    BOOST_TEST(e.port >= 32768);
    BOOST_TEST(e.port <= 60999);
    BOOST_TEST(e.port % 2 == 1);
    BOOST_TEST(e.addr == Ipv4Addr::any());
    // Closing releases the port.
    BOOST_TEST(n.cs.close(a).ok());
    BOOST_TEST(n.cs.close(b).ok());
    int d = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    BOOST_TEST(n.cs.bind(d, {n.client_ip, 80}).ok());
}

BOOST_AUTO_TEST_CASE(listen_autobinds_and_clamps_the_backlog) {
    TwoHosts n;
    int a = static_cast<int>(n.ss.socket(AF_INET, SOCK_STREAM, 0).value);
    BOOST_TEST(n.ss.listen(a, -1).ok());  // Linux: (unsigned)-1 > somaxconn -> somaxconn
    tcp::Endpoint e;
    BOOST_TEST(n.ss.getsockname(a, e).ok());
    BOOST_TEST(e.port >= 32768);
    BOOST_TEST(n.server.connections().at(0).send_q == 4096u);
    int v = 0;
    BOOST_TEST(n.ss.getsockopt(a, SOL_SOCKET, SO_ACCEPTCONN, v).ok());
    BOOST_TEST(v == 1);
    BOOST_TEST(n.ss.listen(a, 3).ok());  // listen again: only the backlog changes
    BOOST_TEST(n.server.connections().at(0).send_q == 3u);
    BOOST_TEST(n.ss.connect(a, {n.client_ip, 1}).err == EISCONN);
    BOOST_TEST(n.ss.accept(a).err == EAGAIN);
    int b = static_cast<int>(n.ss.socket(AF_INET, SOCK_STREAM, 0).value);
    BOOST_TEST(n.ss.accept(b).err == EINVAL);  // not listening
}

BOOST_AUTO_TEST_CASE(unconnected_socket_errors_and_readiness) {
    TwoHosts n;
    int a = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    std::array<std::byte, 4> buf{};
    tcp::Endpoint e;
    BOOST_TEST(n.cs.recv(a, buf).err == ENOTCONN);
    BOOST_TEST(n.cs.send(a, buf).err == EPIPE);  // Linux: EPIPE (and SIGPIPE), not ENOTCONN
    BOOST_TEST(n.cs.getpeername(a, e).err == ENOTCONN);
    BOOST_TEST(n.cs.shutdown(a, SHUT_RDWR).err == ENOTCONN);
    BOOST_TEST(n.cs.shutdown(a, 7).err == EINVAL);
    BOOST_TEST(n.cs.getsockname(a, e).ok());
    BOOST_TEST(e.port == 0);
    // Linux tcp_poll() of a fresh socket: writable and hung up.
    BOOST_TEST(n.cs.poll(a) == (POLLOUT | POLLWRNORM | POLLHUP));
}

BOOST_AUTO_TEST_CASE(nonblocking_connect_lifecycle) {
    TwoHosts n;
    n.listen_on(80);
    int c = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    BOOST_TEST(n.cs.connect(c, {n.server_ip, 80}).err == EINPROGRESS);
    BOOST_TEST(n.cs.connect(c, {n.server_ip, 80}).err == EALREADY);
    BOOST_TEST(n.cs.poll(c) == 0);  // SYN_SENT: nothing yet
    tcp::Endpoint e;
    BOOST_TEST(n.cs.getpeername(c, e).err == ENOTCONN);
    std::array<std::byte, 4> buf{};
    BOOST_TEST(n.cs.send(c, buf).err == EAGAIN);
    BOOST_TEST(n.cs.recv(c, buf).err == EAGAIN);
    n.run_for(100ms);
    BOOST_TEST((n.cs.poll(c) & POLLOUT) != 0);
    BOOST_TEST(n.cs.getpeername(c, e).ok());
    BOOST_TEST(e.port == 80);
    BOOST_TEST(n.cs.connect(c, {n.server_ip, 80}).ok());
    BOOST_TEST(n.cs.connect(c, {n.server_ip, 80}).err == EISCONN);
}

BOOST_AUTO_TEST_CASE(blocking_calls_report_what_to_wait_for_and_waits_time_out) {
    Pair p;
    BOOST_TEST(p.ss.fcntl(p.s, F_GETFL).value == O_RDWR);  // accepted: O_NONBLOCK not inherited
    std::array<std::byte, 16> buf{};
    SysResult r = p.ss.recv(p.s, buf);
    BOOST_TEST(r.err == EAGAIN);
    BOOST_TEST(r.wait_for == POLLIN);
    // MSG_DONTWAIT makes this one call non-blocking.
    BOOST_TEST(!p.ss.recv(p.s, buf, MSG_DONTWAIT).would_block());
    short got = -1;
    Time when{};
    p.ss.wait(p.s, POLLIN, p.world.now() + 2s, [&](short revents) {
        got = revents;
        when = p.world.now();
    });
    const Time start = p.world.now();
    p.run_for(5s);
    BOOST_TEST(got == 0);  // timed out
    BOOST_TEST((when - start == Duration(2s)));
    // A wait that is satisfied by arriving data.
    got = -1;
    p.ss.wait(p.s, POLLIN, kTimeNever, [&](short revents) { got = revents; });
    BOOST_TEST(p.cs.send(p.c, as_bytes("data")).value == 4);
    p.run_for(100ms);
    BOOST_TEST((got & POLLIN) != 0);
    // MSG_PEEK leaves the bytes in place.
    BOOST_TEST(p.ss.recv(p.s, buf, MSG_PEEK).value == 4);
    BOOST_TEST(p.ss.recv(p.s, buf).value == 4);
    // A wait on an already ready descriptor still completes from a world event.
    bool called = false;
    p.ss.wait(p.s, POLLOUT, kTimeNever, [&](short) { called = true; });
    BOOST_TEST(!called);
    p.world.step();
    BOOST_TEST(called);
    // Cancelled waits never call back.
    bool cancelled_called = false;
    auto id = p.ss.wait(p.s, POLLIN, p.world.now() + 1s, [&](short) { cancelled_called = true; });
    BOOST_TEST(p.ss.cancel_wait(id));
    p.run_for(2s);
    BOOST_TEST(!cancelled_called);
}

BOOST_AUTO_TEST_CASE(close_with_unread_data_resets_the_peer) {
    Pair p;
    BOOST_TEST(p.cs.send(p.c, as_bytes("unread")).value == 6);
    p.run_for(100ms);
    BOOST_TEST(p.ss.close(p.s).ok());  // data never read: RST, not FIN (RFC 2525, Linux)
    p.run_for(100ms);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(p.cs.recv(p.c, buf).err == ECONNRESET);
    BOOST_TEST(p.cs.state(p.c) == State::Closed);
    BOOST_TEST((p.cs.poll(p.c) & POLLHUP) != 0);
    BOOST_TEST(p.cs.send(p.c, buf, MSG_NOSIGNAL).err == EPIPE);
}

BOOST_AUTO_TEST_CASE(peer_fin_makes_the_socket_readable_with_rdhup) {
    Pair p;
    BOOST_TEST(p.cs.shutdown(p.c, SHUT_WR).ok());
    p.run_for(100ms);
    const short ev = p.ss.poll(p.s);
    BOOST_TEST((ev & POLLIN) != 0);
    BOOST_TEST((ev & POLLRDHUP) != 0);
    BOOST_TEST((ev & POLLOUT) != 0);
    BOOST_TEST((ev & POLLHUP) == 0);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(p.ss.recv(p.s, buf).value == 0);
    BOOST_TEST(p.ss.state(p.s) == State::CloseWait);
}

BOOST_AUTO_TEST_CASE(socket_calls_are_traced) {
    TwoHosts n;
    struct Calls : TraceSubscriber {
        std::vector<std::string> lines;
        unsigned interests() const override { return trace_bit(TraceKind::Socket); }
        void on_socket(const SocketEvent& e) override {
            lines.push_back(std::string(e.host) + " " + std::string(e.call) + " " + std::to_string(e.result) + " " +
                            errno_name(e.err));
        }
    } calls;
    n.world.trace().subscribe(calls);
    int a = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    n.cs.bind(a, {Ipv4Addr(203, 0, 113, 1), 1});
    n.world.trace().unsubscribe(calls);
    BOOST_REQUIRE(calls.lines.size() == 2u);
    BOOST_TEST(calls.lines[0] == "client socket 3 0");
    BOOST_TEST(calls.lines[1] == "client bind -1 EADDRNOTAVAIL");
}

BOOST_AUTO_TEST_CASE(a_blocking_send_continues_after_waiting_for_space) {
    TwoHosts n;
    n.client.config().tcp.send_buffer = 8192;
    int l = n.listen_on(80);
    int c = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);  // blocking
    SysResult r = n.cs.connect(c, {n.server_ip, 80});
    BOOST_REQUIRE(r.would_block());
    n.run_for(100ms);
    BOOST_TEST(n.cs.connect(c, {n.server_ip, 80}).ok());
    int s = static_cast<int>(n.ss.accept(l).value);
    // 100 kB through an 8 kB send buffer, the way a runner drives a blocking send().
    const std::string big(100000, 'z');
    std::size_t done = 0;
    int parks = 0;
    std::function<void()> step = [&] {
        while (done < big.size()) {
            SysResult w = n.cs.send(c, as_bytes(std::string_view(big).substr(done)));
            if (w.value > 0) done += static_cast<std::size_t>(w.value);
            if (w.would_block()) {
                ++parks;
                n.cs.wait(c, w.wait_for, kTimeNever, [&](short) { step(); });
                return;
            }
            BOOST_REQUIRE(w.ok());
        }
    };
    step();
    std::string got;
    std::function<void()> reader = [&] {
        got += read_all(n.ss, s);
        if (got.size() < big.size()) n.ss.wait(s, POLLIN, kTimeNever, [&](short) { reader(); });
    };
    reader();
    n.run_for(30s);
    BOOST_TEST(done == big.size());
    BOOST_TEST(parks > 0);
    BOOST_TEST(got.size() == big.size());
    BOOST_TEST((got == big));
}
