// The SEEDS-CHECKLIST.md items the sockets facade covers, one test each. The table below is the
// list of test names in test_sockets_checklist.cpp and test_sockets_teaching.cpp; this module
// reads those sources and fails when a test is added, renamed or removed without the table.
#define BOOST_TEST_MODULE stack_sockets_coverage
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Item {
    const char* section;  // checklist section
    const char* test;     // the test that proves it
};

const std::vector<Item> kChecklistTests = {
    {"1 socket()", "socket_protocol_zero_chooses_tcp"},
    {"1 socket()", "socket_type_flags_nonblock_and_cloexec_take_effect"},
    {"1 socket()", "so_type_so_domain_so_protocol_are_read_only"},
    {"1 bind()", "bind_on_a_bound_socket_gives_einval"},
    {"1 bind()", "bind_to_the_wildcard_address"},
    {"1 bind()", "bind_port_zero_picks_an_ephemeral_port_keeping_the_ip"},
    {"1 bind()", "bind_to_a_port_in_use_gives_eaddrinuse"},
    {"1 bind()", "bind_fails_while_any_connection_incarnation_uses_the_port"},
    {"1 bind()", "client_binding_a_specific_port_can_hit_eaddrinuse"},
    {"1 bind()", "bind_to_a_non_local_address_gives_eaddrnotavail"},
    {"1 implicit bind", "connect_on_an_unbound_socket_binds_an_ephemeral_port"},
    {"1 implicit bind", "listen_without_bind_gets_an_ephemeral_port"},
    {"1 listen()", "listen_sets_so_acceptconn"},
    {"1 listen()", "listen_backlog_bounds_unaccepted_connections"},
    {"1 listen()", "listen_backlog_is_capped_at_somaxconn"},
    {"1 accept()", "accept_returns_a_new_socket_and_the_listener_keeps_listening"},
    {"1 accept()", "blocking_accept_returns_after_the_handshake_completes"},
    {"1 accept()", "accepted_sockets_share_the_listeners_local_address"},
    {"1 accept()", "accept_reports_the_peer_address"},
    {"1 accept()", "accept_on_a_socket_that_is_not_listening_gives_einval"},
    {"1 connect()", "connect_is_an_active_open_sending_a_syn"},
    {"1 connect()", "nonblocking_connect_gives_einprogress_then_pollout"},
    {"1 connect()", "connect_timing_out_under_so_sndtimeo_gives_einprogress"},
    {"1 connect()", "connect_while_a_connect_is_pending_gives_ealready"},
    {"1 connect()", "connect_on_a_connected_socket_gives_eisconn"},
    {"1 connect()", "connect_answered_by_rst_gives_econnrefused"},
    {"1 connect()", "connect_with_syn_retries_exhausted_gives_etimedout"},
    {"1 close()", "close_with_another_descriptor_open_sends_no_fin"},
    {"1 close()", "close_of_the_last_descriptor_sends_fin_and_enters_fin_wait1"},
    {"1 close()", "close_in_close_wait_sends_fin_and_enters_last_ack"},
    {"1 close()", "close_returns_at_once_by_default"},
    {"1 close()", "so_linger_makes_close_wait_until_the_data_is_acknowledged"},
    {"1 close()", "close_with_unread_data_sends_rst"},
    {"1 close()", "so_linger_zero_aborts_with_rst_and_no_time_wait"},
    {"1 shutdown()", "shut_rd_reads_return_eof_and_writes_still_work"},
    {"1 shutdown()", "shut_wr_half_close_peer_reads_eof_and_we_still_read"},
    {"1 shutdown()", "write_after_shut_wr_gives_epipe_and_sigpipe"},
    {"1 shutdown()", "shut_rdwr_is_shut_rd_then_shut_wr"},
    {"1 shutdown()", "shutdown_acts_on_the_open_file_description_across_dup"},
    {"1 shutdown()", "shutdown_does_not_close_the_descriptor"},
    {"1 shutdown()", "shut_wr_starts_the_active_close_whatever_other_descriptors_exist"},
    {"1 shutdown()", "shut_rd_linux_later_peer_data_is_still_readable"},
    {"1 shutdown()", "shut_rd_bsd_personality_always_reads_eof"},
    {"1 shutdown()", "shutdown_bad_how_gives_einval_and_unconnected_gives_enotconn"},
    {"1 getsockname/getpeername", "getsockname_and_getpeername_mirror_each_other"},
    {"1 getsockname/getpeername", "getpeername_on_an_unconnected_socket_gives_enotconn"},
    {"2 partial reads and writes", "partial_read_returns_what_is_available"},
    {"2 partial reads and writes", "nonblocking_partial_write_returns_the_count_that_fitted"},
    {"2 partial reads and writes", "blocking_send_moves_everything_like_sendall"},
    {"2 recv() flags", "recv_returns_zero_at_eof"},
    {"2 recv() flags", "msg_dontwait_recv_without_data_gives_eagain"},
    {"2 recv() flags", "msg_peek_leaves_the_data_queued"},
    {"2 recv() flags", "msg_waitall_waits_for_the_full_length"},
    {"2 recv() flags", "msg_waitall_returns_early_at_eof_or_error"},
    {"2 recv() flags", "msg_oob_reads_the_urgent_byte"},
    {"2 send() flags", "msg_dontwait_send_with_a_full_buffer_gives_eagain"},
    {"2 send() flags", "msg_more_holds_data_until_a_call_without_it"},
    {"2 send() flags", "msg_nosignal_gives_epipe_without_sigpipe"},
    {"2 send() flags", "msg_oob_send_sets_urgent_data"},
    {"2 EOF, SIGPIPE and EPIPE", "write_after_the_peer_closed_draws_rst_then_epipe"},
    {"2 EOF, SIGPIPE and EPIPE", "poll_reports_pollhup_on_a_broken_connection"},
    {"2 other I/O calls", "read_write_readv_writev_work_on_sockets"},
    {"2 other I/O calls", "pread_pwrite_lseek_on_a_socket_give_espipe"},
    {"2 other I/O calls", "sendfile_with_an_offset_updates_it_and_not_the_file_offset"},
    {"2 other I/O calls", "sendfile_without_an_offset_uses_and_advances_the_file_offset"},
    {"2 other I/O calls", "sendmsg_recvmsg_gather_and_scatter"},
    {"2 TCP_CORK", "tcp_cork_holds_output_until_uncork_or_200ms"},
    {"3 readiness", "o_nonblock_via_fcntl_gives_eagain_and_einprogress"},
    {"3 readiness", "poll_io_events_table"},
    {"3 readiness", "listening_socket_is_readable_when_accept_would_not_block"},
    {"3 readiness", "peer_fin_gives_pollin_and_pollrdhup_not_pollhup"},
    {"3 readiness", "so_rcvlowat_and_so_sndlowat_default_to_one_and_sndlowat_is_fixed"},
    {"3 readiness", "so_rcvtimeo_gives_eagain_or_the_partial_count"},
    {"4.1 SOL_SOCKET", "options_belong_to_the_open_file_description"},
    {"4.1 SOL_SOCKET", "so_error_reads_and_clears_the_pending_error"},
    {"4.1 SOL_SOCKET", "so_keepalive_probes_an_idle_connection"},
    {"4.1 SOL_SOCKET", "so_linger_takes_a_struct_linger"},
    {"4.1 SOL_SOCKET", "so_oobinline_puts_the_urgent_byte_in_the_stream"},
    {"4.1 SOL_SOCKET", "so_rcvbuf_is_doubled_with_the_linux_minimum_and_cap"},
    {"4.1 SOL_SOCKET", "so_sndbuf_is_doubled_with_the_linux_minimum"},
    {"4.1 SOL_SOCKET", "so_reuseaddr_is_off_by_default"},
    {"4.1 SOL_SOCKET", "so_reuseaddr_on_both_sockets_allows_bind_beside_time_wait"},
    {"4.1 SOL_SOCKET", "so_reuseaddr_does_not_beat_an_active_listener"},
    {"4.1 SOL_SOCKET", "so_reuseaddr_bsd_personality_needs_it_only_on_the_later_socket"},
    {"4.1 SOL_SOCKET", "so_reuseport_lets_sockets_that_all_set_it_share_a_port"},
    {"4.3 inheritance across accept()", "accept_does_not_inherit_o_nonblock_or_fd_cloexec"},
    {"4.3 inheritance across accept()", "accept_inherits_socket_options"},
    {"4.3 inheritance across accept()", "accept_inherits_o_nonblock_under_the_bsd_personality"},
    {"4.4 IPPROTO_TCP/IPPROTO_IP", "tcp_options_follow_tcp7"},
    {"4.4 IPPROTO_TCP/IPPROTO_IP", "tcp_info_reports_state_rto_and_cwnd"},
    {"4.4 IPPROTO_TCP/IPPROTO_IP", "tcp_congestion_names_reno_and_cubic"},
    {"4.4 IPPROTO_TCP/IPPROTO_IP", "ip_ttl_and_ip_tos_follow_ip7"},
    {"4.1 SOL_SOCKET", "bad_option_arguments_give_the_linux_errno"},
    {"6 error codes", "ioctl_queue_sizes_and_unknown_requests"},
    {"6 error codes", "econnreset_when_the_peer_aborts"},
    {"3 readiness", "poll_over_many_descriptors_waits_in_virtual_time"},
};

