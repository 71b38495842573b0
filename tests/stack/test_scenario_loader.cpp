#define BOOST_TEST_MODULE scenario_loader
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>

#include "stack/scenario/error.hpp"
#include "stack/scenario/loader.hpp"

using namespace tcpsim;
using namespace tcpsim::stack::scenario;

namespace {

// A valid two-host scenario; tests append or substitute pieces.
const std::string kHosts = R"(hosts:
  client:
    interfaces:
      eth0: 192.0.2.1/24
  server:
    interfaces:
      eth0: 192.0.2.2/24
)";
const std::string kLink = R"(links:
  lan:
    a: client:eth0
    b: server:eth0
)";

std::vector<Diagnostic> errors_of(const std::string& yaml) {
    try {
        parse_scenario(yaml, "t.yaml");
    } catch (const ScenarioError& e) {
        return e.diagnostics();
    }
    return {};
}

// The first diagnostic must be at line:column and contain `words`.
void expect_error(const std::string& yaml, int line, int column, const std::string& words) {
    auto d = errors_of(yaml);
    BOOST_REQUIRE_MESSAGE(!d.empty(), "no error for:\n" + yaml);
    BOOST_TEST(d.front().file == "t.yaml");
    BOOST_TEST(d.front().mark.line == line, d.front().to_string());
    BOOST_TEST(d.front().mark.column == column, d.front().to_string());
    BOOST_TEST(d.front().message.find(words) != std::string::npos,
               "'" << d.front().message << "' should contain '" << words << "'");
}

}  // namespace

BOOST_AUTO_TEST_CASE(valid_scenario_loads_with_resolved_names) {
    auto s = parse_scenario(kHosts + kLink + R"(apps:
  server:
    - socket: l
    - bind: {fd: l, addr: "*:80"}
    - listen: l
    - accept: {fd: l, as: c}
  client:
    - socket: s
    - connect: {fd: s, to: "server:80"}
      expect: {ret: 0}
expect:
  - state: {of: client.s, is: established, at: 1s}
)",
                            "t.yaml");
    BOOST_TEST(s.hosts.size() == 2u);
    BOOST_TEST(s.links.size() == 1u);
    BOOST_TEST(s.apps.size() == 2u);
    BOOST_TEST(s.apps[1].host == "client");
    const auto& connect = s.apps[1].steps[1];
    BOOST_TEST((connect.call == Call::Connect));
    BOOST_TEST(connect.endpoint.addr.to_string() == "192.0.2.2");  // host name resolved
    BOOST_TEST(connect.endpoint.port == 80);
    BOOST_TEST(connect.mark.line == 20);
    BOOST_TEST(*connect.expect.ret == 0);
    BOOST_TEST((s.expectations[0].state == tcp::State::Established));
    BOOST_TEST((s.expectations[0].at == Duration{1s}));
}

BOOST_AUTO_TEST_CASE(default_macs_are_distinct_and_locally_administered) {
    auto s = parse_scenario(kHosts, "t.yaml");
    auto a = s.hosts[0].interfaces[0].mac, b = s.hosts[1].interfaces[0].mac;
    BOOST_TEST(a.to_string() == "02:00:00:00:01:01");
    BOOST_TEST(b.to_string() == "02:00:00:00:02:01");
}

BOOST_AUTO_TEST_CASE(yaml_syntax_error_has_line_and_column) {
    expect_error("hosts:\n  a: {interfaces: [\n", 3, 1, "YAML syntax error");
    expect_error("hosts:\n  a:\n    b: 1\n   c: 2\n", 4, 4, "YAML syntax error");
}

BOOST_AUTO_TEST_CASE(unknown_key_suggests_the_right_one) {
    expect_error("seed: 1\nuntl: 5s\n" + kHosts, 2, 1, "unknown key 'untl' at the top level (did you mean 'until'?)");
    expect_error(kHosts + kLink + "    dealy: 5ms\n", 12, 5, "unknown key 'dealy' in link 'lan' (did you mean 'delay'?)");
    // Far from anything: list the choices instead.
    expect_error(kHosts + kLink + "    zzzzzz: 5ms\n", 12, 5, "expected a, b, mtu");
}

