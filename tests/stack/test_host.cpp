#define BOOST_TEST_MODULE stack_host
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

#include "stack/host/host.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/sim/world.hpp"
#include "stack/sim_net.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using namespace tcpsim::testing;
using tcp::State;

BOOST_AUTO_TEST_CASE(unanswered_arp_fails_a_blocking_connect_with_ehostunreach_after_three_probes) {
    TwoHosts n;
    TraceRecorder rec;
    n.world.trace().subscribe(rec);
    int fd = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    SysResult r = n.cs.connect(fd, {Ipv4Addr(192, 0, 2, 99), 80});
    BOOST_TEST(r.err == EINPROGRESS);
    BOOST_TEST(r.wait_for == POLLOUT);
    Time woke = kTimeNever;
    SysResult again;
    n.cs.wait(fd, r.wait_for, kTimeNever, [&](short revents) {
        woke = n.world.now();
        BOOST_TEST((revents & POLLERR) != 0);
        again = n.cs.connect(fd, {Ipv4Addr(192, 0, 2, 99), 80});
    });
    n.run_for(10s);
    // Linux: 3 broadcast requests 1 s apart, failure 1 s after the last (mcast_solicit, retrans_time).
    BOOST_TEST(woke == Time(3s));
    BOOST_TEST(again.err == EHOSTUNREACH);
    BOOST_TEST(n.client.stats().arp_requests_sent == 3u);
    BOOST_TEST(n.cs.state(fd) == State::Closed);
    bool arp_drop = false;
    for (const auto& d : rec.drops) arp_drop |= d.reason == DropReason::ArpTimeout;
    BOOST_TEST(arp_drop);
    n.world.trace().unsubscribe(rec);
}

BOOST_AUTO_TEST_CASE(connect_to_a_closed_port_is_refused_by_a_reset) {
    TwoHosts n;
    TraceRecorder rec;
    n.world.trace().subscribe(rec);
    int fd = n.connect_to(81);
    n.run_for(1s);
    BOOST_TEST(n.server.stats().tcp_resets_sent == 1u);
    int err = 0;
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err).ok());
    BOOST_TEST(err == ECONNREFUSED);
    BOOST_TEST(n.cs.getsockopt(fd, SOL_SOCKET, SO_ERROR, err).ok());
    BOOST_TEST(err == 0);  // SO_ERROR read clears it
    BOOST_TEST((n.cs.poll(fd) & (POLLERR | POLLHUP)) == POLLHUP);
    bool no_socket = false;
    for (const auto& d : rec.drops) no_socket |= d.where == "server" && d.reason == DropReason::NoSocket;
    BOOST_TEST(no_socket);
    n.world.trace().unsubscribe(rec);
}

BOOST_AUTO_TEST_CASE(hosts_answer_arp_and_ping) {
    TwoHosts n;
    BOOST_TEST(n.client.ping(n.server_ip, 7, 1, as_bytes("abcdefgh")));
    n.run_for(1s);
    BOOST_TEST(n.client.stats().echo_replies_received == 1u);
    BOOST_TEST(n.server.stats().arp_replies_sent == 1u);
    BOOST_TEST(n.server.arp().find(n.client_ip) != nullptr);  // learned from the request
    BOOST_TEST(n.client.arp().find(n.server_ip)->state == link::ArpState::Reachable);
    // A second ping needs no ARP.
    BOOST_TEST(n.client.ping(n.server_ip, 7, 2));
    n.run_for(1s);
    BOOST_TEST(n.client.stats().echo_replies_received == 2u);
    BOOST_TEST(n.client.stats().arp_requests_sent == 1u);
}

BOOST_AUTO_TEST_CASE(large_pings_are_fragmented_and_reassembled) {
    TwoHosts n;
    std::string big(4000, 'x');
    BOOST_TEST(n.client.ping(n.server_ip, 1, 1, as_bytes(big)));
    n.run_for(1s);
    BOOST_TEST(n.client.stats().echo_replies_received == 1u);
    // 4028-byte datagram at MTU 1500: 3 fragments each way.
    BOOST_TEST(n.server.stats().ip_in == 3u);
}

namespace {
// client (192.0.2.1) -- l1 -- router (192.0.2.254 | 198.51.100.254) -- l2 -- server (198.51.100.2)
struct Routed {
    World world{11};
    Wire& l1 = world.add_wire("l1", 1ms);
    Wire& l2 = world.add_wire("l2", 1ms);
    Host& client = add_host(world, l1, "client", "192.0.2.1/24", 1);
    Host& server = add_host(world, l2, "server", "198.51.100.2/24", 2);
    Host& router = world.add_host("router");
    Routed() {
        auto a = router.add_interface({.name = "eth0", .mac = mac(10), .address = *Ipv4Prefix::parse("192.0.2.254/24")});
        auto b = router.add_interface({.name = "eth1", .mac = mac(11), .address = *Ipv4Prefix::parse("198.51.100.254/24")});
        world.connect(router, a, l1);
        world.connect(router, b, l2);
        router.config().forwarding = true;
        client.set_default_gateway(Ipv4Addr(192, 0, 2, 254));
        server.set_default_gateway(Ipv4Addr(198, 51, 100, 254));
    }
};
}  // namespace

