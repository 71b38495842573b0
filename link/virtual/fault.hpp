// Targeted faults: "drop the 1st SYN-ACK", "delay the 3rd data segment from A by 2 s", "drop the
// final ACK". A rule = a matcher over a few decoded header fields + an action + which matches it
// applies to. link/ is the lowest layer, so the matcher reads the raw Ethernet/IPv4/TCP bytes
// itself (bounds-checked) instead of using ip/ or tcp/.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/random.hpp"
#include "link/base/time.hpp"

namespace tcpsim::link {

enum class Side : std::uint8_t { A = 0, B = 1 };
constexpr Side other(Side s) { return s == Side::A ? Side::B : Side::A; }
constexpr std::size_t index(Side s) { return static_cast<std::size_t>(s); }
std::string_view to_string(Side s);  // "A" / "B"

// TCP control bits as on the wire (RFC 9293 §3.1); link/ cannot use tcp::Flags.
namespace tcp_flag {
inline constexpr std::uint8_t Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20,
                              Ece = 0x40, Cwr = 0x80;
}

// The fields the matcher needs, decoded from one Ethernet frame. Anything that does not parse
// (short frame, bad lengths, IPv4 fragment without the TCP header) leaves the deeper layers unset.
struct FrameSummary {
    std::uint16_t ethertype = 0;
    bool ipv4 = false;
    std::uint8_t ip_protocol = 0;
    Ipv4Addr src, dst;
    std::size_t ip_offset = 0;  // 14
    bool tcp = false;
    std::uint16_t src_port = 0, dst_port = 0;
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = 0;
    std::size_t tcp_offset = 0;
    std::size_t payload_offset = 0;
    std::size_t payload_len = 0;  // from the IPv4 total length, not the (possibly padded) frame
};
inline constexpr std::size_t kEthernetHeaderBytes = 14;
inline constexpr std::uint16_t kEthertypeIpv4 = 0x0800;
inline constexpr std::uint8_t kIpProtocolTcp = 6;

FrameSummary summarize_frame(Bytes frame);

// All set fields must hold (unset = any). TCP fields imply "is TCP", IP fields "is IPv4".
struct FrameMatcher {
    std::optional<Side> from;
    std::optional<std::uint16_t> ethertype;
    std::optional<std::uint8_t> ip_protocol;
    std::optional<Ipv4Addr> src_addr, dst_addr;
    std::optional<std::uint16_t> src_port, dst_port;
    std::uint8_t flags_set = 0;    // TCP flags that must be set
    std::uint8_t flags_clear = 0;  // TCP flags that must be clear
    std::optional<std::size_t> payload_min, payload_max;  // TCP payload bytes, inclusive
    std::optional<std::uint32_t> seq, ack;                // exact TCP sequence / acknowledgment numbers
    // true: only segments that resend sequence space this link already carried from that side
    // (their seq is below the highest seq + length (+SYN/FIN) seen); false: only first
    // transmissions. Segments occupying no sequence space (pure ACKs) never match either.
    std::optional<bool> retransmission;
    // The last ACK of a close: a TCP segment with ACK and none of SYN/FIN/RST, no payload, from a
    // side that has already sent its own FIN, acknowledging exactly the other side's FIN
    // (ack == that FIN's sequence number + 1). In a simultaneous close both sides send one.
    bool final_ack = false;

    bool needs_tcp() const;
    bool needs_ipv4() const;

    // Named matchers for scenarios: "any", "ipv4", "tcp", "syn" (SYN without ACK), "syn-ack",
    // "ack" (pure ACK: ACK only, no payload), "data" (payload > 0), "fin", "rst", "final-ack",
    // "retransmission" (any segment resending sequence space), "new-data" (payload, first time).
    static std::optional<FrameMatcher> named(std::string_view name);
};

struct FaultAction {
    enum class Kind : std::uint8_t { Drop, Delay, Corrupt, Duplicate };
    // Where a corrupt offset counts from; an offset outside the frame means "does not match".
    enum class Base : std::uint8_t { Frame, Ip, Tcp, Payload };