BOOST_AUTO_TEST_CASE(unknown_call_in_a_script_suggests_the_call) {
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - conect: {fd: s, to: \"server:80\"}\n", 11, 7,
                 "unknown key 'conect' in a step of app 'client' (did you mean 'connect'?)");
}

BOOST_AUTO_TEST_CASE(duplicate_key_is_reported) {
    expect_error("seed: 1\nseed: 2\n" + kHosts, 2, 1, "duplicate key 'seed'");
}

BOOST_AUTO_TEST_CASE(wrong_type_names_what_was_expected) {
    expect_error("seed: [1]\n" + kHosts, 1, 7, "expected a seed, found a list");
    expect_error("seed: -3\n" + kHosts, 1, 7, "expected the seed as an unsigned integer");
    expect_error("hosts: [a, b]\n", 1, 8, "expected 'hosts:' (a map of key: value), found a list");
    expect_error(kHosts + kLink + "    delay: fast\n", 12, 12, "expected a duration such as 10ms");
    expect_error(kHosts + kLink + "    mtu: big\n", 12, 10, "expected mtu (an integer), found 'big'");
}

BOOST_AUTO_TEST_CASE(unknown_host_link_and_socket_names) {
    expect_error(kHosts + "links:\n  lan:\n    a: client:eth0\n    b: sever:eth0\n", 11, 8,
                 "unknown host 'sever' on link 'lan' (did you mean 'server'?)");
    expect_error(kHosts + "links:\n  lan:\n    a: client:eth1\n    b: server:eth0\n", 10, 8,
                 "unknown interface 'eth1' on host 'client' (did you mean 'eth0'?)");
    expect_error(kHosts + kLink + "expect:\n  - segment: {link: wan, flags: S}\n", 13, 21,
                 "unknown link 'wan' (did you mean 'lan'?)");
    expect_error(kHosts + "apps:\n  client:\n    - socket: sock\n    - close: sok\n", 11, 14,
                 "unknown socket 'sok' in app 'client' (did you mean 'sock'?)");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\nexpect:\n  - state: {of: client.t, is: LISTEN}\n", 12, 17,
                 "unknown socket 't' in app 'client'");
    expect_error(kHosts + "apps:\n  clint:\n    - socket: s\n", 9, 3, "app 'clint' needs 'host:'");
    expect_error(kHosts + "apps:\n  c:\n    host: clinet\n    script: []\n", 10, 11,
                 "unknown host 'clinet' for app 'c' (did you mean 'client'?)");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - connect: {fd: s, to: \"srv:80\"}\n", 11, 28,
                 "unknown host 'srv'");
}

BOOST_AUTO_TEST_CASE(impossible_addresses_are_rejected) {
    auto host = [](const std::string& addr) { return "hosts:\n  a:\n    interfaces:\n      eth0: " + addr + "\n"; };
    expect_error(host("192.0.2.300/24"), 4, 13, "impossible address '192.0.2.300/24'");
    expect_error(host("192.0.2.1/33"), 4, 13, "prefix length must be 0..32");
    expect_error(host("192.0.2.1"), 4, 13, "needs a prefix length, e.g. 192.0.2.1/24");
    expect_error(host("192.0.2.0/24"), 4, 13, "is the network address of 192.0.2.0/24");
    expect_error(host("192.0.2.255/24"), 4, 13, "is the broadcast address");
    expect_error(host("224.0.0.1/24"), 4, 13, "multicast");
    expect_error(host("0.0.0.0/24"), 4, 13, "cannot be assigned");
    expect_error(kHosts + "  other:\n    interfaces:\n      eth0: 192.0.2.1/24\n", 10, 13,
                 "address 192.0.2.1 is already used by client:eth0");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - connect: {fd: s, to: \"10.0.0.999:80\"}\n", 11, 28,
                 "impossible address '10.0.0.999'");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - connect: {fd: s, to: \"server:70000\"}\n", 11, 28,
                 "the port must be 0..65535");
    expect_error("hosts:\n  a:\n    interfaces: {eth0: {addr: 192.0.2.1/24, mac: \"01:00:5e:00:00:01\"}}\n", 3, 50,
                 "multicast");
}

BOOST_AUTO_TEST_CASE(gateway_must_be_on_a_local_network) {
    expect_error("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n    gateway: 198.51.100.1\n", 4, 14,
                 "gateway 198.51.100.1 is not on any network of host 'a' (192.0.2.0/24)");
}

