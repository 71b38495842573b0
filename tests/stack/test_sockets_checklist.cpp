// One test per behaviour of SEEDS-CHECKLIST.md sections 1-4 and 6 (tagged M or S, TCP/IPv4),
// named after the checklist item. test_sockets_coverage.cpp keeps its table in step with these.
#define BOOST_TEST_MODULE stack_sockets_checklist
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstring>

#include "stack/sockets_test_util.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using namespace tcpsim::testing;
using tcp::State;

// ---- 1. socket() ----

BOOST_AUTO_TEST_CASE(socket_protocol_zero_chooses_tcp) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, v).ok());
    BOOST_TEST(v == IPPROTO_TCP);
}

BOOST_AUTO_TEST_CASE(socket_type_flags_nonblock_and_cloexec_take_effect) {
    Net n;
    int fd = n.fresh(n.cs, SOCK_NONBLOCK | SOCK_CLOEXEC);
    BOOST_TEST((n.cs.fcntl(fd, F_GETFL).value & O_NONBLOCK) != 0);
    BOOST_TEST(n.cs.fcntl(fd, F_GETFD).value == FD_CLOEXEC);
    int v = 0;
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_TYPE, v).ok());
    BOOST_TEST(v == SOCK_STREAM);  // the flags are not part of SO_TYPE
}

BOOST_AUTO_TEST_CASE(so_type_so_domain_so_protocol_are_read_only) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, v).ok());
    BOOST_TEST(v == AF_INET);
    for (int opt : {SO_TYPE, SO_DOMAIN, SO_PROTOCOL}) BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, opt, 1).err == ENOPROTOOPT);
}

// ---- 1. bind() ----

BOOST_AUTO_TEST_CASE(bind_on_a_bound_socket_gives_einval) {
    Net n;
    int fd = n.fresh(n.cs);
    BOOST_TEST(n.cs.bind(fd, {Ipv4Addr::any(), 5000}).ok());
    BOOST_TEST(n.cs.bind(fd, {Ipv4Addr::any(), 5001}).err == EINVAL);
}

BOOST_AUTO_TEST_CASE(bind_to_the_wildcard_address) {
    Net n;
    int fd = n.fresh(n.ss);
    BOOST_TEST(n.ss.bind(fd, {Ipv4Addr::any(), 7000}).ok());
    tcp::Endpoint e;
    BOOST_TEST(n.ss.getsockname(fd, e).ok());
    BOOST_TEST(e.addr == Ipv4Addr::any());
    BOOST_TEST(e.port == 7000);
}

BOOST_AUTO_TEST_CASE(bind_port_zero_picks_an_ephemeral_port_keeping_the_ip) {
    Net n;
    int fd = n.fresh(n.cs);
    BOOST_TEST(n.cs.bind(fd, {Net::client_ip, 0}).ok());
    tcp::Endpoint e;
    n.cs.getsockname(fd, e);
    BOOST_TEST(e.addr == Net::client_ip);
    BOOST_TEST(e.port >= 32768);
    BOOST_TEST(e.port <= 60999);
}

BOOST_AUTO_TEST_CASE(bind_to_a_port_in_use_gives_eaddrinuse) {
    Net n;
    int a = n.fresh(n.ss), b = n.fresh(n.ss);
    BOOST_TEST(n.ss.bind(a, {Ipv4Addr::any(), 8000}).ok());
    BOOST_TEST(n.ss.bind(b, {Ipv4Addr::any(), 8000}).err == EADDRINUSE);
    BOOST_TEST(n.ss.bind(b, {Net::server_ip, 8000}).err == EADDRINUSE);
}

BOOST_AUTO_TEST_CASE(bind_fails_while_any_connection_incarnation_uses_the_port) {
    // Linux (TLPI 61.10): stricter than 4-tuple uniqueness. The server's accepted connection
    // (in TIME_WAIT after an active close) still blocks bind() of its local port.
    Net n;
    n.pair(80);
    n.ss.close(n.l);
    n.ss.close(n.s);  // active close on the server side
    n.run_for(1s);
    n.cs.close(n.c);
    n.run_for(1s);
    BOOST_TEST(n.server.connections().size() == 1u);
    BOOST_TEST(n.server.connections()[0].state == State::TimeWait);
    int fd = n.fresh(n.ss);
    BOOST_TEST(n.ss.bind(fd, {Ipv4Addr::any(), 80}).err == EADDRINUSE);
}

BOOST_AUTO_TEST_CASE(client_binding_a_specific_port_can_hit_eaddrinuse) {
    Net n;
    n.l = n.listen_on(80);
    int a = n.fresh(n.cs, SOCK_NONBLOCK), b = n.fresh(n.cs, SOCK_NONBLOCK);
    BOOST_TEST(n.cs.bind(a, {Ipv4Addr::any(), 40000}).ok());
    n.cs.connect(a, {Net::server_ip, 80});
    n.run_for(100ms);
    BOOST_TEST(n.cs.bind(b, {Ipv4Addr::any(), 40000}).err == EADDRINUSE);
}

BOOST_AUTO_TEST_CASE(bind_to_a_non_local_address_gives_eaddrnotavail) {
    Net n;
    int fd = n.fresh(n.cs);
    BOOST_TEST(n.cs.bind(fd, {Net::server_ip, 1234}).err == EADDRNOTAVAIL);
}

// ---- 1. implicit bind ----

BOOST_AUTO_TEST_CASE(connect_on_an_unbound_socket_binds_an_ephemeral_port) {
    Net n;
    n.pair(80);
    tcp::Endpoint e;
    BOOST_TEST(n.cs.getsockname(n.c, e).ok());
    BOOST_TEST(e.addr == Net::client_ip);
    BOOST_TEST(e.port >= 32768);
}

BOOST_AUTO_TEST_CASE(listen_without_bind_gets_an_ephemeral_port) {
    Net n;
    int fd = n.fresh(n.ss);
    BOOST_TEST(n.ss.listen(fd, 5).ok());
    tcp::Endpoint e;
    n.ss.getsockname(fd, e);
    BOOST_TEST(e.addr == Ipv4Addr::any());
    BOOST_TEST(e.port >= 32768);
    BOOST_TEST(e.port <= 60999);
}

// ---- 1. listen() ----

BOOST_AUTO_TEST_CASE(listen_sets_so_acceptconn) {
    Net n;
    int fd = n.fresh(n.ss);
    int v = -1;
    n.ss.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, v);
    BOOST_TEST(v == 0);
    n.ss.listen(fd, 5);
    n.ss.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, v);
    BOOST_TEST(v == 1);
    BOOST_TEST(n.ss.setsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, 0).err == ENOPROTOOPT);
}

BOOST_AUTO_TEST_CASE(listen_backlog_bounds_unaccepted_connections) {
    // Linux: the accept queue holds backlog + 1; further SYNs are dropped (no RST).
    Net n;
    n.l = n.listen_on(80, 1);
    for (int i = 0; i < 4; ++i) n.connect_to(80);
    n.run_for(500ms);
    int queued = 0;
    for (const auto& c : n.server.connections())
        if (c.state == State::Established) ++queued;
    BOOST_TEST(queued == 2);
    BOOST_TEST(n.server.stats().listen_drops > 0u);
    BOOST_TEST(n.server.stats().tcp_resets_sent == 0u);
}

