#define BOOST_TEST_MODULE cli_run
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <sstream>

#include "cli_harness.hpp"

using cli::run;

namespace {

const std::string kHandshake = cli::kScenarios + "handshake.yaml";

// (No std::regex: g++ 12 warns inside it under the sanitizer build.)
std::string fingerprint(const std::string& out) {
    auto p = out.find("fingerprint ");
    if (p == std::string::npos) return {};
    auto fp = out.substr(p + 12, 16);
    return fp.size() == 16 && fp.find_first_not_of("0123456789abcdef") == std::string::npos ? fp : std::string{};
}

// Splits a line into whitespace-separated words.
std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    return w;
}

}  // namespace

BOOST_AUTO_TEST_CASE(handshake_runs_and_its_trace_equals_tcpdump_of_its_pcap) {
    auto r = run("run '" + kHandshake + "' --pcap clirun-hs.pcap --trace clirun-hs.txt --states clirun-hs.states", "clirun-hs");
    BOOST_TEST(r.status == 0, r.out << r.err);
    BOOST_TEST(r.err.empty());
    BOOST_TEST(r.out.find("all 17 expectations held") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("wrote clirun-hs.pcap") != std::string::npos);
    BOOST_TEST(!fingerprint(r.out).empty());
    auto trace = cli::slurp("clirun-hs.txt");
    BOOST_TEST(trace.find("Flags [S], seq ") != std::string::npos, trace);
    auto states = cli::slurp("clirun-hs.states");
    BOOST_TEST(states.find("TIME_WAIT -> CLOSED") != std::string::npos, states);
    if (!cli::has_program("tcpdump")) {
        BOOST_TEST_MESSAGE("tcpdump not installed: skipping the comparison with tcpdump -tt -nn -S -r");
    } else {
        int status = -1;
        auto expected = cli::capture("tcpdump -tt -nn -S -r clirun-hs.pcap", "clirun-tcpdump", &status);
        BOOST_TEST(status == 0);
        BOOST_TEST(!expected.empty());
        BOOST_TEST(trace == expected);
    }
    if (!cli::has_program("tshark")) {
        BOOST_TEST_MESSAGE("tshark not installed: skipping the checksum check");
    } else {
        int status = -1;
        auto tshark = cli::capture(
            "tshark -r clirun-hs.pcap -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields -e frame.number "
            "-e _ws.expert.message -e _ws.malformed",
            "clirun-tshark", &status);
        BOOST_TEST(status == 0);
        BOOST_TEST(!tshark.empty());
        for (const char* bad : {"Bad checksum", "incorrect", "Malformed", "malformed"})
            BOOST_TEST(tshark.find(bad) == std::string::npos, bad << " in\n" << tshark);
    }
}

BOOST_AUTO_TEST_CASE(same_seed_gives_byte_identical_pcap_and_trace) {
    auto a = run("run '" + kHandshake + "' --seed 7 --pcap clirun-a.pcap --trace clirun-a.txt", "clirun-a");
    auto b = run("run '" + kHandshake + "' --seed 7 --pcap clirun-b.pcap --trace clirun-b.txt", "clirun-b");
    BOOST_TEST(a.status == 0);
    BOOST_TEST(b.status == 0);
    BOOST_TEST(cli::slurp("clirun-a.pcap") == cli::slurp("clirun-b.pcap"));
    BOOST_TEST(cli::slurp("clirun-a.txt") == cli::slurp("clirun-b.txt"));
    BOOST_TEST(fingerprint(a.out) == fingerprint(b.out));
    BOOST_TEST(!fingerprint(a.out).empty());
    // A different seed draws different ISNs and ports: a different capture.
    auto c = run("run '" + kHandshake + "' --seed 8 --pcap clirun-c.pcap", "clirun-c");
    BOOST_TEST(c.status == 0);
    BOOST_TEST(cli::slurp("clirun-c.pcap") != cli::slurp("clirun-a.pcap"));
    BOOST_TEST(fingerprint(c.out) != fingerprint(a.out));
}