BOOST_AUTO_TEST_CASE(negative_delays_and_times_are_rejected) {
    expect_error(kHosts + kLink + "    delay: -5ms\n", 12, 12, "negative duration '-5ms'");
    expect_error(kHosts + "apps:\n  client:\n    - sleep: -1s\n", 10, 14, "negative duration");
    expect_error(kHosts + kLink + "    delay: 5\n", 12, 12, "needs a unit");
    expect_error(kHosts + kLink + "    delay: 5 parsecs\n", 12, 12, "unknown time unit 'parsecs'");
}

BOOST_AUTO_TEST_CASE(out_of_range_values_name_the_range) {
    expect_error(kHosts + kLink + "    loss: 150%\n", 12, 11, "loss 150% is out of range (0%..100%)");
    expect_error(kHosts + kLink + "    loss: 0.01\n", 12, 11, "expected a percentage such as 1%");
    expect_error(kHosts + kLink + "    mtu: 20\n", 12, 10, "mtu 20 is out of range (68..65535)");
    expect_error("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n    stack: {initial_cwnd: 0}\n", 4, 27,
                 "initial_cwnd 0 is out of range (1..1000)");
    expect_error("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n    stack: {rto_min: 5s, rto_max: 1s}\n", 4, 22,
                 "rto_min (5s) must not exceed rto_max (1s)");
    expect_error(kHosts + kLink + "    delay: {time: 5ms, jitter: 10ms}\n", 12, 32, "jitter 10ms exceeds the delay 5ms");
}

BOOST_AUTO_TEST_CASE(values_from_closed_sets_are_checked) {
    expect_error("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n    stack: {congestion: renoo}\n", 4, 25,
                 "unknown congestion control 'renoo' (did you mean 'reno'?)");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - recv: {fd: s, size: 1}\n      expect: {errno: EAGIAN}\n",
                 12, 23, "unknown errno 'EAGIAN' (did you mean 'EAGAIN'?)");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - setsockopt: {fd: s, option: SO_REUSEADR, value: 1}\n",
                 11, 35, "unknown socket option 'SO_REUSEADR' (did you mean 'SO_REUSEADDR'?)");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - send: {fd: s, data: x, flags: MSG_OOBB}\n", 11, 37,
                 "unknown send/recv flag 'MSG_OOBB'");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\nexpect:\n  - state: {of: client.s, is: ESTABLISHD}\n", 12, 31,
                 "unknown TCP state 'ESTABLISHD' (did you mean 'ESTABLISHED'?)");
    expect_error(kHosts + kLink + "    faults:\n      - {match: {flags: SYNN}, action: drop}\n", 13, 25,
                 "unknown TCP flag 'SYNN'");
}

BOOST_AUTO_TEST_CASE(structural_mistakes_in_scripts) {
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n      close: s\n", 11, 7,
                 "a step holds one call, but this one has both 'socket' and 'close'");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - send: {fd: s}\n", 11, 13,
                 "needs exactly one of data (text), hex or bytes");
    expect_error(kHosts + "apps:\n  client:\n    - at: 1s\n", 10, 7, "this step has no call");
    expect_error(kHosts + "apps:\n  client:\n    - socket: s\n    - setsockopt: {fd: s, option: SO_ERROR, value: 1}\n",
                 11, 35, "SO_ERROR can only be read");
}

BOOST_AUTO_TEST_CASE(several_errors_are_all_reported_in_file_order) {
    auto d = errors_of("untl: 1s\n" + kHosts + kLink + "    dealy: 5ms\n    loss: 200%\n");
    BOOST_REQUIRE(d.size() == 3u);
    BOOST_TEST(d[0].to_string() == "t.yaml:1:1: unknown key 'untl' at the top level (did you mean 'until'?)");
    BOOST_TEST(d[1].mark.line == 13);
    BOOST_TEST(d[2].mark.line == 14);
}

BOOST_AUTO_TEST_CASE(a_broken_interface_does_not_cascade) {
    auto d = errors_of("hosts:\n  a:\n    interfaces: {eth0: 300.0.0.1/24}\n  b:\n    interfaces: {eth0: 192.0.2.2/24}\n"
                       "links:\n  l: {a: a:eth0, b: b}\n");
    BOOST_TEST(d.size() == 1u);
}

