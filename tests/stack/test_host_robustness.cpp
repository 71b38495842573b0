// Hostile input at the host: floods and garbage must be counted and dropped, memory must stay
// bounded, and the host must keep serving afterwards. All in virtual time.
#define BOOST_TEST_MODULE stack_host_robustness
#include <boost/test/unit_test.hpp>

#include "ip/ipv4.hpp"
#include "link/ethernet.hpp"
#include "sim_net.hpp"
#include "stack/rng.hpp"
#include "tcp/segment.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using tcpsim::testing::TwoHosts;

namespace {

// A frame carrying `seg` from `src` to the server, as a client on the wire would send it.
ByteVector tcp_frame(Ipv4Addr src, Ipv4Addr dst, const tcp::Segment& seg) {
    ByteVector tcpbytes = tcp::encode_segment(seg, {src, dst});
    ip::Ipv4Packet p;
    p.src = src;
    p.dst = dst;
    p.payload = tcpbytes;
    ByteVector ipbytes = ip::encode_ipv4(p);
    return link::encode_ethernet({.dst = testing::mac(2), .src = testing::mac(99), .type = link::EtherType::Ipv4}, ipbytes);
}

tcp::Segment syn(std::uint16_t sport, std::uint16_t dport, std::uint32_t seq) {
    tcp::Segment s;
    s.src_port = sport;
    s.dst_port = dport;
    s.seq = tcp::SeqNum(seq);
    s.flags = tcp::Syn;
    s.window = 64240;
    s.options.mss(1460);
    return s;
}

// Connects client -> server:port and reports whether it reached ESTABLISHED within `budget`.
bool client_connects(TwoHosts& t, std::uint16_t port, Duration budget) {
    int fd = t.connect_to(port);
    t.world.run_until(t.world.now() + budget);
    bool ok = t.cs.state(fd) == tcp::State::Established;
    t.cs.close(fd);
    return ok;
}

}  // namespace

BOOST_AUTO_TEST_CASE(syn_flood_keeps_listener_state_bounded_and_the_listener_recovers) {
    TwoHosts t;
    const int backlog = 16;
    t.listen_on(80, backlog);
    Rng rng = Rng::derive(1, "flood");
    // 20000 SYNs from spoofed addresses on the link (nobody answers ARP for them, so the
    // SYN-ACKs wait on resolution and fail: the worst case for the server's state).
    for (int i = 0; i < 20000; ++i) {
        Ipv4Addr src(192, 0, 2, static_cast<std::uint8_t>(100 + i % 100));
        auto frame = tcp_frame(src, TwoHosts::server_ip, syn(static_cast<std::uint16_t>(1024 + i / 100), 80, rng.next_u32()));
        t.server.receive_frame(0, frame);
        if (i % 1000 == 0) t.world.run_until(t.world.now() + 1ms);
    }
    std::size_t states = t.server.connections().size();
    BOOST_TEST_MESSAGE("connections kept during the flood: " << states);
    BOOST_TEST(states <= static_cast<std::size_t>(1 + backlog + t.server.config().syncookie_children));
    BOOST_TEST(t.server.stats().listen_drops > 10000u);
    // Once the half-open children have given up (SYN-ACK retries, about a minute), a real client
    // gets in.
    t.world.run_until(t.world.now() + 120s);
    BOOST_TEST(t.server.connections().size() <= 2u, "only the listener (and maybe a TIME_WAIT) remain");
    BOOST_TEST(client_connects(t, 80, 3s));
}

BOOST_AUTO_TEST_CASE(garbage_and_mutated_frames_are_dropped_and_counted_without_harm) {
    TwoHosts t;
    t.listen_on(80);
    Rng rng = Rng::derive(2, "garbage");
    auto good = tcp_frame(TwoHosts::client_ip, TwoHosts::server_ip, syn(40000, 80, 1234));
    std::uint64_t drops_before = t.server.stats().drops;
    for (int i = 0; i < 20000; ++i) {
        ByteVector f;
        if (i % 2 == 0) {  // random bytes of random length
            f.resize(rng.next_u32() % 1600);
            for (auto& b : f) b = std::byte(rng.next_u32());
        } else {  // a valid SYN with 1-4 random bytes changed, or cut short
            f = good;
            int flips = 1 + static_cast<int>(rng.next_u32() % 4);
            for (int k = 0; k < flips; ++k) f[rng.next_u32() % f.size()] = std::byte(rng.next_u32());
            if (rng.next_u32() % 4 == 0) f.resize(rng.next_u32() % f.size());
        }
        t.server.receive_frame(0, f);
        if (i % 1000 == 0) t.world.run_until(t.world.now() + 1ms);
    }
    t.world.run_until(t.world.now() + 120s);
    BOOST_TEST(t.server.stats().drops > drops_before + 5000, "malformed frames are counted as drops");
    BOOST_TEST(client_connects(t, 80, 3s), "the server still accepts a real client");
}