BOOST_AUTO_TEST_CASE(listen_backlog_is_capped_at_somaxconn) {
    Net n;
    n.server.config().somaxconn = 2;
    n.l = n.listen_on(80, 100);
    for (int i = 0; i < 6; ++i) n.connect_to(80);
    n.run_for(500ms);
    int queued = 0;
    for (const auto& c : n.server.connections())
        if (c.state == State::Established) ++queued;
    BOOST_TEST(queued == 3);
}

// ---- 1. accept() ----

BOOST_AUTO_TEST_CASE(accept_returns_a_new_socket_and_the_listener_keeps_listening) {
    Net n;
    n.pair(80);
    BOOST_TEST(n.s >= 3);
    BOOST_TEST(n.s != n.l);
    BOOST_TEST(n.ss.state(n.l) == State::Listen);
    BOOST_TEST(n.ss.state(n.s) == State::Established);
}

BOOST_AUTO_TEST_CASE(blocking_accept_returns_after_the_handshake_completes) {
    Net n;
    n.l = n.listen_on(80);
    Net::make_blocking(n.ss, n.l);
    std::optional<SysResult> acc;
    n.ss.blocking_accept(n.l, [&](SysResult r) { acc = r; });
    n.run_for(10ms);
    BOOST_TEST(!acc.has_value());
    n.connect_to(80);
    n.run_for(1500us);  // SYN arrived, SYN-ACK on its way: not yet
    BOOST_TEST(!acc.has_value());
    n.run_for(100ms);
    BOOST_REQUIRE(acc.has_value());
    BOOST_TEST(acc->value >= 3);
}

BOOST_AUTO_TEST_CASE(accepted_sockets_share_the_listeners_local_address) {
    Net n;
    n.l = n.listen_on(80);
    int c1 = n.connect_to(80), c2 = n.connect_to(80);
    n.run_for(100ms);
    (void)c1;
    (void)c2;
    tcp::Endpoint p1, p2, l1, l2;
    int s1 = static_cast<int>(n.ss.accept(n.l, &p1).value), s2 = static_cast<int>(n.ss.accept(n.l, &p2).value);
    n.ss.getsockname(s1, l1);
    n.ss.getsockname(s2, l2);
    BOOST_TEST(l1 == l2);
    BOOST_TEST(l1.port == 80);
    BOOST_TEST(p1 != p2);  // only the peer tells them apart
}

BOOST_AUTO_TEST_CASE(accept_reports_the_peer_address) {
    Net n;
    n.l = n.listen_on(80);
    n.c = n.connect_to(80);
    n.run_for(100ms);
    tcp::Endpoint peer, cl;
    BOOST_TEST(n.ss.accept(n.l, &peer).ok());
    n.cs.getsockname(n.c, cl);
    BOOST_TEST(peer == cl);
}

BOOST_AUTO_TEST_CASE(accept_on_a_socket_that_is_not_listening_gives_einval) {
    Net n;
    int fd = n.fresh(n.ss);
    BOOST_TEST(n.ss.accept(fd).err == EINVAL);
    n.pair(81);
    BOOST_TEST(n.ss.accept(n.s).err == EINVAL);
}

// ---- 1. connect() ----

BOOST_AUTO_TEST_CASE(connect_is_an_active_open_sending_a_syn) {
    Net n;
    n.l = n.listen_on(80);
    n.c = n.connect_to(80);
    BOOST_TEST(n.cs.state(n.c) == State::SynSent);
    BOOST_TEST(n.client.stats().tcp_out == 1u);
}

BOOST_AUTO_TEST_CASE(nonblocking_connect_gives_einprogress_then_pollout) {
    Net n;
    n.l = n.listen_on(80);
    int fd = n.fresh(n.cs, SOCK_NONBLOCK);
    SysResult r = n.cs.connect(fd, {Net::server_ip, 80});
    BOOST_TEST(r.err == EINPROGRESS);
    BOOST_TEST(!r.would_block());
    BOOST_TEST((n.cs.poll(fd) & POLLOUT) == 0);
    n.run_for(100ms);
    BOOST_TEST((n.cs.poll(fd) & POLLOUT) != 0);
    int err = -1;
    n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err);
    BOOST_TEST(err == 0);
}

