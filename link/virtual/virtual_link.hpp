// A virtual point-to-point Ethernet link between side A and side B, with Linux netem impairments
// per direction, targeted faults and time schedules. Sans-I/O: the world owns the clock and the
// event queue; the link only decides, for a frame offered at `now`, when (and whether, and how
// often, and with which bits) it arrives at the other side.
//
// Semantics (the scenario team documents YAML keys from this block)
// ------------------------------------------------------------------
// transmit(now, from, frame, sink) calls sink.deliver(at, to, bytes, note) zero or more times and
// sink.dropped(now, from, bytes, drop) for every copy that does not arrive. `at` >= now. The bytes
// are only valid during the call (copy them). All calls happen inside transmit(), in order; the
// sink must not call transmit() on the same link from inside them (schedule an event instead).
//
// Per frame, in this order:
//  1. schedule   entries with time <= now are applied first (link down/up, new impairments).
//  2. link down  the frame is dropped: reason "link down". Frames already on the wire still arrive.
//  3. mtu        a frame longer than mtu + 14 bytes (Ethernet header; no FCS) is dropped:
//                reason "exceeds MTU". mtu 0 = no limit.
//  4. faults     targeted rules (link/fault.hpp), tried in order. Matcher (all set fields must
//                hold): direction, ethertype, IP protocol/addresses, TCP ports, flags that must be
//                set/clear, payload length range, exact seq/ack, retransmission yes/no (resends
//                sequence space this side already sent), final ACK (a pure ACK from a side that
//                sent its FIN, acknowledging the other side's FIN). Named matchers: any, ipv4, tcp,
//                syn, syn-ack, ack, data, fin, rst, final-ack, retransmission, new-data.
//                Actions: drop (reason "fault", with the rule's name), delay (extra delay of this
//                frame only; it does not hold back later frames), corrupt (flip bit `bit` of byte
//                `byte` counted from frame/ip/tcp/payload, random if unset; a frame without that
//                byte does not match), duplicate (a copy follows the original, `delay` later).
//                Each rule acts on its nth match and the count-1 after it (count 0 = every match
//                from nth on), within [active_from, active_until). A drop ends the evaluation.
//                Copies that survive then meet the random impairments below.
//  5. netem      per direction, with tc-netem(8) semantics and parameters (fractions, not %;
//                parse_netem() in link/impairments.hpp reads tc's own syntax, e.g.
//                "delay 100ms 10ms distribution normal loss 1% rate 10mbit queue 100"):
//     duplicate P [CORR]  a second copy, which runs the whole pipeline itself (its own loss,
//                corruption, delay) and is queued before the original, as in sch_netem.c.
//     loss random P [CORR] | gemodel p [r [1-h [1-k]]] | state p13 [p31 [p32 [p23 [p14]]]]
//                reason "loss". Defaults as tc: gemodel r = 1-p, 1-h = 1, 1-k = 0; state p31 =
//                1-p13, p32 = 0, p23 = 1, p14 = 0. Linux: a correlated "loss random" loses fewer
//                frames than P (netem's correlation skews the uniform draw); gemodel/state model
//                bursts properly.
//     ecn        with a loss model: a lost frame that is IPv4 ECT(0)/ECT(1)/CE is delivered marked
//                CE (header checksum patched) instead; Not-ECT frames are dropped as usual.
//     corrupt P [CORR]    one random bit of one random byte of the frame is flipped (Ethernet
//                header included, as netem), so checksums or MAC filtering catch it.
//     limit N    netem's limit: at most N frames held by the direction (delayed or queued);
//                more are dropped: reason "queue full". 0 (default) = no limit; netem's is 1000.
//     reorder P [CORR] [gap N]  needs a delay. Netem: after N-1 frames sent in order, each frame
//                is, with probability P, sent at once (no delay, no rate), the others delayed.
//                gap defaults to 1 (every frame is a candidate).
//     delay D [J [CORR]] [distribution uniform|normal|pareto|paretonormal]  per-frame delay
//                D +- J (uniform) or D + J * table quantile, with netem's tables (computed from
//                iproute2's formulas). Default distribution uniform (what the kernel does without
//                a table). Negative draws are clamped to 0. Linux: netem's tfifo sorts by send
//                time, so jitter REORDERS frames (unless a rate is set); we do the same.
//     fifo (not netem)  keep_order: jitter never lets a frame overtake an earlier one (a frame
//                waits for its predecessor), as netem behaves with a rate or a pfifo child qdisc.
//     rate R [overhead [cellsize [celloverhead]]]  serialisation at R bit/s of (frame length +
//                overhead) bytes, rounded up to cells if cellsize > 0 (e.g. overhead 24 for
//                Ethernet preamble+SFD+FCS+IFG). The frame waits for the serialiser, is sent, then
//                propagates `delay`. Frames stay FIFO under a rate (netem). With a constant delay
//                this equals netem's timing exactly.
//     queue packets/bytes (not netem)  drop-tail limit on frames waiting for the serialiser
//                (the frame being serialised does not count): reason "queue full". Needs a rate.
//     Not modelled: netem's slot, custom distribution table files, and its seed (ours comes
//                from the link's seed).
//
// Determinism: the link derives independent random streams (per direction, per impairment, and
// one for faults) from one 64-bit seed, so the same seed and inputs give the same deliveries, and
// e.g. adding jitter does not change which frames are lost.
//
// `now` must not decrease between calls (the world's clock).
//
// Counters per direction (LinkCounters): sent (frames offered), delivered (copies handed to the
// sink), dropped by reason, duplicated (extra copies made), corrupted (delivered copies with
// flipped bits), reordered (delivered copies that arrive before a copy sent earlier arrives),
// ecn_marked, fault_hits. Invariant: sent + duplicated == delivered + dropped_total().
// DeliveryNote::flags tells the trace which of these happened to a delivered copy.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "link/base/bytes.hpp"
#include "link/virtual/fault.hpp"
#include "link/virtual/impairments.hpp"
#include "link/base/time.hpp"