    Kind kind = Kind::Drop;
    Duration delay{};                // Delay: extra delay of the frame; Duplicate: extra delay of the copy
    Base base = Base::Frame;         // Corrupt
    std::optional<std::size_t> byte; // Corrupt: offset from base; unset = a random byte after base
    std::optional<std::uint8_t> bit; // Corrupt: 0 (LSB) .. 7; unset = a random bit

    static FaultAction drop() { return {}; }
    static FaultAction delay_by(Duration d) { return {Kind::Delay, d, Base::Frame, {}, {}}; }
    static FaultAction duplicate(Duration copy_delay = {}) { return {Kind::Duplicate, copy_delay, Base::Frame, {}, {}}; }
    static FaultAction corrupt(Base base, std::optional<std::size_t> byte = {}, std::optional<std::uint8_t> bit = {}) {
        return {Kind::Corrupt, {}, base, byte, bit};
    }
};
std::string_view to_string(FaultAction::Kind k);

struct FaultRule {
    std::string name;  // shown in traces ("drop-final-ack")
    FrameMatcher match;
    FaultAction action;
    std::uint64_t nth = 1;    // act on the nth matching frame (1-based) ...
    std::uint64_t count = 1;  // ... and on the count - 1 matches after it; 0 = every match from nth on
    Time active_from = kTimeZero;   // frames before this time neither match nor count
    Time active_until = kTimeNever; // nor frames at or after this one
};

// Throws std::invalid_argument naming the field.
void validate(const FaultRule& rule);

// What the fault engine decided for one frame.
struct FaultOutcome {
    bool drop = false;
    Duration extra_delay{};
    bool duplicate = false;
    Duration duplicate_delay{};
    bool corrupt = false;
    std::size_t corrupt_byte = 0;  // absolute offset in the frame
    std::uint8_t corrupt_bit = 0;
    std::string_view rule;  // the last rule that acted (for traces); empty if none
    std::uint32_t hits = 0;
};

class FaultEngine {
public:
    explicit FaultEngine(std::uint64_t seed) : rng_(seed) {}
    void add(FaultRule rule);  // validates
    bool empty() const { return rules_.empty(); }
    const std::vector<FaultRule>& rules() const { return rules_; }
    // How many frames matched / were acted on by rule i so far.
    std::uint64_t matches(std::size_t i) const { return state_[i].matches; }
    std::uint64_t hits(std::size_t i) const { return state_[i].hits; }

    // Rules are tried in order; a drop ends the evaluation (later rules do not see the frame).
    FaultOutcome apply(Time now, Side from, Bytes frame);

private:
    struct RuleState {
        std::uint64_t matches = 0;
        std::uint64_t hits = 0;
    };
    // Per-connection bookkeeping for final_ack and retransmission, for connections seen here.
    struct Flow {
        Ipv4Addr addr[2];
        std::uint16_t port[2] = {0, 0};
        bool fin_sent[2] = {false, false};
        std::uint32_t fin_ack[2] = {0, 0};  // the ack number acknowledging that side's FIN
        bool seen_data[2] = {false, false};
        bool syn_seen[2] = {false, false};
        std::uint32_t syn_seq[2] = {0, 0};  // that side's ISN, to tell a SYN retransmission from a new incarnation
        std::uint32_t snd_max[2] = {0, 0};  // highest seq + length (+SYN/FIN) sent by that side
        bool used = false;
    };
    struct FlowFacts {
        bool final_ack = false;
        bool retransmission = false;
    };
    bool rule_matches(const FrameMatcher& m, Side from, const FrameSummary& s, const FlowFacts& facts) const;
    FlowFacts track_flow(const FrameSummary& s);

    std::vector<FaultRule> rules_;
    std::vector<RuleState> state_;
    bool track_flows_ = false;
    std::array<Flow, 32> flows_{};
    std::size_t next_flow_slot_ = 0;
    Rng rng_;
};

}  // namespace tcpsim::link