BOOST_AUTO_TEST_CASE(connect_timing_out_under_so_sndtimeo_gives_einprogress) {
    Net n;
    int fd = n.fresh(n.cs);
    timeval tv{1, 0};
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv).ok());
    const Time t0 = n.world.now();
    auto r = n.run([&](auto done) { n.cs.blocking_connect(fd, {Net::blackhole, 80}, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->err == EINPROGRESS);
    BOOST_TEST(n.world.now() - t0 == Duration(1s));
}

BOOST_AUTO_TEST_CASE(connect_while_a_connect_is_pending_gives_ealready) {
    Net n;
    int fd = n.fresh(n.cs, SOCK_NONBLOCK);
    BOOST_TEST(n.cs.connect(fd, {Net::blackhole, 80}).err == EINPROGRESS);
    BOOST_TEST(n.cs.connect(fd, {Net::blackhole, 80}).err == EALREADY);
}

BOOST_AUTO_TEST_CASE(connect_on_a_connected_socket_gives_eisconn) {
    Net n;
    n.pair(80);
    // Linux: the first connect() after a non-blocking connect completed reports 0 (it turns
    // SS_CONNECTING into SS_CONNECTED); from then on EISCONN.
    BOOST_TEST(n.cs.connect(n.c, {Net::server_ip, 80}).value == 0);
    BOOST_TEST(n.cs.connect(n.c, {Net::server_ip, 80}).err == EISCONN);
}

BOOST_AUTO_TEST_CASE(connect_answered_by_rst_gives_econnrefused) {
    Net n;
    int fd = n.fresh(n.cs);
    auto r = n.run([&](auto done) { n.cs.blocking_connect(fd, {Net::server_ip, 9}, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->err == ECONNREFUSED);
}

BOOST_AUTO_TEST_CASE(connect_with_syn_retries_exhausted_gives_etimedout) {
    Net n;
    n.client.config().tcp.syn_retries = 2;  // 1 s + 2 s + 4 s
    int fd = n.fresh(n.cs);
    auto r = n.run([&](auto done) { n.cs.blocking_connect(fd, {Net::blackhole, 80}, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->err == ETIMEDOUT);
}

// ---- 1. close() ----

BOOST_AUTO_TEST_CASE(close_with_another_descriptor_open_sends_no_fin) {
    Net n;
    n.pair(80);
    int d = static_cast<int>(n.cs.dup(n.c).value);
    n.cs.close(n.c);
    n.run_for(100ms);
    BOOST_TEST(n.cs.state(d) == State::Established);
    BOOST_TEST(n.ss.state(n.s) == State::Established);
    BOOST_TEST(n.cs.send(d, B("still")).value == 5);
}

BOOST_AUTO_TEST_CASE(close_of_the_last_descriptor_sends_fin_and_enters_fin_wait1) {
    Net n;
    n.pair(80);
    n.cs.close(n.c);
    BOOST_TEST(n.client.connections().at(0).state == State::FinWait1);
    n.run_for(100ms);
    BOOST_TEST(n.ss.state(n.s) == State::CloseWait);
}

BOOST_AUTO_TEST_CASE(close_in_close_wait_sends_fin_and_enters_last_ack) {
    Net n;
    n.pair(80);
    n.cs.close(n.c);
    n.run_for(100ms);
    n.ss.close(n.s);
    n.ss.close(n.l);
    bool saw_last_ack = false;
    for (const auto& c : n.server.connections()) saw_last_ack |= c.state == State::LastAck;
    BOOST_TEST(saw_last_ack);
}

BOOST_AUTO_TEST_CASE(close_returns_at_once_by_default) {
    Net n;
    n.pair(80);
    std::string big(100000, 'x');
    n.cs.send(n.c, B(big));
    SysResult r = n.cs.close(n.c);
    BOOST_TEST(r.ok());
    BOOST_TEST(!r.would_block());
}

BOOST_AUTO_TEST_CASE(so_linger_makes_close_wait_until_the_data_is_acknowledged) {
    Net n;
    n.pair(80);
    linger lg{1, 30};
    BOOST_TEST(n.cs.setsockopt(n.c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg).ok());
    std::string data(10000, 'x');
    n.cs.send(n.c, B(data));
    SysResult r = n.cs.close(n.c);
    BOOST_TEST(r.ok());
    BOOST_TEST(r.wait_for == POLLOUT);
    std::optional<short> done;
    n.cs.wait_close([&](short ev) { done = ev; });
    n.run_for(1ms);
    BOOST_TEST(!done.has_value());
    n.run_for(2s);
    BOOST_REQUIRE(done.has_value());
    BOOST_TEST(*done == POLLOUT);
    BOOST_TEST(n.drain(n.ss, n.s).size() == data.size());
}

BOOST_AUTO_TEST_CASE(close_with_unread_data_sends_rst) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("unread"));
    n.run_for(100ms);
    n.ss.close(n.s);
    BOOST_TEST(n.server.connections().size() == 1u);  // the listener only: no FIN_WAIT1
    n.run_for(100ms);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.cs.recv(n.c, buf).err == ECONNRESET);
}

BOOST_AUTO_TEST_CASE(so_linger_zero_aborts_with_rst_and_no_time_wait) {
    Net n;
    n.pair(80);
    linger lg{1, 0};
    n.cs.setsockopt(n.c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    n.cs.close(n.c);
    n.run_for(100ms);
    BOOST_TEST(n.client.connections().empty());  // no TIME_WAIT
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf).err == ECONNRESET);
}

// ---- 1. shutdown() ----

BOOST_AUTO_TEST_CASE(shut_rd_reads_return_eof_and_writes_still_work) {
    Net n;
    n.pair(80);
    BOOST_TEST(n.cs.shutdown(n.c, SHUT_RD).ok());
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.cs.recv(n.c, buf).value == 0);
    BOOST_TEST(n.cs.send(n.c, B("hi")).value == 2);
    n.run_for(100ms);
    BOOST_TEST(n.drain(n.ss, n.s) == "hi");
}

BOOST_AUTO_TEST_CASE(shut_wr_half_close_peer_reads_eof_and_we_still_read) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("data"));
    n.cs.shutdown(n.c, SHUT_WR);
    n.run_for(100ms);
    std::array<std::byte, 16> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf).value == 4);
    BOOST_TEST(n.ss.recv(n.s, buf).value == 0);
    n.ss.send(n.s, B("reply"));
    n.run_for(100ms);
    BOOST_TEST(n.drain(n.cs, n.c) == "reply");
}

BOOST_AUTO_TEST_CASE(write_after_shut_wr_gives_epipe_and_sigpipe) {
    Net n;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_WR);
    const auto before = n.cs.sigpipe_count();
    BOOST_TEST(n.cs.send(n.c, B("x")).err == EPIPE);
    BOOST_TEST(n.cs.last_call_raised_sigpipe());
    BOOST_TEST(n.cs.sigpipe_count() == before + 1);
}

BOOST_AUTO_TEST_CASE(shut_rdwr_is_shut_rd_then_shut_wr) {
    Net n;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_RDWR);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.cs.recv(n.c, buf).value == 0);
    BOOST_TEST(n.cs.send(n.c, B("x"), MSG_NOSIGNAL).err == EPIPE);
    n.run_for(100ms);
    BOOST_TEST(n.ss.state(n.s) == State::CloseWait);
}

BOOST_AUTO_TEST_CASE(shutdown_acts_on_the_open_file_description_across_dup) {
    Net n;
    n.pair(80);
    int d = static_cast<int>(n.cs.dup(n.c).value);
    n.cs.shutdown(n.c, SHUT_RDWR);
    BOOST_TEST(n.cs.send(d, B("x"), MSG_NOSIGNAL).err == EPIPE);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.cs.recv(d, buf).value == 0);
}

BOOST_AUTO_TEST_CASE(shutdown_does_not_close_the_descriptor) {
    Net n;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_RDWR);
    BOOST_TEST(n.cs.valid(n.c));
    BOOST_TEST(n.cs.close(n.c).ok());
    BOOST_TEST(!n.cs.valid(n.c));
}

BOOST_AUTO_TEST_CASE(shut_wr_starts_the_active_close_whatever_other_descriptors_exist) {
    Net n;
    n.pair(80);
    int d = static_cast<int>(n.cs.dup(n.c).value);
    (void)d;
    n.cs.shutdown(n.c, SHUT_WR);
    n.run_for(100ms);
    BOOST_TEST(n.cs.state(n.c) == State::FinWait2);
    BOOST_TEST(n.ss.state(n.s) == State::CloseWait);
    n.ss.send(n.s, B("more"));  // the peer may keep sending
    n.run_for(100ms);
    BOOST_TEST(n.drain(n.cs, n.c) == "more");
}

BOOST_AUTO_TEST_CASE(shut_rd_linux_later_peer_data_is_still_readable) {
    Net n;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_RD);
    std::array<std::byte, 16> buf{};
    BOOST_TEST(n.cs.recv(n.c, buf).value == 0);
    n.ss.send(n.s, B("late"));
    n.run_for(100ms);
    SysResult r = n.cs.recv(n.c, buf);
    BOOST_TEST(r.value == 4);
}

BOOST_AUTO_TEST_CASE(shut_rd_bsd_personality_always_reads_eof) {
    Net n;
    n.client.config().shut_rd_discards = true;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_RD);
    n.ss.send(n.s, B("late"));
    n.run_for(100ms);
    std::array<std::byte, 16> buf{};
    BOOST_TEST(n.cs.recv(n.c, buf).value == 0);
}

BOOST_AUTO_TEST_CASE(shutdown_bad_how_gives_einval_and_unconnected_gives_enotconn) {
    Net n;
    int fd = n.fresh(n.cs);
    BOOST_TEST(n.cs.shutdown(fd, SHUT_RDWR).err == ENOTCONN);
    n.pair(80);
    BOOST_TEST(n.cs.shutdown(n.c, 7).err == EINVAL);
}

