#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include "cli_harness.hpp"

using cli::run;

BOOST_AUTO_TEST_CASE(help_describes_every_command_and_option) {
    auto r = run("--help", "help");
    BOOST_TEST(r.status == 0);
    for (const char* word : {"tcpsim run SCENARIO.yaml", "tcpsim check", "Exit status"})
        BOOST_TEST(r.out.find(word) != std::string::npos, word);
    auto rr = run("run --help", "runhelp");
    BOOST_TEST(rr.status == 0);
    for (const char* opt : {"--seed", "--pcap", "--trace", "--trace-format", "tcpdump", "teach", "--states", "--netstat",
                            "--quiet", "tcpdump -tt -nn -S"})
        BOOST_TEST(rr.out.find(opt) != std::string::npos, opt);
    BOOST_TEST(run("help run", "helprun").out == rr.out);
}

BOOST_AUTO_TEST_CASE(version_prints_the_version) {
    auto r = run("--version", "version");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.rfind("tcpsim ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(no_arguments_is_a_usage_error) {
    auto r = run("", "noargs");
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.err.find("Usage") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_arguments_exit_2_with_a_clear_message) {
    struct Case {
        const char* args;
        const char* message;
    };
    std::string hs = cli::kScenarios + "handshake.yaml";
    for (Case c : {Case{"rnu x.yaml", "unknown command 'rnu' (did you mean 'run'?)"},
                   Case{"x.yaml", "did you mean 'tcpsim run x.yaml'?"},
                   Case{"run", "missing the scenario file"},
                   Case{"run a.yaml b.yaml", "expected one scenario file, got 2"},
                   Case{"run x.yaml --sed 3", "unknown option '--sed' (did you mean '--seed'?)"},
                   Case{"run x.yaml --seed", "option --seed needs a value"},
                   Case{"run x.yaml --seed=-1", "--seed expects an unsigned integer"},
                   Case{"run x.yaml --seed 12abc", "--seed expects an unsigned integer"},
                   Case{"run x.yaml --trace-format pretty", "--trace-format expects tcpdump or teach"},
                   Case{"run x.yaml --netstat soon", "--netstat: expected a duration"},
                   Case{"run x.yaml --netstat 5", "needs a unit"},
                   Case{"run x.yaml --quiet=yes", "--quiet takes no value"},
                   Case{"run x.yaml --pcap -", "--pcap needs a file name"}}) {
        auto r = run(c.args, "badargs");
        BOOST_TEST(r.status == 2, c.args);
        BOOST_TEST(r.err.find(c.message) != std::string::npos, c.args << " -> " << r.err);
        BOOST_TEST(r.out.empty(), c.args);
    }
}

BOOST_AUTO_TEST_CASE(typo_in_a_key_exits_2_naming_line_and_column) {
    cli::spit("cli-typo.yaml",
              "seed: 1\n"
              "hosts:\n"
              "  a:\n"
              "    interfaces: {eth0: 192.0.2.1/24}\n"
              "  b:\n"
              "    interfaces: {eth0: 192.0.2.2/24}\n"
              "links:\n"
              "  l:\n"
              "    a: a\n"
              "    b: b\n"
              "    dealy: 5ms\n");
    for (const char* cmd : {"run", "check"}) {
        auto r = run(std::string(cmd) + " cli-typo.yaml", "typo");
        BOOST_TEST(r.status == 2);
        BOOST_TEST(r.err == "cli-typo.yaml:11:5: unknown key 'dealy' in link 'l' (did you mean 'delay'?)\n");
        BOOST_TEST(r.out.empty());
    }
}

BOOST_AUTO_TEST_CASE(missing_file_exits_2) {
    auto r = run("run /nonexistent/s.yaml", "missing");
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.err.find("/nonexistent/s.yaml: cannot read the scenario") == 0u);
    auto d = run("check '" + cli::kScenarios + "'", "directory");
    BOOST_TEST(d.status == 2);
    BOOST_TEST(d.err.find("cannot read the scenario: it is a directory") != std::string::npos, d.err);
}

BOOST_AUTO_TEST_CASE(check_accepts_the_shipped_scenarios) {
    auto r = run("check '" + cli::kScenarios + "handshake.yaml'", "check");
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.out.find(": ok (2 hosts, 1 links") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(json_schema_accepts_the_shipped_scenarios_and_rejects_a_typo) {
    // Editors validate with docs/scenario.schema.json; keep it in step with the loader.
    const std::string py = "/usr/bin/python3";
    if (std::system((py + " -c 'import jsonschema, yaml' >/dev/null 2>&1").c_str()) != 0) {
        BOOST_TEST_MESSAGE("python3 with jsonschema and yaml not available: skipping the schema check");
        return;
    }
    cli::spit("cli-schema.py",
              "import sys, json, yaml, jsonschema\n"
              "schema = json.load(open(sys.argv[1]))\n"
              "jsonschema.Draft7Validator.check_schema(schema)\n"
              "v = jsonschema.Draft7Validator(schema)\n"
              "bad = [f for f in sys.argv[2:] if list(v.iter_errors(yaml.safe_load(open(f))))]\n"
              "print(' '.join(bad))\n");
    cli::spit("cli-schema-typo.yaml", "hosts:\n  a:\n    interfaces: {eth0: 192.0.2.1/24}\nuntl: 5s\n");
    int status = -1;
    auto bad = cli::capture(py + " cli-schema.py '" + std::string(TCPSIM_SOURCE_DIR) + "/docs/scenario.schema.json' " +
                                "cli-schema-typo.yaml '" + cli::kScenarios + "'*.yaml",
                            "cli-schema", &status);
    BOOST_TEST(status == 0);
    BOOST_TEST(bad == "cli-schema-typo.yaml\n");
}
