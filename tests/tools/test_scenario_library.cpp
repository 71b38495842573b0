#define BOOST_TEST_MODULE scenario_library
#include <boost/test/unit_test.hpp>

// Runs every shipped scenario (scenarios/*.yaml) and checks, for each:
//   - the exit status: 0, or 1 for a scenario whose header says `# xfail: why`;
//   - its --trace output against the checked-in golden trace scenarios/golden/<name>.txt
//     (one golden per link, <name>-<link>.txt, when it has several links);
//   - that `tcpdump -tt -nn -S -r` of its pcap prints exactly the trace (when tcpdump exists);
//   - that tshark finds no bad IP/TCP checksum (when tshark exists), except in scenarios that
//     corrupt frames on purpose.
// Regenerate the goldens after an intended change of behaviour:
//   TCPSIM_UPDATE_GOLDEN=1 ctest --test-dir build -R scenario_library     (or scenarios/update-golden.sh)

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli_harness.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kGolden = cli::kScenarios + "golden/";

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
}

// The first lines where two traces differ, for a readable failure.
std::string first_difference(const std::string& want, const std::string& got) {
    auto a = lines(want), b = lines(got);
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    std::ostringstream out;
    out << "first difference at line " << i + 1 << " (golden has " << a.size() << " lines, run has " << b.size() << "):\n";
    for (std::size_t k = i; k < i + 3; ++k) {
        if (k < a.size()) out << "  golden: " << a[k] << "\n";
        if (k < b.size()) out << "  run:    " << b[k] << "\n";
    }
    return out.str();
}

std::vector<fs::path> scenarios() {
    std::vector<fs::path> v;
    for (const auto& f : fs::directory_iterator(cli::kScenarios))
        if (f.path().extension() == ".yaml") v.push_back(f.path());
    std::sort(v.begin(), v.end());
    return v;
}

// The trace files one run wrote: <out>.txt for one link, <out>-<link>.txt for several.
std::vector<fs::path> traces_written(const fs::path& dir, const std::string& stem) {
    std::vector<fs::path> v;
    if (fs::exists(dir / (stem + ".txt"))) return {dir / (stem + ".txt")};
    for (const auto& f : fs::directory_iterator(dir)) {
        auto n = f.path().filename().string();
        if (n.rfind(stem + "-", 0) == 0 && f.path().extension() == ".txt") v.push_back(f.path());
    }
    std::sort(v.begin(), v.end());
    return v;
}

// Whether a scenario corrupts frames on purpose: a `corrupt:` impairment or a `corrupt` fault
// action outside comments (a header may well mention corruption in prose).
bool corrupts_on_purpose(const std::string& yaml) {
    for (auto line : lines(yaml)) {
        if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
        if (line.find("corrupt:") != std::string::npos || line.find("action: corrupt") != std::string::npos) return true;
    }
    return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_scenario_matches_its_golden_trace_and_tcpdump_and_has_good_checksums) {
    const bool update = std::getenv("TCPSIM_UPDATE_GOLDEN") != nullptr && std::string(std::getenv("TCPSIM_UPDATE_GOLDEN")) == "1";
    const bool tcpdump = cli::has_program("tcpdump"), tshark = cli::has_program("tshark");
    if (!tcpdump) BOOST_TEST_MESSAGE("tcpdump not installed: skipping the comparison with tcpdump -tt -nn -S -r");
    if (!tshark) BOOST_TEST_MESSAGE("tshark not installed: skipping the checksum checks");
    std::size_t n = 0;
    for (const auto& yaml : scenarios()) {
        const std::string name = yaml.stem().string();
        BOOST_TEST_CONTEXT("scenario " << name) {
            ++n;
            const fs::path dir = fs::current_path() / ("library-" + name);
            fs::remove_all(dir);
            fs::create_directories(dir);
            const std::string out = (dir / name).string();
            auto r = cli::run("run '" + yaml.string() + "' --quiet --pcap '" + out + ".pcap' --trace '" + out + ".txt'",
                              (dir / "run").string());
            auto text = cli::slurp(yaml.string());
            if (auto x = text.find("\n# xfail:"); x != std::string::npos) {
                BOOST_TEST_MESSAGE("known failure " << name << ": " << text.substr(x + 10, text.find('\n', x + 1) - x - 10));
                BOOST_TEST(r.status == 1, name << " passes now: remove its xfail line\n" << r.out << r.err);
            } else {
                BOOST_TEST(r.status == 0, name << ":\n" << r.out << r.err);
            }
            auto traces = traces_written(dir, name);
            BOOST_TEST(!traces.empty(), name << " wrote no trace\n" << r.out << r.err);
            for (const auto& t : traces) {
                const std::string base = t.filename().string();
                const std::string trace = cli::slurp(t.string());
                const fs::path golden = kGolden + base;
                if (update) {
                    fs::create_directories(kGolden);
                    cli::spit(golden.string(), trace);
                    BOOST_TEST_MESSAGE("updated " << golden.string());
                } else if (!fs::exists(golden)) {
                    BOOST_TEST(false, "no golden trace " << golden.string()
                                                         << "; create it with: TCPSIM_UPDATE_GOLDEN=1 ctest -R scenario_library");
                } else {
                    auto want = cli::slurp(golden.string());
                    BOOST_TEST(want == trace, base << " differs from its golden trace\n"
                                                   << first_difference(want, trace)
                                                   << "if the change is intended, regenerate with: "
                                                      "TCPSIM_UPDATE_GOLDEN=1 ctest --test-dir build -R scenario_library "
                                                      "(or scenarios/update-golden.sh)");
                }
                // The pcap next to this trace: <stem>.pcap.
                const std::string pcap = (dir / (t.stem().string() + ".pcap")).string();
                BOOST_TEST(fs::exists(pcap), pcap);
                if (tcpdump) {
                    int status = -1;
                    auto dump = cli::capture("tcpdump -tt -nn -S -r '" + pcap + "'", (dir / "tcpdump").string(), &status);
                    BOOST_TEST(status == 0, base);
                    BOOST_TEST(dump == trace, base << ": tcpdump -tt -nn -S -r differs from --trace\n" << first_difference(dump, trace));
                }
                if (tshark) {
                    // Scenarios that corrupt frames on purpose (a `corrupt` impairment or fault action)
                    // must show bad checksums; the others never.
                    const bool corrupts = corrupts_on_purpose(text);
                    int status = -1;
                    auto report = cli::capture("tshark -r '" + pcap +
                                                   "' -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields "
                                                   "-e frame.number -e _ws.expert.message -e _ws.malformed",
                                               (dir / "tshark").string(), &status);
                    BOOST_TEST(status == 0, base);
                    BOOST_TEST(lines(report).size() == lines(trace).size(), base << ": tshark did not read every frame");
                    if (corrupts) {
                        BOOST_TEST_MESSAGE(base << ": corrupts frames on purpose, checksum errors allowed");
                    } else {
                        for (const char* bad : {"Bad checksum", "incorrect", "Malformed", "malformed"})
                            BOOST_TEST(report.find(bad) == std::string::npos, base << ": " << bad << " in\n" << report);
                    }
                }
            }
            fs::remove_all(dir);
        }
    }
    BOOST_TEST(n >= 20u);
}
