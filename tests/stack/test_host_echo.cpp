#define BOOST_TEST_MODULE stack_host_echo
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "ip/ipv4.hpp"
#include "link/arp/arp.hpp"
#include "link/ethernet/ethernet.hpp"
#include "link/capture/pcap.hpp"
#include "stack/host/host.hpp"
#include "stack/trace/pcap_sink.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/sim/world.hpp"
#include "tcp/segment.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;
using tcp::State;

namespace tcpsim {
inline std::ostream& operator<<(std::ostream& os, Time t) { return os << format_seconds(t); }
inline std::ostream& operator<<(std::ostream& os, Ipv4Addr a) { return os << a.to_string(); }
namespace tcp {
inline std::ostream& operator<<(std::ostream& os, State s) { return os << to_string(s); }
}  // namespace tcp
}  // namespace tcpsim

namespace {

const Ipv4Addr kClientIp(192, 0, 2, 1);
const Ipv4Addr kServerIp(192, 0, 2, 2);

// Two hosts on one perfect 1 ms wire, the server echoing what it reads (blocking-style script:
// every call that would block parks on Sockets::wait and is repeated when woken).
struct EchoWorld {
    World world{42};
    Host& client = world.add_host("client");
    Host& server = world.add_host("server");
    Wire& wire = world.add_wire("l1", 1ms);
    TraceRecorder rec;
    std::ostringstream pcap_bytes;
    PcapSink pcap{pcap_bytes, {.link = "l1", .action = FrameAction::Sent, .endpoint = {}}};

    std::string client_got;
    std::string server_got;
    int client_fd = -1, listen_fd = -1, conn_fd = -1;
    Time client_closed_at{}, server_closed_at{};

    EchoWorld() {
        world.trace().subscribe(rec);
        world.trace().subscribe(pcap);
        auto c0 = client.add_interface({.name = "eth0", .mac = *MacAddr::parse("02:00:00:00:00:01"),
                                        .address = *Ipv4Prefix::parse("192.0.2.1/24")});
        auto s0 = server.add_interface({.name = "eth0", .mac = *MacAddr::parse("02:00:00:00:00:02"),
                                        .address = *Ipv4Prefix::parse("192.0.2.2/24")});
        world.connect(client, c0, wire);
        world.connect(server, s0, wire);
    }
    ~EchoWorld() {
        world.trace().unsubscribe(pcap);
        world.trace().unsubscribe(rec);
    }

    void start_server() {
        Sockets& s = server.sockets();
        listen_fd = static_cast<int>(s.socket(AF_INET, SOCK_STREAM, 0).value);
        BOOST_REQUIRE(s.bind(listen_fd, {Ipv4Addr::any(), 80}).ok());
        BOOST_REQUIRE(s.listen(listen_fd, 8).ok());
        server_accept();
    }
    void server_accept() {
        Sockets& s = server.sockets();
        tcp::Endpoint peer;
        SysResult r = s.accept(listen_fd, &peer);
        if (r.would_block()) {
            s.wait(listen_fd, r.wait_for, kTimeNever, [this](short) { server_accept(); });
            return;
        }
        BOOST_REQUIRE(r.ok());
        BOOST_TEST(peer.addr == kClientIp);
        conn_fd = static_cast<int>(r.value);
        server_read();
    }
    void server_read() {
        Sockets& s = server.sockets();
        std::array<std::byte, 4096> buf{};
        SysResult r = s.recv(conn_fd, buf);
        if (r.would_block()) {
            s.wait(conn_fd, r.wait_for, kTimeNever, [this](short) { server_read(); });
            return;
        }
        BOOST_REQUIRE(r.ok());
        if (r.value == 0) {
            // EOF: close after a little think time, as an application would.
            world.after(100ms, [this] {
                server_closed_at = world.now();
                BOOST_TEST(server.sockets().close(conn_fd).ok());
            });
            return;
        }
        const Bytes got(buf.data(), static_cast<std::size_t>(r.value));
        server_got += to_string(got);
        SysResult w = s.send(conn_fd, got);
        BOOST_REQUIRE(w.ok());
        BOOST_TEST(w.value == r.value);
        server_read();
    }

