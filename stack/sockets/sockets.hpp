// The BSD socket facade of one host (core): descriptors, open file descriptions, errno results,
// readiness, and waiting in virtual time. Constants are the system's (<sys/socket.h>, <poll.h>,
// <fcntl.h>, <cerrno>), so code reads like C socket code and values match Linux.
//
// Layers, as in the kernel:
//   descriptor (int fd, FD_CLOEXEC)  --->  open file description (O_NONBLOCK, the socket)
//   dup() makes a second descriptor for the same description; close() drops one descriptor and
//   the socket is released when the last one goes; shutdown() acts on the description, so it
//   affects every dup (TLPI 61.2).
//
// Results: SysResult{value, err}. Success: value >= 0, err == 0. Failure: value == -1 and err an
// errno value (EAGAIN, ECONNREFUSED, ...), exactly what the system call would return.
//
// BLOCKING in a single-threaded event loop. Nothing here ever blocks. A call on a BLOCKING
// descriptor (no O_NONBLOCK, no MSG_DONTWAIT) that cannot complete now returns with
// `wait_for` set to the poll events it needs (POLLIN for recv/accept, POLLOUT for send/connect):
//   - recv/accept: {-1, EAGAIN, POLLIN};  connect: {-1, EINPROGRESS, POLLOUT} (the SYN is out);
//   - send: {n, 0, POLLOUT} after queuing n < len bytes (n may be 0 as {-1, EAGAIN, POLLOUT}).
// The caller (the scenario runner, a test) then parks the script with
//   sockets.wait(fd, r.wait_for, deadline, [..](short revents) { ... call again ... });
// and repeats the SAME call (for send: with the remaining bytes) when woken. A repeated connect()
// returns 0 once established or the error (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH) — Linux's
// second-connect semantics. If the deadline (SO_RCVTIMEO/SO_SNDTIMEO) passes first, revents is 0
// and the call's result is the would-block result (EAGAIN; EINPROGRESS for connect, socket(7)).
// Non-blocking descriptors never get wait_for.
//
// Wake-ups are always delivered as world events (never inside the stack's own callbacks), in
// the order the waits were registered.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <span>
#include <linux/sockios.h>  // SIOCINQ, SIOCOUTQ, SIOCOUTQNSD
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "stack/sim/event_queue.hpp"
#include "tcp/config.hpp"
#include "tcp/types.hpp"

namespace tcpsim::stack {

class Host;
class ConnectionRecord;

struct SysResult {
    long value = 0;
    int err = 0;          // errno value when value == -1
    short wait_for = 0;   // blocking descriptor: poll events to wait for before calling again
    bool ok() const { return err == 0; }
    bool would_block() const { return wait_for != 0; }
    static SysResult success(long v = 0) { return SysResult{v, 0, 0}; }
    static SysResult failure(int e) { return SysResult{-1, e, 0}; }
    static SysResult blocked(int e, short events) { return SysResult{-1, e, events}; }
};

// TCP_INFO as Linux lays it out (include/uapi/linux/tcp.h): glibc's struct tcp_info is the
// prefix up to tcpi_total_retrans; Linux continues with these fields. getsockopt copies
// min(optlen, sizeof) bytes, so a caller with glibc's struct gets the prefix, as on Linux.
struct TcpInfo {
    struct tcp_info base;
    std::uint64_t pacing_rate = 0;
    std::uint64_t max_pacing_rate = 0;
    std::uint64_t bytes_acked = 0;
    std::uint64_t bytes_received = 0;
    std::uint32_t segs_out = 0;
    std::uint32_t segs_in = 0;
};

// "EAGAIN", "ECONNREFUSED", ... (the symbolic name; "0" for no error).
const char* errno_name(int err);

class Sockets final : private EventTarget {
public:
    explicit Sockets(Host& host);
    ~Sockets();
    using WaitId = std::uint64_t;
    Sockets(const Sockets&) = delete;
    Sockets& operator=(const Sockets&) = delete;

    // ---- descriptors ----
    // socket(AF_INET, SOCK_STREAM[|SOCK_NONBLOCK|SOCK_CLOEXEC], 0 or IPPROTO_TCP). Errors as
    // Linux: EAFNOSUPPORT (family), EINVAL (type out of range, unknown type flags, protocol out of
    // range), ESOCKTNOSUPPORT (a type other than SOCK_STREAM: only TCP is simulated),
    // EPROTONOSUPPORT (protocol not TCP), EMFILE (descriptor limit). Descriptors start at 3.
    SysResult socket(int domain, int type, int protocol);
    SysResult close(int fd);
    SysResult dup(int fd);
    SysResult dup2(int fd, int newfd);
    // F_GETFL/F_SETFL (O_NONBLOCK; on the description), F_GETFD/F_SETFD (FD_CLOEXEC).
    SysResult fcntl(int fd, int cmd, long arg = 0);