BOOST_AUTO_TEST_CASE(empty_and_unreadable_files) {
    expect_error("", 1, 1, "the scenario is empty");
    try {
        load_scenario("/nonexistent/x.yaml");
        BOOST_FAIL("no error for a missing file");
    } catch (const ScenarioError& e) {
        BOOST_TEST(e.diagnostics().front().to_string().find("/nonexistent/x.yaml: cannot read the scenario") == 0u);
    }
}

BOOST_AUTO_TEST_CASE(durations_parse_exactly) {
    BOOST_TEST(parse_duration("1.5s")->count() == 1'500'000'000);
    BOOST_TEST(parse_duration("250us")->count() == 250'000);
    BOOST_TEST(parse_duration("0")->count() == 0);
    BOOST_TEST(parse_duration("2min")->count() == 120'000'000'000);
    BOOST_TEST(!parse_duration("1.5ns"));
    BOOST_TEST(!parse_duration("-1s"));
    BOOST_TEST(format_duration(1500ms) == "1.5s");
    BOOST_TEST(format_duration(200ms) == "200ms");
    BOOST_TEST(format_duration(Duration{1}) == "1ns");
}

BOOST_AUTO_TEST_CASE(link_directions_overlay_the_link_level_impairments) {
    auto s = parse_scenario(kHosts + kLink + "    delay: 10ms\n    loss: 1%\n    b_to_a: {loss: 5%}\n", "t.yaml");
    const auto& l = s.links[0];
    BOOST_TEST((*l.a_to_b.delay == Duration{10ms}));
    BOOST_TEST((*l.b_to_a.delay == Duration{10ms}));
    BOOST_TEST(l.a_to_b.loss->probability == 0.01);
    BOOST_TEST(l.b_to_a.loss->probability == 0.05);
}

BOOST_AUTO_TEST_CASE(tcpdump_flag_letters_and_names_mean_the_same) {
    auto s = parse_scenario(kHosts + kLink +
                                "expect:\n  - segment: {flags: S.}\n  - segment: {flags: SYN|ACK}\n  - segment: {flags: [syn, ack]}\n",
                            "t.yaml");
    for (const auto& e : s.expectations) BOOST_TEST(*e.match.flags == (flag::Syn | flag::Ack));
}

BOOST_AUTO_TEST_CASE(personality_sets_defaults_that_keys_override) {
    auto s = parse_scenario("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n    stack: {msl: 10s, personality: rfc}\n"
                            "  b:\n    interfaces: {eth0: 192.0.2.2/24}\n    stack: {personality: rfc}\n",
                            "t.yaml");
    BOOST_TEST((s.hosts[0].tcp.msl == Duration{10s}));   // explicit key wins whatever the order
    BOOST_TEST((s.hosts[1].tcp.msl == Duration{120s}));  // RFC 1122 MSL
}

BOOST_AUTO_TEST_CASE(socket_layer_keys_and_an_explicit_mss_are_kept) {
    auto s = parse_scenario("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n"
                            "    stack: {mss: 536, rmem_max: 65536, wmem_max: 32KiB, somaxconn: 16, ephemeral_ports: 40000-40010}\n"
                            "  b:\n    interfaces: {eth0: 192.0.2.2/24}\n",
                            "t.yaml");
    BOOST_TEST(s.hosts[0].mss_set);
    BOOST_TEST(s.hosts[0].tcp.mss == 536u);
    BOOST_TEST(!s.hosts[1].mss_set);  // unset: each route's MTU - 40, as Linux
    BOOST_TEST(s.hosts[0].sockets.rmem_max == 65536u);
    BOOST_TEST(s.hosts[0].sockets.wmem_max == 32768u);
    BOOST_TEST(s.hosts[0].sockets.somaxconn == 16u);
    BOOST_TEST(s.hosts[0].sockets.ephemeral_low == 40000u);
    BOOST_TEST(s.hosts[0].sockets.ephemeral_high == 40010u);
}

BOOST_AUTO_TEST_CASE(shipped_scenarios_are_valid) {
    std::size_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(std::string(TCPSIM_SOURCE_DIR) + "/scenarios")) {
        if (f.path().extension() != ".yaml") continue;
        ++n;
        BOOST_CHECK_NO_THROW(load_scenario(f.path().string()));
    }
    BOOST_TEST(n >= 1u);
}