BOOST_AUTO_TEST_CASE(a_forwarding_host_routes_tcp_between_its_interfaces) {
    Routed n;
    Sockets& ss = n.server.sockets();
    Sockets& cs = n.client.sockets();
    int l = static_cast<int>(ss.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    BOOST_REQUIRE(ss.bind(l, {Ipv4Addr::any(), 7}).ok());
    BOOST_REQUIRE(ss.listen(l, 4).ok());
    int fd = static_cast<int>(cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    BOOST_TEST(cs.connect(fd, {Ipv4Addr(198, 51, 100, 2), 7}).err == EINPROGRESS);
    n.world.run_until(Time(1s));
    BOOST_TEST(cs.state(fd) == State::Established);
    tcp::Endpoint peer;
    SysResult a = ss.accept(l, &peer);
    BOOST_REQUIRE(a.ok());
    BOOST_TEST(peer.addr == Ipv4Addr(192, 0, 2, 1));
    BOOST_TEST(cs.send(fd, as_bytes("through the router")).value == 18);
    n.world.run_until(Time(2s));
    std::array<std::byte, 64> buf{};
    SysResult r = ss.recv(static_cast<int>(a.value), buf);
    BOOST_TEST(r.value == 18);
    BOOST_TEST(n.router.stats().ip_forwarded >= 4u);
}

BOOST_AUTO_TEST_CASE(ttl_expiry_at_a_router_fails_a_connect_like_linux) {
    Routed n;
    TraceRecorder rec;
    n.world.trace().subscribe(rec);
    n.client.config().ttl = 1;
    Sockets& cs = n.client.sockets();
    int fd = static_cast<int>(cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    cs.connect(fd, {Ipv4Addr(198, 51, 100, 2), 7});
    n.world.run_until(Time(1s));
    bool ttl_drop = false;
    for (const auto& d : rec.drops) ttl_drop |= d.where == "router" && d.reason == DropReason::TtlExceeded;
    BOOST_TEST(ttl_drop);
    // Linux tcp_v4_err(): any ICMP error in SYN_SENT aborts the attempt (time exceeded -> EHOSTUNREACH).
    BOOST_TEST(cs.state(fd) == State::Closed);
    BOOST_TEST(cs.connect(fd, {Ipv4Addr(198, 51, 100, 2), 7}).err == EHOSTUNREACH);
    n.world.trace().unsubscribe(rec);
}

BOOST_AUTO_TEST_CASE(rfc1122_mode_keeps_time_exceeded_soft_and_reports_it_after_the_timeout) {
    Routed n;
    n.client.config().ttl = 1;
    n.client.config().rfc1122_icmp_errors = true;
    Sockets& cs = n.client.sockets();
    int fd = static_cast<int>(cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    cs.connect(fd, {Ipv4Addr(198, 51, 100, 2), 7});
    n.world.run_until(Time(1s));
    BOOST_TEST(cs.state(fd) == State::SynSent);  // soft: SYN retransmissions go on
    n.world.run_until(Time(300s));
    BOOST_TEST(cs.state(fd) == State::Closed);
    // Linux tcp_write_err(): the last soft error replaces ETIMEDOUT.
    BOOST_TEST(cs.connect(fd, {Ipv4Addr(198, 51, 100, 2), 7}).err == EHOSTUNREACH);
}

BOOST_AUTO_TEST_CASE(a_host_without_forwarding_drops_transit_traffic) {
    Routed n;
    n.router.config().forwarding = false;
    TraceRecorder rec;
    n.world.trace().subscribe(rec);
    BOOST_TEST(n.client.ping(Ipv4Addr(198, 51, 100, 2), 1, 1));
    n.world.run_until(Time(1s));
    BOOST_TEST(n.client.stats().echo_replies_received == 0u);
    bool not_for_us = false;
    for (const auto& d : rec.drops) not_for_us |= d.where == "router" && d.reason == DropReason::NotForUs;
    BOOST_TEST(not_for_us);
    n.world.trace().unsubscribe(rec);
}

BOOST_AUTO_TEST_CASE(a_full_accept_queue_drops_final_acks_and_syns_like_linux) {
    TwoHosts n;
    int l = n.listen_on(80, 1);
    // Linux sk_acceptq_is_full(): full once MORE than `backlog` wait, so backlog 1 holds 2.
    int a = n.connect_to(80);
    int b = n.connect_to(80);
    int c = n.connect_to(80);
    n.run_for(500ms);
    // All three handshakes reached the client. The SYN queue holds `backlog` requests, so b and c
    // got SYN cookies (Linux tcp_syncookies = 1); c's cookie ACK found the accept queue full and
    // was dropped (tcp_abort_on_overflow = 0), leaving no state while the client thinks it is
    // connected.
    BOOST_TEST(n.cs.state(a) == State::Established);
    BOOST_TEST(n.cs.state(b) == State::Established);
    BOOST_TEST(n.cs.state(c) == State::Established);
    std::size_t syn_recv = 0;
    for (auto& s : n.server.connections()) syn_recv += s.state == State::SynRecv ? 1 : 0;
    BOOST_TEST(syn_recv == 0u);
    BOOST_TEST(n.server.stats().syncookies_sent == 2u);
    BOOST_TEST(n.server.stats().listen_drops == 1u);
    // With the accept queue full, a new SYN is dropped outright: the client keeps retrying.
    int d = n.connect_to(80);
    n.run_for(500ms);
    BOOST_TEST(n.cs.state(d) == State::SynSent);
    BOOST_TEST(n.server.stats().listen_drops == 2u);
    // Accepting makes room: d's SYN retransmission gets in, and c's first data segment carries
    // its cookie again (its ACK field), which now makes the connection.
    BOOST_TEST(n.ss.accept(l).ok());
    BOOST_TEST(n.ss.accept(l).ok());
    n.run_for(5s);
    BOOST_TEST(n.cs.state(d) == State::Established);
    BOOST_TEST(n.ss.accept(l).ok());
    BOOST_TEST(n.ss.accept(l).err == EAGAIN);
    BOOST_TEST(n.cs.send(c, Bytes(reinterpret_cast<const std::byte*>("x"), 1)).value == 1);
    n.run_for(500ms);
    BOOST_TEST(n.ss.accept(l).ok());
}

BOOST_AUTO_TEST_CASE(closing_a_listener_resets_unaccepted_connections) {
    TwoHosts n;
    int l = n.listen_on(80, 4);
    int a = n.connect_to(80);
    n.run_for(100ms);
    BOOST_TEST(n.cs.state(a) == State::Established);
    BOOST_TEST(n.ss.close(l).ok());
    n.run_for(100ms);
    BOOST_TEST(n.cs.state(a) == State::Closed);
    std::array<std::byte, 8> buf{};
    BOOST_TEST(n.cs.recv(a, buf).err == ECONNRESET);
    BOOST_TEST(n.server.connections().empty());
}

BOOST_AUTO_TEST_CASE(listener_demux_prefers_a_specific_address_over_the_wildcard) {
    TwoHosts n;
    int wild = static_cast<int>(n.ss.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    int spec = static_cast<int>(n.ss.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    BOOST_REQUIRE(n.ss.setsockopt(wild, SOL_SOCKET, SO_REUSEADDR, 1).ok());
    BOOST_REQUIRE(n.ss.setsockopt(spec, SOL_SOCKET, SO_REUSEADDR, 1).ok());
    BOOST_REQUIRE(n.ss.bind(spec, {n.server_ip, 80}).ok());
    BOOST_REQUIRE(n.ss.listen(spec, 4).ok());
    // Linux: a wildcard bind conflicts with a listening specific bind on the same port, even with
    // SO_REUSEADDR on both.
    BOOST_TEST(n.ss.bind(wild, {Ipv4Addr::any(), 80}).err == EADDRINUSE);
    BOOST_REQUIRE(n.ss.bind(wild, {Ipv4Addr::any(), 8080}).ok());
    BOOST_REQUIRE(n.ss.listen(wild, 4).ok());
    n.connect_to(80);
    n.connect_to(8080);
    n.run_for(100ms);
    BOOST_TEST(n.ss.accept(spec).ok());
    BOOST_TEST(n.ss.accept(wild).ok());
}

BOOST_AUTO_TEST_CASE(ephemeral_ports_are_in_range_distinct_and_seed_dependent) {
    auto ports = [](std::uint64_t seed) {
        World w(seed);
        Wire& l = w.add_wire("l1");
        Host& h = add_host(w, l, "h", "192.0.2.1/24", 1);
        std::vector<std::uint16_t> out;
        for (int i = 0; i < 50; ++i) {
            int fd = static_cast<int>(h.sockets().socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
            h.sockets().connect(fd, {Ipv4Addr(192, 0, 2, 2), 80});
            tcp::Endpoint e;
            h.sockets().getsockname(fd, e);
            out.push_back(e.port);
        }
        return out;
    };
    auto a = ports(1), b = ports(1), c = ports(2);
    BOOST_TEST(a == b);
    BOOST_TEST(a != c);
    std::set<std::uint16_t> distinct(a.begin(), a.end());
    BOOST_TEST(distinct.size() == a.size());
    for (auto p : a) {
        BOOST_TEST(p >= 32768);
        BOOST_TEST(p <= 60999);
        BOOST_TEST(p % 2 == 0);  // Linux: connect() takes even ports first
    }
}

BOOST_AUTO_TEST_CASE(malformed_frames_are_dropped_with_a_reason) {
    TwoHosts n;
    TraceRecorder rec;
    n.world.trace().subscribe(rec);
    ByteVector tiny(5);
    n.server.receive_frame(0, tiny);
    // An IPv4 frame for the server with a broken header checksum.
    ByteVector f = from_hex("02 00 00 00 00 02 02 00 00 00 00 01 08 00 "
                            "45 00 00 1c 00 00 40 00 40 01 00 00 c0 00 02 01 c0 00 02 02 "
                            "08 00 f7 ff 00 00 00 00");
    n.server.receive_frame(0, f);
    BOOST_REQUIRE(rec.drops.size() == 2u);
    BOOST_TEST((rec.drops[0].reason == DropReason::Malformed));
    BOOST_TEST((rec.drops[1].reason == DropReason::BadChecksum));
    n.world.trace().unsubscribe(rec);
}

BOOST_AUTO_TEST_CASE(unanswered_syns_time_out_after_linux_syn_retries) {
    TwoHosts n;
    // A neighbour that exists for ARP (static entry) but never answers: SYNs vanish.
    n.client.arp().add_static(Ipv4Addr(192, 0, 2, 50), mac(50), 0);
    int fd = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM, 0).value);
    SysResult r = n.cs.connect(fd, {Ipv4Addr(192, 0, 2, 50), 80});
    BOOST_REQUIRE(r.would_block());
    Time failed_at = kTimeNever;
    SysResult again;
    n.cs.wait(fd, r.wait_for, kTimeNever, [&](short) {
        failed_at = n.world.now();
        again = n.cs.connect(fd, {Ipv4Addr(192, 0, 2, 50), 80});
    });
    n.run_for(300s);
    // tcp_syn_retries 6 with RTO 1 s doubling: 1+2+4+8+16+32+64 = 127 s.
    BOOST_TEST(failed_at == Time(127s));
    BOOST_TEST(again.err == ETIMEDOUT);
    BOOST_TEST(n.client.stats().tcp_out == 7u);
}

BOOST_AUTO_TEST_CASE(a_new_syn_reuses_a_tuple_in_time_wait_on_the_server) {
    TwoHosts n;
    int l = n.listen_on(80);
    auto one_connection = [&](std::uint16_t client_port) {
        int c = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
        BOOST_REQUIRE(n.cs.setsockopt(c, SOL_SOCKET, SO_REUSEADDR, 1).ok());
        BOOST_REQUIRE(n.cs.bind(c, {Ipv4Addr::any(), client_port}).ok());
        n.cs.connect(c, {n.server_ip, 80});
        n.run_for(100ms);
        SysResult a = n.ss.accept(l);
        BOOST_REQUIRE(a.ok());
        // The server closes first, so the server holds TIME_WAIT.
        BOOST_TEST(n.ss.close(static_cast<int>(a.value)).ok());
        n.run_for(100ms);
        BOOST_TEST(n.cs.close(c).ok());
        n.run_for(100ms);
    };
    one_connection(40000);
    bool server_time_wait = false;
    for (const auto& s : n.server.connections()) server_time_wait |= s.state == State::TimeWait;
    BOOST_TEST(server_time_wait);
    TraceRecorder rec;
    n.world.trace().subscribe(rec);
    one_connection(40000);  // same 4-tuple, 0.3 s later: well inside 2*MSL
    n.world.trace().unsubscribe(rec);
    bool reused = false;
    for (const auto& s : rec.states) reused |= s.host == "server" && s.from == State::TimeWait && s.to == State::Closed;
    BOOST_TEST(reused);
    BOOST_TEST(n.server.stats().tcp_resets_sent == 0u);
}

BOOST_AUTO_TEST_CASE(a_host_can_connect_to_its_own_address) {
    TwoHosts n;
    int l = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    BOOST_REQUIRE(n.cs.bind(l, {Ipv4Addr::any(), 7}).ok());
    BOOST_REQUIRE(n.cs.listen(l, 4).ok());
    int c = static_cast<int>(n.cs.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
    BOOST_TEST(n.cs.connect(c, {n.client_ip, 7}).err == EINPROGRESS);
    n.run_for(10ms);
    BOOST_TEST(n.cs.state(c) == State::Established);
    BOOST_TEST(n.cs.accept(l).ok());
    BOOST_TEST(n.wire.frames_sent() == 0u);  // never on the wire
}
