// The random impairments of one direction of a virtual link, with Linux netem semantics
// (net/sched/sch_netem.c, tc-netem(8)); see link/virtual_link.hpp for the user-facing summary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "link/base/random.hpp"
#include "link/base/time.hpp"

namespace tcpsim::link {

// Probabilities and correlations are fractions in [0, 1] (tc's "10%" is 0.10).

struct DelayConfig {
    Duration delay{};                 // mean one-way delay
    Duration jitter{};                // spread: +-jitter for uniform, the sigma of the table otherwise
    double correlation = 0;           // netem's correlation of successive random values
    DelayDistribution distribution = DelayDistribution::Uniform;
    // Not netem: never deliver a frame before one sent earlier (jitter without reordering, what
    // netem gives with a rate or a pfifo child qdisc). Frames chosen by "reorder" still jump.
    bool keep_order = false;
    bool operator==(const DelayConfig&) const = default;
};

// tc "loss random P [CORR]".
struct RandomLoss {
    double probability = 0;
    double correlation = 0;
    bool operator==(const RandomLoss&) const = default;
};

// tc "loss gemodel p [r [1-h [1-k]]]": p = good->bad, r = bad->good, loss_in_bad = 1-h,
// loss_in_good = 1-k. tc's defaults: r = 1 - p, 1-h = 1, 1-k = 0 (use gilbert_elliott()).
struct GilbertElliottLoss {
    double p = 0;
    double r = 1;
    double loss_in_bad = 1;
    double loss_in_good = 0;
    bool operator==(const GilbertElliottLoss&) const = default;
};
GilbertElliottLoss gilbert_elliott(double p);  // with tc's defaults for r, 1-h, 1-k

// tc "loss state p13 [p31 [p32 [p23 [p14]]]]", the GI 4-state Markov model (Salsano et al.):
// 1 = received in a gap, 2 = received in a burst, 3 = lost in a burst, 4 = isolated loss.
// tc's defaults: p31 = 1 - p13, p32 = 0, p23 = 1, p14 = 0 (use four_state()).
struct FourStateLoss {
    double p13 = 0;
    double p31 = 1;
    double p32 = 0;
    double p23 = 1;
    double p14 = 0;
    bool operator==(const FourStateLoss&) const = default;
};
FourStateLoss four_state(double p13);  // with tc's defaults for the others

using LossConfig = std::variant<std::monostate, RandomLoss, GilbertElliottLoss, FourStateLoss>;

// tc "duplicate P [CORR]" and "corrupt P [CORR]".
struct ChanceConfig {
    double probability = 0;
    double correlation = 0;
    bool operator==(const ChanceConfig&) const = default;
};

// tc "reorder P [CORR] [gap N]". As tc does, gap 0 with P > 0 means gap 1, and reordering needs
// a delay (reordered frames are the ones sent without it).
struct ReorderConfig {
    double probability = 0;
    double correlation = 0;
    std::uint32_t gap = 0;
    bool operator==(const ReorderConfig&) const = default;
};

// tc "rate R [PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]]" plus a drop-tail queue in front of the
// serialiser (not in netem; 0 = unbounded).
struct RateConfig {
    std::uint64_t bits_per_second = 0;  // 0 = no rate limit
    std::int32_t packet_overhead = 0;   // bytes added to each frame's length (may be negative)
    std::uint32_t cell_size = 0;        // ATM-style cells: length rounded up to whole cells
    std::int32_t cell_overhead = 0;     // bytes added per cell
    std::uint32_t queue_packets = 0;    // frames allowed to wait for the serialiser
    std::uint64_t queue_bytes = 0;      // bytes allowed to wait for the serialiser
    bool operator==(const RateConfig&) const = default;
};

struct Impairments {
    DelayConfig delay;
    LossConfig loss;
    bool ecn = false;  // tc "ecn": a loss marks ECN-capable IPv4 frames CE instead of dropping them
    ChanceConfig duplicate;
    ChanceConfig corrupt;
    ReorderConfig reorder;
    RateConfig rate;
    std::uint32_t limit = 0;  // tc "limit": frames the direction may hold (delayed or queued); 0 = no
                              // limit (netem's default is 1000)
    std::uint32_t mtu = 0;  // IP MTU: frames longer than mtu + 14 (Ethernet header) are dropped; 0 = none

