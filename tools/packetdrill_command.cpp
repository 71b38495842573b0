// `tcpsim packetdrill`: runs packetdrill scripts against the simulated stack and prints one verdict
// per script and a summary line; see docs/packetdrill.md.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "stack/packetdrill/interpreter.hpp"
#include "tools/commands.hpp"

namespace tcpsim::tools {

const char* const kPacketdrillHelp = R"(Usage: tcpsim packetdrill SCRIPT.pkt... [options]

Runs packetdrill scripts (github.com/google/packetdrill) against tcpsim's Linux personality in
virtual time: system calls go to the simulated socket API, `<` packets are injected, `>` packets
must be sent by tcpsim at the scripted time (within --tolerance_usecs). Shell commands are never
run; the sysctls they set are mapped onto the host configuration. See docs/packetdrill.md.

Prints one line per script: PASS, FAIL at file:line:column with what was expected and what
tcpsim sent, or `unsupported: <construct>` (counted as skipped); then `N passed, N failed,
N skipped`.

Options:
  --trace FILE    tcpdump lines of every frame ('-' = standard output)
  --pcap FILE     pcap of every frame (with several scripts: FILE-<script>.pcap)
  --states FILE   TCP state changes ('-' = standard output)
  --verbose       every event, segment and call as it happens; ignored sysctls and commands
  -h, --help      this text

Exit status: 0 no script failed; 1 a script failed (or did not parse); 2 bad arguments.
)";

namespace {

int usage(const std::string& m) {
    std::fprintf(stderr, "tcpsim packetdrill: %s\nTry 'tcpsim packetdrill --help' for more information.\n", m.c_str());
    return 2;
}

}  // namespace

int packetdrill_command(const std::vector<std::string>& args) {
    std::vector<std::string> scripts;
    std::string trace, pcap, states;
    bool verbose = false, done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (done || a.size() < 2 || a[0] != '-') {
            scripts.push_back(a);
            continue;
        }
        if (a == "--") {
            done = true;
            continue;
        }
        if (a == "-h" || a == "--help") {
            std::fputs(kPacketdrillHelp, stdout);
            return 0;
        }
        if (a == "--verbose" || a == "-v") {
            verbose = true;
            continue;
        }
        std::string name = a, value;
        bool has_value = false;
        if (auto eq = a.find('='); eq != std::string::npos) {
            name = a.substr(0, eq);
            value = a.substr(eq + 1);
            has_value = true;
        }
        if (name != "--trace" && name != "--pcap" && name != "--states") return usage("unknown option '" + name + "'");
        if (!has_value) {
            if (i + 1 >= args.size()) return usage("option " + name + " needs a value");
            value = args[++i];
        }
        if (value.empty()) return usage("option " + name + " needs a non-empty value");
        if (name == "--trace") trace = value;
        else if (name == "--pcap") {
            if (value == "-") return usage("--pcap needs a file name (pcap is binary)");
            pcap = value;
        } else states = value;
    }
    if (scripts.empty()) return usage("missing the script file(s)");
    if (!trace.empty() && trace == states && trace != "-") return usage("--trace and --states name the same file '" + trace + "'");

    std::unique_ptr<std::ofstream> trace_file, states_file;
    auto open = [](const std::string& path, std::unique_ptr<std::ofstream>& f) -> std::ostream* {
        if (path.empty()) return nullptr;
        if (path == "-") return &std::cout;
        f = std::make_unique<std::ofstream>(path, std::ios::trunc);
        return *f ? f.get() : nullptr;
    };
    stack::packetdrill::InterpreterOptions opt;
    opt.trace = open(trace, trace_file);
    if (!trace.empty() && !opt.trace) return usage("cannot write the trace file '" + trace + "'");
    opt.states = open(states, states_file);
    if (!states.empty() && !opt.states) return usage("cannot write the states file '" + states + "'");
    if (verbose) opt.log = &std::cout;

    std::size_t passed = 0, failed = 0, skipped = 0;
    for (const auto& s : scripts) {
        if (!pcap.empty()) {
            if (scripts.size() == 1) opt.pcap_path = pcap;
            else {
                std::string stem = std::filesystem::path(s).stem().string();
                auto dot = pcap.rfind('.');
                opt.pcap_path = dot == std::string::npos ? pcap + "-" + stem : pcap.substr(0, dot) + "-" + stem + pcap.substr(dot);
            }
        }
        if (verbose) std::cout << "== " << s << '\n';
        auto v = stack::packetdrill::run_file(s, opt);
        if (verbose)
            for (const auto& n : v.notes) std::cout << "  note: " << n << '\n';
        std::cout << v.to_string() << '\n';
        switch (v.kind) {
            case stack::packetdrill::Verdict::Kind::Pass: ++passed; break;
            case stack::packetdrill::Verdict::Kind::Fail: ++failed; break;
            case stack::packetdrill::Verdict::Kind::Unsupported: ++skipped; break;
        }
        std::cout.flush();
    }
    std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
    return failed == 0 ? 0 : 1;
}

}  // namespace tcpsim::tools