BOOST_AUTO_TEST_CASE(a_broken_expectation_exits_1_and_names_it_with_its_line) {
    auto text = cli::slurp(kHandshake);
    const std::string good = "  - state: {of: client.sock, at: 30s, is: TIME_WAIT}";
    auto pos = text.find(good);
    BOOST_REQUIRE(pos != std::string::npos);
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
    text.replace(pos, good.size(), "  - state: {of: client.sock, at: 30s, is: ESTABLISHED}");
    cli::spit("clirun-broken.yaml", text);
    auto r = run("run clirun-broken.yaml", "clirun-broken");
    BOOST_TEST(r.status == 1);
    std::string where = "FAIL  clirun-broken.yaml:" + std::to_string(line) + "  state of client.sock at 30s is ESTABLISHED";
    BOOST_TEST(r.out.find(where) != std::string::npos, r.out);
    BOOST_TEST(r.out.find("it was TIME_WAIT") != std::string::npos);
    BOOST_TEST(r.out.find("1 of 17 expectations FAILED") != std::string::npos);
    // --quiet still names the failure (and only it).
    auto q = run("run clirun-broken.yaml --quiet", "clirun-broken-q");
    BOOST_TEST(q.status == 1);
    BOOST_TEST(q.out.find(where) != std::string::npos, q.out);
    BOOST_TEST(q.out.find("ok    ") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(quiet_run_prints_only_the_summary) {
    auto r = run("run '" + kHandshake + "' --quiet", "clirun-quiet");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.find("Flags [") == std::string::npos, r.out);
    BOOST_TEST(r.out.find("fingerprint ") != std::string::npos);
    BOOST_TEST(r.err.empty());  // no progress output when not on a terminal
}

BOOST_AUTO_TEST_CASE(netstat_shows_every_host_at_the_virtual_time) {
    auto r = run("run '" + kHandshake + "' --quiet --netstat 30s", "clirun-netstat");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.find("netstat at 30.000000") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("Proto Recv-Q Send-Q Local Address           Foreign Address         State") != std::string::npos, r.out);
    bool found = false;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        auto w = words(line);
        if (w.size() == 6 && w[0] == "tcp" && w[1] == "0" && w[2] == "0" && w[3].rfind("192.0.2.1:", 0) == 0 &&
            w[4] == "192.0.2.2:55555" && w[5] == "TIME_WAIT")
            found = true;
    }
    BOOST_TEST(found, r.out);
}

BOOST_AUTO_TEST_CASE(netstat_shows_a_listener_with_send_q_0_like_linux_netstat) {
    // Linux netstat reads /proc/net/tcp: a listener's Recv-Q is its accept queue, its Send-Q is
    // write_seq - snd_una = 0 (not the backlog, which is what ss prints).
    auto r = run("run '" + kHandshake + "' --quiet --netstat 30s", "clirun-netstat-listen");
    BOOST_TEST(r.status == 0);
    bool found = false;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
        auto w = words(line);
        if (w.size() == 6 && w[3] == "0.0.0.0:55555" && w[5] == "LISTEN") {
            found = true;
            BOOST_TEST(w[1] == "0", line);
            BOOST_TEST(w[2] == "0", line);
        }
    }
    BOOST_TEST(found, r.out);
}

BOOST_AUTO_TEST_CASE(with_loss_the_same_seed_repeats_and_another_seed_differs) {
    const std::string lossy = "'" + cli::kScenarios + "lossy-transfer.yaml'";
    BOOST_REQUIRE(cli::slurp(cli::kScenarios + "lossy-transfer.yaml").find("loss:") != std::string::npos);
    auto a = run("run " + lossy + " --quiet --seed 3 --pcap clirun-la.pcap --trace clirun-la.txt", "clirun-la");
    auto b = run("run " + lossy + " --quiet --seed 3 --pcap clirun-lb.pcap --trace clirun-lb.txt", "clirun-lb");
    auto c = run("run " + lossy + " --quiet --seed 4 --pcap clirun-lc.pcap --trace clirun-lc.txt", "clirun-lc");
    BOOST_TEST(a.status == 0, a.out << a.err);
    BOOST_TEST(b.status == 0, b.out << b.err);
    BOOST_TEST(c.status == 0, c.out << c.err);
    BOOST_TEST(!cli::slurp("clirun-la.pcap").empty());
    BOOST_TEST(cli::slurp("clirun-la.pcap") == cli::slurp("clirun-lb.pcap"));
    BOOST_TEST(cli::slurp("clirun-la.txt") == cli::slurp("clirun-lb.txt"));
    BOOST_TEST(fingerprint(a.out) == fingerprint(b.out));
    BOOST_TEST(cli::slurp("clirun-la.pcap") != cli::slurp("clirun-lc.pcap"));
    BOOST_TEST(cli::slurp("clirun-la.txt") != cli::slurp("clirun-lc.txt"));
    BOOST_TEST(fingerprint(a.out) != fingerprint(c.out));
}