    // ---- connection calls ----
    SysResult bind(int fd, tcp::Endpoint local);
    SysResult listen(int fd, int backlog);
    // `peer` (optional) receives the peer address. flags: SOCK_NONBLOCK, SOCK_CLOEXEC (accept4).
    SysResult accept(int fd, tcp::Endpoint* peer = nullptr, int flags = 0);
    SysResult connect(int fd, tcp::Endpoint remote);
    SysResult shutdown(int fd, int how);
    SysResult getsockname(int fd, tcp::Endpoint& out);
    SysResult getpeername(int fd, tcp::Endpoint& out);

    // ---- data ----
    // flags: MSG_DONTWAIT, MSG_PEEK (recv), MSG_OOB, MSG_MORE (send), MSG_NOSIGNAL (send).
    // send() on a connection shut for writing (or reset) fails with EPIPE; Linux also raises
    // SIGPIPE unless MSG_NOSIGNAL: see last_call_raised_sigpipe().
    SysResult send(int fd, Bytes data, int flags = 0);
    SysResult recv(int fd, MutableBytes out, int flags = 0);
    bool last_call_raised_sigpipe() const { return sigpipe_; }
    // SIGPIPEs raised so far (each also a trace event: call "signal", detail "SIGPIPE").
    std::uint64_t sigpipe_count() const { return sigpipe_count_; }

    // Linux-style aliases and vectored I/O. read()/write() on a socket are recv()/send() with no
    // flags; on a memory file (open_memory_file) read() reads at the file offset and write()
    // fails with EBADF (the file is read-only).
    SysResult read(int fd, MutableBytes out);
    SysResult write(int fd, Bytes data);
    SysResult readv(int fd, const struct iovec* iov, int iovcnt);
    SysResult writev(int fd, const struct iovec* iov, int iovcnt);
    // msg_name/msg_control are ignored on the way in; on the way out msg_namelen is 0 and
    // msg_flags carries MSG_OOB when the urgent byte was read (Linux). recvmsg() control data
    // (msg_controllen = bytes used, MSG_CTRUNC when msg_control is too small):
    //   - with TCP_INQ set, a SOL_TCP/TCP_CM_INQ int after every successful read: the bytes
    //     left to read, plus 1 once the peer's FIN arrived (Linux tcp_inq_hint());
    //   - MSG_ERRQUEUE: one SOL_IP/IP_RECVERR sock_extended_err per call for completed
    //     MSG_ZEROCOPY sends (SO_EE_ORIGIN_ZEROCOPY, ee_info..ee_data = first..last id,
    //     SO_EE_CODE_ZEROCOPY_COPIED), EAGAIN when there is none.
    // sendmsg() skips zero-length iovecs (all empty: 0 bytes, 0 returned). MSG_ZEROCOPY on
    // send()/sendmsg() counts only with SO_ZEROCOPY set (otherwise ignored, as Linux).
    SysResult sendmsg(int fd, const struct msghdr* msg, int flags);
    SysResult recvmsg(int fd, struct msghdr* msg, int flags);
    // Sockets cannot seek (socket(7)): ESPIPE. EBADF for a bad descriptor first.
    SysResult pread(int fd, MutableBytes out, long offset);
    SysResult pwrite(int fd, Bytes data, long offset);
    SysResult lseek(int fd, long offset, int whence);

    // ---- an in-memory file table (the in_fd of sendfile) ----
    // A read-only "regular file" holding `bytes`; the returned descriptor shares the table with
    // sockets (socket calls on it give ENOTSOCK). Files never block.
    SysResult open_memory_file(Bytes bytes);
    // sendfile(2): out_fd a socket, in_fd a memory file (else EINVAL). `offset` non-null: read
    // from *offset, update *offset, leave the file offset alone; null: use and advance the file
    // offset (TLPI 61.4). Sends min(count, bytes left); blocking/partial results as send().
    SysResult sendfile(int out_fd, int in_fd, long* offset, std::size_t count);

    // ---- ioctl ----
    // FIONREAD/SIOCINQ, SIOCOUTQ, SIOCOUTQNSD (EINVAL on a listener, Linux tcp_ioctl),
    // SIOCATMARK, FIONBIO (*arg != 0 sets O_NONBLOCK). Unknown requests: ENOTTY.
    SysResult ioctl(int fd, unsigned long request, int* arg);