// ---- 1. getsockname() / getpeername() ----

BOOST_AUTO_TEST_CASE(getsockname_and_getpeername_mirror_each_other) {
    Net n;
    n.pair(55555);
    tcp::Endpoint cl, cp, sl, sp;
    n.cs.getsockname(n.c, cl);
    n.cs.getpeername(n.c, cp);
    n.ss.getsockname(n.s, sl);
    n.ss.getpeername(n.s, sp);
    BOOST_TEST(cp.port == 55555);
    BOOST_TEST(sl.port == 55555);
    BOOST_TEST(cl == sp);
    BOOST_TEST(sl == cp);
}

BOOST_AUTO_TEST_CASE(getpeername_on_an_unconnected_socket_gives_enotconn) {
    Net n;
    int fd = n.fresh(n.cs);
    tcp::Endpoint e;
    BOOST_TEST(n.cs.getpeername(fd, e).err == ENOTCONN);
}

// ---- 2. Partial reads and writes ----

BOOST_AUTO_TEST_CASE(partial_read_returns_what_is_available) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("abc"));
    n.run_for(100ms);
    std::array<std::byte, 100> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf).value == 3);
}

BOOST_AUTO_TEST_CASE(nonblocking_partial_write_returns_the_count_that_fitted) {
    Net n;
    n.pair(80);
    std::string big(1000000, 'x');
    SysResult r = n.cs.send(n.c, B(big));
    BOOST_TEST(r.value > 0);
    BOOST_TEST(r.value < static_cast<long>(big.size()));
    BOOST_TEST(!r.would_block());
}

BOOST_AUTO_TEST_CASE(blocking_send_moves_everything_like_sendall) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.cs, n.c);
    std::string big(300000, 'y');
    std::optional<SysResult> r;
    n.cs.blocking_send(n.c, B(big), 0, [&](SysResult x) { r = x; });
    for (int i = 0; i < 2000 && !r; ++i) {
        n.run_for(10ms);
        (void)n.drain(n.ss, n.s);  // the receiver reads so the sender can go on
    }
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->value == static_cast<long>(big.size()));
}

// ---- 2. recv() flags ----

BOOST_AUTO_TEST_CASE(recv_returns_zero_at_eof) {
    Net n;
    n.pair(80);
    n.cs.close(n.c);
    n.run_for(100ms);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf).value == 0);
    BOOST_TEST(n.ss.state(n.s) == State::CloseWait);
}

BOOST_AUTO_TEST_CASE(msg_dontwait_recv_without_data_gives_eagain) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.ss, n.s);
    std::array<std::byte, 8> buf{};
    SysResult r = n.ss.recv(n.s, buf, MSG_DONTWAIT);
    BOOST_TEST(r.err == EAGAIN);
    BOOST_TEST(!r.would_block());
}

BOOST_AUTO_TEST_CASE(msg_peek_leaves_the_data_queued) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("peekaboo"));
    n.run_for(100ms);
    std::array<std::byte, 4> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf, MSG_PEEK).value == 4);
    BOOST_TEST(S(buf) == "peek");
    BOOST_TEST(n.drain(n.ss, n.s) == "peekaboo");
}

BOOST_AUTO_TEST_CASE(msg_waitall_waits_for_the_full_length) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.ss, n.s);
    std::array<std::byte, 10> buf{};
    std::optional<SysResult> r;
    n.ss.blocking_recv(n.s, buf, MSG_WAITALL, [&](SysResult x) { r = x; });
    n.cs.send(n.c, B("abcd"));
    n.run_for(100ms);
    BOOST_TEST(!r.has_value());
    n.cs.send(n.c, B("efghij"));
    n.run_for(100ms);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->value == 10);
    BOOST_TEST(S(buf) == "abcdefghij");
}

BOOST_AUTO_TEST_CASE(msg_waitall_returns_early_at_eof_or_error) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.ss, n.s);
    std::array<std::byte, 100> buf{};
    std::optional<SysResult> r;
    n.ss.blocking_recv(n.s, buf, MSG_WAITALL, [&](SysResult x) { r = x; });
    n.cs.send(n.c, B(std::string(60, 'z')));
    n.run_for(50ms);
    n.cs.close(n.c);
    n.run_for(100ms);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->value == 60);
    BOOST_TEST(n.ss.recv(n.s, buf).value == 0);
}

BOOST_AUTO_TEST_CASE(msg_oob_reads_the_urgent_byte) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("abc"), MSG_OOB);
    n.run_for(100ms);
    BOOST_TEST((n.ss.poll(n.s) & POLLPRI) != 0);
    std::array<std::byte, 8> buf{};
    SysResult r = n.ss.recv(n.s, std::span(buf).first(1), MSG_OOB);
    BOOST_TEST(r.value == 1);
    BOOST_TEST(static_cast<char>(buf[0]) == 'c');
    BOOST_TEST(n.drain(n.ss, n.s) == "ab");
    BOOST_TEST(n.ss.recv(n.s, buf, MSG_OOB).err == EINVAL);  // Linux: no urgent byte (any more)
}

// ---- 2. send() flags ----

BOOST_AUTO_TEST_CASE(msg_dontwait_send_with_a_full_buffer_gives_eagain) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.cs, n.c);
    std::string big(1000000, 'x');
    SysResult a = n.cs.send(n.c, B(big), MSG_DONTWAIT);
    BOOST_TEST(a.value > 0);
    SysResult b = n.cs.send(n.c, B(big), MSG_DONTWAIT);
    BOOST_TEST(b.err == EAGAIN);
    BOOST_TEST(!b.would_block());
}

BOOST_AUTO_TEST_CASE(msg_more_holds_data_until_a_call_without_it) {
    Net n;
    n.pair(80);
    const auto out0 = n.client.stats().tcp_out;
    n.cs.send(n.c, B("header"), MSG_MORE);
    n.run_for(10ms);
    BOOST_TEST(n.client.stats().tcp_out == out0);
    n.cs.send(n.c, B("body"));
    n.run_for(100ms);
    BOOST_TEST(n.drain(n.ss, n.s) == "headerbody");
    BOOST_TEST(n.client.stats().tcp_out == out0 + 1);
}

BOOST_AUTO_TEST_CASE(msg_nosignal_gives_epipe_without_sigpipe) {
    Net n;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_WR);
    const auto before = n.cs.sigpipe_count();
    BOOST_TEST(n.cs.send(n.c, B("x"), MSG_NOSIGNAL).err == EPIPE);
    BOOST_TEST(!n.cs.last_call_raised_sigpipe());
    BOOST_TEST(n.cs.sigpipe_count() == before);
}

BOOST_AUTO_TEST_CASE(msg_oob_send_sets_urgent_data) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("x"), MSG_OOB);
    n.run_for(100ms);
    int mark = -1;
    BOOST_TEST(n.ss.ioctl(n.s, SIOCATMARK, &mark).ok());
    BOOST_TEST((n.ss.poll(n.s) & POLLPRI) != 0);
}

// ---- 2. EOF, SIGPIPE and EPIPE ----

