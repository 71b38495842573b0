// Initial sequence numbers (RFC 6528): ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey), M a 4-microsecond timer and F a keyed hash (SipHash-2-4 here). The secret comes from
// a seed the owner (the world) hands in, so the same seed gives the same ISNs (DESIGN.md
// principle 3); the clock is the `now` passed in (principle 1).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "tcp/seq.hpp"
#include "tcp/types.hpp"

namespace tcpsim::tcp {

// A 128-bit SipHash key: the first and second 8 key bytes read little-endian.
struct SipHashKey {
    std::uint64_t k0 = 0;
    std::uint64_t k1 = 0;
    // Expands a 64-bit seed into a key (splitmix64), so nearby seeds give unrelated keys.
    static SipHashKey from_seed(std::uint64_t seed);
    bool operator==(const SipHashKey&) const = default;
};

// SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012).
std::uint64_t siphash24(const SipHashKey& key, Bytes message);

// ISN policy, chosen per host (DESIGN.md principle 8).
class IsnGenerator {
public:
    virtual ~IsnGenerator() = default;
    // The ISN for a new connection on `tuple` (local = the side choosing the ISN) at `now`.
    virtual SeqNum generate(Time now, const FourTuple& tuple) = 0;
};

// RFC 6528 §3. Linux: secure_tcp_seq() uses SipHash over the 4-tuple too, but adds a 64 ns clock
// (ktime >> 6); we keep the RFC's 4 µs timer.
class Rfc6528IsnGenerator final : public IsnGenerator {
public:
    explicit Rfc6528IsnGenerator(std::uint64_t seed) : key_(SipHashKey::from_seed(seed)) {}
    explicit Rfc6528IsnGenerator(const SipHashKey& key) : key_(key) {}
    SeqNum generate(Time now, const FourTuple& tuple) override;
    // The two halves, for tests and teaching output.
    static std::uint32_t timer(Time now);                    // M
    std::uint32_t offset(const FourTuple& tuple) const;      // F

private:
    SipHashKey key_;
};

// Always the same ISN (plus a fixed step per call): readable transcripts and teaching scenarios.
class FixedIsnGenerator final : public IsnGenerator {
public:
    explicit FixedIsnGenerator(SeqNum first, std::uint32_t step = 0) : next_(first), step_(step) {}
    SeqNum generate(Time, const FourTuple&) override {
        SeqNum isn = next_;
        next_ += step_;
        return isn;
    }

private:
    SeqNum next_;
    std::uint32_t step_;
};

// SYN cookies (Linux net/ipv4/syncookies.c): an ISN that lets a listener answer a SYN without
// keeping any state and rebuild the connection from the handshake's final ACK.
//   cookie = H0(tuple) + syn_seq + (minute << 24) + ((H1(tuple, minute) + mss_index) & 0xffffff)
// H0/H1 are SipHash-2-4 under two secrets drawn from the owner's seed (Linux cookie_hash with
// syncookie_secret[2]); `minute` is a counter of whole minutes of the owner's clock (Linux
// tcp_cookie_time()). A cookie is good for kMaxAge counter values (Linux MAX_SYNCOOKIE_AGE 2).
// Options the ISN cannot hold travel in the low 6 bits of our timestamp value when the peer
// uses timestamps (Linux cookie_init_timestamp): the peer's window scale (0xf = none) and
// SACK-permitted.
class SynCookies {
public:
    // Linux msstab[] (IPv4): the peer's MSS is rounded down to one of these.
    static constexpr std::array<std::uint16_t, 4> kMssTable{536, 1300, 1440, 1460};
    static constexpr std::uint32_t kMaxAge = 2;

    explicit SynCookies(std::uint64_t seed);
    static std::uint32_t minute(Time now);
    // Index of the largest table MSS not above `peer_mss` (0 when it is below them all).
    static std::uint32_t mss_index(std::uint16_t peer_mss);
    // `tuple` is the listener's view (local = listener).
    SeqNum make(const FourTuple& tuple, SeqNum syn_seq, std::uint32_t minute, std::uint32_t mss_index) const;
    // The peer's MSS (from the table) if `cookie` (the final ACK's ack - 1) was made for this tuple
    // and `syn_seq` (the ACK's seq - 1) no more than kMaxAge-1 minutes before `minute`.
    std::optional<std::uint16_t> check(const FourTuple& tuple, SeqNum syn_seq, SeqNum cookie, std::uint32_t minute) const;

    struct TsOptions {
        std::optional<std::uint8_t> wscale;  // the peer's shift
        bool sack = false;
    };
    // Our timestamp value carrying `opts`: `ts_now` with its low 6 bits replaced, never above it.
    static std::uint32_t encode_timestamp(std::uint32_t ts_now, const TsOptions& opts);
    static TsOptions decode_timestamp(std::uint32_t ts_echo);

private:
    std::uint32_t hash(const SipHashKey& key, const FourTuple& tuple, std::uint32_t count) const;
    SipHashKey k0_, k1_;
};

}  // namespace tcpsim::tcp
