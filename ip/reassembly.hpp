// IPv4 fragment reassembly and fragmentation (RFC 791 §3.2, RFC 815), sans-I/O: the caller
// passes `now` and asks for expirations; nothing here reads a clock.
//
// Reassembly follows Linux (net/ipv4/ip_fragment.c, net/ipv4/inet_fragment.c): a fragment
// wholly inside data already held is a duplicate and ignored; any other overlap discards the
// whole datagram (RFC 5722 spirit, Linux since 4.19); a datagram not complete 30 s after its
// first fragment arrived is discarded (ipfrag_time), with an ICMP "fragment reassembly time
// exceeded" owed only if the first fragment had arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "ip/ipv4.hpp"
#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"
#include "link/base/time.hpp"

namespace tcpsim::ip {

struct ReassemblyLimits {
    std::size_t max_datagrams = 64;            // datagrams in progress at once
    std::size_t max_bytes = 4 * 1024 * 1024;   // Linux: net.ipv4.ipfrag_high_thresh (4 MiB)
    Duration timeout = std::chrono::seconds(30);  // Linux: net.ipv4.ipfrag_time
};

// RFC 791: fragments belong together when these four fields match.
struct FragmentKey {
    Ipv4Addr src{};
    Ipv4Addr dst{};
    Protocol protocol = Protocol::Tcp;
    std::uint16_t id = 0;
    bool operator==(const FragmentKey&) const = default;
};

enum class ReassemblyOutcome {
    Complete,          // the datagram is whole: Result::datagram holds it
    Pending,           // kept; more fragments needed
    Duplicate,         // wholly inside data already held: ignored, the datagram is kept
    DroppedOverlap,    // overlapped held data otherwise: the whole datagram was discarded
    DroppedBadLength,  // contradicts the known end (or is empty): the whole datagram was discarded
    DroppedOversize,   // would end past 65535 bytes: the whole datagram was discarded
    DroppedNoRoom,     // over max_datagrams or max_bytes: this fragment was not kept
    NotAFragment,      // neither MF nor an offset: pass the datagram on as it is
};
const char* to_string(ReassemblyOutcome o);

class Reassembler {
public:
    explicit Reassembler(ReassemblyLimits limits = {}) : limits_(limits) {}

    struct Result {
        ReassemblyOutcome outcome;
        // With Complete: the whole datagram (header of the first fragment, total length, no
        // MF/offset, DF if any fragment had it, fresh checksum). Valid until the next call.
        Bytes datagram;
    };
    // Feeds one received fragment (already parsed, checksum verified).
    Result add(Time now, const Ipv4Packet& fragment);

    struct Expired {
        FragmentKey key;
        // The first fragment as received (header and its data) when it had arrived, for the
        // ICMP time exceeded quote; empty otherwise. Valid until the next call.
        Bytes first_fragment;
    };
    // Discards one datagram whose time is up at `now`; call until nullopt.
    std::optional<Expired> expire(Time now);
    // The earliest time a datagram expires, kTimeNever when none is in progress.
    Time next_deadline() const;

    std::size_t datagrams_in_progress() const { return entries_.size(); }
    std::size_t bytes_held() const { return bytes_; }

    struct Stats {
        std::uint64_t reassembled = 0;
        std::uint64_t timeouts = 0;
        std::uint64_t duplicates = 0;
        std::uint64_t overlaps = 0;
        std::uint64_t bad_lengths = 0;
        std::uint64_t oversize = 0;
        std::uint64_t no_room = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Run {
        std::size_t begin;
        std::size_t end;
    };
    struct Entry {
        FragmentKey key;
        Time deadline;
        ByteVector data;         // payload bytes at their offsets
        std::vector<Run> runs;   // received ranges, sorted and merged
        std::size_t known_end = 0;  // the largest end seen; the total once last_seen
        bool last_seen = false;
        bool dont_fragment = false;
        std::optional<Ipv4Packet> first;  // header of the offset-0 fragment (payload unset)
        std::size_t first_len = 0;        // its payload length
        std::size_t held = 0;             // payload bytes held (for max_bytes)
    };

    Result drop(std::size_t index, ReassemblyOutcome why);
    void erase(std::size_t index);

    ReassemblyLimits limits_;
    std::vector<Entry> entries_;  // few at a time: a linear search beats a map here
    std::size_t bytes_ = 0;
    ByteVector out_;  // the last completed datagram or expired first fragment
    Stats stats_;
};

enum class FragmentError {
    DontFragment,  // larger than the MTU with DF set: answer ICMP fragmentation needed
    MtuTooSmall,   // the MTU cannot hold the header plus 8 bytes of data
};
const char* to_string(FragmentError e);

// Splits a datagram for a link of `mtu` bytes as Linux's ip_do_fragment does: every fragment
// but the last carries (mtu - header) rounded down to 8 bytes; options without the copy flag
// appear only in the first fragment (replaced by NOPs in the others, keeping the header size).
// A datagram that fits is produced whole, unchanged. The datagram's payload must stay alive.
class Fragmenter {
public:
    static Expected<Fragmenter, FragmentError> create(const Ipv4Packet& datagram, std::size_t mtu);

    std::size_t count() const { return count_; }
    bool done() const { return index_ == count_; }
    // Size of the next fragment on the wire.
    std::size_t next_size() const;
    // Encodes the next fragment into `out` (at least next_size() bytes); returns its size.
    std::size_t next(MutableBytes out);

private:
    Fragmenter(const Ipv4Packet& d, std::size_t chunk);
    Ipv4Packet datagram_;
    Ipv4Options later_options_;  // options for fragments after the first
    std::size_t chunk_;          // payload bytes per fragment (a multiple of 8 unless whole)
    std::size_t count_;
    std::size_t index_ = 0;
};

}  // namespace tcpsim::ip
