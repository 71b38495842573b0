// tcpsim command-line entry point (thin: argument handling and output plumbing, no protocol logic).
//
// Exit status: 0 the scenario ran and every expectation held; 1 an expectation failed;
// 2 unusable input (bad arguments, a scenario file with errors, an output that cannot be written).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "stack/scenario/error.hpp"
#include "stack/scenario/loader.hpp"
#include "stack/scenario/runner.hpp"
#include "stack/version.hpp"
#include "tools/commands.hpp"

namespace sc = tcpsim::stack::scenario;

namespace {

constexpr int kOk = 0, kExpectationFailed = 1, kUsage = 2;

constexpr const char* kMainHelp = R"(tcpsim - a user-space TCP/IPv4 stack in a deterministic network simulator

Usage:
  tcpsim run SCENARIO.yaml [options]   replay a scenario in virtual time
  tcpsim check SCENARIO.yaml           validate a scenario without running it
  tcpsim packetdrill SCRIPT.pkt...     run packetdrill scripts against the stack (virtual time)
  tcpsim tap --dev NAME --addr A/LEN   run the stack live on a Linux TAP device (real time)
  tcpsim help [COMMAND]                this text, or a command's options
  tcpsim --version

A scenario (YAML) describes hosts, the links between them with their delays and losses,
the socket calls each app makes, and what must be observed. See docs/scenarios.md.

Run `tcpsim run --help` for the outputs: run log, pcap, tcpdump trace, states, netstat.

Exit status: 0 ran and every expectation held; 1 an expectation failed;
             2 unusable input (bad arguments, errors in the scenario file).
)";

constexpr const char* kRunHelp = R"(Usage: tcpsim run SCENARIO.yaml [options]

Runs SCENARIO.yaml in virtual time and checks its expectations. Standard output gets a
readable log: every socket call and its result, every segment on a link, every TCP state
change, then the expectations (with their line in the file) and a fingerprint line.
The same scenario and seed always give byte-identical outputs.
A scenario with a `live:` host runs in real time instead: that host's stack on a TAP device,
the Linux kernel as its peer; times are then wall-clock seconds (docs/scenarios.md, Live hosts).

Options:
  --seed N               use seed N instead of the scenario's `seed:` (0..2^64-1)
  --pcap FILE            write the frames of every link as pcap (Ethernet); with several
                         links, one file per link: out.pcap -> out-LINK.pcap
  --trace FILE           write one line per frame, exactly as `tcpdump -tt -nn -S -r FILE.pcap`
                         prints it ('-' = standard output)
  --trace-format FORMAT  tcpdump (default): the exact tcpdump lines;
                         teach: relative sequence numbers, host names and state changes
  --states FILE          write the state log: time, host, connection, old -> new, cause
  --netstat AT           print a netstat table (TLPI 61.7 columns) for every host at virtual
                         time AT, e.g. 1.5s; may be repeated
  --quiet                no run log; only failed expectations, files written and the summary
  -h, --help             this text

Exit status: 0 ran and every expectation held; 1 an expectation failed (each is named with its
file:line); 2 unusable input, reported as file:line:column: message on standard error.
)";

constexpr const char* kCheckHelp = R"(Usage: tcpsim check SCENARIO.yaml

Loads and validates SCENARIO.yaml without running it. Every problem is reported as
file:line:column: message on standard error. Exit status 0 when the file is valid, 2 otherwise.
)";

int usage_error(std::string_view command, const std::string& message) {
    std::fprintf(stderr, "tcpsim%s%.*s: %s\n", command.empty() ? "" : " ", static_cast<int>(command.size()),
                 command.data(), message.c_str());
    std::fprintf(stderr, "Try 'tcpsim %.*s%s--help' for more information.\n", static_cast<int>(command.size()),
                 command.data(), command.empty() ? "" : " ");
    return kUsage;
}

void print_diagnostics(const sc::ScenarioError& e) {
    for (const auto& d : e.diagnostics()) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    auto n = e.diagnostics().size();
    if (n > 1) std::fprintf(stderr, "%zu errors\n", n);
}

struct Args {
    std::string command;
    std::vector<std::string> positional;
    sc::RunOptions run;
    bool help = false;
};

// Parses `--name value` and `--name=value`. Returns an error message or "".
std::string parse_run_args(const std::vector<std::string>& argv, Args& a) {
    static const std::vector<std::string> kRunOptions{"--seed", "--pcap", "--trace", "--trace-format",
                                                      "--states", "--netstat", "--quiet", "--help"};
    static const std::vector<std::string> kCheckOptions{"--help"};
    const auto& known = a.command == "run" ? kRunOptions : kCheckOptions;
    bool options_done = false;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        std::string arg = argv[i];
        if (options_done || arg.size() < 2 || arg[0] != '-' ) {
            a.positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") {
            a.help = true;
            continue;
        }
        std::string name = arg, value;
        bool inline_value = false;
        if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inline_value = true;
        }
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            auto guess = sc::closest_match(name, known);
            return "unknown option '" + name + "'" + (guess.empty() ? "" : " (did you mean '" + guess + "'?)");
        }
        if (name == "--quiet") {
            if (inline_value) return "--quiet takes no value";
            a.run.quiet = true;
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argv.size()) return "option " + name + " needs a value";
            value = argv[++i];
        }
        if (value.empty()) return "option " + name + " needs a non-empty value";
        if (name == "--seed") {
            std::uint64_t seed = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seed);
            if (ec != std::errc{} || p != value.data() + value.size())
                return "--seed expects an unsigned integer (0..18446744073709551615), got '" + value + "'";
            a.run.seed = seed;
        } else if (name == "--pcap") {
            if (value == "-") return "--pcap needs a file name (pcap is binary; it does not go to standard output)";
            a.run.pcap_path = value;
        } else if (name == "--trace") {
            a.run.trace_path = value;
        } else if (name == "--trace-format") {
            if (value == "tcpdump") a.run.trace_format = sc::TraceFormat::Tcpdump;
            else if (value == "teach") a.run.trace_format = sc::TraceFormat::Teach;
            else {
                auto guess = sc::closest_match(value, {"tcpdump", "teach"});
                return "--trace-format expects tcpdump or teach, got '" + value + "'" +
                       (guess.empty() ? "" : " (did you mean '" + guess + "'?)");
            }
        } else if (name == "--states") {
            a.run.states_path = value;
        } else if (name == "--netstat") {
            std::string err;
            auto d = sc::parse_duration(value, &err);
            if (!d) return "--netstat: " + err;
            a.run.netstat_at.push_back(*d);
        }
    }
    return {};
}