const std::vector<Item> kTeachingTests = {
    {"11 T01", "t01_server_restart_vs_time_wait"},
    {"11 T02", "t02_restart_while_a_child_still_serves"},
    {"11 T03", "t03_listener_on_the_wildcard_blocks_every_address"},
    {"11 T10", "t10_half_close_echo_client"},
    {"11 T11", "t11_dup_then_close_vs_shutdown"},
    {"11 T15", "t15_implicit_bind_and_ephemeral_ports"},
    {"11 T16", "t16_nonblocking_connect"},
    {"11 T17", "t17_receive_timeout"},
    {"11 T18", "t18_partial_reads_and_msg_waitall"},
    {"11 T21", "t21_buffer_size_doubling"},
    {"11 T22", "t22_so_rcvlowat_readiness"},
    {"11 T23", "t23_what_accept_inherits"},
    {"11 T24", "t24_so_linger"},
    {"11 T25", "t25_backlog_overflow"},
};

// Test-case names in a test source, in order.
std::vector<std::string> test_names(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    if (!in) return out;
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const std::string key = "BOOST_AUTO_TEST_CASE(";
    for (std::size_t p = text.find(key); p != std::string::npos; p = text.find(key, p + 1)) {
        const std::size_t b = p + key.size();
        const std::size_t e = text.find(')', b);
        if (e != std::string::npos) out.push_back(text.substr(b, e - b));
    }
    return out;
}

