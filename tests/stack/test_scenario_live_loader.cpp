// The `live:` host key of scenario files (stack/scenario/live.hpp): what is accepted, and every
// impossible combination reported at its file:line:column. Pure parsing: no device, no root.
#define BOOST_TEST_MODULE scenario_live_loader
#include <boost/test/unit_test.hpp>

#include <string>

#include "stack/scenario/live.hpp"
#include "stack/scenario/loader.hpp"

namespace sc = tcpsim::stack::scenario;

namespace {

// The diagnostics of a file that must not load ("" when it loads).
std::string errors_of(const std::string& yaml) {
    try {
        sc::parse_scenario(yaml, "live.yaml");
    } catch (const sc::ScenarioError& e) {
        std::string all;
        for (const auto& d : e.diagnostics()) all += d.to_string() + "\n";
        return all;
    }
    return "";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string kHost = R"(hosts:
  me:
    interfaces:
      eth0: 192.0.2.2/24
    live: {dev: tap0, create: true, kernel: 192.0.2.1/24}
)";

}  // namespace

BOOST_AUTO_TEST_CASE(a_live_host_loads_with_its_device_and_kernel_address) {
    auto s = sc::parse_scenario(kHost + R"(apps:
  me:
    - socket: l
    - listen: {fd: l}
expect:
  - segment: {link: tap0, from: me, flags: S., is: 1}
  - count: {what: resets, link: tap0, is: 0}
)", "live.yaml");
    const auto* h = s.live_host();
    BOOST_REQUIRE(h != nullptr);
    BOOST_TEST(h->name == "me");
    BOOST_TEST(h->live->dev == "tap0");
    BOOST_TEST(h->live->create);
    BOOST_REQUIRE(h->live->kernel.has_value());
    BOOST_TEST(h->live->kernel->to_string() == "192.0.2.1/24");
    BOOST_TEST((h->live->mark == sc::Mark{5, 11}));
    BOOST_TEST(s.expectations.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_scenario_without_live_hosts_has_none) {
    auto s = sc::parse_scenario("hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\n", "x.yaml");
    BOOST_TEST(s.live_host() == nullptr);
}

BOOST_AUTO_TEST_CASE(a_link_to_the_live_host_is_an_error_at_the_link_end) {
    auto e = errors_of(kHost + R"(  other:
    interfaces: {eth0: 192.0.2.3/24}
links:
  lan: {a: me, b: other}
)");
    BOOST_TEST(has(e, "live.yaml:9:12: link 'lan' attaches live host 'me': a live host talks to the kernel through tap0, not over virtual links"), e);
}

BOOST_AUTO_TEST_CASE(two_live_hosts_are_an_error_at_the_second) {
    auto e = errors_of(kHost + R"(  other:
    interfaces: {eth0: 192.0.2.3/24}
    live: {dev: tap1}
)");
    BOOST_TEST(has(e, "live.yaml:8:11: only one host can be live; host 'me' already is (line 5)"), e);
}

BOOST_AUTO_TEST_CASE(the_kernel_address_needs_create_and_must_be_on_link) {
    auto e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {dev: tap0, kernel: 192.0.2.1/24}
)");
    BOOST_TEST(has(e, "live.yaml:4:31: 'kernel:' configures a device tcpsim creates: add 'create: true'"), e);
    e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {dev: tap0, create: true, kernel: 198.51.100.1/24}
)");
    BOOST_TEST(has(e, "live.yaml:4:45: the kernel's address 198.51.100.1 is not on any network of host 'me' (192.0.2.0/24)"), e);
    e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {dev: tap0, create: true, kernel: 192.0.2.2/24}
)");
    BOOST_TEST(has(e, "live.yaml:4:45: the kernel's address 192.0.2.2 is host 'me''s own address"), e);
}

BOOST_AUTO_TEST_CASE(a_live_host_has_exactly_one_interface) {
    auto e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24, eth1: 198.51.100.2/24}
    live: {dev: tap0}
)");
    BOOST_TEST(has(e, "live.yaml:4:11: a live host has exactly one interface (the one on tap0); host 'me' has 2"), e);
}

BOOST_AUTO_TEST_CASE(device_names_and_keys_are_checked) {
    auto e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {dev: a-name-far-too-long}
)");
    BOOST_TEST(has(e, "live.yaml:4:17: impossible device name 'a-name-far-too-long': 1 to 15 characters"), e);
    e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: {device: tap0, craete: true}
)");
    BOOST_TEST(has(e, "live.yaml:4:26: unknown key 'craete' in 'live:' of host 'me' (did you mean 'create'?)"), e);
    BOOST_TEST(has(e, "live.yaml:4:11: missing 'dev'"), e);
    e = errors_of(R"(hosts:
  me:
    interfaces: {eth0: 192.0.2.2/24}
    live: tap0
)");
    BOOST_TEST(has(e, "live.yaml:4:11: expected 'live:' {dev: TAP device"), e);
}

BOOST_AUTO_TEST_CASE(a_link_named_like_the_device_is_ambiguous) {
    auto e = errors_of(kHost + R"(  a:
    interfaces: {eth0: 192.0.2.3/24}
  b:
    interfaces: {eth0: 192.0.2.4/24}
links:
  tap0: {a: a, b: b}
)");
    BOOST_TEST(has(e, "live.yaml:11:3: link 'tap0' has the name of live host 'me''s device"), e);
}

BOOST_AUTO_TEST_CASE(expectations_may_name_the_device_but_not_unknown_links) {
    auto e = errors_of(kHost + R"(expect:
  - segment: {link: tpa0, is: 1}
)");
    BOOST_TEST(has(e, "live.yaml:7:21: unknown link 'tpa0'"), e);
}

BOOST_AUTO_TEST_CASE(creating_the_device_without_root_is_reported_at_create) {
    auto s = sc::parse_scenario(kHost, "live.yaml");
    auto problems = sc::live_problems(s, /*root=*/false);
    BOOST_REQUIRE(problems.size() == 1u);
    BOOST_TEST(problems[0].to_string().rfind("live.yaml:5:31: 'create: true' makes the TAP device tap0, which needs root", 0) == 0u,
               problems[0].to_string());
    BOOST_TEST(sc::live_problems(s, /*root=*/true).empty());
    // An existing device the user may open needs no root.
    auto t = sc::parse_scenario("hosts:\n  me:\n    interfaces: {eth0: 192.0.2.2/24}\n    live: {dev: tap0}\n", "x.yaml");
    BOOST_TEST(sc::live_problems(t, /*root=*/false).empty());
}

BOOST_AUTO_TEST_CASE(the_shipped_live_example_loads) {
    auto s = sc::load_scenario(TCPSIM_SOURCE_DIR "/scenarios/live/ping-pong.yaml");
    BOOST_REQUIRE(s.live_host() != nullptr);
    BOOST_TEST(s.live_host()->live->dev == "tcpsim0");
    BOOST_TEST(s.links.empty());
}
