#define BOOST_TEST_MODULE packetdrill_facade
#include <boost/test/unit_test.hpp>

#include <string>

#include "stack/packetdrill/interpreter.hpp"
#include "stack/packetdrill/script.hpp"

// Socket facade features as packetdrill scripts drive them (TCP_INQ / TCP_CM_INQ, SO_ZEROCOPY and
// MSG_ZEROCOPY completions, empty iovecs, TCP_NOTSENT_LOWAT, epoll), and constructs the
// interpreter cannot run being reported as unsupported instead of passing silently.

using namespace tcpsim::stack::packetdrill;

namespace {

Verdict run_text(const std::string& text) {
    ParseResult r = parse_script(text, "inline.pkt");
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors.front().to_string()));
    return run_script(r.script);
}

bool passed(const Verdict& v) { return v.kind == Verdict::Kind::Pass; }
bool failed_at(const Verdict& v, std::uint32_t line) { return v.kind == Verdict::Kind::Fail && v.loc.line == line; }
bool unsupported_at(const Verdict& v, std::uint32_t line) { return v.kind == Verdict::Kind::Unsupported && v.loc.line == line; }

// An accepted connection on fd 4 (mss 1000, the peer's window scale 7); `rest` follows.
std::string server(const std::string& rest) {
    return R"(`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
 +.01 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
)" + rest;  // the lines above are 1-9; `rest` starts at line 10
}