    bool is_perfect() const;
    bool operator==(const Impairments&) const = default;
};

// Parses tc-netem(8) option syntax, so a tc command line can be pasted into a scenario:
//   "delay 100ms 10ms 25% distribution normal loss 1% duplicate 0.1% rate 10mbit 24"
//   "loss gemodel 1% 10% 70% 0.1%"  "loss state 1% 30% 20% 10% 1%"  "reorder 25% 50% gap 5"
//   "corrupt 0.1%"  "limit 1000"  "ecn"
// plus tcpsim's own keywords: "queue N" (frames waiting for the serialiser), "queue SIZE" ("64kb":
// bytes), "mtu N" and "fifo" (DelayConfig::keep_order). Percentages may omit the % (tc reads "loss 10" as 10%). Times need a unit
// (s, ms, us, ns); rates as tc: bit (default), kbit, mbit, gbit, tbit, kibit.., bps (bytes/s),
// kbps, mbps, gbps. Throws std::invalid_argument: "netem: 'lose': unknown option".
Impairments parse_netem(std::string_view text);
// The inverse, in the same syntax (parse_netem(to_netem_string(x)) == x); "" for a perfect link.
std::string to_netem_string(const Impairments& imp);

// Throws std::invalid_argument naming the offending field ("loss.p13: must be in [0, 1]").
void validate(const Impairments& cfg);

// Serialisation time of a frame of `frame_bytes` at `rate` (sch_netem.c packet_time_ns()).
Duration serialisation_time(const RateConfig& rate, std::size_t frame_bytes);

// What the impairments decided for one offered frame: up to two copies (netem's duplicate goes
// through the pipeline again, before the original), each delivered or dropped.
struct CopyFate {
    enum class Kind : std::uint8_t { Deliver, Lost, QueueFull };
    Kind kind = Kind::Deliver;
    bool duplicate = false;  // the extra copy made by "duplicate"
    bool reordered = false;  // sent at once by "reorder" (netem: put at the head of the queue)
    bool ecn_mark = false;   // set IPv4 ECN to CE (a loss with "ecn" on an ECN-capable frame)
    bool corrupt = false;    // flip bit `corrupt_bit` of byte `corrupt_byte`
    std::uint8_t corrupt_bit = 0;
    std::uint32_t corrupt_byte = 0;
    Time at{};  // delivery time when kind == Deliver
};

struct Verdict {
    std::uint8_t count = 0;
    CopyFate copies[2];
};

// The netem pipeline of one direction. Each impairment draws from its own random stream, so
// enabling jitter does not change which frames are lost.
class NetemEngine {
public:
    explicit NetemEngine(std::uint64_t seed);

    // Replaces the parameters; dynamic state (queue, serialiser, loss-model state when the model
    // kind is unchanged, reorder counter) carries over, as with `tc qdisc change`.
    void configure(const Impairments& cfg);
    const Impairments& config() const { return cfg_; }

    // Netem order: duplicate?, loss? (or CE mark), (the duplicate runs the pipeline first),
    // corrupt?, limit?, reorder? else delay (+ rate). `allow_duplicate` = false for copies made
    // elsewhere; `ecn_capable` = the frame is IPv4 with ECT(0), ECT(1) or CE.
    Verdict offer(Time now, std::size_t frame_bytes, bool allow_duplicate = true, bool ecn_capable = false);

    // Frames waiting for the serialiser at `now` (for tests and netstat-like views).
    std::size_t queued_packets(Time now);
    std::uint64_t queued_bytes(Time now);

private:
    bool loss_event();
    CopyFate run_copy(Time now, std::size_t frame_bytes);
    void drain_queue(Time now);
    void hold(Time until);

    Impairments cfg_;
    std::uint32_t loss_p_ = 0, dup_p_ = 0, corrupt_p_ = 0, reorder_p_ = 0, gap_ = 0;
    std::uint32_t ge_[4] = {};  // p, r, h (= 1 - loss_in_bad), 1-k
    std::uint32_t gi_[5] = {};  // p13, p31, p32, p14, p23 (netem's a1..a5)

    Rng loss_rng_, delay_rng_, dup_rng_, corrupt_rng_, reorder_rng_;
    CorrelatedRandom loss_cor_, delay_cor_, dup_cor_, corrupt_cor_, reorder_cor_;
    std::uint8_t loss_state_ = 0;  // GE: 0 good, 1 bad. GI: 1..4 as in FourStateLoss
    std::size_t loss_kind_ = 0;    // LossConfig index the state belongs to
    std::uint32_t reorder_counter_ = 0;

    // Rate: the serialiser is free from serialiser_free_. Under a rate (netem) or keep_order,
    // frames leave in order: none is delivered before last_ordered_delivery_.
    Time serialiser_free_{};
    Time last_ordered_delivery_{};
    struct Waiting {
        Time start;
        std::uint32_t bytes;
    };
    std::vector<Waiting> queue_;  // ring buffer of frames not yet serialising, by start time
    std::size_t queue_head_ = 0, queue_size_ = 0;
    std::uint64_t queue_bytes_ = 0;
    std::vector<Time> held_;  // min-heap of arrival times of frames held, kept only with a limit
};

}  // namespace tcpsim::link
