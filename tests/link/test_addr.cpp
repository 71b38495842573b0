#define BOOST_TEST_MODULE link_addr
#include <boost/test/unit_test.hpp>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"

using namespace tcpsim;

BOOST_AUTO_TEST_CASE(ipv4_dotted_quad_round_trips) {
    auto a = Ipv4Addr::parse("192.0.2.1");
    BOOST_REQUIRE(a);
    BOOST_TEST(a->value == 0xc0000201u);
    BOOST_TEST(a->to_string() == "192.0.2.1");
}

BOOST_AUTO_TEST_CASE(ipv4_rejects_malformed_text) {
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", "0001.2.3.4"})
        BOOST_TEST(!Ipv4Addr::parse(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(prefix_contains_and_mask) {
    auto p = Ipv4Prefix::parse("192.0.2.2/24");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->contains(*Ipv4Addr::parse("192.0.2.200")));
    BOOST_TEST(!p->contains(*Ipv4Addr::parse("198.51.100.1")));
    BOOST_TEST(!Ipv4Prefix::parse("192.0.2.2/33"));
    BOOST_TEST(Ipv4Prefix::parse("0.0.0.0/0")->contains(*Ipv4Addr::parse("8.8.8.8")));
}

BOOST_AUTO_TEST_CASE(mac_parse_and_print) {
    auto m = MacAddr::parse("02:00:00:00:00:0a");
    BOOST_REQUIRE(m);
    BOOST_TEST(m->to_string() == "02:00:00:00:00:0a");
    BOOST_TEST(!MacAddr::parse("02:00:00:00:00"));
    BOOST_TEST(!MacAddr::parse("02:00:00:00:00:0g"));
    BOOST_TEST(MacAddr::broadcast().is_broadcast());
}

BOOST_AUTO_TEST_CASE(hex_round_trip) {
    auto v = from_hex("45 00 00 3c");
    BOOST_TEST(v.size() == 4u);
    BOOST_TEST(to_hex(v) == "4500003c");
    BOOST_CHECK_THROW(from_hex("4"), std::invalid_argument);
    BOOST_CHECK_THROW(from_hex("zz"), std::invalid_argument);
}