    void start_client(const std::string& message) {
        Sockets& s = client.sockets();
        client_fd = static_cast<int>(s.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0).value);
        SysResult r = s.connect(client_fd, {kServerIp, 80});
        BOOST_TEST(r.err == EINPROGRESS);
        BOOST_TEST(!r.would_block());  // non-blocking descriptors never park
        s.wait(client_fd, POLLOUT, world.now() + 10s, [this, message](short revents) {
            Sockets& s = client.sockets();
            BOOST_TEST((revents & POLLOUT) != 0);
            int err = -1;
            BOOST_REQUIRE(s.getsockopt(client_fd, SOL_SOCKET, SO_ERROR, err).ok());
            BOOST_TEST(err == 0);
            BOOST_TEST(s.connect(client_fd, {kServerIp, 80}).ok());  // Linux: second connect() -> 0
            BOOST_TEST(s.connect(client_fd, {kServerIp, 80}).err == EISCONN);
            SysResult w = s.send(client_fd, as_bytes(message));
            BOOST_TEST(w.value == static_cast<long>(message.size()));
            client_read(message.size());
        });
    }
    void client_read(std::size_t expected) {
        Sockets& s = client.sockets();
        std::array<std::byte, 4096> buf{};
        SysResult r = s.recv(client_fd, buf);
        if (r.err == EAGAIN) {
            s.wait(client_fd, POLLIN, kTimeNever, [this, expected](short) { client_read(expected); });
            return;
        }
        BOOST_REQUIRE(r.ok());
        client_got += to_string(Bytes(buf.data(), static_cast<std::size_t>(r.value)));
        if (client_got.size() < expected && r.value > 0) return client_read(expected);
        client_closed_at = world.now();
        BOOST_TEST(s.close(client_fd).ok());
    }
};

