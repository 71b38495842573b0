// From script TCP options to wire options and back, for the interpreter: build the exact option
// bytes of an injected packet, and compare what the stack sent with what the script expects.
// Sequence numbers in SACK blocks are relative in scripts; `sack_base` is the ISN they count
// from (the stack's ISN for SACKs the script sends, the script's ISN for SACKs it expects).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "link/base/expected.hpp"
#include "stack/packetdrill/ast.hpp"
#include "tcp/segment.hpp"

namespace tcpsim::stack::packetdrill {

// Builds options for an inbound packet in the order written. Errors: `wscale *` (a pattern,
// not a value), more than 4 SACK blocks, more than 40 bytes.
Expected<tcp::Options, std::string> build_options(const std::vector<TcpOption>& options, std::uint32_t sack_base);

struct OptionMatchRules {
    std::uint32_t sack_base = 0;
    // TS val is the sender's clock: packetdrill checks it only with --tcp_ts_tick_usecs;
    // the interpreter decides, so by default only TS ecr is compared.
    bool check_ts_val = false;
};

// Compares the options of an outbound segment with the script's expectation: nullopt if they
// match (always for `<...>`), else what differs, e.g. "option 3: expected wscale 8, got wscale 7".
// Trailing EOL padding after the expected options is accepted.
std::optional<std::string> match_options(const TcpSpec& expected, const tcp::Options& actual, const OptionMatchRules& rules);

}  // namespace tcpsim::stack::packetdrill
