// The packetdrill interpreter: runs a parsed script against one simulated tcpsim host in virtual
// time and gives a verdict (pass, fail at script:line with expected vs actual, unsupported).
//
// The world: one host "tcpsim" (the local stack, Linux personality) with eth0 = 192.168.0.1/16,
// packetdrill's default local address, and the "remote" side played by the interpreter behind a
// zero-delay Wire: inbound `<` specs become exact Ethernet/IPv4/TCP frames from 192.0.2.1 (via
// the gateway 192.168.0.2, both with static ARP entries), outbound frames are captured and
// matched against `>` specs. Nothing leaves the process, so packetdrill's defaults (not the
// documentation ranges the live rule asks for) are kept; --local_ip/--remote_ip override them.
//
// Decisions (docs/packetdrill.md "Interpreter"): relative sequence numbers against the ISNs (the
// local ISN is learned from the first outbound SYN, the remote ISN is fixed); outbound TS val is
// not checked (the sender's clock) and inbound TS ecr is shifted by the offset between the
// script's and the stack's TS val; an expected segment longer than what was sent matches the
// consecutive segments covering its range (TSO), PSH only required on the last one; blocking
// calls must return at the end of their range within tolerance.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "stack/packetdrill/ast.hpp"
#include "stack/packetdrill/script.hpp"

namespace tcpsim::stack::packetdrill {

struct InterpreterOptions {
    std::uint64_t seed = 1;
    std::ostream* log = nullptr;     // --verbose: every event and every segment, as it happens
    std::ostream* trace = nullptr;   // tcpdump lines of every frame
    std::ostream* states = nullptr;  // TCP state changes
    std::string pcap_path;           // pcap of every frame ("" = none)
    // Upper bound on world events per script, so a pathological script cannot spin forever.
    std::uint64_t max_world_events = 20'000'000;
    // How long `*` (any time) waits for an outbound packet.
    Duration any_time_limit = std::chrono::seconds(600);
};

struct Verdict {
    enum class Kind { Pass, Fail, Unsupported };
    Kind kind = Kind::Pass;
    std::string file;
    SourceLoc loc;          // where it failed / the unsupported construct (line 0: whole file)
    std::string message;    // "expected ... tcpsim sent ..." / "unsupported: ..."
    std::vector<std::string> notes;  // ignored sysctls and commands (reported, not fatal)
    // "file:12:3: FAIL: ..." / "file: PASS" / "file:3:1: unsupported: ..."
    std::string to_string() const;
};

// Runs a parsed script (its errors must be empty). Never throws on script content.
Verdict run_script(const Script& script, const InterpreterOptions& options = {});
// Loads, parses and runs a file: parse errors give a Fail verdict at the first error's
// file:line:column (all errors in `message`, one per line).
Verdict run_file(const std::filesystem::path& path, const InterpreterOptions& options = {});

}  // namespace tcpsim::stack::packetdrill
