#define BOOST_TEST_MODULE tcp_seq
#include <boost/test/unit_test.hpp>

#include "tcp/seq.hpp"

using namespace tcpsim::tcp;

BOOST_TEST_DONT_PRINT_LOG_VALUE(SeqNum)

namespace {
constexpr std::uint32_t kMax = 0xffffffffu;
}

BOOST_AUTO_TEST_CASE(addition_wraps_modulo_two_to_the_32) {
    BOOST_TEST((SeqNum(kMax) + 1).raw() == 0u);
    BOOST_TEST((SeqNum(kMax - 9) + 20).raw() == 10u);
    BOOST_TEST((SeqNum(5) - 10).raw() == kMax - 4);
    SeqNum s(kMax);
    s += 2;
    BOOST_TEST(s.raw() == 1u);
    s -= 3;
    BOOST_TEST(s.raw() == kMax - 1);
}

BOOST_AUTO_TEST_CASE(comparisons_hold_across_the_wrap) {
    const SeqNum before(kMax - 100);
    const SeqNum after(50);  // 151 bytes later, past the wrap
    BOOST_TEST((before < after));
    BOOST_TEST((after > before));
    BOOST_TEST((before <= after));
    BOOST_TEST((after >= before));
    BOOST_TEST(!(after < before));
    BOOST_TEST((after - before) == 151);
    BOOST_TEST((before - after) == -151);
    BOOST_TEST((seq_max(before, after) == after));
    BOOST_TEST((seq_min(before, after) == before));
    BOOST_TEST((SeqNum(7) <= SeqNum(7)));
    BOOST_TEST((SeqNum(7) >= SeqNum(7)));
}

BOOST_AUTO_TEST_CASE(half_the_space_away_is_the_limit_of_ordering) {
    // RFC 1982: a - b as signed 32 bits. 2^31 - 1 ahead is "after"; 2^31 + 1 ahead wraps to "before".
    const SeqNum base(123);
    BOOST_TEST((base + 0x7fffffffu > base));
    BOOST_TEST((base + 0x80000001u < base));
    BOOST_TEST(((base + 0x7fffffffu) - base) == 0x7fffffff);
}

BOOST_AUTO_TEST_CASE(in_window_is_half_open_and_wraps) {
    const SeqNum start(kMax - 1);  // window covers kMax-1, kMax, 0, 1
    BOOST_TEST(SeqNum(kMax - 1).in_window(start, 4));
    BOOST_TEST(SeqNum(kMax).in_window(start, 4));
    BOOST_TEST(SeqNum(0).in_window(start, 4));
    BOOST_TEST(SeqNum(1).in_window(start, 4));
    BOOST_TEST(!SeqNum(2).in_window(start, 4));
    BOOST_TEST(!SeqNum(kMax - 2).in_window(start, 4));
    // A zero window contains nothing (RFC 9293 §3.10.7.4 treats that case separately).
    BOOST_TEST(!start.in_window(start, 0));
}

BOOST_AUTO_TEST_CASE(between_is_inclusive_and_wraps) {
    const SeqNum lo(kMax - 5);
    const SeqNum hi(5);
    BOOST_TEST(lo.between(lo, hi));
    BOOST_TEST(hi.between(lo, hi));
    BOOST_TEST(SeqNum(0).between(lo, hi));
    BOOST_TEST(!SeqNum(6).between(lo, hi));
    BOOST_TEST(!SeqNum(kMax - 6).between(lo, hi));
}

BOOST_AUTO_TEST_CASE(to_string_prints_the_raw_value) {
    BOOST_TEST(SeqNum(kMax).to_string() == "4294967295");
    BOOST_TEST(SeqNum().to_string() == "0");
}