void check_in_step(const std::vector<Item>& table, const std::string& file) {
    const std::string path = std::string(TCPSIM_SOURCE_DIR) + "/tests/stack/" + file;
    const std::vector<std::string> found = test_names(path);
    if (found.empty()) {
        BOOST_TEST_MESSAGE("skipped: cannot read " << path);
        return;
    }
    std::set<std::string> listed, present(found.begin(), found.end());
    for (const Item& i : table) {
        BOOST_TEST(listed.insert(i.test).second, "listed twice: " << i.test);
        BOOST_TEST(present.count(i.test) == 1u, "listed but no such test in " << file << ": " << i.test);
    }
    for (const std::string& t : found) BOOST_TEST(listed.count(t) == 1u, "test missing from the table: " << t);
    BOOST_TEST(found.size() == present.size(), "duplicate test names in " << file);
    BOOST_TEST(table.size() == found.size());
}

}  // namespace

BOOST_AUTO_TEST_CASE(checklist_table_matches_the_checklist_tests) {
    check_in_step(kChecklistTests, "test_sockets_checklist.cpp");
}

BOOST_AUTO_TEST_CASE(teaching_table_matches_the_teaching_tests) {
    check_in_step(kTeachingTests, "test_sockets_teaching.cpp");
    // The scenarios of §11 this facade owns.
    const std::set<std::string> expected = {"T01", "T02", "T03", "T10", "T11", "T15", "T16", "T17",
                                            "T18", "T21", "T22", "T23", "T24", "T25"};
    std::set<std::string> have;
    for (const Item& i : kTeachingTests) have.insert(std::string(i.section).substr(3));
    BOOST_TEST(have == expected, "teaching scenarios covered differ from T1-T3, T10-T11, T15-T18, T21-T25");
}

BOOST_AUTO_TEST_CASE(every_checklist_test_names_a_section) {
    for (const Item& i : kChecklistTests) BOOST_TEST(std::string(i.section).size() > 2u, i.test);
}
