#define BOOST_TEST_MODULE tcp_isn
#include <boost/test/unit_test.hpp>

#include <array>
#include <set>

#include "link/base/bytes.hpp"
#include "tcp/isn.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;

namespace {

// The paper's key 00 01 .. 0f.
constexpr SipHashKey kPaperKey{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

ByteVector counting_bytes(std::size_t n) {
    ByteVector v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i);
    return v;
}

const FourTuple kTuple{{Ipv4Addr{192, 0, 2, 1}, 40000}, {Ipv4Addr{192, 0, 2, 2}, 80}};

}  // namespace

BOOST_TEST_DONT_PRINT_LOG_VALUE(SeqNum)

BOOST_AUTO_TEST_CASE(siphash24_matches_the_reference_vectors) {
    // Appendix A of the SipHash paper (15 bytes) and the reference implementation's vectors.
    BOOST_TEST(siphash24(kPaperKey, counting_bytes(15)) == 0xa129ca6149be45e5ull);
    BOOST_TEST(siphash24(kPaperKey, counting_bytes(0)) == 0x726fdb47dd0e0e31ull);
    BOOST_TEST(siphash24(kPaperKey, counting_bytes(1)) == 0x74f839c593dc67fdull);
    BOOST_TEST(siphash24(kPaperKey, counting_bytes(8)) == 0x93f5f5799a932462ull);
}

BOOST_AUTO_TEST_CASE(siphash24_matches_openssl_on_a_four_tuple_message) {
    // `openssl mac -macopt hexkey:0f1e2d3c4b5a69788796a5b4c3d2e1f0 -macopt size:8 -in m SIPHASH`
    // over c0000201 9c40 c0000202 0050 printed 1EECC19EAD872C1F (little-endian bytes).
    const SipHashKey key{0x78695a4b3c2d1e0full, 0xf0e1d2c3b4a59687ull};
    BOOST_TEST(siphash24(key, from_hex("c0000201 9c40 c0000202 0050")) == 0x1f2c87ad9ec1ec1eull);
}

BOOST_AUTO_TEST_CASE(same_seed_gives_same_isns_and_other_seeds_differ) {
    Rfc6528IsnGenerator a(42), b(42), c(43);
    const Time t = kTimeZero + 1234567us;
    BOOST_TEST((a.generate(t, kTuple) == b.generate(t, kTuple)));
    BOOST_TEST(!(a.generate(t, kTuple) == c.generate(t, kTuple)));
    BOOST_TEST((SipHashKey::from_seed(42) == SipHashKey::from_seed(42)));
    BOOST_TEST(!(SipHashKey::from_seed(42) == SipHashKey::from_seed(43)));
}

BOOST_AUTO_TEST_CASE(isn_is_the_four_microsecond_timer_plus_the_keyed_hash) {
    Rfc6528IsnGenerator gen(7);
    const std::uint32_t f = gen.offset(kTuple);
    BOOST_TEST(gen.generate(kTimeZero, kTuple).raw() == f);
    BOOST_TEST(gen.generate(kTimeZero + 3us, kTuple).raw() == f);  // same 4 µs tick
    BOOST_TEST(gen.generate(kTimeZero + 4us, kTuple).raw() == f + 1);
    BOOST_TEST(gen.generate(kTimeZero + 1s, kTuple).raw() == f + 250000);
    BOOST_TEST(Rfc6528IsnGenerator::timer(kTimeZero + 8us) == 2u);
    // M wraps after 2^32 ticks (about 4.77 hours).
    BOOST_TEST(Rfc6528IsnGenerator::timer(kTimeZero + std::chrono::microseconds(4ll << 32)) == 0u);
}

BOOST_AUTO_TEST_CASE(a_reused_four_tuple_gets_a_later_isn_as_time_passes) {
    // RFC 6528 §3: for one 4-tuple the ISNs follow the clock, so a new incarnation starts above
    // the old one's sequence space (for gaps under half the wrap period).
    Rfc6528IsnGenerator gen(99);
    SeqNum prev = gen.generate(kTimeZero + 5s, kTuple);
    for (int i = 1; i <= 100; ++i) {
        SeqNum next = gen.generate(kTimeZero + 5s + std::chrono::milliseconds(600 * i), kTuple);
        BOOST_TEST((next > prev));
        prev = next;
    }
}

BOOST_AUTO_TEST_CASE(different_four_tuples_get_unrelated_isns) {
    Rfc6528IsnGenerator gen(1);
    std::set<std::uint32_t> seen;
    FourTuple t = kTuple;
    for (std::uint16_t port = 40000; port < 41000; ++port) {
        t.local.port = port;
        seen.insert(gen.generate(kTimeZero, t).raw());
    }
    BOOST_TEST(seen.size() == 1000u);  // a collision among 1000 32-bit values has p ~ 1e-4
    // Swapping the ends is a different tuple: each side of one connection hashes its own view.
    const FourTuple reversed{kTuple.remote, kTuple.local};
    BOOST_TEST(gen.offset(reversed) != gen.offset(kTuple));
}

BOOST_AUTO_TEST_CASE(fixed_generator_counts_from_its_start) {
    FixedIsnGenerator gen(SeqNum(0xffffffffu), 64000);
    BOOST_TEST(gen.generate(kTimeZero, kTuple).raw() == 0xffffffffu);
    BOOST_TEST(gen.generate(kTimeZero, kTuple).raw() == 63999u);
}