    // ---- options ----
    // getsockopt/setsockopt as the system calls. get: optlen is value-result and, like Linux,
    // a short buffer gets the value truncated (EINVAL only for a negative length). set: EINVAL
    // when optlen is shorter than the option's type (int, struct linger, struct timeval).
    // Errors: EBADF/ENOTSOCK, EFAULT (null pointers), ENOPROTOOPT (unknown option or level, and
    // setting a read-only one: SO_TYPE, SO_ERROR, ..., SO_SNDLOWAT, TCP_INFO), EDOM (bad
    // tv_usec), ENOENT (unknown TCP_CONGESTION). Options live on the open file description.
    // Beyond the basics: TCP_INQ (0/1, see recvmsg), TCP_SYNCNT (1..127), SO_ZEROCOPY (0/1),
    // TCP_NOTSENT_LOWAT (any u32, 0 = the host default): send() stops queuing once the unsent
    // bytes reach it and POLLOUT needs unsent * 2 < lowat (Linux sk_stream_memory_free()).
    SysResult getsockopt(int fd, int level, int name, void* optval, socklen_t* optlen);
    SysResult setsockopt(int fd, int level, int name, const void* optval, socklen_t optlen);
    // Convenience for int-valued options (optlen = sizeof(int)).
    SysResult getsockopt(int fd, int level, int name, int& value);
    SysResult setsockopt(int fd, int level, int name, int value);
    // net.ipv4.tcp_notsent_lowat: the TCP_NOTSENT_LOWAT of sockets that set none (0). Linux's
    // default UINT32_MAX means no limit. Applies to calls made after it is set.
    void set_default_notsent_lowat(std::uint32_t bytes) { notsent_lowat_default_ = bytes == 0 ? UINT32_MAX : bytes; }
    // The deadline a blocking call waiting for `wait_for` should give wait(): now + SO_RCVTIMEO
    // for POLLIN, now + SO_SNDTIMEO for POLLOUT (connect too, Linux); kTimeNever when unset.
    Time deadline_for(int fd, short wait_for) const;

    // ---- blocking calls driven in virtual time ----
    // Each runs the call as a blocking call would on this descriptor: it repeats the call on
    // wake-ups, honours SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN, EINPROGRESS for connect; a partial
    // count when some data moved first) and calls `done` with the final result, always from a
    // world event. `data`/`out` must stay valid until `done`. MSG_WAITALL keeps reading until
    // `out` is full, EOF, an error, or the urgent mark.
    using Done = std::function<void(SysResult)>;
    void blocking_send(int fd, Bytes data, int flags, Done done);
    void blocking_recv(int fd, MutableBytes out, int flags, Done done);
    void blocking_connect(int fd, tcp::Endpoint remote, Done done);
    void blocking_accept(int fd, Done done);
    // SO_LINGER with l_linger > 0: close() of a connection with data still unacknowledged
    // returns {0, 0, POLLOUT}: the descriptor is gone, but the caller of a blocking close waits
    // with wait_close(): done(POLLOUT) once everything (FIN included) is acknowledged, done(0)
    // when l_linger seconds pass first (Linux then finishes in the background).
    WaitId wait_close(std::function<void(short revents)> done);

    // ---- readiness ----
    // The poll(2) revents of `fd` for all events (Linux tcp_poll()); POLLNVAL for a bad fd.
    short poll(int fd) const;
    // Calls `done(revents)` once `fd` has any of `events` (or POLLERR/POLLHUP/POLLNVAL, which are
    // always reported), or with 0 when `deadline` passes first (kTimeNever: no deadline). Always
    // from a world event, even when already ready. Returns an id for cancel_wait().
    WaitId wait(int fd, short events, Time deadline, std::function<void(short revents)> done);
    bool cancel_wait(WaitId id);
    // poll(2) over many descriptors: fills revents (POLLNVAL for a bad fd, 0 for a negative
    // fd) and returns how many have any; EINVAL when fds.size() exceeds the descriptor limit.
    SysResult poll(std::span<struct pollfd> fds);
    // The blocking form: done(fds with revents, n) as soon as any is ready, or with n == 0 after
    // timeout_ms (negative: forever) of virtual time. Always from a world event.
    void poll_wait(std::vector<struct pollfd> fds, int timeout_ms,
                   std::function<void(std::vector<struct pollfd>&, int n)> done);