BOOST_AUTO_TEST_CASE(write_after_the_peer_closed_draws_rst_then_epipe) {
    Net n;
    n.pair(80);
    n.ss.close(n.s);
    n.run_for(100ms);
    BOOST_TEST(n.cs.send(n.c, B("first")).value == 5);  // Linux: accepted, the peer answers RST
    n.run_for(100ms);
    SysResult r = n.cs.send(n.c, B("second"));
    BOOST_TEST((r.err == EPIPE || r.err == ECONNRESET));
    if (r.err == ECONNRESET) r = n.cs.send(n.c, B("third"));
    BOOST_TEST(r.err == EPIPE);
    BOOST_TEST(n.cs.last_call_raised_sigpipe());
}

BOOST_AUTO_TEST_CASE(poll_reports_pollhup_on_a_broken_connection) {
    Net n;
    n.pair(80);
    linger lg{1, 0};
    n.ss.setsockopt(n.s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    n.ss.close(n.s);
    n.run_for(100ms);
    const short ev = n.cs.poll(n.c);
    BOOST_TEST((ev & POLLHUP) != 0);
    BOOST_TEST((ev & POLLERR) != 0);
}

// ---- 2. Other I/O calls ----

BOOST_AUTO_TEST_CASE(read_write_readv_writev_work_on_sockets) {
    Net n;
    n.pair(80);
    std::string a = "Mary ", b = "had a lamb";
    iovec out[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
    BOOST_TEST(n.cs.writev(n.c, out, 2).value == 15);
    BOOST_TEST(n.cs.write(n.c, B("!")).value == 1);
    n.run_for(100ms);
    char x[4], y[20];
    iovec in[2] = {{x, sizeof x}, {y, sizeof y}};
    BOOST_TEST(n.ss.readv(n.s, in, 2).value == 16);
    BOOST_TEST(std::string(x, 4) == "Mary");
    BOOST_TEST(std::string(y, 12) == " had a lamb!");
    std::array<std::byte, 4> buf{};
    BOOST_TEST(n.ss.read(n.s, buf).err == EAGAIN);
    BOOST_TEST(n.ss.readv(n.s, in, -1).err == EINVAL);
}

BOOST_AUTO_TEST_CASE(pread_pwrite_lseek_on_a_socket_give_espipe) {
    Net n;
    n.pair(80);
    std::array<std::byte, 4> buf{};
    BOOST_TEST(n.cs.pread(n.c, buf, 0).err == ESPIPE);
    BOOST_TEST(n.cs.pwrite(n.c, buf, 0).err == ESPIPE);
    BOOST_TEST(n.cs.lseek(n.c, 0, SEEK_CUR).err == ESPIPE);
    BOOST_TEST(n.cs.lseek(99, 0, SEEK_CUR).err == EBADF);
}

BOOST_AUTO_TEST_CASE(sendfile_with_an_offset_updates_it_and_not_the_file_offset) {
    Net n;
    n.pair(80);
    int f = static_cast<int>(n.cs.open_memory_file(B("0123456789")).value);
    long off = 2;
    BOOST_TEST(n.cs.sendfile(n.c, f, &off, 5).value == 5);
    BOOST_TEST(off == 7);
    BOOST_TEST(n.cs.lseek(f, 0, SEEK_CUR).value == 0);
    BOOST_TEST(n.cs.sendfile(n.c, f, &off, 100).value == 3);  // EOF first: what is there
    n.run_for(100ms);
    BOOST_TEST(n.drain(n.ss, n.s) == "23456789");
    BOOST_TEST(n.cs.sendfile(n.c, n.c, nullptr, 1).err == EINVAL);  // in_fd must be a file
    BOOST_TEST(n.cs.send(f, B("x")).err == ENOTSOCK);
}

BOOST_AUTO_TEST_CASE(sendfile_without_an_offset_uses_and_advances_the_file_offset) {
    Net n;
    n.pair(80);
    int f = static_cast<int>(n.cs.open_memory_file(B("abcdef")).value);
    BOOST_TEST(n.cs.sendfile(n.c, f, nullptr, 4).value == 4);
    BOOST_TEST(n.cs.lseek(f, 0, SEEK_CUR).value == 4);
    BOOST_TEST(n.cs.sendfile(n.c, f, nullptr, 4).value == 2);
    n.run_for(100ms);
    BOOST_TEST(n.drain(n.ss, n.s) == "abcdef");
}

BOOST_AUTO_TEST_CASE(sendmsg_recvmsg_gather_and_scatter) {
    // The Python recvmsg_into example: 22 bytes into [4, 7, 13] byte buffers.
    Net n;
    n.pair(80);
    std::string m = "Mary had a little lamb";
    iovec o{m.data(), m.size()};
    msghdr out{};
    out.msg_iov = &o;
    out.msg_iovlen = 1;
    BOOST_TEST(n.cs.sendmsg(n.c, &out, 0).value == 22);
    n.run_for(100ms);
    char b1[4], b2[7], b3[13];
    std::memset(b3, '-', sizeof b3);
    iovec in[3] = {{b1, 4}, {b2, 7}, {b3, 13}};
    msghdr msg{};
    msg.msg_iov = in;
    msg.msg_iovlen = 3;
    msg.msg_flags = 12345;
    BOOST_TEST(n.ss.recvmsg(n.s, &msg, 0).value == 22);
    BOOST_TEST(std::string(b1, 4) == "Mary");
    BOOST_TEST(std::string(b2, 7) == " had a ");
    BOOST_TEST(std::string(b3, 13) == "little lamb--");
    BOOST_TEST(msg.msg_flags == 0);
    BOOST_TEST(msg.msg_namelen == 0u);
}

// ---- 2. TCP_CORK ----

BOOST_AUTO_TEST_CASE(tcp_cork_holds_output_until_uncork_or_200ms) {
    Net n;
    n.pair(80);
    BOOST_TEST(n.cs.setsockopt(n.c, IPPROTO_TCP, TCP_CORK, 1).ok());
    const auto out0 = n.client.stats().tcp_out;
    n.cs.send(n.c, B("GET / HTTP/1.0\r\n"));
    n.cs.send(n.c, B("\r\n"));
    n.run_for(150ms);
    BOOST_TEST(n.client.stats().tcp_out == out0);
    n.run_for(100ms);  // 200 ms after the first corked byte
    BOOST_TEST(n.client.stats().tcp_out == out0 + 1);
    n.cs.send(n.c, B("x"));
    n.cs.setsockopt(n.c, IPPROTO_TCP, TCP_CORK, 0);  // uncork: out now
    BOOST_TEST(n.client.stats().tcp_out == out0 + 2);
}

// ---- 3. Nonblocking I/O and readiness ----

BOOST_AUTO_TEST_CASE(o_nonblock_via_fcntl_gives_eagain_and_einprogress) {
    Net n;
    n.l = n.listen_on(80);
    int fd = n.fresh(n.cs);
    n.cs.fcntl(fd, F_SETFL, O_NONBLOCK);
    BOOST_TEST(n.cs.connect(fd, {Net::server_ip, 80}).err == EINPROGRESS);
    n.run_for(100ms);
    std::array<std::byte, 4> buf{};
    SysResult r = n.cs.recv(fd, buf);
    BOOST_TEST(r.err == EAGAIN);
    BOOST_TEST(!r.would_block());
    BOOST_TEST(n.ss.accept(n.l).ok());
    BOOST_TEST(n.ss.accept(n.l).err == EAGAIN);
}

BOOST_AUTO_TEST_CASE(poll_io_events_table) {
    Net n;
    n.pair(80);
    BOOST_TEST(n.cs.poll(n.c) == (POLLOUT | POLLWRNORM));  // writable, nothing to read
    n.ss.send(n.s, B("x"));
    n.run_for(100ms);
    BOOST_TEST((n.cs.poll(n.c) & POLLIN) != 0);  // new data
    n.ss.send(n.s, B("u"), MSG_OOB);
    n.run_for(100ms);
    BOOST_TEST((n.cs.poll(n.c) & POLLPRI) != 0);  // urgent data
    int fd = n.fresh(n.cs);
    BOOST_TEST((n.cs.poll(fd) & POLLHUP) != 0);  // never connected: Linux reports POLLOUT|POLLHUP
}

BOOST_AUTO_TEST_CASE(listening_socket_is_readable_when_accept_would_not_block) {
    Net n;
    n.l = n.listen_on(80);
    BOOST_TEST((n.ss.poll(n.l) & POLLIN) == 0);
    n.connect_to(80);
    n.run_for(100ms);
    BOOST_TEST((n.ss.poll(n.l) & POLLIN) != 0);
}

BOOST_AUTO_TEST_CASE(peer_fin_gives_pollin_and_pollrdhup_not_pollhup) {
    // Linux tcp_poll(): POLLHUP only when both directions are shut (⚠ the seed's table differs).
    Net n;
    n.pair(80);
    n.cs.shutdown(n.c, SHUT_WR);
    n.run_for(100ms);
    const short ev = n.ss.poll(n.s);
    BOOST_TEST((ev & POLLIN) != 0);
    BOOST_TEST((ev & POLLRDHUP) != 0);
    BOOST_TEST((ev & POLLHUP) == 0);
}

BOOST_AUTO_TEST_CASE(so_rcvlowat_and_so_sndlowat_default_to_one_and_sndlowat_is_fixed) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    n.cs.getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, v);
    BOOST_TEST(v == 1);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_SNDLOWAT, v);
    BOOST_TEST(v == 1);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_SNDLOWAT, 10).err == ENOPROTOOPT);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, 10).ok());
    n.cs.getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, v);
    BOOST_TEST(v == 10);
}