std::string inq_recvmsg(int len, const std::string& data, const std::string& flags = "0") {
    return "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., " + std::to_string(len) + "}], msg_flags=" + flags +
           ", msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=" + data + "}]}, 0) = " + std::to_string(len) + "\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(tcp_inq_reports_bytes_left_and_one_after_the_fin) {
    Verdict v = run_text(server("   +0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n"
                                "   +0 getsockopt(4, SOL_TCP, TCP_INQ, [1], [4]) = 0\n"
                                "   +0 < . 1:3001(3000) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 3001\n" +
                                inq_recvmsg(1000, "2000") + inq_recvmsg(2000, "0") +
                                "   +0 < F. 3001:4001(1000) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 4002\n"
                                // Linux tcp_inq_hint(): the unread FIN counts, then SOCK_DONE keeps 1.
                                "   +0 ioctl(4, SIOCINQ, [1000]) = 0\n" +
                                inq_recvmsg(400, "601") + inq_recvmsg(600, "1") +
                                "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0, "
                                "msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=1}]}, 0) = 0\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(a_wrong_tcp_cm_inq_value_fails_at_cmsg_data) {
    Verdict v = run_text(server("   +0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n"
                                "   +0 < . 1:3001(3000) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 3001\n" +
                                inq_recvmsg(1000, "1234")));
    BOOST_TEST(failed_at(v, 13));
    BOOST_TEST(v.message.find("expected cmsg_data=1234, got 2000") != std::string::npos, v.message);
}

BOOST_AUTO_TEST_CASE(without_tcp_inq_there_is_no_control_message) {
    Verdict v = run_text(server("   +0 < . 1:3001(3000) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 3001\n" +
                                inq_recvmsg(1000, "2000")));
    BOOST_TEST(failed_at(v, 12));
    BOOST_TEST(v.message.find("expected 1 control message(s), got 0") != std::string::npos, v.message);
}

BOOST_AUTO_TEST_CASE(tcp_inq_without_a_control_buffer_sets_msg_ctrunc) {
    Verdict v = run_text(server("   +0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n"
                                "   +0 setsockopt(4, SOL_TCP, TCP_INQ, [2], 4) = -1 EINVAL (Invalid argument)\n"
                                "   +0 < . 1:3001(3000) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 3001\n"
                                "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=MSG_CTRUNC}, 0) = 1000\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(sendmsg_skips_empty_iovecs_and_ignores_msg_zerocopy_without_so_zerocopy) {
    Verdict v = run_text(server("   +0 getsockopt(4, SOL_SOCKET, SO_ZEROCOPY, [0], [4]) = 0\n"
                                "   +0 sendmsg(4, {msg_name(...)=..., msg_iov(3)=[{..., 0}, {..., 30}, {..., 0}], msg_flags=0}, MSG_ZEROCOPY) = 30\n"
                                "   +0 > P. 1:31(30) ack 1\n"
                                "   +0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 0}, {..., 0}], msg_flags=0}, 0) = 0\n"
                                " +.01 < . 1:1(0) ack 31 win 257\n"
                                // Nothing was zerocopy: the error queue is empty.
                                "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, MSG_ERRQUEUE) = -1 EAGAIN (Resource temporarily unavailable)\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(msg_zerocopy_completions_arrive_on_the_error_queue_once_acknowledged) {
    const std::string zc_cmsg = "msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=0, "
                                "ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, ee_code=SO_EE_CODE_ZEROCOPY_COPIED, ";
    Verdict v = run_text(server(
        "   +0 setsockopt(4, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0\n"
        "   +0 setsockopt(4, SOL_SOCKET, SO_ZEROCOPY, [2], 4) = -1 EINVAL (Invalid argument)\n"
        "   +0 getsockopt(4, SOL_SOCKET, SO_ZEROCOPY, [1], [4]) = 0\n"
        "   +0 send(4, ..., 1000, MSG_ZEROCOPY) = 1000\n"
        "   +0 > P. 1:1001(1000) ack 1\n"
        "   +0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}, MSG_ZEROCOPY) = 1000\n"
        "   +0 > P. 1001:2001(1000) ack 1\n"
        "   +0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}, MSG_ZEROCOPY) = 1000\n"
        "   +0 > P. 2001:3001(1000) ack 1\n"
        // Not acknowledged yet: nothing to report.
        "   +0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n"
        "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, MSG_ERRQUEUE) = -1 EAGAIN (Resource temporarily unavailable)\n"
        " +.01 < . 1:1(0) ack 3001 win 257\n"
        // The three completions (ids 0..2, send() and sendmsg() alike) merge into one.
        "   +0 poll([{fd=4, events=POLLOUT, revents=POLLOUT|POLLERR}], 1, 0) = 1\n"
        "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=MSG_ERRQUEUE, " +
        zc_cmsg +
        "ee_info=0, ee_data=2}}]}, MSG_ERRQUEUE) = 0\n"
        "   +0 send(4, ..., 500, MSG_ZEROCOPY) = 500\n"
        "   +0 > P. 3001:3501(500) ack 1\n"
        " +.01 < . 1:1(0) ack 3501 win 257\n"
        "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=MSG_ERRQUEUE, msg_control=[{cmsg_level=CMSG_LEVEL_IP, "
        "cmsg_type=CMSG_TYPE_RECVERR, cmsg_data={ee_errno=0, ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, "
        "ee_code=SO_EE_CODE_ZEROCOPY_COPIED, ee_info=3, ee_data=3}}]}, MSG_ERRQUEUE) = 0\n"
        "   +0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(tcp_notsent_lowat_limits_what_a_write_queues) {
    // cwnd 10 x 1000: pieces of at most lowat - unsent are queued while the engine sends;
    // 10000 leave at once, then 5000 wait unsent and the write stops there (Linux
    // sk_stream_memory_free()). Writable again only once unsent * 2 < lowat.
    Verdict v = run_text(server("   +0 setsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [5000], 4) = 0\n"
                                "   +0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [5000], [4]) = 0\n"
                                "   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
                                "   +0 write(4, ..., 20000) = 15000\n"
                                "   +0 > P. 1:10001(10000) ack 1\n"
                                "   +0 poll([{fd=4, events=POLLOUT, revents=0}], 1, 0) = 0\n"
                                "   +0 write(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)\n"
                                " +.01 < . 1:1(0) ack 10001 win 257\n"
                                "   +0 > P. 10001:15001(5000) ack 1\n"
                                "   +0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(epoll_level_and_edge_triggered_events) {
    Verdict v = run_text(server("   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
                                "   +0 epoll_create(1) = 5\n"
                                "   +0 epoll_create1(0) = 6\n"
                                "   +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLOUT|EPOLLET, fd=4}) = 0\n"
                                "   +0 epoll_ctl(6, EPOLL_CTL_ADD, 4, {events=EPOLLIN, u64=77}) = 0\n"
                                "   +0 epoll_ctl(6, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = -1 EEXIST (File exists)\n"
                                "   +0 epoll_ctl(5, EPOLL_CTL_ADD, 5, {events=EPOLLIN, fd=5}) = -1 EINVAL (Invalid argument)\n"
                                // Edge-triggered: the initial EPOLLOUT once, then nothing.
                                "   +0 epoll_wait(5, {events=EPOLLOUT, fd=4}, 1, 0) = 1\n"
                                "   +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0\n"
                                "   +0 epoll_wait(6, {events=0, ptr=0}, 1, 0) = 0\n"
                                "   +0 < P. 1:101(100) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 101\n"
                                "   +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1\n"
                                "   +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0\n"
                                // Level-triggered: readable until read.
                                "   +0 epoll_wait(6, {events=EPOLLIN, u64=77}, 1, 0) = 1\n"
                                "   +0 epoll_wait(6, {events=EPOLLIN, u64=77}, 1, 0) = 1\n"
                                // More data is a new edge even though the socket was readable.
                                "   +0 < P. 101:201(100) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 201\n"
                                "   +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1\n"
                                "   +0 read(4, ..., 1000) = 200\n"
                                "   +0 epoll_wait(6, {events=0, ptr=0}, 1, 0) = 0\n"
                                "   +0 epoll_ctl(6, EPOLL_CTL_DEL, 4, ...) = 0\n"
                                "   +0 epoll_ctl(6, EPOLL_CTL_DEL, 4, ...) = -1 ENOENT (No such file or directory)\n"
                                "   +0 close(6) = 0\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(a_wrong_epoll_event_fails_at_the_field) {
    Verdict v = run_text(server("   +0 epoll_create(1) = 5\n"
                                "   +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLOUT, fd=4}) = 0\n"
                                "   +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1\n"));
    BOOST_TEST(failed_at(v, 12));
    BOOST_TEST(v.message.find("expected events=EPOLLIN") != std::string::npos, v.message);
}

BOOST_AUTO_TEST_CASE(shell_arithmetic_in_sysctl_values_is_applied) {
    // tcp_rmem max 1 MiB: window scale 5 (65535 << 4 < 1 MiB). Unevaluated, the setting would
    // be ignored and the defaults (15 MiB, wscale 8) would show.
    Verdict v = run_text(R"pd(`sysctl -q net.ipv4.tcp_rmem="4096 $((64*1024)) $((1024*1024))"`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 5>
)pd");
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(constructs_the_interpreter_cannot_run_are_unsupported_never_passed) {
    // sendmsg with control messages (e.g. SCM_TIMESTAMPING requests).
    Verdict a = run_text(server("   +0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, "
                                "msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMPING, cmsg_data=0}]}, 0) = 10\n"));
    BOOST_TEST(unsupported_at(a, 10), a.to_string());
    // An epoll_wait that would have to wait.
    Verdict b = run_text(server("   +0 epoll_create(1) = 5\n"
                                "   +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0\n"
                                "   +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 100) = 1\n"));
    BOOST_TEST(unsupported_at(b, 12), b.to_string());
    // A struct cmsg_data the interpreter does not know.
    Verdict c = run_text(server("   +0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n"
                                "   +0 < . 1:101(100) ack 1 win 257\n"
                                "   +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0, "
                                "msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data={x=1}}]}, 0) = 100\n"));
    BOOST_TEST(unsupported_at(c, 12), c.to_string());
    // An option the facade does not have (Linux has it).
    Verdict d = run_text(server("   +0 setsockopt(4, SOL_TCP, TCP_THIN_LINEAR_TIMEOUTS, [1], 4) = 0\n"));
    BOOST_TEST(unsupported_at(d, 10), d.to_string());
    // A symbolic Fast Open cookie parses and is reported as Fast Open.
    Verdict e = run_text(R"(    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:10(10) win 32792 <mss 1460,sackOK,nop,nop,FOEXP TFO_COOKIE>
)");
    BOOST_TEST((e.kind == Verdict::Kind::Unsupported), e.to_string());
    BOOST_TEST(e.message.find("Fast Open") != std::string::npos, e.message);
}

BOOST_AUTO_TEST_CASE(print_in_a_code_block_has_no_effect_and_asserts_still_count) {
    // packetdrill runs the blocks in Python: print() only writes to its output.
    Verdict ok = run_text(server("   +0 %{ print(tcpi_snd_cwnd); print('cwnd=%d' % (tcpi_snd_cwnd)); assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%\n"));
    BOOST_TEST(ok.message == "");
    BOOST_TEST(passed(ok));
    Verdict bad = run_text(server("   +0 %{ print(tcpi_snd_cwnd)\nassert tcpi_snd_cwnd == 11 }%\n"));
    BOOST_TEST(failed_at(bad, 10), bad.to_string());  // the block's line
}

BOOST_AUTO_TEST_CASE(the_tcp_notsent_lowat_sysctl_applies_to_sockets_that_set_none) {
    std::string text = server("   +0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0], [4]) = 0\n"
                                "   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
                                "   +0 write(4, ..., 20000) = 15000\n"
                                "   +0 > P. 1:10001(10000) ack 1\n"
                                // The socket's own value wins over the sysctl.
                                "   +0 setsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [100000], 4) = 0\n"
                                "   +0 write(4, ..., 20000) = 20000\n");
    text.replace(0, text.find('\n'), "`../common/defaults.sh\nsysctl -q net.ipv4.tcp_notsent_lowat=5000`");
    Verdict v = run_text(text);
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}

BOOST_AUTO_TEST_CASE(a_blocking_poll_returns_when_ready_or_at_its_timeout) {
    Verdict v = run_text(server("   +0...0.05 poll([{fd=4, events=POLLIN, revents=POLLIN}], 1, 1000) = 1\n"
                                "  +.05 < P. 1:101(100) ack 1 win 257\n"
                                "   +0 > . 1:1(0) ack 101\n"
                                "   +0 read(4, ..., 100) = 100\n"
                                // Nothing arrives: poll returns 0 after its 30 ms.
                                "   +0...0.03 poll([{fd=4, events=POLLIN, revents=0}], 1, 30) = 0\n"));
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
    // Returning later than written is a timing failure at the call.
    Verdict late = run_text(server("   +0...0.02 poll([{fd=4, events=POLLIN, revents=0}], 1, 30) = 0\n"));
    BOOST_TEST(failed_at(late, 10), late.to_string());
}

BOOST_AUTO_TEST_CASE(tcp_syncnt_bounds_the_syn_retransmissions_of_the_next_connect) {
    // Linux: 2 retries -> SYNs at 0, 1 and 3 s, ETIMEDOUT at 7 s; the default (5) would still be
    // trying then.
    Verdict v = run_text(R"(`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_TCP, TCP_SYNCNT, [0], 4) = -1 EINVAL (Invalid argument)
   +0 getsockopt(3, SOL_TCP, TCP_SYNCNT, [5], [4]) = 0
   +0 setsockopt(3, SOL_TCP, TCP_SYNCNT, [2], 4) = 0
   +0 getsockopt(3, SOL_TCP, TCP_SYNCNT, [2], [4]) = 0
   +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <...>
   +1 > S 0:0(0) <...>
   +2 > S 0:0(0) <...>
 +4.5 getsockopt(3, SOL_SOCKET, SO_ERROR, [ETIMEDOUT], [4]) = 0
)");
    BOOST_TEST(v.message == "");
    BOOST_TEST(passed(v));
}
