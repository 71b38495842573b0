// Runs a Scenario: builds the World (hosts, links), executes the app scripts in virtual time,
// writes the requested outputs and checks the expectations.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "stack/scenario/model.hpp"

namespace tcpsim::stack::scenario {

enum class TraceFormat {
    Tcpdump,  // exactly `tcpdump -tt -nn -S -r FILE.pcap`
    Teach,    // relative sequence numbers, host names, state changes interleaved
};

struct RunOptions {
    std::optional<std::uint64_t> seed;  // overrides the scenario's
    std::string pcap_path;    // "" = none; several links: name inserted before the extension
    std::string trace_path;   // "" = none; "-" = standard output
    TraceFormat trace_format = TraceFormat::Tcpdump;
    std::string states_path;  // "" = none; "-" = standard output
    std::vector<Duration> netstat_at;
    bool quiet = false;       // no run log on `log`
    std::ostream* log = nullptr;       // the readable run log (stdout)
    // Called now and then with the virtual time reached (terminal progress); may be empty.
    std::function<void(Time now, Time end)> progress;
};

struct ExpectationResult {
    Mark mark;
    std::string text;  // "state of client.sock at 1s is ESTABLISHED"
    bool held = false;
    std::string detail;  // what was seen instead
};

struct RunResult {
    std::vector<ExpectationResult> expectations;  // scenario `expect:` and per-call `expect:`
    Time end{};                      // virtual time the run stopped
    std::uint64_t frames = 0;        // frames carried by all links
    std::string fingerprint;         // hash of the pcap bytes (all links, in link order)
    std::vector<std::string> files;  // outputs written
    bool all_held() const;
};

// Path of link `link`'s pcap when a scenario has several links: "out.pcap" -> "out-lan.pcap".
std::string per_link_path(const std::string& path, const std::string& link);

// Throws std::runtime_error for problems outside the scenario (an output file cannot be written).
RunResult run_scenario(const Scenario& scenario, const RunOptions& options);

}  // namespace tcpsim::stack::scenario