std::vector<State> states_of(const TraceRecorder& rec, std::string_view host, std::uint16_t local_port) {
    std::vector<State> out;
    for (const auto& s : rec.states) {
        if (s.host != host || s.tuple.local.port != local_port || s.tuple.remote.port == 0) continue;
        if (out.empty()) out.push_back(s.from);
        out.push_back(s.to);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(echo_over_a_perfect_wire_with_arp_handshake_close_and_time_wait) {
    EchoWorld w;
    w.start_server();
    const std::string message = "hello, tcpsim world";
    w.start_client(message);
    w.world.run_until_idle(Time(600s));

    BOOST_TEST(w.server_got == message);
    BOOST_TEST(w.client_got == message);

    // Client: the active closer.
    // The client's fd is closed; find its port from the trace.
    std::uint16_t client_port = 0;
    for (const auto& s : w.rec.states)
        if (s.host == "client") client_port = s.tuple.local.port;
    BOOST_TEST(client_port >= 32768);
    BOOST_TEST(client_port <= 60999);
    const auto client_path = states_of(w.rec, "client", client_port);
    BOOST_TEST(client_path == (std::vector<State>{State::Closed, State::SynSent, State::Established, State::FinWait1,
                                                   State::FinWait2, State::TimeWait, State::Closed}),
               boost::test_tools::per_element());
    const auto server_path = states_of(w.rec, "server", 80);
    BOOST_TEST(server_path == (std::vector<State>{State::Closed, State::SynRecv, State::Established, State::CloseWait,
                                                   State::LastAck, State::Closed}),
               boost::test_tools::per_element());

    // The listener stayed in LISTEN; TIME_WAIT lasted 2*MSL = 60 s (Linux TCP_TIMEWAIT_LEN).
    Time tw_start{}, tw_end{};
    for (const auto& s : w.rec.states) {
        if (s.host != "client") continue;
        if (s.to == State::TimeWait) tw_start = s.at;
        if (s.from == State::TimeWait && s.to == State::Closed) tw_end = s.at;
    }
    BOOST_TEST((tw_end - tw_start == Duration(60s)));
    BOOST_TEST(w.server.sockets().state(w.listen_fd) == State::Listen);
    // Everything but the listener is gone from both hosts.
    BOOST_TEST(w.client.connections().empty());
    BOOST_REQUIRE(w.server.connections().size() == 1u);
    BOOST_TEST(w.server.connections()[0].state == State::Listen);
    BOOST_TEST(w.client.sockets().open_descriptors() == 0u);
    BOOST_TEST(w.rec.drops.empty());
}

BOOST_AUTO_TEST_CASE(the_pcap_of_the_link_is_valid_and_starts_with_arp) {
    EchoWorld w;
    w.start_server();
    w.start_client("ping over pcap");
    w.world.run_until_idle(Time(600s));
    w.pcap.flush();

    const std::string file = w.pcap_bytes.str();
    auto reader = link::PcapReader::open(as_bytes(file));
    BOOST_REQUIRE(reader.has_value());
    BOOST_TEST(reader->linktype() == link::kLinktypeEthernet);
    std::size_t n = 0, arp = 0, tcp_segments = 0;
    Time last{};
    bool ordered = true, all_valid = true, padded = true;
    for (;;) {
        auto rec = reader->next();
        BOOST_REQUIRE(rec.has_value());
        if (!rec->has_value()) break;
        const link::PcapRecord& r = **rec;
        ++n;
        if (r.time < last) ordered = false;
        last = r.time;
        if (r.data.size() < link::kEthernetMinFrameSize) padded = false;
        auto eth = link::parse_ethernet(r.data);
        if (!eth) {
            all_valid = false;
            continue;
        }
        if (eth->header.type == link::EtherType::Arp) {
            auto a = link::parse_arp(eth->payload);
            if (!a) all_valid = false;
            if (n == 1) BOOST_TEST((a && a->op == link::ArpOp::Request && eth->header.dst.is_broadcast()));
            if (n == 2) BOOST_TEST((a && a->op == link::ArpOp::Reply));
            ++arp;
            continue;
        }
        auto ipv4 = ip::parse_ipv4(eth->payload);  // verifies the header checksum
        if (!ipv4) {
            all_valid = false;
            continue;
        }
        auto seg = tcp::parse_segment(ipv4->payload, {ipv4->src, ipv4->dst});  // and the TCP checksum
        if (!seg) all_valid = false;
        ++tcp_segments;
    }
    BOOST_TEST(n == w.pcap.records());
    BOOST_TEST(n == w.wire.frames_sent());
    BOOST_TEST(arp == 2u);  // one resolution: the server learns the client from its request
    BOOST_TEST(tcp_segments >= 7u);  // 3 handshake + data/echo + 2 FINs with their ACKs
    BOOST_TEST(ordered);
    BOOST_TEST(all_valid);
    BOOST_TEST(padded);

    // Cross-check with tshark when it is installed (checksums and dissector warnings).
    if (std::system("command -v tshark >/dev/null 2>&1") != 0) {
        BOOST_TEST_MESSAGE("tshark not installed: skipping the Wireshark cross-check");
        return;
    }
    const std::string path = std::string(TCPSIM_BINARY_DIR) + "/test_host_echo.pcap";
    {
        std::ofstream out(path, std::ios::binary);
        out << file;
    }
    const std::string cmd = "tshark -r " + path +
                            " -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -z expert,warn -q 2>/dev/null"
                            " | grep -ciE 'bad checksum|malformed' > " + path + ".txt";
    BOOST_TEST(std::system(cmd.c_str()) != -1);
    std::ifstream res(path + ".txt");
    int problems = -1;
    res >> problems;
    BOOST_TEST(problems == 0);
    // And tshark really read every frame (an unreadable file would also show no problems).
    const std::string count = "tshark -r " + path + " 2>/dev/null | wc -l > " + path + ".count";
    BOOST_TEST(std::system(count.c_str()) == 0);
    std::ifstream cnt(path + ".count");
    std::size_t frames = 0;
    cnt >> frames;
    BOOST_TEST(frames == n);
}

BOOST_AUTO_TEST_CASE(same_seed_same_trace) {
    auto run = [] {
        EchoWorld w;
        w.start_server();
        w.start_client("determinism");
        w.world.run_until_idle(Time(600s));
        w.pcap.flush();
        return w.pcap_bytes.str();
    };
    const std::string a = run(), b = run();
    BOOST_TEST(a.size() > 24u);
    BOOST_TEST((a == b));
}
