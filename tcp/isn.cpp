#include "tcp/isn.hpp"

#include <algorithm>
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

SynCookies::SynCookies(std::uint64_t seed) : k0_(SipHashKey::from_seed(seed)), k1_(SipHashKey::from_seed(~seed)) {}

std::uint32_t SynCookies::minute(Time now) {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(to_micros(now)) / 60'000'000u);
}

std::uint32_t SynCookies::mss_index(std::uint16_t peer_mss) {
    std::uint32_t i = kMssTable.size() - 1;
    while (i > 0 && kMssTable[i] > peer_mss) --i;
    return i;
}

std::uint32_t SynCookies::hash(const SipHashKey& key, const FourTuple& tuple, std::uint32_t count) const {
    std::array<std::byte, 16> msg{};
    MutableBytes m(msg);
    store_be32(m, 0, tuple.remote.addr.value);
    store_be32(m, 4, tuple.local.addr.value);
    store_be16(m, 8, tuple.remote.port);
    store_be16(m, 10, tuple.local.port);
    store_be32(m, 12, count);
    return static_cast<std::uint32_t>(siphash24(key, Bytes(msg)));
}

// Linux secure_tcp_syn_cookie(): the counter sits in the top 8 bits, the data (MSS index) is
// hidden under a second hash in the low 24.
SeqNum SynCookies::make(const FourTuple& tuple, SeqNum syn_seq, std::uint32_t count, std::uint32_t index) const {
    const std::uint32_t low = (hash(k1_, tuple, count) + index) & 0xffffffu;
    return SeqNum(hash(k0_, tuple, 0) + syn_seq.raw() + (count << 24) + low);
}

// Linux check_tcp_syn_cookie() + __cookie_v4_check().
std::optional<std::uint16_t> SynCookies::check(const FourTuple& tuple, SeqNum syn_seq, SeqNum cookie,
                                                std::uint32_t count) const {
    const std::uint32_t c = cookie.raw() - hash(k0_, tuple, 0) - syn_seq.raw();
    const std::uint32_t diff = (count - (c >> 24)) & 0xffu;
    if (diff >= kMaxAge) return std::nullopt;
    const std::uint32_t index = (c - hash(k1_, tuple, count - diff)) & 0xffffffu;
    if (index >= kMssTable.size()) return std::nullopt;
    return kMssTable[index];
}

namespace {
constexpr std::uint32_t kTsBits = 6, kTsMask = (1u << kTsBits) - 1, kTsWscaleNone = 0xf, kTsSack = 1u << 4;
}

std::uint32_t SynCookies::encode_timestamp(std::uint32_t ts_now, const TsOptions& opts) {
    std::uint32_t o = opts.wscale ? std::min<std::uint32_t>(*opts.wscale, 14) : kTsWscaleNone;
    if (opts.sack) o |= kTsSack;
    std::uint32_t ts = (ts_now & ~kTsMask) | o;
    // Linux cookie_init_timestamp(): never ahead of our clock, or the peer's echo would look
    // like a negative RTT.
    if (ts > ts_now) ts -= 1u << kTsBits;
    return ts;
}

SynCookies::TsOptions SynCookies::decode_timestamp(std::uint32_t ts_echo) {
    TsOptions o;
    const std::uint32_t w = ts_echo & kTsWscaleNone;
    if (w != kTsWscaleNone) o.wscale = static_cast<std::uint8_t>(std::min<std::uint32_t>(w, 14));
    o.sack = (ts_echo & kTsSack) != 0;
    return o;
}

}  // namespace tcpsim::tcp
