#define BOOST_TEST_MODULE ip_route
#include <boost/test/unit_test.hpp>

#include "ip/route.hpp"

#include <ostream>

namespace tcpsim {
inline std::ostream& operator<<(std::ostream& os, Ipv4Addr a) { return os << a.to_string(); }
}  // namespace tcpsim

using namespace tcpsim;
using namespace tcpsim::ip;

namespace {
Ipv4Prefix prefix(const char* text) { return *Ipv4Prefix::parse(text); }
}  // namespace

BOOST_AUTO_TEST_CASE(empty_table_has_no_route) {
    RoutingTable t;
    BOOST_TEST(!t.lookup(Ipv4Addr{192, 0, 2, 1}).has_value());
}

BOOST_AUTO_TEST_CASE(on_link_route_hops_to_the_destination_itself) {
    RoutingTable t;
    t.add(prefix("192.0.2.1/24"), Ipv4Addr::any(), 2);
    BOOST_TEST(t.routes().front().dest.addr == (Ipv4Addr{192, 0, 2, 0}));  // stored as the network
    auto hop = t.lookup(Ipv4Addr{192, 0, 2, 77});
    BOOST_REQUIRE(hop.has_value());
    BOOST_TEST(hop->ifindex == 2u);
    BOOST_TEST(hop->addr == (Ipv4Addr{192, 0, 2, 77}));
    BOOST_TEST(!t.lookup(Ipv4Addr{198, 51, 100, 1}).has_value());
}

BOOST_AUTO_TEST_CASE(longest_prefix_wins_and_first_added_breaks_ties) {
    RoutingTable t;
    t.add(prefix("192.0.2.0/24"), Ipv4Addr::any(), 0);
    t.add(prefix("198.51.100.0/24"), Ipv4Addr::any(), 1);
    t.add(prefix("0.0.0.0/0"), Ipv4Addr{192, 0, 2, 254});
    t.add(prefix("198.51.100.128/25"), Ipv4Addr{192, 0, 2, 253});
    t.add(prefix("198.51.100.128/25"), Ipv4Addr{192, 0, 2, 252});  // same prefix: never chosen

    auto wide = t.lookup(Ipv4Addr{198, 51, 100, 5});
    BOOST_REQUIRE(wide.has_value());
    BOOST_TEST(wide->ifindex == 1u);
    BOOST_TEST(wide->addr == (Ipv4Addr{198, 51, 100, 5}));

    auto narrow = t.lookup(Ipv4Addr{198, 51, 100, 200});
    BOOST_REQUIRE(narrow.has_value());
    BOOST_TEST(narrow->ifindex == 0u);  // the interface that reaches the gateway
    BOOST_TEST(narrow->addr == (Ipv4Addr{192, 0, 2, 253}));

    auto deflt = t.lookup(Ipv4Addr{203, 0, 113, 9});
    BOOST_REQUIRE(deflt.has_value());
    BOOST_TEST(deflt->addr == (Ipv4Addr{192, 0, 2, 254}));
}

BOOST_AUTO_TEST_CASE(gateway_that_is_not_on_link_gives_no_route) {
    RoutingTable t;
    t.add(prefix("192.0.2.0/24"), Ipv4Addr::any(), 0);
    t.add(prefix("0.0.0.0/0"), Ipv4Addr{203, 0, 113, 1});  // gateway off-link (no `onlink`)
    BOOST_TEST(!t.lookup(Ipv4Addr{198, 51, 100, 1}).has_value());
    BOOST_TEST(t.lookup(Ipv4Addr{192, 0, 2, 9}).has_value());
}
