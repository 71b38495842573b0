#define BOOST_TEST_MODULE ip_checksum
#include <boost/test/unit_test.hpp>

#include <random>

#include "ip/checksum.hpp"
#include "link/base/bytes.hpp"

using namespace tcpsim;
using namespace tcpsim::ip;

// A deliberately naive RFC 1071 reference: 16-bit big-endian words, end-around carry each step.
std::uint16_t reference_checksum(Bytes data) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < data.size(); i += 2) {
        std::uint32_t hi = std::to_integer<std::uint32_t>(data[i]);
        std::uint32_t lo = i + 1 < data.size() ? std::to_integer<std::uint32_t>(data[i + 1]) : 0;
        sum += hi << 8 | lo;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

ByteVector random_bytes(std::mt19937& rng, std::size_t n) {
    ByteVector v(n);
    for (auto& b : v) b = std::byte(rng() & 0xff);
    return v;
}

BOOST_AUTO_TEST_CASE(rfc1071_worked_example) {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    ByteVector data = from_hex("0001f203f4f5f6f7");
    ChecksumAccumulator acc;
    acc.add(data);
    BOOST_TEST(acc.folded() == 0xddf2);
    BOOST_TEST(acc.finish() == 0x220d);
    BOOST_TEST(internet_checksum(data) == 0x220d);
}

BOOST_AUTO_TEST_CASE(odd_lengths_pad_with_a_zero_byte) {
    BOOST_TEST(internet_checksum(from_hex("0001f2")) == static_cast<std::uint16_t>(~0xf201));
    BOOST_TEST(internet_checksum(from_hex("ff")) == 0x00ff);
    BOOST_TEST(internet_checksum(Bytes{}) == 0xffff);
    std::mt19937 rng(1071);
    for (std::size_t n = 0; n < 80; ++n) {
        ByteVector v = random_bytes(rng, n);
        BOOST_TEST(internet_checksum(v) == reference_checksum(v), "length " << n);
    }
}

BOOST_AUTO_TEST_CASE(a_buffer_including_its_checksum_sums_to_zero) {
    std::mt19937 rng(7);
    for (std::size_t n : {2u, 20u, 64u, 1500u}) {
        ByteVector v = random_bytes(rng, n);
        v[0] = v[1] = std::byte{0};
        store_be16(v, 0, internet_checksum(v));
        BOOST_TEST(internet_checksum(v) == 0);
        ChecksumAccumulator acc;
        acc.add(v);
        BOOST_TEST(acc.folded() == 0xffff);
    }
}

BOOST_AUTO_TEST_CASE(carries_fold_correctly_on_large_buffers) {
    ByteVector ones(70001, std::byte{0xff});
    BOOST_TEST(internet_checksum(ones) == reference_checksum(ones));
    std::mt19937 rng(65535);
    ByteVector big = random_bytes(rng, 65535);
    BOOST_TEST(internet_checksum(big) == reference_checksum(big));
}

BOOST_AUTO_TEST_CASE(split_spans_at_odd_offsets_equal_one_span) {
    std::mt19937 rng(20261121);
    for (int round = 0; round < 500; ++round) {
        std::size_t n = rng() % 300;
        ByteVector v = random_bytes(rng, n);
        ChecksumAccumulator acc;
        std::size_t pos = 0;
        while (pos < n) {
            std::size_t len = std::min<std::size_t>(n - pos, rng() % 20);  // includes empty and 1-byte spans
            acc.add(Bytes(v).subspan(pos, len));
            pos += len;
        }
        BOOST_TEST(acc.finish() == reference_checksum(v), "round " << round);
    }
    // Unaligned start addresses: the wide loads must not care.
    ByteVector v = random_bytes(rng, 101);
    for (std::size_t skip = 0; skip < 8; ++skip)
        BOOST_TEST(internet_checksum(Bytes(v).subspan(skip)) == reference_checksum(Bytes(v).subspan(skip)));
}

// The wide loop sums 32-byte blocks, then 8-byte words, then a zero-padded tail of 1-7 bytes:
// every length up to a few blocks at every start alignment covers each path and each hand-off.
BOOST_AUTO_TEST_CASE(every_length_and_alignment_through_the_wide_loop_matches_the_reference) {
    std::mt19937 rng(1071);
    ByteVector v = random_bytes(rng, 200);
    ByteVector ones(200, std::byte{0xff});  // every 64-bit add carries out: end-around carry
    for (std::size_t align = 0; align < 8; ++align)
        for (std::size_t n = 0; n + align <= 140; ++n) {
            BOOST_TEST(internet_checksum(Bytes(v).subspan(align, n)) == reference_checksum(Bytes(v).subspan(align, n)),
                       "align " << align << " length " << n);
            BOOST_TEST(internet_checksum(Bytes(ones).subspan(align, n)) ==
                           reference_checksum(Bytes(ones).subspan(align, n)),
                       "ones, align " << align << " length " << n);
        }
}

BOOST_AUTO_TEST_CASE(an_odd_span_followed_by_long_spans_keeps_the_byte_lanes) {
    // An odd first span shifts every later word by one byte: a header of odd length followed by
    // a payload in two ring-buffer pieces, both long enough for the 32-byte blocks.
    std::mt19937 rng(1624);
    for (int round = 0; round < 200; ++round) {
        ByteVector v = random_bytes(rng, 3000);
        std::size_t a = 1 + 2 * (rng() % 20), b = a + rng() % 1500;
        ChecksumAccumulator acc;
        acc.add(Bytes(v).subspan(0, a));
        acc.add(Bytes(v).subspan(a, b - a));
        acc.add(Bytes(v).subspan(b));
        BOOST_TEST(acc.finish() == reference_checksum(v), "round " << round);
    }
}

BOOST_AUTO_TEST_CASE(add_be16_and_be32_equal_appending_the_bytes) {
    std::mt19937 rng(99);
    for (std::size_t prefix : {0u, 1u, 2u, 3u, 7u}) {
        ByteVector v = random_bytes(rng, prefix);
        ChecksumAccumulator words;
        words.add(v);
        words.add_be16(0xbeef);
        words.add_be32(0x01020304);
        ByteVector all = v;
        for (const char* h : {"beef", "01020304"}) {
            ByteVector x = from_hex(h);
            all.insert(all.end(), x.begin(), x.end());
        }
        BOOST_TEST(words.finish() == reference_checksum(all), "prefix " << prefix);
    }
}

BOOST_AUTO_TEST_CASE(rfc1624_example_gives_zero_not_minus_zero) {
    // RFC 1624 §4: other octets sum to 0xcd7a; m = 0x5555 becomes m' = 0x3285.
    BOOST_TEST(internet_checksum(from_hex("cd7a5555")) == 0xdd2f);
    BOOST_TEST(internet_checksum(from_hex("cd7a3285")) == 0x0000);
    BOOST_TEST(checksum_update(0xdd2f, 0x5555, 0x3285) == 0x0000);  // eqn. 3, not eqn. 2's 0xffff
}

BOOST_AUTO_TEST_CASE(incremental_update_equals_recomputation_over_random_data) {
    std::mt19937 rng(1624);
    for (int round = 0; round < 2000; ++round) {
        std::size_t words = 2 + rng() % 40;
        ByteVector v = random_bytes(rng, words * 2);
        std::uint16_t hc = internet_checksum(v);
        std::size_t i = (rng() % words) * 2;
        std::uint16_t old_word = load_be16(v, i);
        std::uint16_t new_word = static_cast<std::uint16_t>(rng());
        if (round % 10 == 0) new_word = 0;  // zeroing fields is common (TTL, checksums)
        store_be16(v, i, new_word);
        BOOST_TEST(checksum_update(hc, old_word, new_word) == internet_checksum(v), "round " << round);
    }
    for (int round = 0; round < 1000; ++round) {
        ByteVector v = random_bytes(rng, 40);
        std::uint16_t hc = internet_checksum(v);
        std::size_t i = (rng() % 10) * 4;  // e.g. an address or sequence number
        std::uint32_t old_value = load_be32(v, i);
        std::uint32_t new_value = static_cast<std::uint32_t>(rng());
        store_be32(v, i, new_value);
        BOOST_TEST(checksum_update32(hc, old_value, new_value) == internet_checksum(v), "round " << round);
    }
}

BOOST_AUTO_TEST_CASE(decrementing_ttl_updates_a_real_header) {
    // The captured echo request header (see test_ipv4.cpp): TTL 64 -> 63 as a router would.
    ByteVector h = from_hex("450000547c71400040013a34c0000201c0000202");
    std::uint16_t old_word = load_be16(h, 8);
    h[8] = std::byte{63};
    std::uint16_t updated = checksum_update(load_be16(h, 10), old_word, load_be16(h, 8));
    store_be16(h, 10, 0);
    BOOST_TEST(updated == internet_checksum(h));
    BOOST_TEST(updated == 0x3b34);  // RFC 1141: TTL-1 adds 0x0100 to the checksum
}
