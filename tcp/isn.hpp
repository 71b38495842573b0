// Initial sequence numbers (RFC 6528): ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey), M a 4-microsecond timer and F a keyed hash (SipHash-2-4 here). The secret comes from
// a seed the owner (the world) hands in, so the same seed gives the same ISNs (DESIGN.md
// principle 3); the clock is the `now` passed in (principle 1).
#pragma once

#include <cstdint>

#include "link/bytes.hpp"
#include "link/time.hpp"
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

}  // namespace tcpsim::tcp
