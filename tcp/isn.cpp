#include "tcp/isn.hpp"

#include <array>

namespace tcpsim::tcp {

namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
    std::uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1;
        v2 += v3;
        v1 = rotl(v1, 13);
        v3 = rotl(v3, 16);
        v1 ^= v0;
        v3 ^= v2;
        v0 = rotl(v0, 32);
        v2 += v1;
        v0 += v3;
        v1 = rotl(v1, 17);
        v3 = rotl(v3, 21);
        v1 ^= v2;
        v3 ^= v0;
        v2 = rotl(v2, 32);
    }
    void compress(std::uint64_t m) {  // c = 2 rounds per message word
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
};

std::uint64_t load_le64(Bytes b, std::size_t off, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{load_u8(b, off + i)} << (8 * i);
    return v;
}

}  // namespace

SipHashKey SipHashKey::from_seed(std::uint64_t seed) {
    // splitmix64 (Steele, Lea, Flood 2014), two outputs.
    auto next = [&seed] {
        std::uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    };
    SipHashKey key;
    key.k0 = next();
    key.k1 = next();
    return key;
}

std::uint64_t siphash24(const SipHashKey& key, Bytes message) {
    // Initialisation constants: "somepseudorandomlygeneratedbytes".
    SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
               key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
    const std::size_t n = message.size();
    std::size_t off = 0;
    for (; off + 8 <= n; off += 8) s.compress(load_le64(message, off, 8));
    // Final word: the remaining 0..7 bytes, and the length mod 256 in the top byte.
    s.compress(load_le64(message, off, n - off) | (std::uint64_t{n & 0xff} << 56));
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) s.round();  // d = 4 finalization rounds
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::uint32_t Rfc6528IsnGenerator::timer(Time now) {
    // RFC 6528 §3: M is a timer that ticks every 4 microseconds; it wraps with the ISN.
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(to_micros(now)) / 4);
}

std::uint32_t Rfc6528IsnGenerator::offset(const FourTuple& tuple) const {
    std::array<std::byte, 12> msg{};
    MutableBytes m(msg);
    store_be32(m, 0, tuple.local.addr.value);
    store_be16(m, 4, tuple.local.port);
    store_be32(m, 6, tuple.remote.addr.value);
    store_be16(m, 10, tuple.remote.port);
    return static_cast<std::uint32_t>(siphash24(key_, Bytes(msg)));
}

SeqNum Rfc6528IsnGenerator::generate(Time now, const FourTuple& tuple) {
    return SeqNum(timer(now)) + offset(tuple);
}

}  // namespace tcpsim::tcp