int cmd_check(const Args& a) {
    if (a.help) {
        std::fputs(kCheckHelp, stdout);
        return kOk;
    }
    if (a.positional.size() != 1)
        return usage_error("check", a.positional.empty() ? "missing the scenario file" : "expected one scenario file, got " + std::to_string(a.positional.size()));
    try {
        auto s = sc::load_scenario(a.positional[0]);
        std::size_t steps = 0;
        for (const auto& app : s.apps) steps += app.steps.size();
        std::printf("%s: ok (%zu hosts, %zu links, %zu apps with %zu calls, %zu expectations)\n", a.positional[0].c_str(),
                    s.hosts.size(), s.links.size(), s.apps.size(), steps, s.expectations.size());
        return kOk;
    } catch (const sc::ScenarioError& e) {
        print_diagnostics(e);
        return kUsage;
    }
}

int cmd_run(Args& a) {
    if (a.help) {
        std::fputs(kRunHelp, stdout);
        return kOk;
    }
    if (a.positional.size() != 1)
        return usage_error("run", a.positional.empty() ? "missing the scenario file" : "expected one scenario file, got " + std::to_string(a.positional.size()) + " ('" + a.positional[1] + "' is extra)");
    if (!a.run.trace_path.empty() && a.run.trace_path == a.run.states_path && a.run.trace_path != "-")
        return usage_error("run", "--trace and --states name the same file '" + a.run.trace_path + "'");
    sc::Scenario s;
    try {
        s = sc::load_scenario(a.positional[0]);
    } catch (const sc::ScenarioError& e) {
        print_diagnostics(e);
        return kUsage;
    }
    a.run.log = &std::cout;
    // Progress only on a terminal: nothing extra when piped or redirected.
    if (isatty(STDERR_FILENO) && (a.run.quiet || !isatty(STDOUT_FILENO))) {
        a.run.progress = [](tcpsim::Time now, tcpsim::Time end) {
            std::fprintf(stderr, "\r  virtual time %s / %s ", tcpsim::format_seconds(now).c_str(), tcpsim::format_seconds(end).c_str());
            std::fflush(stderr);
        };
    }
    sc::RunResult r;
    try {
        r = sc::run_scenario(s, a.run);
    } catch (const sc::ScenarioError& e) {
        print_diagnostics(e);
        return kUsage;
    } catch (const std::exception& e) {
        std::cout.flush();
        std::fprintf(stderr, "tcpsim run: %s\n", e.what());
        return kUsage;
    }
    if (a.run.progress) std::fprintf(stderr, "\r%40s\r", "");
    std::cout.flush();
    return r.all_held() ? kOk : kExpectationFailed;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        std::fputs(kMainHelp, stderr);
        return kUsage;
    }
    const std::string& first = args[0];
    if (first == "--version" || first == "-V" || first == "version") {
        std::printf("tcpsim %s\n", tcpsim::kVersion);
        return kOk;
    }
    if (first == "--help" || first == "-h") {
        std::fputs(kMainHelp, stdout);
        return kOk;
    }
    if (first == "help") {
        if (args.size() < 2) std::fputs(kMainHelp, stdout);
        else if (args[1] == "run") std::fputs(kRunHelp, stdout);
        else if (args[1] == "check") std::fputs(kCheckHelp, stdout);
        else if (args[1] == "tap") std::fputs(tcpsim::tools::kTapHelp, stdout);
        else if (args[1] == "packetdrill") std::fputs(tcpsim::tools::kPacketdrillHelp, stdout);
        else return usage_error("help", "unknown command '" + args[1] + "'");
        return kOk;
    }
    if (first == "tap") return tcpsim::tools::tap_command({args.begin() + 1, args.end()});
    if (first == "packetdrill") return tcpsim::tools::packetdrill_command({args.begin() + 1, args.end()});
    Args a;
    a.command = first;
    if (first != "run" && first != "check") {
        if (first.rfind("-", 0) == 0) return usage_error("", "unknown option '" + first + "'; a command comes first (tcpsim run SCENARIO.yaml)");
        auto guess = sc::closest_match(first, {"run", "check", "packetdrill", "tap", "help"});
        if (first.size() > 5 && (first.ends_with(".yaml") || first.ends_with(".yml")))
            return usage_error("", "missing the command: did you mean 'tcpsim run " + first + "'?");
        if (first.ends_with(".pkt")) return usage_error("", "missing the command: did you mean 'tcpsim packetdrill " + first + "'?");
        return usage_error("", "unknown command '" + first + "'" + (guess.empty() ? "" : " (did you mean '" + guess + "'?)") +
                                   "; commands are run, check, packetdrill, tap and help");
    }
    if (auto err = parse_run_args({args.begin() + 1, args.end()}, a); !err.empty()) return usage_error(first, err);
    return first == "run" ? cmd_run(a) : cmd_check(a);
}
