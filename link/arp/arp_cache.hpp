// A host's neighbour table for IPv4 over Ethernet (RFC 826, RFC 1122 §2.3.2). Plain data plus
// the rules, sans-I/O (every call that depends on time takes `now`); the host drives it (sends
// the probes, runs the probe timers, flushes the queues).
//
// Linux behaviour modelled (net/core/neighbour.c, net.ipv4.neigh.*):
// - an unresolved next hop gets `probes` broadcast requests `retrans` apart (mcast_solicit 3,
//   retrans_time 1 s); without an answer the entry fails and every packet queued on it is dropped
//   with a host-unreachable error to its sender (connect() fails with EHOSTUNREACH after ~3 s);
// - packets wait in a per-entry queue bounded in bytes (unres_qlen_bytes); overflow drops the
//   OLDEST packet;
// - a resolved entry is used for `reachable` (base_reachable_time 30 s), then turns stale: still
//   used, and re-confirmed with a request on its next use;
// - a request addressed to us creates/refreshes the sender's entry; a reply (or gratuitous ARP)
//   only refreshes an existing entry (arp_accept = 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/time.hpp"

namespace tcpsim::link {

struct ArpConfig {
    int probes = 3;                     // Linux: mcast_solicit
    Duration retrans = 1s;              // Linux: retrans_time_ms
    Duration reachable = 30s;           // Linux: base_reachable_time_ms (not randomized here)
    std::size_t queue_bytes = 212992;   // Linux: unres_qlen_bytes (SK_WMEM_MAX)
};

enum class ArpState : std::uint8_t { Incomplete, Reachable, Stale, Static };
const char* to_string(ArpState s);

struct ArpEntry {
    Ipv4Addr ip;
    MacAddr mac;
    ArpState state = ArpState::Incomplete;
    std::size_t ifindex = 0;
    Time confirmed = kTimeZero;  // last time the mapping was confirmed
    int probes_sent = 0;
    bool refresh_sent = false;   // a stale entry's re-confirmation request is out
    // IPv4 datagrams (header first) waiting for resolution, oldest first.
    std::vector<ByteVector> queue;
    std::size_t queued_bytes = 0;
};

class ArpCache {
public:
    explicit ArpCache(const ArpConfig& config) : config_(config) {}

    ArpEntry* find(Ipv4Addr ip);
    const ArpEntry* find(Ipv4Addr ip) const;
    // The entry for `ip`, created Incomplete on `ifindex` if absent.
    ArpEntry& get_or_create(Ipv4Addr ip, std::size_t ifindex);
    void erase(Ipv4Addr ip);
    void add_static(Ipv4Addr ip, MacAddr mac, std::size_t ifindex);

    // Resolved MAC for sending at `now` (Reachable, Stale or Static), else nullptr. Turns an
    // expired Reachable entry Stale.
    const MacAddr* resolved(Ipv4Addr ip, Time now);
    // A confirmed mapping (ARP reply/request from `ip`). Creates the entry only when `create`.
    // Returns the entry if it exists afterwards.
    ArpEntry* confirm(Ipv4Addr ip, MacAddr mac, std::size_t ifindex, Time now, bool create);
    // Queues a datagram on an Incomplete entry; returns how many old datagrams were dropped to
    // make room (Linux drops the oldest). A datagram bigger than the whole budget is dropped
    // itself (returns 1 and queues nothing).
    std::size_t enqueue(ArpEntry& e, Bytes datagram);

    std::size_t size() const { return entries_.size(); }
    const std::unordered_map<Ipv4Addr, ArpEntry>& entries() const { return entries_; }
    const ArpConfig& config() const { return config_; }

private:
    const ArpConfig& config_;
    std::unordered_map<Ipv4Addr, ArpEntry> entries_;
};

}  // namespace tcpsim::link
