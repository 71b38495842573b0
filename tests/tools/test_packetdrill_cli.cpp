#define BOOST_TEST_MODULE packetdrill_cli
#include <boost/test/unit_test.hpp>

#include <string>

#include "cli_harness.hpp"

namespace {

const std::string kPass = R"(`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
)";

}  // namespace

BOOST_AUTO_TEST_CASE(passing_failing_and_unsupported_scripts_give_verdicts_and_summary) {
    cli::spit("pd_pass.pkt", kPass);
    cli::spit("pd_fail.pkt", kPass + "   +0 > . 1:1(0) ack 1\n");
    cli::spit("pd_unsup.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < udp (10)\n");
    auto r = cli::run("packetdrill pd_pass.pkt pd_fail.pkt pd_unsup.pkt", "pd_mixed");
    BOOST_TEST(r.status == 1, r.out << r.err);
    BOOST_TEST(r.out.find("pd_pass.pkt: PASS") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("pd_fail.pkt:10:4: FAIL:") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("pd_unsup.pkt:2:4: unsupported: ") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("1 passed, 1 failed, 1 skipped\n") != std::string::npos, r.out);

    auto ok = cli::run("packetdrill pd_pass.pkt pd_unsup.pkt", "pd_ok");
    BOOST_TEST(ok.status == 0, ok.out << ok.err);
    BOOST_TEST(ok.out.find("1 passed, 0 failed, 1 skipped") != std::string::npos, ok.out);
}

BOOST_AUTO_TEST_CASE(outputs_trace_states_and_pcap) {
    cli::spit("pd_out.pkt", kPass);
    auto r = cli::run("packetdrill pd_out.pkt --trace pd_out.trace --states pd_out.states --pcap pd_out.pcap --verbose", "pd_out");
    BOOST_TEST(r.status == 0, r.out << r.err);
    std::string trace = cli::slurp("pd_out.trace");
    BOOST_TEST(trace.find("192.0.2.1.48102 > 192.168.0.1.8080: Flags [S]") != std::string::npos, trace);
    BOOST_TEST(cli::slurp("pd_out.states").find("SYN_RECV -> ESTABLISHED") != std::string::npos, cli::slurp("pd_out.states"));
    BOOST_TEST(cli::slurp("pd_out.pcap").size() > 24u);
    BOOST_TEST(r.out.find("tcpsim sent: S. 0:0(0) ack 1") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(bad_arguments_exit_2_with_a_message) {
    auto none = cli::run("packetdrill", "pd_none");
    BOOST_TEST(none.status == 2);
    BOOST_TEST(none.err.find("missing the script") != std::string::npos, none.err);
    auto bad = cli::run("packetdrill --bogus x.pkt", "pd_bogus");
    BOOST_TEST(bad.status == 2);
    BOOST_TEST(bad.err.find("unknown option '--bogus'") != std::string::npos, bad.err);
    auto help = cli::run("packetdrill --help", "pd_help");
    BOOST_TEST(help.status == 0);
    BOOST_TEST(help.out.find("Usage: tcpsim packetdrill") != std::string::npos);
    auto bare = cli::run("x.pkt", "pd_bare");
    BOOST_TEST(bare.status == 2);
    BOOST_TEST(bare.err.find("did you mean 'tcpsim packetdrill x.pkt'?") != std::string::npos, bare.err);
    auto help2 = cli::run("help packetdrill", "pd_help2");
    BOOST_TEST(help2.out.find("Usage: tcpsim packetdrill") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_script_reports_file_line_column_and_fails) {
    cli::spit("pd_bad.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0) win <mss 1460>\n");
    auto r = cli::run("packetdrill pd_bad.pkt", "pd_bad");
    BOOST_TEST(r.status == 1);
    BOOST_TEST(r.out.find("pd_bad.pkt:2:") != std::string::npos, r.out);
    BOOST_TEST(r.out.find("0 passed, 1 failed, 0 skipped") != std::string::npos, r.out);
}