BOOST_AUTO_TEST_CASE(so_rcvtimeo_gives_eagain_or_the_partial_count) {
    Net n;
    n.pair(80);
    Net::make_blocking(n.ss, n.s);
    timeval tv{2, 0};
    n.ss.setsockopt(n.s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::array<std::byte, 10> buf{};
    const Time t0 = n.world.now();
    auto r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, 0, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->err == EAGAIN);
    BOOST_TEST(n.world.now() - t0 == Duration(2s));
    n.cs.send(n.c, B("abc"));
    r = n.run([&](auto done) { n.ss.blocking_recv(n.s, buf, MSG_WAITALL, done); });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->value == 3);  // the count moved before the timeout
    socklen_t len = sizeof tv;
    timeval got{};
    BOOST_TEST(n.ss.getsockopt(n.s, SOL_SOCKET, SO_RCVTIMEO, &got, &len).ok());
    BOOST_TEST(got.tv_sec == 2);
    tv.tv_usec = 1000000;
    BOOST_TEST(n.ss.setsockopt(n.s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv).err == EDOM);
}

// ---- 4. Socket options ----

BOOST_AUTO_TEST_CASE(options_belong_to_the_open_file_description) {
    Net n;
    int fd = n.fresh(n.cs);
    int d = static_cast<int>(n.cs.dup(fd).value);
    n.cs.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    int v = 0;
    n.cs.getsockopt(d, SOL_SOCKET, SO_KEEPALIVE, v);
    BOOST_TEST(v == 1);
}

BOOST_AUTO_TEST_CASE(so_error_reads_and_clears_the_pending_error) {
    Net n;
    int fd = n.fresh(n.cs, SOCK_NONBLOCK);
    n.cs.connect(fd, {Net::server_ip, 9});
    n.run_for(100ms);
    BOOST_TEST((n.cs.poll(fd) & POLLERR) != 0);
    int err = 0;
    n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err);
    BOOST_TEST(err == ECONNREFUSED);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err);
    BOOST_TEST(err == 0);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_ERROR, 0).err == ENOPROTOOPT);
}

BOOST_AUTO_TEST_CASE(so_keepalive_probes_an_idle_connection) {
    Net n;
    n.pair(80);
    BOOST_TEST(n.cs.setsockopt(n.c, SOL_SOCKET, SO_KEEPALIVE, 1).ok());
    BOOST_TEST(n.cs.setsockopt(n.c, IPPROTO_TCP, TCP_KEEPIDLE, 10).ok());
    const auto out0 = n.client.stats().tcp_out;
    n.run_for(9s);
    BOOST_TEST(n.client.stats().tcp_out == out0);
    n.run_for(2s);
    BOOST_TEST(n.client.stats().tcp_out > out0);
    BOOST_TEST(n.cs.state(n.c) == State::Established);
}

BOOST_AUTO_TEST_CASE(so_linger_takes_a_struct_linger) {
    Net n;
    int fd = n.fresh(n.cs);
    linger lg{1, 5};
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg).ok());
    linger got{};
    socklen_t len = sizeof got;
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_LINGER, &got, &len).ok());
    BOOST_TEST(len == sizeof(linger));
    BOOST_TEST(got.l_onoff == 1);
    BOOST_TEST(got.l_linger == 5);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_LINGER, 1).err == EINVAL);  // an int is too short
}

BOOST_AUTO_TEST_CASE(so_oobinline_puts_the_urgent_byte_in_the_stream) {
    Net n;
    n.pair(80);
    BOOST_TEST(n.ss.setsockopt(n.s, SOL_SOCKET, SO_OOBINLINE, 1).ok());
    n.cs.send(n.c, B("abc"), MSG_OOB);
    n.run_for(100ms);
    std::array<std::byte, 4> buf{};
    BOOST_TEST(n.ss.recv(n.s, buf, MSG_OOB).err == EINVAL);  // Linux: not with SO_OOBINLINE
    BOOST_TEST(n.drain(n.ss, n.s) == "abc");
}

BOOST_AUTO_TEST_CASE(so_rcvbuf_is_doubled_with_the_linux_minimum_and_cap) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    n.cs.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4096);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, v);
    BOOST_TEST(v == 8192);
    n.cs.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 1);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, v);
    BOOST_TEST(v == 2304);  // Linux SOCK_MIN_RCVBUF (socket(7) still says 256)
    n.cs.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 100000000);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, v);
    BOOST_TEST(v == 2 * 212992);  // capped at rmem_max, then doubled
}

BOOST_AUTO_TEST_CASE(so_sndbuf_is_doubled_with_the_linux_minimum) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    n.cs.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 10000);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, v);
    BOOST_TEST(v == 20000);
    n.cs.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 1);
    n.cs.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, v);
    BOOST_TEST(v == 4608);  // Linux SOCK_MIN_SNDBUF (socket(7) still says 2048)
}