namespace tcpsim::link {

enum class DropReason : std::uint8_t { Loss, QueueFull, ExceedsMtu, LinkDown, Fault };
inline constexpr std::size_t kDropReasonCount = 5;
std::string_view to_string(DropReason r);  // "loss", "queue full", "exceeds MTU", "link down", "fault"

// Bits of DeliveryNote::flags.
namespace delivery_flag {
inline constexpr std::uint8_t Duplicate = 0x01;    // an extra copy (netem duplicate or a fault)
inline constexpr std::uint8_t Corrupted = 0x02;    // bits were flipped
inline constexpr std::uint8_t Reordered = 0x04;    // arrives before a frame sent earlier
inline constexpr std::uint8_t FaultDelayed = 0x08; // a delay fault acted
inline constexpr std::uint8_t CeMarked = 0x10;     // "ecn": marked Congestion Experienced instead of lost
}  // namespace delivery_flag

struct DeliveryNote {
    std::uint8_t flags = 0;
    std::string_view fault;  // name of the fault rule that acted on this frame, if any
};

struct DropNote {
    DropReason reason = DropReason::Loss;
    std::string_view fault;  // the rule's name when reason == Fault
};

class DeliverySink {
public:
    virtual ~DeliverySink() = default;
    virtual void deliver(Time at, Side to, Bytes frame, const DeliveryNote& note) = 0;
    virtual void dropped(Time now, Side from, Bytes frame, const DropNote& note) = 0;
};

struct LinkCounters {
    std::uint64_t sent = 0, sent_bytes = 0;
    std::uint64_t delivered = 0, delivered_bytes = 0;
    std::array<std::uint64_t, kDropReasonCount> dropped{};
    std::uint64_t duplicated = 0, corrupted = 0, reordered = 0, fault_hits = 0;
    std::uint64_t ecn_marked = 0;  // frames set to CE instead of being lost

    std::uint64_t dropped_by(DropReason r) const { return dropped[static_cast<std::size_t>(r)]; }
    std::uint64_t dropped_total() const;
};

struct ScheduleEntry {
    enum class Kind : std::uint8_t { Down, Up, Set };
    Time at{};
    Kind kind = Kind::Set;
    std::optional<Side> from;  // direction (frames sent by this side); unset = both directions
    Impairments impairments;   // for Set: replaces the direction's impairments

    static ScheduleEntry down(Time t, std::optional<Side> from = {}) { return {t, Kind::Down, from, {}}; }
    static ScheduleEntry up(Time t, std::optional<Side> from = {}) { return {t, Kind::Up, from, {}}; }
    static ScheduleEntry set(Time t, Impairments imp, std::optional<Side> from = {}) {
        return {t, Kind::Set, from, std::move(imp)};
    }
};

class VirtualLink {
public:
    explicit VirtualLink(std::uint64_t seed);

    // Impairments of frames sent by `from`. Throws std::invalid_argument on bad parameters.
    void configure(Side from, const Impairments& imp);
    void configure_both(const Impairments& imp);
    const Impairments& impairments(Side from) const { return dir(from).netem.config(); }

    void add_fault(FaultRule rule);  // throws std::invalid_argument
    const FaultEngine& faults() const { return faults_; }

    // Entries apply at the first transmit()/advance() with now >= at, in time order (ties in the
    // order added). Throws std::invalid_argument on bad impairments.
    void add_schedule(ScheduleEntry entry);
    // Applies due schedule entries without sending anything.
    void advance(Time now);
    // The time of the next schedule entry not yet applied.
    std::optional<Time> next_schedule_time() const;
    bool is_up(Side from) const { return dir(from).up; }

    void transmit(Time now, Side from, Bytes frame, DeliverySink& sink);

    const LinkCounters& counters(Side from) const { return dir(from).counters; }
    // Frames waiting for the serialiser in direction `from` (rate only).
    std::size_t queued_packets(Side from, Time now) { return dir(from).netem.queued_packets(now); }

private:
    struct Direction {
        explicit Direction(std::uint64_t seed) : netem(seed) {}
        NetemEngine netem;
        bool up = true;
        LinkCounters counters;
        Time latest_arrival{};  // for the reordered counter
    };
    Direction& dir(Side s) { return dirs_[index(s)]; }
    const Direction& dir(Side s) const { return dirs_[index(s)]; }

    void emit(Time now, Side from, Bytes frame, const CopyFate& fate, Duration extra, std::uint8_t flags,
              std::string_view fault, DeliverySink& sink);
    void drop(Time now, Side from, Bytes frame, DropReason reason, std::string_view fault, DeliverySink& sink);

    std::array<Direction, 2> dirs_;
    FaultEngine faults_;
    std::vector<ScheduleEntry> schedule_;
    std::size_t next_entry_ = 0;
    ByteVector fault_scratch_;  // frame after a corrupt fault
    ByteVector copy_scratch_;   // copy after netem corruption
};

}  // namespace tcpsim::link
