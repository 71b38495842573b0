#define BOOST_TEST_MODULE link_arp_cache
#include <boost/test/unit_test.hpp>

#include "link/arp/arp_cache.hpp"

using namespace tcpsim;
using namespace tcpsim::link;

namespace {
const Ipv4Addr kPeer{192, 0, 2, 2};
const MacAddr kMac = *MacAddr::parse("02:00:00:00:00:02");
const MacAddr kOther = *MacAddr::parse("02:00:00:00:00:03");
Time at(Duration d) { return kTimeZero + d; }
}  // namespace

BOOST_AUTO_TEST_CASE(unknown_neighbour_is_incomplete_until_confirmed) {
    ArpConfig cfg;
    ArpCache c(cfg);
    ArpEntry& e = c.get_or_create(kPeer, 1);
    BOOST_TEST((e.state == ArpState::Incomplete));
    BOOST_TEST(c.resolved(kPeer, at(0s)) == nullptr);
    BOOST_TEST(c.confirm(kPeer, kMac, 1, at(1s), false) == &e);
    BOOST_REQUIRE(c.resolved(kPeer, at(1s)) != nullptr);
    BOOST_TEST((*c.resolved(kPeer, at(1s)) == kMac));
}

BOOST_AUTO_TEST_CASE(reply_does_not_create_but_request_does) {
    ArpConfig cfg;
    ArpCache c(cfg);
    BOOST_TEST(c.confirm(kPeer, kMac, 0, at(0s), false) == nullptr);  // Linux arp_accept = 0
    BOOST_TEST(c.size() == 0u);
    BOOST_TEST(c.confirm(kPeer, kMac, 0, at(0s), true) != nullptr);
    BOOST_TEST(c.size() == 1u);
}

BOOST_AUTO_TEST_CASE(reachable_turns_stale_after_the_reachable_time) {
    ArpConfig cfg;
    cfg.reachable = 30s;
    ArpCache c(cfg);
    c.confirm(kPeer, kMac, 0, at(0s), true);
    c.resolved(kPeer, at(29s));
    BOOST_TEST((c.find(kPeer)->state == ArpState::Reachable));
    BOOST_TEST(c.resolved(kPeer, at(30s)) != nullptr);  // still used while stale
    BOOST_TEST((c.find(kPeer)->state == ArpState::Stale));
}

BOOST_AUTO_TEST_CASE(static_entry_is_never_overridden) {
    ArpConfig cfg;
    ArpCache c(cfg);
    c.add_static(kPeer, kMac, 0);
    c.confirm(kPeer, kOther, 1, at(0s), true);
    BOOST_TEST((c.find(kPeer)->state == ArpState::Static));
    BOOST_TEST((c.find(kPeer)->mac == kMac));
    BOOST_TEST(std::string(to_string(ArpState::Static)) == "PERMANENT");
}

BOOST_AUTO_TEST_CASE(queue_drops_the_oldest_when_over_budget) {
    ArpConfig cfg;
    cfg.queue_bytes = 100;
    ArpCache c(cfg);
    ArpEntry& e = c.get_or_create(kPeer, 0);
    const ByteVector a(40, std::byte{1}), b(40, std::byte{2}), d(40, std::byte{3}), huge(101);
    BOOST_TEST(c.enqueue(e, a) == 0u);
    BOOST_TEST(c.enqueue(e, b) == 0u);
    BOOST_TEST(c.enqueue(e, d) == 1u);  // a goes
    BOOST_TEST(e.queue.size() == 2u);
    BOOST_TEST((e.queue.front() == b));
    BOOST_TEST(e.queued_bytes == 80u);
    BOOST_TEST(c.enqueue(e, huge) == 1u);  // bigger than the budget: dropped itself
    BOOST_TEST(e.queue.size() == 2u);
}