BOOST_AUTO_TEST_CASE(so_reuseaddr_is_off_by_default) {
    Net n;
    int fd = n.fresh(n.ss);
    int v = -1;
    n.ss.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, v);
    BOOST_TEST(v == 0);
}

BOOST_AUTO_TEST_CASE(so_reuseaddr_on_both_sockets_allows_bind_beside_time_wait) {
    Net n;
    int l = n.fresh(n.ss, SOCK_NONBLOCK);
    n.ss.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, 1);
    n.ss.bind(l, {Ipv4Addr::any(), 80});
    n.ss.listen(l, 5);
    n.c = n.connect_to(80);
    n.run_for(100ms);
    n.s = static_cast<int>(n.ss.accept(l).value);
    n.ss.close(n.s);
    n.ss.close(l);
    n.run_for(1s);
    BOOST_TEST(n.server.connections().at(0).state == State::FinWait2);
    n.cs.close(n.c);
    n.run_for(100ms);
    BOOST_TEST(n.server.connections().at(0).state == State::TimeWait);
    int plain = n.fresh(n.ss);
    BOOST_TEST(n.ss.bind(plain, {Ipv4Addr::any(), 80}).err == EADDRINUSE);
    int reuse = n.fresh(n.ss);
    n.ss.setsockopt(reuse, SOL_SOCKET, SO_REUSEADDR, 1);
    BOOST_TEST(n.ss.bind(reuse, {Ipv4Addr::any(), 80}).ok());
    BOOST_TEST(n.ss.listen(reuse, 5).ok());
}

BOOST_AUTO_TEST_CASE(so_reuseaddr_does_not_beat_an_active_listener) {
    Net n;
    int l = n.fresh(n.ss);
    n.ss.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, 1);
    n.ss.bind(l, {Ipv4Addr::any(), 80});
    n.ss.listen(l, 5);
    int b = n.fresh(n.ss);
    n.ss.setsockopt(b, SOL_SOCKET, SO_REUSEADDR, 1);
    BOOST_TEST(n.ss.bind(b, {Net::server_ip, 80}).err == EADDRINUSE);
}

BOOST_AUTO_TEST_CASE(so_reuseaddr_bsd_personality_needs_it_only_on_the_later_socket) {
    for (bool bsd : {false, true}) {
        Net n;
        n.server.config().bsd_reuseaddr = bsd;
        n.pair(80);  // the listener has no SO_REUSEADDR; its child holds port 80
        n.ss.close(n.l);
        int b = n.fresh(n.ss);
        n.ss.setsockopt(b, SOL_SOCKET, SO_REUSEADDR, 1);
        BOOST_TEST(n.ss.bind(b, {Ipv4Addr::any(), 80}).ok() == bsd);
    }
}

BOOST_AUTO_TEST_CASE(so_reuseport_lets_sockets_that_all_set_it_share_a_port) {
    Net n;
    std::array<int, 2> ls{};
    for (int& l : ls) {
        l = n.fresh(n.ss, SOCK_NONBLOCK);
        BOOST_TEST(n.ss.setsockopt(l, SOL_SOCKET, SO_REUSEPORT, 1).ok());
        BOOST_TEST(n.ss.bind(l, {Ipv4Addr::any(), 80}).ok());
        BOOST_TEST(n.ss.listen(l, 64).ok());
    }
    int late = n.fresh(n.ss);  // without SO_REUSEPORT: the port is taken
    BOOST_TEST(n.ss.bind(late, {Ipv4Addr::any(), 80}).err == EADDRINUSE);
    for (int i = 0; i < 16; ++i) n.connect_to(80);
    n.run_for(500ms);
    int total = 0;
    for (int l : ls) {
        int got = 0;
        while (n.ss.accept(l).ok()) ++got;
        BOOST_TEST(got > 0);  // the group shares the load
        total += got;
    }
    BOOST_TEST(total == 16);
}

BOOST_AUTO_TEST_CASE(accept_does_not_inherit_o_nonblock_or_fd_cloexec) {
    Net n;
    n.pair(80);  // listener is SOCK_NONBLOCK
    n.ss.fcntl(n.l, F_SETFD, FD_CLOEXEC);
    BOOST_TEST(!n.ss.nonblocking(n.s));
    BOOST_TEST(n.ss.fcntl(n.s, F_GETFD).value == 0);
}

BOOST_AUTO_TEST_CASE(accept_inherits_socket_options) {
    Net n;
    int l = n.fresh(n.ss);
    n.ss.setsockopt(l, SOL_SOCKET, SO_KEEPALIVE, 1);
    n.ss.setsockopt(l, SOL_SOCKET, SO_RCVBUF, 4096);
    n.ss.setsockopt(l, IPPROTO_TCP, TCP_NODELAY, 1);
    timeval tv{3, 0};
    n.ss.setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    n.ss.bind(l, {Ipv4Addr::any(), 80});
    n.ss.listen(l, 5);
    n.connect_to(80);
    n.run_for(100ms);
    int s = static_cast<int>(n.ss.accept(l).value);
    int v = 0;
    n.ss.getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, v);
    BOOST_TEST(v == 1);
    n.ss.getsockopt(s, SOL_SOCKET, SO_RCVBUF, v);
    BOOST_TEST(v == 8192);
    n.ss.getsockopt(s, IPPROTO_TCP, TCP_NODELAY, v);
    BOOST_TEST(v == 1);
    timeval got{};
    socklen_t len = sizeof got;
    n.ss.getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &got, &len);
    BOOST_TEST(got.tv_sec == 3);
}

BOOST_AUTO_TEST_CASE(accept_inherits_o_nonblock_under_the_bsd_personality) {
    Net n;
    n.server.config().accept_inherits_nonblock = true;
    n.pair(80);
    BOOST_TEST(n.ss.nonblocking(n.s));
}

BOOST_AUTO_TEST_CASE(tcp_options_follow_tcp7) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, v);
    BOOST_TEST(v == 536);  // TCP_MSS_DEFAULT before a connection
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 50).err == EINVAL);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, 1000).ok());
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, v);
    BOOST_TEST(v == 1000);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 0).err == EINVAL);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, 128).err == EINVAL);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, 30).ok());
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, v);
    BOOST_TEST(v == 30);
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, v);
    BOOST_TEST(v == 7200);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, -1).err == EINVAL);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000).ok());
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, v);
    BOOST_TEST(v == 5000);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, 1).ok());
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_INFO, 1).err == ENOPROTOOPT);
    // TCP_MAXSEG reaches the wire: the connection's MSS is at most 1000.
    n.l = n.listen_on(80);
    n.cs.fcntl(fd, F_SETFL, O_NONBLOCK);
    n.cs.connect(fd, {Net::server_ip, 80});
    n.run_for(100ms);
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, v);
    BOOST_TEST(v <= 1000);
    BOOST_TEST(v > 900);
}

