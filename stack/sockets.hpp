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
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "link/bytes.hpp"
#include "link/time.hpp"
#include "stack/event_queue.hpp"
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

// "EAGAIN", "ECONNREFUSED", ... (the symbolic name; "0" for no error).
const char* errno_name(int err);

class Sockets final : private EventTarget {
public:
    explicit Sockets(Host& host);
    ~Sockets();
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

    // ---- options (core set; the full table is layered on later) ----
    // SOL_SOCKET: SO_ERROR (read clears), SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN,
    // SO_REUSEADDR, SO_KEEPALIVE, SO_RCVBUF/SO_SNDBUF (doubled like Linux); IPPROTO_TCP:
    // TCP_NODELAY. Others: ENOPROTOOPT.
    SysResult getsockopt(int fd, int level, int name, int& value);
    SysResult setsockopt(int fd, int level, int name, int value);

    // ---- readiness ----
    // The poll(2) revents of `fd` for all events (Linux tcp_poll()); POLLNVAL for a bad fd.
    short poll(int fd) const;
    using WaitId = std::uint64_t;
    // Calls `done(revents)` once `fd` has any of `events` (or POLLERR/POLLHUP/POLLNVAL, which are
    // always reported), or with 0 when `deadline` passes first (kTimeNever: no deadline). Always
    // from a world event, even when already ready. Returns an id for cancel_wait().
    WaitId wait(int fd, short events, Time deadline, std::function<void(short revents)> done);
    bool cancel_wait(WaitId id);

    // ---- introspection ----
    bool valid(int fd) const;
    bool nonblocking(int fd) const;
    std::size_t open_descriptors() const;
    // The TCP state behind `fd` (Closed for a fresh socket), for tests and netstat.
    tcp::State state(int fd) const;
    static constexpr int kMaxDescriptors = 1024;  // RLIMIT_NOFILE soft default

private:
    struct Socket;
    struct Descriptor {
        std::shared_ptr<Socket> sock;
        bool cloexec = false;
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
    int allocate_fd(std::shared_ptr<Socket> s, bool cloexec, int min_fd = 3);
    void release(Socket& s);
    short poll_bits(const Socket& s) const;
    void socket_changed(Socket& s);
    void check_waiters();
    void on_event(Time now, std::uint64_t tag) override;
    void finish_wait(WaitId id, short revents);
    SysResult traced(int fd, std::string_view call, std::string_view detail, SysResult r);
    bool tracing() const;

    Host& host_;
    std::vector<Descriptor> fds_;
    std::unordered_map<WaitId, Waiter> waiters_;
    std::vector<std::shared_ptr<Socket>> dirty_;  // sockets whose readiness may have changed
    WaitId next_wait_ = 1;
    TimerHandle check_event_;  // the pending readiness check (one at a time)
    bool sigpipe_ = false;
    std::uint64_t next_socket_id_ = 1;
    std::shared_ptr<bool> alive_;  // guards events scheduled by this layer after destruction
};

}  // namespace tcpsim::stack