    // ---- epoll(7) ----
    // An epoll instance is a descriptor (socket calls on it: ENOTSOCK; close() ends it).
    // Level-triggered items report poll(2) readiness; EPOLLET reports an event once per edge
    // (readiness that appeared since the previous look, or more bytes to read), EPOLLONESHOT
    // disarms the item after one report until EPOLL_CTL_MOD. epoll_wait() here never blocks
    // (timeout 0): it fills `events` (maxevents = events.size(), 0 -> EINVAL) and returns the
    // count; a caller that needs to wait uses wait()/poll_wait() on the watched sockets.
    // Errors as Linux: EBADF, EINVAL (not an epoll, bad op/flags, fd == epfd), EEXIST, ENOENT,
    // EPERM (a memory file or another epoll as target: nesting is not simulated).
    SysResult epoll_create(int size);
    SysResult epoll_create1(int flags);
    SysResult epoll_ctl(int epfd, int op, int fd, const struct epoll_event* event);
    SysResult epoll_wait(int epfd, std::span<struct epoll_event> events);

    // ---- introspection ----
    bool valid(int fd) const;
    bool nonblocking(int fd) const;
    std::size_t open_descriptors() const;
    // The TCP state behind `fd` (Closed for a fresh socket), for tests and netstat.
    tcp::State state(int fd) const;
    static constexpr int kMaxDescriptors = 1024;  // RLIMIT_NOFILE soft default

private:
    struct Socket;
    struct Epoll;
    struct MemoryFile {
        ByteVector bytes;
        std::size_t offset = 0;
    };
    struct Descriptor {
        std::shared_ptr<Socket> sock;
        std::shared_ptr<MemoryFile> file;
        bool cloexec = false;
        std::shared_ptr<Epoll> ep;
        bool used() const { return sock != nullptr || file != nullptr || ep != nullptr; }
    };
    struct Waiter {
        std::shared_ptr<Socket> sock;
        int fd;
        short events;
        TimerHandle deadline;
        std::function<void(short)> done;
    };
    friend struct Socket;

    Socket* lookup(int fd) const;
    MemoryFile* lookup_file(int fd) const;
    Epoll* lookup_epoll(int fd) const;
    void epoll_look(Socket& s);  // edge detection for the epolls watching `s`
    int bad_fd(int fd) const;  // ENOTSOCK for a file descriptor, else EBADF
    int allocate_fd(std::shared_ptr<Socket> s, bool cloexec, int min_fd = 3);
    int allocate_descriptor(Descriptor d, int min_fd = 3);
    void raise_sigpipe(int fd);
    void linger_check(Socket& s);
    void linger_finish(const std::shared_ptr<Socket>& s, short revents);
    template <class Call>
    void drive(int fd, Call call, Done done);
    void release(Socket& s);
    short poll_bits(const Socket& s) const;
    void socket_changed(Socket& s);
    void check_waiters();
    void on_event(Time now, std::uint64_t tag) override;
    void finish_wait(WaitId id, short revents);
    SysResult traced(int fd, std::string_view call, std::string_view detail, SysResult r);
    bool zerocopy_ready(const Socket& s) const;  // a MSG_ZEROCOPY completion can be reported
    void zerocopy_reap(Socket& s);               // completed sends -> the error queue
    int inq_hint(const Socket& s) const;         // TCP_CM_INQ value (Linux tcp_inq_hint)
    bool tracing() const;

    Host& host_;
    std::vector<Descriptor> fds_;
    // Waiters come and go once per wake-up: their map nodes are recycled by a pool instead of
    // the heap (DESIGN.md: no per-segment allocation). The pool must outlive the map.
    std::pmr::unsynchronized_pool_resource wait_pool_;
    std::pmr::unordered_map<WaitId, Waiter> waiters_{&wait_pool_};
    std::vector<std::shared_ptr<Socket>> dirty_;  // sockets whose readiness may have changed
    // check_waiters()'s working buffers, kept for their capacity (swapped, never freed).
    std::vector<std::shared_ptr<Socket>> dirty_spare_;
    std::vector<std::pair<WaitId, short>> ready_spare_;
    WaitId next_wait_ = 1;
    TimerHandle check_event_;  // the pending readiness check (one at a time)
    bool sigpipe_ = false;
    std::uint64_t sigpipe_count_ = 0;
    ByteVector scratch_;  // readv/writev/sendmsg/recvmsg gather buffer (reused)
    std::vector<std::shared_ptr<Socket>> lingering_;  // closed, waiting out SO_LINGER
    std::shared_ptr<Socket> last_lingering_;         // what wait_close() waits for
    std::uint64_t next_socket_id_ = 1;
    std::shared_ptr<bool> alive_;  // guards events scheduled by this layer after destruction
    std::uint32_t notsent_lowat_default_ = UINT32_MAX;  // net.ipv4.tcp_notsent_lowat
};

}  // namespace tcpsim::stack