BOOST_AUTO_TEST_CASE(tcp_info_reports_state_rto_and_cwnd) {
    Net n;
    int fresh = n.fresh(n.cs);
    TcpInfo ti{};
    socklen_t len = sizeof ti;
    BOOST_TEST(n.cs.getsockopt(fresh, IPPROTO_TCP, TCP_INFO, &ti, &len).ok());
    BOOST_TEST(len == sizeof(TcpInfo));
    BOOST_TEST(ti.base.tcpi_state == 7);  // TCP_CLOSE
    n.pair(80);
    n.cs.send(n.c, B("hello"));
    n.run_for(100ms);
    len = sizeof ti;
    n.cs.getsockopt(n.c, IPPROTO_TCP, TCP_INFO, &ti, &len);
    BOOST_TEST(ti.base.tcpi_state == 1);  // TCP_ESTABLISHED
    BOOST_TEST(ti.base.tcpi_snd_cwnd == 10u);
    BOOST_TEST(ti.base.tcpi_rto >= 200000u);
    BOOST_TEST(ti.base.tcpi_rtt > 0u);
    BOOST_TEST(ti.bytes_acked == 5u);
    struct tcp_info glibc{};  // a caller with glibc's shorter struct gets the prefix
    len = sizeof glibc;
    n.cs.getsockopt(n.c, IPPROTO_TCP, TCP_INFO, &glibc, &len);
    BOOST_TEST(len == sizeof(struct tcp_info));
    BOOST_TEST(glibc.tcpi_snd_cwnd == 10u);
    len = sizeof ti;
    n.ss.getsockopt(n.l, IPPROTO_TCP, TCP_INFO, &ti, &len);
    BOOST_TEST(ti.base.tcpi_state == 10);  // TCP_LISTEN
}

BOOST_AUTO_TEST_CASE(tcp_congestion_names_reno_and_cubic) {
    Net n;
    int fd = n.fresh(n.cs);
    char name[16] = {};
    socklen_t len = sizeof name;
    BOOST_TEST(n.cs.getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len).ok());
    BOOST_TEST(std::string(name) == "cubic");
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4).ok());
    len = sizeof name;
    n.cs.getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len);
    BOOST_TEST(std::string(name) == "reno");
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "bbr", 3).err == ENOENT);
}

BOOST_AUTO_TEST_CASE(ip_ttl_and_ip_tos_follow_ip7) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 0;
    n.cs.getsockopt(fd, IPPROTO_IP, IP_TTL, v);
    BOOST_TEST(v == 64);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_IP, IP_TTL, 0).err == EINVAL);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_IP, IP_TTL, 5).ok());
    n.cs.getsockopt(fd, IPPROTO_IP, IP_TTL, v);
    BOOST_TEST(v == 5);
    BOOST_TEST(n.cs.setsockopt(fd, IPPROTO_IP, IP_TOS, 0x11).ok());
    n.cs.getsockopt(fd, IPPROTO_IP, IP_TOS, v);
    BOOST_TEST(v == 0x10);  // the ECN bits stay the stack's
}

BOOST_AUTO_TEST_CASE(bad_option_arguments_give_the_linux_errno) {
    Net n;
    int fd = n.fresh(n.cs);
    int v = 7;
    socklen_t len = 2;
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len).ok());  // truncated like Linux
    BOOST_TEST(len == 2u);
    len = static_cast<socklen_t>(-1);
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len).err == EINVAL);
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, nullptr).err == EFAULT);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, 2).err == EINVAL);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, nullptr, 4).err == EFAULT);
    BOOST_TEST(n.cs.setsockopt(fd, SOL_SOCKET, 9999, 1).err == ENOPROTOOPT);
    BOOST_TEST(n.cs.setsockopt(fd, 9999, 1, 1).err == ENOPROTOOPT);
    BOOST_TEST(n.cs.getsockopt(fd, IPPROTO_TCP, 9999, v).err == ENOPROTOOPT);
    BOOST_TEST(n.cs.setsockopt(99, SOL_SOCKET, SO_KEEPALIVE, 1).err == EBADF);
    int f = static_cast<int>(n.cs.open_memory_file(B("x")).value);
    BOOST_TEST(n.cs.setsockopt(f, SOL_SOCKET, SO_KEEPALIVE, 1).err == ENOTSOCK);
}

// ---- 6. Error codes (those not already shown above) ----

BOOST_AUTO_TEST_CASE(ioctl_queue_sizes_and_unknown_requests) {
    Net n;
    n.pair(80);
    n.cs.send(n.c, B("12345"));
    int v = -1;
    BOOST_TEST(n.cs.ioctl(n.c, SIOCOUTQ, &v).ok());
    BOOST_TEST(v == 5);
    n.run_for(100ms);
    n.cs.ioctl(n.c, SIOCOUTQ, &v);
    BOOST_TEST(v == 0);
    BOOST_TEST(n.ss.ioctl(n.s, FIONREAD, &v).ok());
    BOOST_TEST(v == 5);
    BOOST_TEST(n.ss.ioctl(n.l, SIOCINQ, &v).err == EINVAL);
    BOOST_TEST(n.ss.ioctl(n.s, 0x1234, &v).err == ENOTTY);
    int on = 1;
    int fd = n.fresh(n.cs);
    BOOST_TEST(n.cs.ioctl(fd, FIONBIO, &on).ok());
    BOOST_TEST(n.cs.nonblocking(fd));
}

BOOST_AUTO_TEST_CASE(econnreset_when_the_peer_aborts) {
    Net n;
    n.pair(80);
    linger lg{1, 0};
    n.cs.setsockopt(n.c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    n.cs.close(n.c);
    n.run_for(100ms);
    int err = 0;
    n.ss.getsockopt(n.s, SOL_SOCKET, SO_ERROR, err);
    BOOST_TEST(err == ECONNRESET);
}

BOOST_AUTO_TEST_CASE(poll_over_many_descriptors_waits_in_virtual_time) {
    Net n;
    n.pair(80);
    int other = n.fresh(n.ss);
    std::vector<pollfd> fds{{n.s, POLLIN, 0}, {-1, POLLIN, 0}, {99, POLLIN, 0}, {other, POLLIN, 0}};
    SysResult now = n.ss.poll(std::span(fds));
    BOOST_TEST(now.value == 2);  // the bad fd (POLLNVAL) and the fresh socket (POLLHUP)
    BOOST_TEST(fds[2].revents == POLLNVAL);
    std::vector<pollfd> wait{{n.s, POLLIN, 0}};
    std::optional<int> got;
    Time when{};
    n.ss.poll_wait(wait, 5000, [&](std::vector<pollfd>& out, int k) {
        got = k;
        when = n.world.now();
        BOOST_TEST((out[0].revents & POLLIN) != 0);
    });
    n.world.after(1s, [&] { n.cs.send(n.c, B("x")); });
    const Time t0 = n.world.now();
    n.run_for(3s);
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(*got == 1);
    BOOST_TEST(when - t0 < Duration(1100ms));
    std::optional<int> timeout;
    n.ss.poll_wait({{n.l, POLLIN, 0}}, 250, [&](std::vector<pollfd>&, int k) { timeout = k; });
    n.run_for(200ms);
    BOOST_TEST(!timeout.has_value());
    n.run_for(100ms);
    BOOST_REQUIRE(timeout.has_value());
    BOOST_TEST(*timeout == 0);
}