BOOST_AUTO_TEST_CASE(a_run_ends_when_nothing_is_pending) {
    // connect() to a closed port: the RST ends the attempt at 4 ms, the second at 6 ms. No timer
    // of the refused connections or of the finished ARP exchange may keep the run going.
    auto r = run("run '" + cli::kScenarios + "connection-refused.yaml'", "clirun-idle");
    BOOST_TEST(r.status == 0, r.out << r.err);
    BOOST_TEST(r.out.find("run ended at 0.006000 (virtual time)") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(stack_keys_reach_the_hosts) {
    // mss (advertised on every route), ephemeral_ports, rmem_max and timestamps, each
    // seen on the wire or through a socket call.
    cli::spit("clirun-stack.yaml",
              "hosts:\n"
              "  client:\n"
              "    interfaces: {eth0: 192.0.2.1/24}\n"
              "    stack: {mss: 536, timestamps: false, ephemeral_ports: 40000-40000, rmem_max: 4096}\n"
              "  server:\n"
              "    interfaces: {eth0: 192.0.2.2/24}\n"
              "    stack: {congestion: reno}\n"
              "links:\n"
              "  lan: {a: client, b: server, delay: 1ms}\n"
              "apps:\n"
              "  server:\n"
              "    - socket: l\n"
              "    - bind: {fd: l, addr: \"*:80\"}\n"
              "    - listen: {fd: l, backlog: 100}\n"
              "    - accept: {fd: l, as: c}\n"
              "    - send: {fd: c, bytes: 3000}\n"
              "    - close: c\n"
              "  client:\n"
              "    - socket: s\n"
              "    - setsockopt: {fd: s, option: SO_RCVBUF, value: 100000}\n"
              "    - getsockopt: {fd: s, option: SO_RCVBUF}\n"
              "      expect: {value: 8192}\n"
              "    - connect: {fd: s, to: \"server:80\"}\n"
              "    - getsockname: s\n"
              "      expect: {addr: \"192.0.2.1:40000\"}\n"
              "    - recv: {fd: s, size: all}\n"
              "      expect: {ret: 3000}\n"
              "    - close: s\n"
              "expect:\n"
              "  - segment: {from: server, len: 536, at_least: 5}\n");
    auto r = run("run clirun-stack.yaml --quiet --trace clirun-stack.txt", "clirun-stack");
    BOOST_TEST(r.status == 0, r.out << r.err);
    auto trace = cli::slurp("clirun-stack.txt");
    BOOST_TEST(trace.find("192.0.2.1.40000 > 192.0.2.2.80: Flags [S], seq") != std::string::npos, trace);
    BOOST_TEST(trace.find("options [mss 536,") != std::string::npos, trace);
    BOOST_TEST(trace.find("TS val") == std::string::npos, trace);
    // The server's own SYN-ACK still advertises its route's MTU - 40.
    BOOST_TEST(trace.find("Flags [S.], seq") != std::string::npos, trace);
    BOOST_TEST(trace.find("mss 1460") != std::string::npos, trace);
}

BOOST_AUTO_TEST_CASE(malformed_scenarios_exit_2_with_file_line_column) {
    const std::string two_hosts =
        "hosts:\n  client:\n    interfaces: {eth0: 192.0.2.1/24}\n  server:\n    interfaces: {eth0: 192.0.2.2/24}\n";
    struct Case {
        const char* name;
        std::string yaml;
        const char* where;  // line:column
        const char* words;
    };
    const Case cases[] = {
        {"bad-yaml", "hosts:\n  client:\n    interfaces: {eth0: 192.0.2.1/24}\n  server:\n    interfaces: {eth0: [192.0.2.2/24}\n",
         "5:37", "YAML syntax error"},
        {"unknown-key", two_hosts + "links:\n  lan: {a: client, b: server, dealy: 1ms}\n", "7:31",
         "unknown key 'dealy' in link 'lan' (did you mean 'delay'?)"},
        {"wrong-type", "seed: [1]\n" + two_hosts, "1:7", "expected a seed, found a list"},
        {"unknown-host", two_hosts + "links:\n  lan: {a: client, b: sever, delay: 1ms}\n", "7:23",
         "unknown host 'sever' on link 'lan' (did you mean 'server'?)"},
        {"impossible-address", "hosts:\n  client:\n    interfaces: {eth0: 192.0.2.1/24}\n  server:\n    interfaces: {eth0: 192.0.2.300/24}\n",
         "5:24", "impossible address '192.0.2.300/24'"},
        {"negative-delay", two_hosts + "links:\n  lan: {a: client, b: server, delay: -1ms}\n", "7:38",
         "negative duration '-1ms'"},
    };
    for (const auto& c : cases) {
        const std::string file = std::string("clirun-bad-") + c.name + ".yaml";
        cli::spit(file, c.yaml);
        auto r = run("run " + file, std::string("clirun-bad-") + c.name);
        BOOST_TEST(r.status == 2, c.name << ": " << r.out << r.err);
        BOOST_TEST(r.err.rfind(file + ":" + c.where + ": ", 0) == 0u, c.name << ": " << r.err);
        BOOST_TEST(r.err.find(c.words) != std::string::npos, c.name << ": " << r.err);
        BOOST_TEST(r.out.empty(), c.name << ": " << r.out);
    }
}

BOOST_AUTO_TEST_CASE(trace_to_stdout_is_only_the_trace) {
    auto r = run("run '" + kHandshake + "' --trace -", "clirun-stdout");
    BOOST_TEST(r.status == 0);
    std::istringstream in(r.out);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        ++lines;
        auto w = words(line);
        bool ok = w.size() > 2 && w[0].size() > 7 && w[0][w[0].size() - 7] == '.' &&
                  w[0].find_first_not_of("0123456789.") == std::string::npos && (w[1] == "IP" || w[1] == "ARP,");
        BOOST_TEST(ok, line);
    }
    BOOST_TEST(lines > 8);
}

BOOST_AUTO_TEST_CASE(teach_format_uses_relative_numbers_and_host_names) {
    auto r = run("run '" + kHandshake + "' --trace - --trace-format teach", "clirun-teach");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.find("client.") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("FIN_WAIT1") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("ack 1 ") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(an_unwritable_output_is_a_usage_error) {
    auto r = run("run '" + kHandshake + "' --pcap /nonexistent/dir/x.pcap", "clirun-unwritable");
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.err.find("cannot write the pcap file '/nonexistent/dir/x.pcap'") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(every_shipped_scenario_runs_and_its_expectations_hold) {
    std::size_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(cli::kScenarios)) {
        if (f.path().extension() != ".yaml") continue;
        ++n;
        auto r = run("run '" + f.path().string() + "' --quiet", "clirun-all");
        // A scenario marked "# xfail: why" documents correct behaviour the stack does not have
        // yet: it must fail its expectations (exit 1), and the test says so until it is fixed.
        auto text = cli::slurp(f.path().string());
        if (auto x = text.find("\n# xfail:"); x != std::string::npos) {
            BOOST_TEST_MESSAGE("known failure " << f.path().filename() << ": " << text.substr(x + 10, text.find('\n', x + 1) - x - 10));
            BOOST_TEST(r.status == 1, f.path().filename() << " passes now: remove its xfail line\n" << r.out << r.err);
            continue;
        }
        BOOST_TEST(r.status == 0, f.path().filename() << ":\n" << r.out << r.err);
    }
    BOOST_TEST(n >= 6u);
}

BOOST_AUTO_TEST_CASE(several_links_get_one_pcap_and_trace_each) {
    auto r = run("run '" + cli::kScenarios + "router.yaml' --quiet --pcap clirun-r.pcap --trace clirun-r.txt", "clirun-router");
    BOOST_TEST(r.status == 0, r.out << r.err);
    for (const char* link : {"lan", "wan"}) {
        std::string pcap = std::string("clirun-r-") + link + ".pcap", trace = std::string("clirun-r-") + link + ".txt";
        BOOST_TEST(r.out.find("wrote " + pcap) != std::string::npos, r.out);
        auto text = cli::slurp(trace);
        BOOST_TEST(text.find("Flags [S]") != std::string::npos, trace);
        if (cli::has_program("tcpdump"))
            BOOST_TEST(text == cli::capture("tcpdump -tt -nn -S -r " + pcap, "clirun-router-tcpdump"), link);
    }
}
