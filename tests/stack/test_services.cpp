// The services of stack/services (echo, discard, chargen, sink, http) and the bulk sender, in a
// simulated world: the same code `tcpsim tap --serve` runs live.
#define BOOST_TEST_MODULE stack_services
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "stack/host/host.hpp"
#include "stack/apps/services.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/sim/world.hpp"

using namespace tcpsim;
using namespace tcpsim::stack;

namespace {

const Ipv4Addr kServerIp(192, 0, 2, 2);

struct TwoHosts {
    World world{7};
    Host& client = world.add_host("client");
    Host& server = world.add_host("server");
    Wire& wire = world.add_wire("l1", 2ms, 100'000'000);
    TwoHosts() {
        auto c = client.add_interface({.name = "eth0", .mac = *MacAddr::parse("02:00:00:00:00:01"),
                                       .address = *Ipv4Prefix::parse("192.0.2.1/24")});
        auto s = server.add_interface({.name = "eth0", .mac = *MacAddr::parse("02:00:00:00:00:02"),
                                       .address = *Ipv4Prefix::parse("192.0.2.2/24")});
        world.connect(client, c, wire);
        world.connect(server, s, wire);
    }
    SenderReport send(std::uint16_t port, SenderOptions o, Duration budget = 120s) {
        SenderReport out;
        bool got = false;
        o.done = [&](const SenderReport& r) {
            out = r;
            got = true;
        };
        auto sender = start_sender(client, {kServerIp, port}, std::move(o));
        world.run_until(world.now() + budget);
        BOOST_REQUIRE_MESSAGE(got, "the sender finished within the time budget");
        BOOST_TEST(sender->finished());
        return out;
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(echo_returns_one_mebibyte_byte_for_byte) {
    TwoHosts t;
    std::vector<ServiceReport> closed;
    auto echo = start_service(t.server, ServiceKind::Echo, 7, {.on_close = [&](const ServiceReport& r) { closed.push_back(r); }});
    auto r = t.send(7, {.generated = 1 << 20});
    BOOST_TEST(r.error == 0);
    BOOST_TEST(r.bytes_sent == 1u << 20);
    BOOST_TEST(r.bytes_received == 1u << 20);
    BOOST_TEST(r.echo_matches);
    BOOST_REQUIRE(closed.size() == 1u);
    BOOST_TEST(closed[0].bytes_in == 1u << 20);
    BOOST_TEST(closed[0].bytes_out == 1u << 20);
    BOOST_TEST(echo->connections() == 1u);
}

BOOST_AUTO_TEST_CASE(sink_reports_bytes_and_throughput_when_the_peer_closes) {
    TwoHosts t;
    std::vector<ServiceReport> closed;
    auto sink = start_service(t.server, ServiceKind::Sink, 9, {.on_close = [&](const ServiceReport& r) { closed.push_back(r); }});
    ByteVector data(100000);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i * 7);
    auto r = t.send(9, {.data = data});
    BOOST_TEST(r.error == 0);
    BOOST_TEST(r.bytes_received == 0u);
    BOOST_REQUIRE(closed.size() == 1u);
    BOOST_TEST(closed[0].bytes_in == 100000u);
    BOOST_TEST(closed[0].summary.find("100000 bytes in") != std::string::npos, closed[0].summary);
    BOOST_TEST(closed[0].summary.find("Mbit/s") != std::string::npos, closed[0].summary);
    BOOST_TEST(sink->bytes_in() == 100000u);
}

BOOST_AUTO_TEST_CASE(chargen_streams_the_rfc864_pattern_up_to_its_limit) {
    TwoHosts t;
    auto chargen = start_service(t.server, ServiceKind::Chargen, 19, {.chargen_limit = 74 * 3});
    Sockets& s = t.client.sockets();
    int fd = static_cast<int>(s.socket(AF_INET, SOCK_STREAM, 0).value);
    BOOST_REQUIRE(s.connect(fd, {kServerIp, 19}).would_block());
    t.world.run_until(t.world.now() + 5s);
    std::string got(1000, '\0');
    auto r = s.recv(fd, MutableBytes(reinterpret_cast<std::byte*>(got.data()), got.size()), MSG_DONTWAIT);
    BOOST_REQUIRE(r.value == 74 * 3);
    got.resize(74 * 3);
    BOOST_TEST(got.substr(0, 74) == std::string(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"));
    BOOST_TEST(got.substr(74, 3) == "!\"#");  // each line starts one character later
    BOOST_TEST(s.recv(fd, MutableBytes(reinterpret_cast<std::byte*>(got.data()), 1), MSG_DONTWAIT).value == 0);  // EOF
    s.close(fd);
}

BOOST_AUTO_TEST_CASE(http_answers_get_with_content_length_and_rejects_other_methods) {
    TwoHosts t;
    auto http = start_service(t.server, ServiceKind::Http, 80, {.http_body = "<p>hi</p>\n"});
    std::string req = "GET / HTTP/1.1\r\nHost: 192.0.2.2\r\n\r\n";
    Sockets& s = t.client.sockets();
    auto fetch = [&](const std::string& request) {
        int fd = static_cast<int>(s.socket(AF_INET, SOCK_STREAM, 0).value);
        s.connect(fd, {kServerIp, 80});
        t.world.run_until(t.world.now() + 1s);
        BOOST_REQUIRE(s.send(fd, as_bytes(request)).value == static_cast<long>(request.size()));
        t.world.run_until(t.world.now() + 1s);
        std::string resp(4096, '\0');
        auto r = s.recv(fd, MutableBytes(reinterpret_cast<std::byte*>(resp.data()), resp.size()), MSG_DONTWAIT);
        BOOST_REQUIRE(r.value > 0);
        resp.resize(static_cast<std::size_t>(r.value));
        s.close(fd);
        return resp;
    };
    std::string ok = fetch(req);
    BOOST_TEST(ok.rfind("HTTP/1.1 200 OK\r\n", 0) == 0u, ok);
    BOOST_TEST(ok.find("Content-Length: 10\r\n") != std::string::npos, ok);
    BOOST_TEST(ok.substr(ok.size() - 10) == "<p>hi</p>\n");
    std::string bad = fetch("DELETE / HTTP/1.1\r\n\r\n");
    BOOST_TEST(bad.rfind("HTTP/1.1 405 ", 0) == 0u, bad);
    BOOST_TEST(http->connections() == 2u);
}

BOOST_AUTO_TEST_CASE(sender_to_a_closed_port_reports_connection_refused) {
    TwoHosts t;
    auto r = t.send(4444, {.generated = 10}, 10s);
    BOOST_TEST(r.error == ECONNREFUSED);
    BOOST_TEST(r.summary.find("ECONNREFUSED") != std::string::npos, r.summary);
}

BOOST_AUTO_TEST_CASE(starting_a_service_on_a_taken_port_names_the_error) {
    TwoHosts t;
    auto first = start_service(t.server, ServiceKind::Echo, 7);
    try {
        auto second = start_service(t.server, ServiceKind::Discard, 7);
        BOOST_FAIL("a second listener on port 7 must fail");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()) == "bind 0.0.0.0:7: EADDRINUSE");
    }
}
