#include "stack/sockets/sockets.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>

#include <linux/errqueue.h>
#include <optional>
#include <string>

#include "stack/host/host.hpp"

namespace tcpsim::stack {

const char* errno_name(int err) {
    switch (err) {
        case 0: return "0";
        case EPERM: return "EPERM";
        case ENOENT: return "ENOENT";
        case EEXIST: return "EEXIST";
        case EINTR: return "EINTR";
        case EBADF: return "EBADF";
        case EAGAIN: return "EAGAIN";
        case EACCES: return "EACCES";
        case EFAULT: return "EFAULT";
        case EINVAL: return "EINVAL";
        case EMFILE: return "EMFILE";
        case EPIPE: return "EPIPE";
        case ENOTSOCK: return "ENOTSOCK";
        case EDESTADDRREQ: return "EDESTADDRREQ";
        case EMSGSIZE: return "EMSGSIZE";
        case EPROTOTYPE: return "EPROTOTYPE";
        case ENOPROTOOPT: return "ENOPROTOOPT";
        case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
        case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
        case EOPNOTSUPP: return "EOPNOTSUPP";
        case EAFNOSUPPORT: return "EAFNOSUPPORT";
        case EADDRINUSE: return "EADDRINUSE";
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
        case ENETDOWN: return "ENETDOWN";
        case ENETUNREACH: return "ENETUNREACH";
        case ECONNABORTED: return "ECONNABORTED";
        case ECONNRESET: return "ECONNRESET";
        case ENOBUFS: return "ENOBUFS";
        case EISCONN: return "EISCONN";
        case ENOTCONN: return "ENOTCONN";
        case ETIMEDOUT: return "ETIMEDOUT";
        case ECONNREFUSED: return "ECONNREFUSED";
        case EHOSTDOWN: return "EHOSTDOWN";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        case EALREADY: return "EALREADY";
        case EINPROGRESS: return "EINPROGRESS";
        case ENONET: return "ENONET";
        case ENOTTY: return "ENOTTY";
        case ESPIPE: return "ESPIPE";
        case EDOM: return "EDOM";
        default: return "E?";
    }
}

namespace {
constexpr short kReadable = POLLIN | POLLRDNORM;
constexpr short kWritable = POLLOUT | POLLWRNORM;
constexpr short kAlwaysReported = POLLERR | POLLHUP | POLLNVAL;
}  // namespace

// The open file description + socket (one object: a socket has exactly one description).
struct Sockets::Socket final : ConnectionOwner, std::enable_shared_from_this<Sockets::Socket> {
    // Linux's struct socket state (SS_*), distinct from the TCP state.
    enum class SockState { Unconnected, Connecting, Connected };

    Sockets* layer = nullptr;
    std::uint64_t id = 0;
    int refs = 0;  // descriptors referring to this description
    bool nonblocking = false;
    SockState sock_state = SockState::Unconnected;
    tcp::Config cfg;
    bool reuse_addr = false;
    bool bound = false;
    bool explicit_bind = false;
    std::uint64_t lease = 0;  // held while bound and no record holds it
    tcp::Endpoint local;
    tcp::Endpoint bind_request;  // what bind() asked for (re-bound when a failed connect retries)
    ConnectionRecord* rec = nullptr;  // connection or listener, owned by the host
    bool shut_rd = false;
    bool shut_wr = false;
    std::vector<WaitId> waits;
    bool dirty = false;
    // Options the engine does not hold (socket(7), tcp(7), ip(7)); copied by accept().
    struct Options {
        bool reuse_port = false;
        bool linger = false;
        int linger_seconds = 0;
        int rcvlowat = 1;
        Duration rcvtimeo{0};  // 0: never time out
        Duration sndtimeo{0};
        bool broadcast = false, debug = false, dontroute = false;
        int priority = 0;
        bool quickack = true;  // Linux: a fresh socket is in quick-ACK mode
        bool cork = false;
        int ttl = -1;          // -1: the host default (ip_default_ttl)
        int tos = 0;
        std::uint16_t user_mss = 0;
        bool inq = false;                 // TCP_INQ: a TCP_CM_INQ control message on recvmsg()
        bool zerocopy = false;            // SO_ZEROCOPY: MSG_ZEROCOPY is honoured
        std::uint32_t notsent_lowat = 0;  // TCP_NOTSENT_LOWAT; 0: the host default
    } opt;
    // Closed with SO_LINGER and still sending: the record stays ours until done or deadline.
    bool lingering = false;
    Time linger_deadline = kTimeNever;
    TimerHandle linger_timer;
    short linger_result = 0;
    std::vector<std::function<void(short)>> close_waiters;
    // MSG_ZEROCOPY completions (Linux msg_zerocopy_*; see sendmsg()). Bytes are counted from
    // the first send() so a send's completion is "everything up to its end acknowledged".
    std::uint64_t bytes_queued = 0;  // accepted by send() since the socket was created
    std::uint32_t zc_next_id = 0;    // Linux sk_zckey
    struct ZcSend {
        std::uint32_t id;
        std::uint64_t end;  // bytes_queued after this send
    };
    std::deque<ZcSend> zc_pending;                                // not yet acknowledged
    std::deque<std::pair<std::uint32_t, std::uint32_t>> zc_done;  // the error queue: [lo, hi] ids
    std::vector<std::weak_ptr<Epoll>> epolls;  // epoll instances watching this socket (epoll_look)

    void connection_changed() override {
        if (lingering) layer->linger_check(*this);
        layer->socket_changed(*this);
    }
    bool listening() const { return rec != nullptr && rec->is_listener(); }
    tcp::State tcp_state() const { return rec == nullptr ? tcp::State::Closed : rec->state(); }
};

Sockets::Sockets(Host& host) : host_(host), alive_(std::make_shared<bool>(true)) {}

Sockets::~Sockets() {
    *alive_ = false;
    host_.world().cancel(check_event_);
    for (auto& [id, w] : waiters_) host_.world().cancel(w.deadline);
    waiters_.clear();
    for (Descriptor& d : fds_)
        if (d.sock) d.sock->rec = nullptr;  // the host tears connections down itself
    for (auto& s : lingering_) {
        host_.world().cancel(s->linger_timer);
        if (s->rec != nullptr) s->rec->owner = nullptr;
        s->rec = nullptr;
    }
    lingering_.clear();
    fds_.clear();
}

bool Sockets::tracing() const { return host_.world().trace().wants(TraceKind::Socket); }

SysResult Sockets::traced(int fd, std::string_view call, std::string_view detail, SysResult r) {
    TraceBus& bus = host_.world().trace();
    if (bus.wants(TraceKind::Socket))
        bus.emit(SocketEvent{host_.now(), host_.name(), fd, call, detail, r.value, r.err});
    return r;
}

Sockets::Socket* Sockets::lookup(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
    return fds_[static_cast<std::size_t>(fd)].sock.get();
}

Sockets::MemoryFile* Sockets::lookup_file(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
    return fds_[static_cast<std::size_t>(fd)].file.get();
}

int Sockets::bad_fd(int fd) const { return lookup_file(fd) != nullptr || lookup_epoll(fd) != nullptr ? ENOTSOCK : EBADF; }

bool Sockets::valid(int fd) const { return lookup(fd) != nullptr; }
bool Sockets::nonblocking(int fd) const {
    const Socket* s = lookup(fd);
    return s != nullptr && s->nonblocking;
}
std::size_t Sockets::open_descriptors() const {
    return static_cast<std::size_t>(std::count_if(fds_.begin(), fds_.end(), [](const Descriptor& d) { return d.used(); }));
}
tcp::State Sockets::state(int fd) const {
    const Socket* s = lookup(fd);
    return s == nullptr ? tcp::State::Closed : s->tcp_state();
}

int Sockets::allocate_fd(std::shared_ptr<Socket> s, bool cloexec, int min_fd) {
    Socket* raw = s.get();
    const int fd = allocate_descriptor(Descriptor{std::move(s), nullptr, cloexec, nullptr}, min_fd);
    if (fd >= 0) ++raw->refs;
    return fd;
}

int Sockets::allocate_descriptor(Descriptor d, int min_fd) {
    // POSIX: the lowest free descriptor. 0-2 belong to stdio, as in a process.
    std::size_t i = static_cast<std::size_t>(min_fd);
    while (i < fds_.size() && fds_[i].used()) ++i;
    if (i >= static_cast<std::size_t>(kMaxDescriptors)) return -1;
    if (i >= fds_.size()) fds_.resize(i + 1);
    fds_[i] = std::move(d);
    return static_cast<int>(i);
}

// ---------------------------------------------------------------------------------------------
// Descriptors

SysResult Sockets::socket(int domain, int type, int protocol) {
    const std::string detail = tracing() ? std::to_string(domain) + ", " + std::to_string(type) + ", " + std::to_string(protocol) : "";
    auto fail = [&](int e) { return traced(-1, "socket", detail, SysResult::failure(e)); };
    if (domain != AF_INET) return fail(EAFNOSUPPORT);  // only IPv4 is simulated
    const int flags = type & ~0xf;
    const int base = type & 0xf;
    if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return fail(EINVAL);
    if (base < 1 || base >= 11) return fail(EINVAL);  // Linux __sock_create: SOCK_MAX
    if (protocol < 0 || protocol >= 263) return fail(EINVAL);  // Linux inet_create: IPPROTO_MAX
    if (base != SOCK_STREAM) return fail(ESOCKTNOSUPPORT);   // Linux: no inetsw entry for the type
    if (protocol != 0 && protocol != IPPROTO_TCP) return fail(EPROTONOSUPPORT);
    auto s = std::make_shared<Socket>();
    s->layer = this;
    s->id = next_socket_id_++;
    s->nonblocking = (flags & SOCK_NONBLOCK) != 0;
    s->cfg = host_.config().tcp;
    const int fd = allocate_fd(std::move(s), (flags & SOCK_CLOEXEC) != 0);
    if (fd < 0) return fail(EMFILE);
    return traced(fd, "socket", detail, SysResult::success(fd));
}

SysResult Sockets::dup(int fd) {
    Socket* s = lookup(fd);
    if (s == nullptr) {
        if (lookup_file(fd) == nullptr) return traced(fd, "dup", "", SysResult::failure(EBADF));
        const int nfd = allocate_descriptor(Descriptor{nullptr, fds_[static_cast<std::size_t>(fd)].file, false, nullptr});
        return traced(fd, "dup", "", nfd < 0 ? SysResult::failure(EMFILE) : SysResult::success(nfd));
    }
    const int nfd = allocate_fd(fds_[static_cast<std::size_t>(fd)].sock, false);  // dup clears FD_CLOEXEC
    if (nfd < 0) return traced(fd, "dup", "", SysResult::failure(EMFILE));
    return traced(fd, "dup", "", SysResult::success(nfd));
}

SysResult Sockets::dup2(int fd, int newfd) {
    Socket* s = lookup(fd);
    if (s == nullptr || newfd < 0 || newfd >= kMaxDescriptors) return traced(fd, "dup2", "", SysResult::failure(EBADF));
    if (fd == newfd) return traced(fd, "dup2", "", SysResult::success(newfd));
    if (valid(newfd) || lookup_file(newfd) != nullptr) close(newfd);
    if (static_cast<std::size_t>(newfd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(newfd) + 1);
    auto sp = fds_[static_cast<std::size_t>(fd)].sock;
    ++sp->refs;
    fds_[static_cast<std::size_t>(newfd)] = Descriptor{std::move(sp), nullptr, false, nullptr};
    return traced(fd, "dup2", "", SysResult::success(newfd));
}

SysResult Sockets::close(int fd) {
    Socket* s = lookup(fd);
    if (s == nullptr) {
        if (lookup_file(fd) == nullptr && lookup_epoll(fd) == nullptr) return traced(fd, "close", "", SysResult::failure(EBADF));
        fds_[static_cast<std::size_t>(fd)] = Descriptor{};
        return traced(fd, "close", "", SysResult::success(0));
    }
    std::shared_ptr<Socket> sp = std::move(fds_[static_cast<std::size_t>(fd)].sock);
    fds_[static_cast<std::size_t>(fd)] = Descriptor{};
    // Waits registered through this descriptor end with POLLNVAL (poll(2) on a closed fd).
    std::vector<WaitId> ended;
    for (WaitId w : sp->waits)
        if (auto it = waiters_.find(w); it != waiters_.end() && it->second.fd == fd) ended.push_back(w);
    for (WaitId w : ended) finish_wait(w, POLLNVAL);
    if (--sp->refs == 0) {
        release(*sp);
        if (sp->lingering) {
            // Linux tcp_close() -> sk_stream_wait_close(): a blocking close waits (wait_close()).
            last_lingering_ = sp;
            return traced(fd, "close", "lingering", SysResult{0, 0, POLLOUT});
        }
    }
    return traced(fd, "close", "", SysResult::success(0));
}

void Sockets::release(Socket& s) {
    // The last descriptor is gone: close the socket (TLPI 61.2; FIN or RST as the engine decides).
    if (s.rec != nullptr) {
        ConnectionRecord* r = s.rec;
        const Time now = host_.now();
        if (!r->is_listener() && !r->closed()) {
            if (s.opt.linger && s.opt.linger_seconds == 0) {
                // Linux tcp_close(): SO_LINGER {1, 0} is an abortive close: RST, queues dropped,
                // no TIME_WAIT (tcp_disconnect; no RST from SYN_SENT, tcp_need_reset()).
                r->conn().abort(now);
            } else {
                r->conn().close(now);
                if (s.opt.linger && !r->closed()) {
                    // Keep ownership until the FIN is acknowledged or l_linger passes.
                    s.lingering = true;
                    s.linger_deadline = now + std::chrono::seconds(s.opt.linger_seconds);
                    auto sp = s.shared_from_this();
                    lingering_.push_back(sp);
                    std::weak_ptr<bool> alive = alive_;
                    s.linger_timer = host_.world().at(s.linger_deadline, [this, alive, w = std::weak_ptr<Socket>(sp)] {
                        if (auto a = alive.lock(); a && *a)
                            if (auto p = w.lock()) linger_finish(p, 0);
                    });
                    linger_check(s);
                    return;
                }
            }
        }
        s.rec = nullptr;
        r->owner = nullptr;
        host_.release(*r);
    }
    if (s.lease != 0) {
        host_.release_port(s.lease);
        s.lease = 0;
    }
}

SysResult Sockets::fcntl(int fd, int cmd, long arg) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "fcntl", "", SysResult::failure(bad_fd(fd)));
    Descriptor& d = fds_[static_cast<std::size_t>(fd)];
    switch (cmd) {
        case F_GETFL: return traced(fd, "fcntl", "F_GETFL", SysResult::success(O_RDWR | (s->nonblocking ? O_NONBLOCK : 0)));
        case F_SETFL:
            s->nonblocking = (arg & O_NONBLOCK) != 0;
            return traced(fd, "fcntl", "F_SETFL", SysResult::success(0));
        case F_GETFD: return traced(fd, "fcntl", "F_GETFD", SysResult::success(d.cloexec ? FD_CLOEXEC : 0));
        case F_SETFD:
            d.cloexec = (arg & FD_CLOEXEC) != 0;
            return traced(fd, "fcntl", "F_SETFD", SysResult::success(0));
        default: return traced(fd, "fcntl", std::to_string(cmd), SysResult::failure(EINVAL));
    }
}

// ---------------------------------------------------------------------------------------------
// Connection calls

SysResult Sockets::bind(int fd, tcp::Endpoint local) {
    const std::string detail = tracing() ? local.to_string() : "";
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "bind", detail, SysResult::failure(bad_fd(fd)));
    // Linux inet_bind: a socket binds once, and only while CLOSE.
    if (s->bound || s->rec != nullptr) return traced(fd, "bind", detail, SysResult::failure(EINVAL));
    if (local.addr.is_broadcast() || local.addr.is_multicast())
        return traced(fd, "bind", detail, SysResult::failure(EADDRNOTAVAIL));
    Host::Lease l = host_.bind_port(local, s->reuse_addr, s->opt.reuse_port);
    if (l.err != 0) return traced(fd, "bind", detail, SysResult::failure(l.err));
    s->bound = true;
    s->explicit_bind = local.port != 0;
    s->bind_request = local;
    s->lease = l.id;
    s->local = l.local;
    return traced(fd, "bind", detail, SysResult::success(0));
}

SysResult Sockets::listen(int fd, int backlog) {
    const std::string detail = tracing() ? std::to_string(backlog) : "";
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "listen", detail, SysResult::failure(bad_fd(fd)));
    // Linux __sys_listen: (unsigned)backlog > somaxconn -> somaxconn (a negative one too).
    const auto somax = static_cast<unsigned>(std::max(0, host_.config().somaxconn));
    const int clamped = static_cast<unsigned>(backlog) > somax ? static_cast<int>(somax) : backlog;
    if (s->listening()) {
        host_.set_backlog(*s->rec, clamped);
        return traced(fd, "listen", detail, SysResult::success(0));
    }
    if (s->sock_state != Socket::SockState::Unconnected || s->rec != nullptr)
        return traced(fd, "listen", detail, SysResult::failure(EINVAL));
    if (!s->bound) {
        Host::Lease l = host_.bind_port(tcp::Endpoint{Ipv4Addr::any(), 0}, s->reuse_addr, s->opt.reuse_port);
        if (l.err != 0) return traced(fd, "listen", detail, SysResult::failure(EADDRINUSE));
        s->bound = true;
        s->lease = l.id;
        s->local = l.local;
    }
    Host::Opened o = host_.open_passive(s->lease, clamped, s->cfg, s);
    if (o.err != 0) return traced(fd, "listen", detail, SysResult::failure(o.err));
    s->lease = 0;  // the listener record holds it now
    s->rec = o.record;
    host_.set_listener_user_mss(*o.record, s->opt.user_mss);
    return traced(fd, "listen", detail, SysResult::success(0));
}

SysResult Sockets::accept(int fd, tcp::Endpoint* peer, int flags) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "accept", "", SysResult::failure(bad_fd(fd)));
    if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return traced(fd, "accept", "", SysResult::failure(EINVAL));
    if (!s->listening()) return traced(fd, "accept", "", SysResult::failure(EINVAL));
    if (s->rec->accept_queue_size() == 0) {
        if (s->nonblocking) return traced(fd, "accept", "", SysResult::failure(EAGAIN));
        return traced(fd, "accept", "", SysResult::blocked(EAGAIN, POLLIN));
    }
    if (open_descriptors() + 3 >= static_cast<std::size_t>(kMaxDescriptors))
        return traced(fd, "accept", "", SysResult::failure(EMFILE));
    ConnectionRecord* child = s->rec->pop_accepted();
    auto ns = std::make_shared<Socket>();
    ns->layer = this;
    ns->id = next_socket_id_++;
    // Linux: O_NONBLOCK is not inherited (TLPI 61.11); socket options are (sk_clone_lock copies
    // the sock, so SO_RCVTIMEO, SO_LINGER, TCP_MAXSEG, ... come along).
    ns->nonblocking = (flags & SOCK_NONBLOCK) != 0 || (host_.config().accept_inherits_nonblock && s->nonblocking);
    ns->cfg = child->conn().config();
    ns->reuse_addr = s->reuse_addr;
    ns->opt = s->opt;
    ns->bound = true;
    ns->local = child->conn().tuple().local;
    ns->sock_state = Socket::SockState::Connected;
    ns->rec = child;
    child->owner = ns.get();
    const tcp::Endpoint remote = child->conn().tuple().remote;
    const int nfd = allocate_fd(std::move(ns), (flags & SOCK_CLOEXEC) != 0);
    if (peer != nullptr) *peer = remote;
    return traced(fd, "accept", tracing() ? remote.to_string() : "", SysResult::success(nfd));
}

SysResult Sockets::connect(int fd, tcp::Endpoint remote) {
    const std::string detail = tracing() ? remote.to_string() : "";
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "connect", detail, SysResult::failure(bad_fd(fd)));
    auto result = [&](SysResult r) { return traced(fd, "connect", detail, r); };
    int err = 0;
    // Linux __inet_stream_connect(), state by state.
    switch (s->sock_state) {
        case Socket::SockState::Connected: return result(SysResult::failure(EISCONN));
        case Socket::SockState::Connecting: err = EALREADY; break;
        case Socket::SockState::Unconnected: {
            if (s->rec != nullptr && !s->rec->closed()) return result(SysResult::failure(EISCONN));  // listening
            if (remote.addr.is_any() || remote.port == 0) {
                // Linux connects to 0.0.0.0 as loopback; port 0 draws ECONNREFUSED from a peer.
                if (remote.port == 0) return result(SysResult::failure(ECONNREFUSED));
            }
            if (remote.addr.is_broadcast() || remote.addr.is_multicast()) return result(SysResult::failure(ENETUNREACH));
            if (s->rec != nullptr) {  // a previous failed attempt: start over
                ConnectionRecord* old = s->rec;
                s->rec = nullptr;
                old->owner = nullptr;
                host_.release(*old);
                if (s->explicit_bind && s->lease == 0) {
                    // Linux keeps a bind()-locked port across a failed connect.
                    Host::Lease l = host_.bind_port(s->bind_request, s->reuse_addr, s->opt.reuse_port);
                    if (l.err != 0) return result(SysResult::failure(l.err));
                    s->lease = l.id;
                    s->local = l.local;
                } else if (!s->explicit_bind) {
                    s->local = {};
                }
            }
            Host::Opened o = host_.open_active(s->local, s->lease, remote, s->cfg, s, s->opt.user_mss);
            if (o.err != 0) return result(SysResult::failure(o.err));
            s->lease = 0;
            s->rec = o.record;
            s->bound = true;
            s->local = o.record->conn().tuple().local;
            s->sock_state = Socket::SockState::Connecting;
            err = EINPROGRESS;
            break;
        }
    }
    const tcp::State st = s->tcp_state();
    if (st == tcp::State::SynSent || st == tcp::State::SynRecv) {
        if (s->nonblocking) return result(SysResult::failure(err));
        return result(SysResult::blocked(err, POLLOUT));
    }
    if (s->rec == nullptr || s->rec->closed()) {
        // Refused, timed out, unreachable (or the error was already taken via SO_ERROR).
        std::error_code e = s->rec != nullptr ? s->rec->take_error() : std::error_code{};
        s->sock_state = Socket::SockState::Unconnected;
        if (!s->explicit_bind) s->bound = false;  // Linux: inet_put_port() unless bind() locked it
        return result(SysResult::failure(e ? e.value() : ECONNABORTED));
    }
    s->sock_state = Socket::SockState::Connected;
    return result(SysResult::success(0));
}

SysResult Sockets::shutdown(int fd, int how) {
    const std::string detail = tracing() ? std::to_string(how) : "";
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "shutdown", detail, SysResult::failure(bad_fd(fd)));
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return traced(fd, "shutdown", detail, SysResult::failure(EINVAL));
    const tcp::State st = s->tcp_state();
    const Time now = host_.now();
    // Linux inet_shutdown().
    switch (st) {
        case tcp::State::Closed: return traced(fd, "shutdown", detail, SysResult::failure(ENOTCONN));
        case tcp::State::Listen:
            if (how == SHUT_WR) return traced(fd, "shutdown", detail, SysResult::success(0));
            [[fallthrough]];
        case tcp::State::SynSent: {
            // disconnect(): a listener stops listening, a pending connect is abandoned.
            ConnectionRecord* r = s->rec;
            s->rec = nullptr;
            r->owner = nullptr;
            if (!r->is_listener()) r->conn().abort(now);
            host_.release(*r);
            s->sock_state = Socket::SockState::Unconnected;
            socket_changed(*s);
            return traced(fd, "shutdown", detail, SysResult::success(0));
        }
        case tcp::State::SynRecv:
        case tcp::State::Established:
        case tcp::State::FinWait1:
        case tcp::State::FinWait2:
        case tcp::State::Closing:
        case tcp::State::TimeWait:
        case tcp::State::CloseWait:
        case tcp::State::LastAck: break;
    }
    if ((how == SHUT_RD || how == SHUT_RDWR) && !s->shut_rd) {
        s->shut_rd = true;
        s->rec->conn().shutdown_receive(now);
    }
    if ((how == SHUT_WR || how == SHUT_RDWR) && !s->shut_wr) {
        s->shut_wr = true;
        s->rec->conn().shutdown_send(now);
    }
    socket_changed(*s);
    return traced(fd, "shutdown", detail, SysResult::success(0));
}

SysResult Sockets::getsockname(int fd, tcp::Endpoint& out) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "getsockname", "", SysResult::failure(bad_fd(fd)));
    out = s->rec != nullptr ? s->rec->conn().tuple().local : (s->bound ? s->local : tcp::Endpoint{});
    if (s->rec != nullptr && s->rec->is_listener()) out = s->local;
    return traced(fd, "getsockname", tracing() ? out.to_string() : "", SysResult::success(0));
}

SysResult Sockets::getpeername(int fd, tcp::Endpoint& out) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "getpeername", "", SysResult::failure(bad_fd(fd)));
    // Linux inet_getname(peer): ENOTCONN without a peer or in CLOSE/SYN_SENT.
    const tcp::State st = s->tcp_state();
    if (s->rec == nullptr || s->rec->is_listener() || st == tcp::State::Closed || st == tcp::State::SynSent)
        return traced(fd, "getpeername", "", SysResult::failure(ENOTCONN));
    out = s->rec->conn().tuple().remote;
    return traced(fd, "getpeername", tracing() ? out.to_string() : "", SysResult::success(0));
}

// ---------------------------------------------------------------------------------------------
// Data

SysResult Sockets::send(int fd, Bytes data, int flags) {
    sigpipe_ = false;
    const std::string detail = tracing() ? std::to_string(data.size()) + " bytes" : "";
    auto result = [&](SysResult r) { return traced(fd, "send", detail, r); };
    Socket* s = lookup(fd);
    if (s == nullptr) return result(SysResult::failure(bad_fd(fd)));
    const bool dontwait = s->nonblocking || (flags & MSG_DONTWAIT) != 0;
    auto epipe = [&] {
        if ((flags & MSG_NOSIGNAL) == 0) raise_sigpipe(fd);
        return result(SysResult::failure(EPIPE));
    };
    const tcp::State st = s->tcp_state();
    if (s->rec == nullptr || s->rec->is_listener()) return epipe();  // Linux: EPIPE, not ENOTCONN
    if (std::error_code e = s->rec->error(); e && st == tcp::State::Closed) {
        s->rec->take_error();
        return result(SysResult::failure(e.value()));
    }
    if (s->shut_wr) return epipe();
    if (st == tcp::State::SynSent || st == tcp::State::SynRecv) {
        // Linux sk_stream_wait_connect(): wait for the handshake.
        if (dontwait) return result(SysResult::failure(EAGAIN));
        return result(SysResult::blocked(EAGAIN, POLLOUT));
    }
    if (st == tcp::State::Closed) return epipe();
    if (data.empty()) return result(SysResult::success(0));
    std::error_code ec;
    tcp::SendFlags sf{(flags & MSG_MORE) != 0, (flags & MSG_OOB) != 0};
    tcp::Connection& conn = s->rec->conn();
    std::size_t n = 0;
    const std::uint32_t notsent_lowat = s->opt.notsent_lowat != 0 ? s->opt.notsent_lowat : notsent_lowat_default_;
    if (notsent_lowat == UINT32_MAX) {  // no limit (the Linux default)
        n = conn.send(host_.now(), data, sf, ec);
    } else {
        // Linux tcp_sendmsg_locked(): sk_stream_memory_free() stops queuing once the unsent
        // bytes reach TCP_NOTSENT_LOWAT; what the engine sends meanwhile frees room, so queue in
        // pieces of at most the room left (Linux checks per skb).
        const std::size_t lowat = notsent_lowat;
        while (n < data.size()) {
            const std::size_t unsent = conn.unsent_bytes();
            if (unsent >= lowat) break;
            const std::size_t piece = std::min(data.size() - n, lowat - unsent);
            std::error_code e;
            const std::size_t k = conn.send(host_.now(), data.subspan(n, piece), sf, e);
            n += k;
            if (e) {
                if (n == 0) ec = e;
                break;
            }
            if (k < piece) break;
        }
    }
    s->bytes_queued += n;
    // MSG_ZEROCOPY (Linux tcp_sendmsg_locked()): only with SO_ZEROCOPY set and bytes sent; see
    // sendmsg() in the header for what is and is not modelled.
    if ((flags & MSG_ZEROCOPY) != 0 && s->opt.zerocopy && n > 0) s->zc_pending.push_back({s->zc_next_id++, s->bytes_queued});
    if (!s->epolls.empty()) epoll_look(*s);  // a full send buffer ends EPOLLOUT (the next edge)
    if (ec) {
        if (ec.value() == EPIPE) return epipe();
        if (ec.value() != EAGAIN || n == 0) {
            if (ec.value() == EAGAIN && !dontwait) return result(SysResult::blocked(EAGAIN, POLLOUT));
            if (ec.value() != EAGAIN || n == 0) return result(SysResult::failure(ec.value()));
        }
    }
    if (n == 0) {
        if (dontwait) return result(SysResult::failure(EAGAIN));
        return result(SysResult::blocked(EAGAIN, POLLOUT));
    }
    SysResult r = SysResult::success(static_cast<long>(n));
    if (n < data.size() && !dontwait) r.wait_for = POLLOUT;  // a blocking send continues with the rest
    return result(r);
}

SysResult Sockets::recv(int fd, MutableBytes out, int flags) {
    const std::string detail = tracing() ? std::to_string(out.size()) + " bytes" : "";
    auto result = [&](SysResult r) { return traced(fd, "recv", detail, r); };
    Socket* s = lookup(fd);
    if (s == nullptr) return result(SysResult::failure(bad_fd(fd)));
    const bool dontwait = s->nonblocking || (flags & MSG_DONTWAIT) != 0;
    if (s->rec == nullptr || s->rec->is_listener()) return result(SysResult::failure(ENOTCONN));
    const tcp::State st = s->tcp_state();
    if (st == tcp::State::SynSent || st == tcp::State::SynRecv) {
        if (dontwait) return result(SysResult::failure(EAGAIN));
        return result(SysResult::blocked(EAGAIN, POLLIN));
    }
    if (s->rec->closed() && !s->rec->conn().readable_bytes()) {
        // A pending error first (ECONNRESET, ETIMEDOUT, ...), then EOF.
        if (std::error_code e = s->rec->take_error()) return result(SysResult::failure(e.value()));
        return result(SysResult::success(0));  // Linux: tcp_done() set RCV_SHUTDOWN
    }
    if (out.empty()) return result(SysResult::success(0));
    tcp::Connection& c = s->rec->conn();
    const bool oob = (flags & MSG_OOB) != 0;
    // BSD personality: after SHUT_RD every read is EOF and nothing more is delivered.
    if (s->shut_rd && host_.config().shut_rd_discards && !oob) return result(SysResult::success(0));
    // Linux tcp_recvmsg(): a blocking read waits for target = min(SO_RCVLOWAT, len) bytes (all
    // of len with MSG_WAITALL, which blocking_recv() continues); EOF, an error or the urgent
    // mark end the wait early. Non-blocking reads return what is there.
    if (!oob && !dontwait && (flags & MSG_PEEK) == 0 && !c.peer_closed() && !s->shut_rd) {
        const std::size_t target = std::min<std::size_t>(static_cast<std::size_t>(s->opt.rcvlowat), out.size());
        const std::size_t avail = c.readable_bytes();
        // At the urgent mark the engine must run anyway: it steps over the out-of-band byte
        // (Linux tcp_recvmsg() skips it even when the read then blocks).
        if (avail < target && !c.at_urgent_mark() && !(avail > 0 && c.has_urgent_data() && !s->cfg.oob_inline))
            return result(SysResult::blocked(EAGAIN, POLLIN));
    }
    std::error_code ec;
    tcp::ReceiveFlags rf{(flags & MSG_PEEK) != 0, oob};
    const std::size_t n = c.receive(host_.now(), out, rf, ec);
    if (!s->epolls.empty()) epoll_look(*s);
    if (ec) {
        if (ec.value() == EAGAIN && !oob) {
            if (s->shut_rd) return result(SysResult::success(0));  // Linux: RCV_SHUTDOWN reads EOF
            if (dontwait) return result(SysResult::failure(EAGAIN));
            return result(SysResult::blocked(EAGAIN, POLLIN));
        }
        return result(SysResult::failure(ec.value()));
    }
    SysResult r = SysResult::success(static_cast<long>(n));
    // MSG_WAITALL on a blocking socket: the caller continues with the rest (as for send), unless
    // EOF, the urgent mark or an error stops it (TLPI 61.3).
    if ((flags & MSG_WAITALL) != 0 && !dontwait && !oob && (flags & MSG_PEEK) == 0 && n > 0 && n < out.size() &&
        !c.peer_closed() && !s->shut_rd && !s->rec->closed() && !c.at_urgent_mark() && !s->rec->error())
        r.wait_for = POLLIN;
    return result(r);
}

// ---------------------------------------------------------------------------------------------
// Options (socket(7), tcp(7), ip(7); Linux sock_setsockopt/sock_getsockopt, do_tcp_*sockopt,
// do_ip_*sockopt)

namespace {
// Linux's TCP_* state numbers (include/net/tcp_states.h) for tcpi_state.
std::uint8_t linux_state(tcp::State s) {
    switch (s) {
        case tcp::State::Established: return 1;
        case tcp::State::SynSent: return 2;
        case tcp::State::SynRecv: return 3;
        case tcp::State::FinWait1: return 4;
        case tcp::State::FinWait2: return 5;
        case tcp::State::TimeWait: return 6;
        case tcp::State::Closed: return 7;
        case tcp::State::CloseWait: return 8;
        case tcp::State::LastAck: return 9;
        case tcp::State::Listen: return 10;
        case tcp::State::Closing: return 11;
    }
    return 7;
}
// Linux: SOCK_MIN_RCVBUF = TCP_SKB_MIN_TRUESIZE = 2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))
// = 2304 and SOCK_MIN_SNDBUF = 2 * that = 4608 (Linux >= 4.x on 64-bit). socket(7)'s 256/2048
// are the old values; we follow the kernel.
constexpr std::uint32_t kMinRcvbuf = 2304;
constexpr std::uint32_t kMinSndbuf = 4608;
constexpr int kMaxKeepIdle = 32767, kMaxKeepIntvl = 32767, kMaxKeepCnt = 127;  // include/net/tcp.h
constexpr int kTcpMinMss = 88, kMaxTcpWindow = 32767, kTcpMssDefault = 536;
constexpr std::size_t kCaNameMax = 16;  // TCP_CA_NAME_MAX

timeval to_timeval(Duration d) {
    if (d <= Duration::zero()) return timeval{0, 0};
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}
}  // namespace

Time Sockets::deadline_for(int fd, short wait_for) const {
    const Socket* s = lookup(fd);
    if (s == nullptr) return kTimeNever;
    const Duration d = (wait_for & POLLIN) != 0 ? s->opt.rcvtimeo : s->opt.sndtimeo;
    if (d == Duration::zero()) return kTimeNever;
    if (d < Duration::zero()) return host_.now();  // Linux: a negative tv_sec means "do not wait"
    return host_.now() + d;
}

SysResult Sockets::getsockopt(int fd, int level, int name, void* optval, socklen_t* optlen) {
    Socket* s = lookup(fd);
    const std::string detail = tracing() ? std::to_string(level) + "/" + std::to_string(name) : "";
    auto fail = [&](int e) { return traced(fd, "getsockopt", detail, SysResult::failure(e)); };
    if (s == nullptr) return fail(bad_fd(fd));
    if (optlen == nullptr) return fail(EFAULT);
    const int len = static_cast<int>(*optlen);
    if (len < 0) return fail(EINVAL);
    if (optval == nullptr && len > 0) return fail(EFAULT);
    // Linux copies min(len, size of the value) bytes and reports that length (no EINVAL for a
    // short buffer on get; the brief's "EINVAL for short optlen" applies to setsockopt).
    auto out = [&](const void* v, std::size_t size) {
        const std::size_t n = std::min(static_cast<std::size_t>(len), size);
        if (n > 0) std::memcpy(optval, v, n);
        *optlen = static_cast<socklen_t>(n);
        return traced(fd, "getsockopt", detail, SysResult::success(0));
    };
    auto out_int = [&](int v) { return out(&v, sizeof v); };
    tcp::Connection* conn = (s->rec != nullptr && !s->rec->is_listener()) ? &s->rec->conn() : nullptr;
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_ERROR: return out_int(s->rec != nullptr ? s->rec->take_error().value() : 0);
            case SO_TYPE: return out_int(SOCK_STREAM);
            case SO_DOMAIN: return out_int(AF_INET);
            case SO_PROTOCOL: return out_int(IPPROTO_TCP);
            case SO_ACCEPTCONN: return out_int(s->listening() ? 1 : 0);
            case SO_REUSEADDR: return out_int(s->reuse_addr ? 1 : 0);
            case SO_REUSEPORT: return out_int(s->opt.reuse_port ? 1 : 0);
            case SO_KEEPALIVE: return out_int(s->cfg.keepalive ? 1 : 0);
            case SO_OOBINLINE: return out_int(s->cfg.oob_inline ? 1 : 0);
            case SO_RCVBUF: return out_int(static_cast<int>(s->cfg.receive_buffer));
            case SO_SNDBUF: return out_int(static_cast<int>(s->cfg.send_buffer));
            case SO_RCVLOWAT: return out_int(s->opt.rcvlowat);
            case SO_SNDLOWAT: return out_int(1);  // Linux: fixed at 1
            case SO_BROADCAST: return out_int(s->opt.broadcast ? 1 : 0);
            case SO_DEBUG: return out_int(s->opt.debug ? 1 : 0);
            case SO_DONTROUTE: return out_int(s->opt.dontroute ? 1 : 0);
            case SO_PRIORITY: return out_int(s->opt.priority);
            case SO_ZEROCOPY: return out_int(s->opt.zerocopy ? 1 : 0);
            case SO_LINGER: {
                const linger l{s->opt.linger ? 1 : 0, s->opt.linger_seconds};
                return out(&l, sizeof l);
            }
            case SO_RCVTIMEO:
            case SO_SNDTIMEO: {
                const timeval tv = to_timeval(name == SO_RCVTIMEO ? s->opt.rcvtimeo : s->opt.sndtimeo);
                return out(&tv, sizeof tv);
            }
            default: break;
        }
    } else if (level == IPPROTO_TCP) {
        switch (name) {
            case TCP_NODELAY: return out_int(s->cfg.nodelay ? 1 : 0);
            case TCP_CORK: return out_int(s->opt.cork ? 1 : 0);
            case TCP_KEEPIDLE:
                return out_int(static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(s->cfg.keepalive_idle).count()));
            case TCP_KEEPINTVL:
                return out_int(static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(s->cfg.keepalive_interval).count()));
            case TCP_KEEPCNT: return out_int(s->cfg.keepalive_count);
            case TCP_USER_TIMEOUT:
                return out_int(static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(s->cfg.user_timeout).count()));
            case TCP_MAXSEG: {
                // Linux: mss_cache (536 until connected); user_mss while CLOSE/LISTEN.
                const tcp::State st = s->tcp_state();
                if (s->opt.user_mss != 0 && (st == tcp::State::Closed || st == tcp::State::Listen)) return out_int(s->opt.user_mss);
                if (conn != nullptr && st != tcp::State::Closed) return out_int(conn->effective_mss());
                return out_int(kTcpMssDefault);
            }
            case TCP_QUICKACK: return out_int(s->opt.quickack ? 1 : 0);
            case TCP_INQ: return out_int(s->opt.inq ? 1 : 0);
            case TCP_SYNCNT: return out_int(s->cfg.syn_retries);
            // Linux returns the socket's own value (0 when the sysctl applies).
            case TCP_NOTSENT_LOWAT: return out_int(static_cast<int>(s->opt.notsent_lowat));
            case TCP_CONGESTION: {
                std::array<char, kCaNameMax> n{};
                const char* cc = s->cfg.congestion == tcp::CongestionAlgorithm::Reno ? "reno" : "cubic";
                std::memcpy(n.data(), cc, std::strlen(cc));
                return out(n.data(), n.size());
            }
            case TCP_INFO: {
                TcpInfo ti{};
                ti.base.tcpi_state = linux_state(s->tcp_state());
                if (s->listening()) {
                    // Linux tcp_get_info(): a listener reports its accept queue and backlog.
                    ti.base.tcpi_unacked = static_cast<std::uint32_t>(s->rec->accept_queue_size());
                    ti.base.tcpi_sacked = static_cast<std::uint32_t>(s->rec->backlog());
                } else if (conn != nullptr && !s->rec->closed()) {
                    const tcp::ConnectionInfo i = conn->info(host_.now());
                    ti.base.tcpi_ca_state = static_cast<std::uint8_t>(i.ca_state);
                    ti.base.tcpi_retransmits = i.retransmits;
                    ti.base.tcpi_probes = i.probes;
                    ti.base.tcpi_backoff = i.backoff;
                    ti.base.tcpi_options = i.options;
                    ti.base.tcpi_snd_wscale = i.snd_wscale & 0xf;
                    ti.base.tcpi_rcv_wscale = i.rcv_wscale & 0xf;
                    ti.base.tcpi_rto = i.rto_us;
                    ti.base.tcpi_ato = i.ato_us;
                    ti.base.tcpi_snd_mss = i.snd_mss;
                    ti.base.tcpi_rcv_mss = i.rcv_mss;
                    ti.base.tcpi_unacked = i.unacked;
                    ti.base.tcpi_sacked = i.sacked;
                    ti.base.tcpi_lost = i.lost;
                    ti.base.tcpi_retrans = i.retrans;
                    ti.base.tcpi_rtt = i.rtt_us;
                    ti.base.tcpi_rttvar = i.rttvar_us;
                    ti.base.tcpi_snd_ssthresh = i.snd_ssthresh;
                    ti.base.tcpi_snd_cwnd = i.snd_cwnd;
                    ti.base.tcpi_advmss = i.advmss;
                    ti.base.tcpi_reordering = i.reordering;
                    ti.base.tcpi_rcv_space = i.rcv_space;
                    ti.base.tcpi_total_retrans = i.total_retrans;
                    ti.bytes_acked = i.bytes_acked;
                    ti.bytes_received = i.bytes_received;
                    ti.segs_out = i.segs_out;
                    ti.segs_in = i.segs_in;
                }
                return out(&ti, sizeof ti);
            }
            default: break;
        }
    } else if (level == IPPROTO_IP) {
        switch (name) {
            case IP_TTL: return out_int(s->opt.ttl == -1 ? host_.config().ttl : s->opt.ttl);
            case IP_TOS: return out_int(s->opt.tos);
            default: break;
        }
    }
    return fail(ENOPROTOOPT);
}

SysResult Sockets::setsockopt(int fd, int level, int name, const void* optval, socklen_t optlen) {
    Socket* s = lookup(fd);
    std::string detail;
    if (tracing()) {
        detail = std::to_string(level) + "/" + std::to_string(name);
        if (optval != nullptr && optlen >= sizeof(int)) {
            int v = 0;
            std::memcpy(&v, optval, sizeof v);
            detail += "=" + std::to_string(v);
        }
    }
    auto fail = [&](int e) { return traced(fd, "setsockopt", detail, SysResult::failure(e)); };
    auto ok = [&] { return traced(fd, "setsockopt", detail, SysResult::success(0)); };
    if (s == nullptr) return fail(bad_fd(fd));
    if (optval == nullptr && optlen > 0) return fail(EFAULT);
    const Time now = host_.now();
    tcp::Connection* conn = (s->rec != nullptr && !s->rec->is_listener() && !s->rec->closed()) ? &s->rec->conn() : nullptr;
    int val = 0;
    const bool has_int = optval != nullptr && optlen >= sizeof(int);
    if (has_int) std::memcpy(&val, optval, sizeof val);

    if (level == SOL_SOCKET) {
        // Linux sock_setsockopt(): every option needs at least an int.
        if (!has_int) return fail(optval == nullptr ? EFAULT : EINVAL);
        switch (name) {
            case SO_REUSEADDR:
                s->reuse_addr = val != 0;
                if (s->lease != 0) host_.set_lease_reuse(s->lease, s->reuse_addr);
                return ok();
            case SO_REUSEPORT: s->opt.reuse_port = val != 0; return ok();
            case SO_KEEPALIVE:
                s->cfg.keepalive = val != 0;
                if (conn != nullptr) conn->set_keepalive(now, val != 0);
                return ok();
            case SO_OOBINLINE:
                s->cfg.oob_inline = val != 0;
                if (conn != nullptr) conn->set_oob_inline(val != 0);
                return ok();
            case SO_RCVBUF: {
                // Linux __sock_set_rcvbuf(): min(val as u32, rmem_max) doubled, at least the minimum.
                const std::uint32_t v = std::min(static_cast<std::uint32_t>(val), host_.config().rmem_max);
                s->cfg.receive_buffer = std::max<std::uint32_t>(v * 2, kMinRcvbuf);
                if (conn != nullptr) conn->set_receive_buffer(s->cfg.receive_buffer);
                return ok();
            }
            case SO_SNDBUF: {
                const std::uint32_t v = std::min(static_cast<std::uint32_t>(val), host_.config().wmem_max);
                s->cfg.send_buffer = std::max<std::uint32_t>(v * 2, kMinSndbuf);
                if (conn != nullptr) conn->set_send_buffer(s->cfg.send_buffer);
                socket_changed(*s);
                return ok();
            }
            case SO_RCVLOWAT: {
                // Linux: negative -> INT_MAX, then tcp_set_rcvlowat() caps it at half the buffer; 0 -> 1.
                long v = val < 0 ? INT32_MAX : val;
                v = std::min<long>(v, static_cast<long>(s->cfg.receive_buffer_max >> 1));
                s->opt.rcvlowat = v == 0 ? 1 : static_cast<int>(v);
                socket_changed(*s);
                return ok();
            }
            case SO_SNDLOWAT: return fail(ENOPROTOOPT);  // Linux: cannot be changed (socket(7))
            case SO_LINGER: {
                if (optlen < sizeof(linger)) return fail(EINVAL);
                linger l{};
                std::memcpy(&l, optval, sizeof l);
                s->opt.linger = l.l_onoff != 0;
                // Linux: a negative l_linger (as unsigned, huge) means "forever".
                // Linux: turning it off keeps the old time (getsockopt still shows it).
                if (l.l_onoff != 0) s->opt.linger_seconds = l.l_linger < 0 ? INT32_MAX : l.l_linger;
                return ok();
            }
            case SO_RCVTIMEO:
            case SO_SNDTIMEO: {
                // Linux sock_set_timeout().
                if (optlen < sizeof(timeval)) return fail(EINVAL);
                timeval tv{};
                std::memcpy(&tv, optval, sizeof tv);
                if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return fail(EDOM);
                Duration d = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
                if (tv.tv_sec < 0) d = Duration(-1);  // Linux: timeout 0, i.e. do not wait at all
                (name == SO_RCVTIMEO ? s->opt.rcvtimeo : s->opt.sndtimeo) = d;
                return ok();
            }
            case SO_BROADCAST: s->opt.broadcast = val != 0; return ok();  // no effect on TCP
            case SO_DEBUG: s->opt.debug = val != 0; return ok();
            case SO_DONTROUTE: s->opt.dontroute = val != 0; return ok();
            // Linux needs CAP_NET_ADMIN outside 0..6; the simulated process is privileged.
            case SO_PRIORITY: s->opt.priority = val; return ok();
            case SO_ZEROCOPY:
                // Linux sock_setsockopt(): allowed on TCP (and UDP) sockets, 0 or 1.
                if (val < 0 || val > 1) return fail(EINVAL);
                s->opt.zerocopy = val != 0;
                return ok();
            // SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_ACCEPTCONN are read-only: Linux has
            // no case for them in sock_setsockopt(), hence ENOPROTOOPT.
            default: return fail(ENOPROTOOPT);
        }
    }
    if (level == IPPROTO_TCP) {
        if (name == TCP_CONGESTION) {
            // Linux: the name (not necessarily NUL-terminated); unknown -> ENOENT.
            if (optval == nullptr || optlen == 0) return fail(EINVAL);
            std::string n(static_cast<const char*>(optval), std::min<std::size_t>(optlen, kCaNameMax - 1));
            n = n.substr(0, n.find('\0'));
            if (n == "reno") s->cfg.congestion = tcp::CongestionAlgorithm::Reno;
            else if (n == "cubic") s->cfg.congestion = tcp::CongestionAlgorithm::Cubic;
            else return fail(ENOENT);
            // The engine picks its algorithm when the connection starts: later changes apply to
            // connections opened after this call (accepted children included).
            return ok();
        }
        if (!has_int) return fail(optval == nullptr ? EFAULT : EINVAL);  // Linux do_tcp_setsockopt
        switch (name) {
            case TCP_NODELAY:
                s->cfg.nodelay = val != 0;
                if (conn != nullptr) conn->set_nodelay(now, val != 0);
                return ok();
            case TCP_CORK:
                s->opt.cork = val != 0;
                if (conn != nullptr) conn->set_cork(now, val != 0);
                return ok();
            case TCP_KEEPIDLE:
            case TCP_KEEPINTVL:
            case TCP_KEEPCNT: {
                const int hi = name == TCP_KEEPIDLE ? kMaxKeepIdle : name == TCP_KEEPINTVL ? kMaxKeepIntvl : kMaxKeepCnt;
                if (val < 1 || val > hi) return fail(EINVAL);
                if (name == TCP_KEEPIDLE) s->cfg.keepalive_idle = std::chrono::seconds(val);
                if (name == TCP_KEEPINTVL) s->cfg.keepalive_interval = std::chrono::seconds(val);
                if (name == TCP_KEEPCNT) s->cfg.keepalive_count = val;
                if (conn != nullptr) {
                    conn->set_keepalive_params(s->cfg.keepalive_idle, s->cfg.keepalive_interval, s->cfg.keepalive_count);
                    // Linux re-arms the keepalive timer with the new time (tcp_sock_set_keepidle).
                    if (s->cfg.keepalive) conn->set_keepalive(now, true);
                }
                return ok();
            }
            case TCP_USER_TIMEOUT:
                if (val < 0) return fail(EINVAL);
                s->cfg.user_timeout = std::chrono::milliseconds(val);
                if (conn != nullptr) conn->set_user_timeout(s->cfg.user_timeout);
                return ok();
            case TCP_MAXSEG:
                if (val != 0 && (val < kTcpMinMss || val > kMaxTcpWindow)) return fail(EINVAL);
                s->opt.user_mss = static_cast<std::uint16_t>(val);
                if (conn != nullptr && s->tcp_state() == tcp::State::Closed) conn->set_max_segment(s->opt.user_mss);
                if (s->listening()) host_.set_listener_user_mss(*s->rec, s->opt.user_mss);
                return ok();
            case TCP_QUICKACK:
                // Linux: quick-ACK mode is entered now and left by the engine's own heuristics.
                s->opt.quickack = val != 0;
                return ok();
            case TCP_SYNCNT:
                // Linux: 1..MAX_TCP_SYNCNT (127). Taken by the next connect(): a SYN already being
                // retransmitted keeps the count it started with (the engine has no setter).
                if (val < 1 || val > 127) return fail(EINVAL);
                s->cfg.syn_retries = val;
                return ok();
            case TCP_INQ:
                if (val < 0 || val > 1) return fail(EINVAL);  // Linux do_tcp_setsockopt()
                s->opt.inq = val != 0;
                return ok();
            case TCP_NOTSENT_LOWAT:
                // Linux: any value (u32; 0 means the sysctl); the write space is re-evaluated.
                s->opt.notsent_lowat = static_cast<std::uint32_t>(val);
                socket_changed(*s);
                return ok();
            default: return fail(ENOPROTOOPT);  // TCP_INFO is read-only
        }
    }
    if (level == IPPROTO_IP) {
        // Linux do_ip_setsockopt(): an int, or a single byte when optlen < sizeof(int).
        if (!has_int) {
            if (optval == nullptr || optlen == 0) return fail(EINVAL);
            val = *static_cast<const unsigned char*>(optval);
        }
        switch (name) {
            case IP_TTL:
                if (val != -1 && (val < 1 || val > 255)) return fail(EINVAL);
                s->opt.ttl = val;
                return ok();
            case IP_TOS:
                // Linux: on a stream socket the ECN bits stay the stack's.
                s->opt.tos = (val & ~0x3) | (s->opt.tos & 0x3);
                return ok();
            default: return fail(ENOPROTOOPT);
        }
    }
    return fail(ENOPROTOOPT);
}

SysResult Sockets::getsockopt(int fd, int level, int name, int& value) {
    socklen_t len = sizeof(int);
    int v = 0;
    SysResult r = getsockopt(fd, level, name, &v, &len);
    if (r.ok()) value = v;
    return r;
}

SysResult Sockets::setsockopt(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

// ---------------------------------------------------------------------------------------------
// Readiness

short Sockets::poll_bits(const Socket& s) const {
    // Linux tcp_poll().
    if (s.rec == nullptr) return kWritable | POLLHUP;  // a fresh or disconnected socket (TCP_CLOSE)
    const ConnectionRecord& r = *s.rec;
    if (r.is_listener()) return r.accept_queue_size() > 0 ? kReadable : 0;
    const tcp::State st = r.state();
    const tcp::Connection& c = r.conn();
    const bool closed = r.closed();
    // tcp_done()/tcp_reset() set SHUTDOWN_MASK; a FIN sets RCV_SHUTDOWN.
    const bool rcv_shut = closed || s.shut_rd || c.peer_closed();
    const bool snd_shut = closed || s.shut_wr;
    short mask = 0;
    if ((rcv_shut && snd_shut) || st == tcp::State::Closed) mask |= POLLHUP;
    if (rcv_shut) mask |= kReadable | POLLRDHUP;
    if (st != tcp::State::SynSent && st != tcp::State::SynRecv) {
        // Linux tcp_stream_is_readable(): at least SO_RCVLOWAT bytes (since 2.6.28).
        if (!closed && c.readable_bytes() > 0 && c.readable_bytes() >= static_cast<std::size_t>(s.opt.rcvlowat))
            mask |= kReadable;
        if (!snd_shut) {
            // sk_stream_is_writeable(): free space at least half of what is queued.
            const std::size_t space = c.send_space();
            // Linux __sk_stream_memory_free(sk, 1): unsent bytes * 2 below TCP_NOTSENT_LOWAT.
            const std::uint64_t lowat = s.opt.notsent_lowat != 0 ? s.opt.notsent_lowat : notsent_lowat_default_;
            const bool notsent_ok = lowat == UINT32_MAX || 2 * static_cast<std::uint64_t>(c.unsent_bytes()) < lowat;
            if (space > 0 && space >= c.send_queue_bytes() / 2 && notsent_ok) mask |= kWritable;
        } else {
            mask |= kWritable;
        }
        if (!closed && c.has_urgent_data()) mask |= POLLPRI;
    }
    if (r.error() || zerocopy_ready(s)) mask |= POLLERR;  // Linux: sk_err or a non-empty error queue
    return mask;
}

short Sockets::poll(int fd) const {
    const Socket* s = lookup(fd);
    return s == nullptr ? POLLNVAL : poll_bits(*s);
}

void Sockets::socket_changed(Socket& s) {
    if (!s.epolls.empty()) epoll_look(s);
    if (s.waits.empty() || s.dirty) return;
    // Never resume a waiter from inside a connection callback: queue a check as a world event.
    s.dirty = true;
    dirty_.push_back(s.shared_from_this());
    // One allocation-free world event checks every dirty socket (this runs once per wake-up).
    if (!host_.world().pending(check_event_)) check_event_ = host_.world().at(host_.now(), *this, 0);
}

void Sockets::on_event(Time, std::uint64_t) {
    check_event_ = {};
    check_waiters();
}

void Sockets::check_waiters() {
    // Work on the dirty list while callbacks fill a fresh one (the spare, reusing its capacity).
    // Re-entered, the inner call just starts from empty vectors.
    std::vector<std::shared_ptr<Socket>> dirty = std::move(dirty_);
    dirty_ = std::move(dirty_spare_);
    dirty_.clear();
    std::vector<std::pair<WaitId, short>> ready = std::move(ready_spare_);
    ready.clear();
    for (auto& sp : dirty) {
        sp->dirty = false;
        for (WaitId id : sp->waits) {
            auto it = waiters_.find(id);
            if (it == waiters_.end()) continue;
            const short bits = static_cast<short>(poll_bits(*sp) & (it->second.events | kAlwaysReported));
            if (bits != 0) ready.emplace_back(id, bits);
        }
    }
    std::sort(ready.begin(), ready.end());  // registration order
    for (auto [id, bits] : ready) finish_wait(id, bits);
    dirty.clear();
    ready.clear();
    if (dirty_spare_.capacity() < dirty.capacity()) dirty_spare_ = std::move(dirty);
    if (ready_spare_.capacity() < ready.capacity()) ready_spare_ = std::move(ready);
}

Sockets::WaitId Sockets::wait(int fd, short events, Time deadline, std::function<void(short)> done) {
    const WaitId id = next_wait_++;
    Socket* s = lookup(fd);
    std::weak_ptr<bool> alive = alive_;
    if (s == nullptr) {
        waiters_.emplace(id, Waiter{nullptr, fd, events, {}, std::move(done)});
        host_.world().at(host_.now(), [this, alive, id] {
            if (auto a = alive.lock(); a && *a) finish_wait(id, POLLNVAL);
        });
        return id;
    }
    auto sp = fds_[static_cast<std::size_t>(fd)].sock;
    Waiter w{sp, fd, events, {}, std::move(done)};
    if (deadline != kTimeNever)
        w.deadline = host_.world().at(deadline, [this, alive, id] {
            if (auto a = alive.lock(); a && *a) finish_wait(id, 0);
        });
    waiters_.emplace(id, std::move(w));
    s->waits.push_back(id);
    // Already ready? Report it from an event too (uniform for callers).
    s->dirty = false;
    socket_changed(*s);
    return id;
}

bool Sockets::cancel_wait(WaitId id) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return false;
    host_.world().cancel(it->second.deadline);
    if (it->second.sock) std::erase(it->second.sock->waits, id);
    waiters_.erase(it);
    return true;
}

void Sockets::finish_wait(WaitId id, short revents) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    Waiter w = std::move(it->second);
    waiters_.erase(it);
    host_.world().cancel(w.deadline);
    if (w.sock) std::erase(w.sock->waits, id);
    if (w.done) w.done(revents);
}

// ---------------------------------------------------------------------------------------------
// SIGPIPE, SO_LINGER

void Sockets::raise_sigpipe(int fd) {
    // Linux sk_stream_error(): EPIPE and, unless MSG_NOSIGNAL, SIGPIPE to the caller.
    sigpipe_ = true;
    ++sigpipe_count_;
    TraceBus& bus = host_.world().trace();
    if (bus.wants(TraceKind::Socket)) bus.emit(SocketEvent{host_.now(), host_.name(), fd, "signal", "SIGPIPE", 0, 0});
}

void Sockets::linger_check(Socket& s) {
    if (!s.lingering || s.rec == nullptr) return;
    const ConnectionRecord& r = *s.rec;
    const tcp::State st = r.state();
    // Linux sk_stream_wait_close(): wait while FIN_WAIT1, CLOSING or LAST_ACK (the FIN, and all
    // data before it, not yet acknowledged).
    const bool done = r.closed() || (st != tcp::State::FinWait1 && st != tcp::State::Closing && st != tcp::State::LastAck);
    if (!done) return;
    std::weak_ptr<bool> alive = alive_;
    // Called from connection callbacks: finish from a world event.
    host_.world().at(host_.now(), [this, alive, w = std::weak_ptr<Socket>(s.shared_from_this())] {
        if (auto a = alive.lock(); a && *a)
            if (auto p = w.lock()) linger_finish(p, POLLOUT);
    });
}

void Sockets::linger_finish(const std::shared_ptr<Socket>& s, short revents) {
    if (!s->lingering) return;
    s->lingering = false;
    s->linger_result = revents;
    host_.world().cancel(s->linger_timer);
    if (ConnectionRecord* r = s->rec) {
        s->rec = nullptr;
        r->owner = nullptr;
        host_.release(*r);  // Linux: a linger timeout leaves the rest to the orphan
    }
    auto waiters = std::move(s->close_waiters);
    std::erase(lingering_, s);
    for (auto& w : waiters) w(revents);
}

Sockets::WaitId Sockets::wait_close(std::function<void(short revents)> done) {
    const WaitId id = next_wait_++;
    std::shared_ptr<Socket> s = std::move(last_lingering_);
    if (s != nullptr && s->lingering) {
        s->close_waiters.push_back(std::move(done));
        return id;
    }
    const short result = s != nullptr ? s->linger_result : short{POLLOUT};
    std::weak_ptr<bool> alive = alive_;
    host_.world().at(host_.now(), [alive, result, d = std::move(done)] {
        if (auto a = alive.lock(); a && *a) d(result);
    });
    return id;
}

// ---------------------------------------------------------------------------------------------
// read/write, vectored I/O, files

SysResult Sockets::read(int fd, MutableBytes out) {
    if (MemoryFile* f = lookup_file(fd)) {
        const std::size_t n = f->offset >= f->bytes.size() ? 0 : std::min(out.size(), f->bytes.size() - f->offset);
        if (n > 0) std::memcpy(out.data(), f->bytes.data() + f->offset, n);
        f->offset += n;
        return traced(fd, "read", "file", SysResult::success(static_cast<long>(n)));
    }
    return recv(fd, out, 0);
}

SysResult Sockets::write(int fd, Bytes data) {
    if (lookup_file(fd) != nullptr) return traced(fd, "write", "file", SysResult::failure(EBADF));  // read-only
    return send(fd, data, 0);
}

namespace {
// EINVAL for a bad count (Linux: UIO_MAXIOV 1024), EFAULT for a null array; else the total.
long iov_total(const iovec* iov, int iovcnt) {
    if (iovcnt < 0 || iovcnt > 1024) return -EINVAL;
    if (iov == nullptr && iovcnt > 0) return -EFAULT;
    long total = 0;
    for (int i = 0; i < iovcnt; ++i) {
        if (iov[i].iov_base == nullptr && iov[i].iov_len > 0) return -EFAULT;
        if (iov[i].iov_len > static_cast<std::size_t>(INT32_MAX) - static_cast<std::size_t>(total)) return -EINVAL;
        total += static_cast<long>(iov[i].iov_len);
    }
    return total;
}
void scatter(Bytes from, const iovec* iov, int iovcnt) {
    for (int i = 0; i < iovcnt && !from.empty(); ++i) {
        const std::size_t n = std::min(from.size(), iov[i].iov_len);
        std::memcpy(iov[i].iov_base, from.data(), n);
        from = from.subspan(n);
    }
}
}  // namespace

SysResult Sockets::writev(int fd, const iovec* iov, int iovcnt) {
    if (lookup(fd) == nullptr) return traced(fd, "writev", "", SysResult::failure(lookup_file(fd) ? EBADF : EBADF));
    const long total = iov_total(iov, iovcnt);
    if (total < 0) return traced(fd, "writev", "", SysResult::failure(static_cast<int>(-total)));
    scratch_.clear();
    for (int i = 0; i < iovcnt; ++i) {
        const auto* p = static_cast<const std::byte*>(iov[i].iov_base);
        scratch_.insert(scratch_.end(), p, p + iov[i].iov_len);
    }
    return send(fd, scratch_, 0);
}

SysResult Sockets::readv(int fd, const iovec* iov, int iovcnt) {
    const long total = iov_total(iov, iovcnt);
    if (!valid(fd) && lookup_file(fd) == nullptr) return traced(fd, "readv", "", SysResult::failure(EBADF));
    if (total < 0) return traced(fd, "readv", "", SysResult::failure(static_cast<int>(-total)));
    scratch_.assign(static_cast<std::size_t>(total), std::byte{0});
    SysResult r = read(fd, scratch_);
    if (r.value > 0) scatter(Bytes(scratch_.data(), static_cast<std::size_t>(r.value)), iov, iovcnt);
    return r;
}

SysResult Sockets::sendmsg(int fd, const msghdr* msg, int flags) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "sendmsg", "", SysResult::failure(bad_fd(fd)));
    if (msg == nullptr) return traced(fd, "sendmsg", "", SysResult::failure(EFAULT));
    if (msg->msg_iovlen > 1024) return traced(fd, "sendmsg", "", SysResult::failure(EMSGSIZE));  // Linux: > UIO_MAXIOV
    const long total = iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    if (total < 0) return traced(fd, "sendmsg", "", SysResult::failure(static_cast<int>(-total)));
    // Zero-length iovecs contribute nothing (Linux copy_from_iter skips them); all empty: the
    // call succeeds with 0 after the usual state checks (send() of no bytes).
    scratch_.clear();
    for (std::size_t i = 0; i < msg->msg_iovlen; ++i) {
        if (msg->msg_iov[i].iov_len == 0) continue;
        const auto* p = static_cast<const std::byte*>(msg->msg_iov[i].iov_base);
        scratch_.insert(scratch_.end(), p, p + msg->msg_iov[i].iov_len);
    }
    // MSG_ZEROCOPY (Linux tcp_sendmsg_locked, here in send()): ignored unless SO_ZEROCOPY is set
    // and bytes were sent. Then the data is sent as usual (a user-space stack always copies) and
    // the call takes the next notification id (a blocking call repeated after a partial send
    // takes one per attempt; Linux one per system call); once all its bytes are acknowledged (or the
    // connection is gone) a completion is queued on the error queue, read with
    // recvmsg(MSG_ERRQUEUE), and poll reports POLLERR meanwhile. Not modelled: pinned user
    // pages, optmem limits (ENOBUFS), the SO_EE_CODE_ZEROCOPY_COPIED heuristics (always set:
    // the bytes were copied), and extending the previous send's notification while it is
    // still in flight (consecutive completions are merged in the queue instead, as Linux's
    // skb_zerocopy_notify_extend does).
    return send(fd, scratch_, flags);
}

bool Sockets::zerocopy_ready(const Socket& s) const {
    if (!s.zc_done.empty()) return true;
    if (s.zc_pending.empty()) return false;
    if (s.rec == nullptr || s.rec->is_listener() || s.rec->closed()) return true;  // purged: completes
    const std::uint64_t acked = s.bytes_queued - std::min<std::uint64_t>(s.bytes_queued, s.rec->conn().send_queue_bytes());
    return s.zc_pending.front().end <= acked;
}

void Sockets::zerocopy_reap(Socket& s) {
    const bool gone = s.rec == nullptr || s.rec->is_listener() || s.rec->closed();
    const std::uint64_t acked =
        gone ? UINT64_MAX : s.bytes_queued - std::min<std::uint64_t>(s.bytes_queued, s.rec->conn().send_queue_bytes());
    while (!s.zc_pending.empty() && s.zc_pending.front().end <= acked) {
        const std::uint32_t id = s.zc_pending.front().id;
        s.zc_pending.pop_front();
        // Linux skb_zerocopy_notify_extend(): a range continuing the queued one extends it.
        if (!s.zc_done.empty() && s.zc_done.back().second + 1 == id) s.zc_done.back().second = id;
        else s.zc_done.emplace_back(id, id);
    }
}

namespace {
// Linux put_cmsg(): appends one control message at msg_control + used; a buffer too small for
// it gets what fits and MSG_CTRUNC.
void put_cmsg(msghdr& msg, std::size_t control_len, std::size_t& used, int level, int type, const void* data, std::size_t len) {
    auto* base = static_cast<unsigned char*>(msg.msg_control);
    const std::size_t room = control_len - used;
    if (base == nullptr || room < sizeof(cmsghdr)) {
        msg.msg_flags |= MSG_CTRUNC;
        return;
    }
    cmsghdr h{};
    h.cmsg_level = level;
    h.cmsg_type = type;
    h.cmsg_len = CMSG_LEN(len);
    std::size_t n = CMSG_LEN(len);
    if (room < n) {
        msg.msg_flags |= MSG_CTRUNC;
        n = room;
    }
    std::memcpy(base + used, &h, sizeof h);
    const std::size_t data_off = CMSG_LEN(0);
    if (n > data_off) std::memcpy(base + used + data_off, data, std::min(len, n - data_off));
    used += std::min<std::size_t>(CMSG_SPACE(len), room);
}
}  // namespace

int Sockets::inq_hint(const Socket& s) const {
    // Linux tcp_inq_hint(): rcv_nxt - copied_seq, which counts a received FIN until it is read,
    // and 1 once it was read (SOCK_DONE), "to tell user space to continue reading" to EOF.
    if (s.rec == nullptr || s.rec->is_listener()) return 0;
    const tcp::State st = s.tcp_state();
    if (st == tcp::State::SynSent || st == tcp::State::SynRecv) return 0;
    const tcp::Connection& c = s.rec->conn();
    return static_cast<int>(c.readable_bytes()) + (c.peer_closed() ? 1 : 0);
}

SysResult Sockets::recvmsg(int fd, msghdr* msg, int flags) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "recvmsg", "", SysResult::failure(bad_fd(fd)));
    if (msg == nullptr) return traced(fd, "recvmsg", "", SysResult::failure(EFAULT));
    if (msg->msg_iovlen > 1024) return traced(fd, "recvmsg", "", SysResult::failure(EMSGSIZE));
    const long total = iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    if (total < 0) return traced(fd, "recvmsg", "", SysResult::failure(static_cast<int>(-total)));
    const std::size_t control_len = msg->msg_control != nullptr ? msg->msg_controllen : 0;
    std::size_t used = 0;
    msg->msg_namelen = 0;
    msg->msg_flags = 0;
    msg->msg_controllen = 0;
    if ((flags & MSG_ERRQUEUE) != 0) {
        // Linux inet_recv_error() -> ip_recv_error(): one queued notification per call, as an
        // IP_RECVERR control message {sock_extended_err, offender address}; EAGAIN when empty
        // (never blocks).
        zerocopy_reap(*s);
        if (s->zc_done.empty()) return traced(fd, "recvmsg", "errqueue", SysResult::failure(EAGAIN));
        const auto [lo, hi] = s->zc_done.front();
        s->zc_done.pop_front();
        struct {
            sock_extended_err ee;
            sockaddr_in offender;
        } err{};
        err.ee.ee_errno = 0;
        err.ee.ee_origin = SO_EE_ORIGIN_ZEROCOPY;
        err.ee.ee_code = SO_EE_CODE_ZEROCOPY_COPIED;
        err.ee.ee_info = lo;
        err.ee.ee_data = hi;
        err.offender.sin_family = AF_UNSPEC;
        put_cmsg(*msg, control_len, used, SOL_IP, IP_RECVERR, &err, sizeof err);
        msg->msg_controllen = used;
        msg->msg_flags |= MSG_ERRQUEUE;
        socket_changed(*s);
        return traced(fd, "recvmsg", "errqueue", SysResult::success(0));
    }
    scratch_.assign(static_cast<std::size_t>(total), std::byte{0});
    SysResult r = recv(fd, scratch_, flags);
    // Linux: TCP fills no address; MSG_OOB marks the urgent byte; control data only with
    // TCP_INQ (tcp_recvmsg(): TCP_CM_INQ after every successful read, EOF included).
    s = lookup(fd);
    if (s != nullptr && s->opt.inq && r.ok() && !r.would_block()) {
        const int inq = inq_hint(*s);
        put_cmsg(*msg, control_len, used, SOL_TCP, TCP_CM_INQ, &inq, sizeof inq);
        msg->msg_controllen = used;
    }
    if (r.value > 0) {
        scatter(Bytes(scratch_.data(), static_cast<std::size_t>(r.value)), msg->msg_iov, static_cast<int>(msg->msg_iovlen));
        if ((flags & MSG_OOB) != 0) msg->msg_flags |= MSG_OOB;
    }
    return r;
}

SysResult Sockets::pread(int fd, MutableBytes out, long offset) {
    if (MemoryFile* f = lookup_file(fd)) {
        if (offset < 0) return traced(fd, "pread", "", SysResult::failure(EINVAL));
        const auto off = static_cast<std::size_t>(offset);
        const std::size_t n = off >= f->bytes.size() ? 0 : std::min(out.size(), f->bytes.size() - off);
        if (n > 0) std::memcpy(out.data(), f->bytes.data() + off, n);
        return traced(fd, "pread", "", SysResult::success(static_cast<long>(n)));
    }
    if (!valid(fd)) return traced(fd, "pread", "", SysResult::failure(EBADF));
    return traced(fd, "pread", "", SysResult::failure(ESPIPE));  // Linux: no FMODE_PREAD on sockets
}

SysResult Sockets::pwrite(int fd, Bytes, long) {
    if (lookup_file(fd) != nullptr) return traced(fd, "pwrite", "", SysResult::failure(EBADF));  // read-only
    if (!valid(fd)) return traced(fd, "pwrite", "", SysResult::failure(EBADF));
    return traced(fd, "pwrite", "", SysResult::failure(ESPIPE));
}

SysResult Sockets::lseek(int fd, long offset, int whence) {
    if (MemoryFile* f = lookup_file(fd)) {
        long base = 0;
        switch (whence) {
            case SEEK_SET: base = 0; break;
            case SEEK_CUR: base = static_cast<long>(f->offset); break;
            case SEEK_END: base = static_cast<long>(f->bytes.size()); break;
            default: return traced(fd, "lseek", "", SysResult::failure(EINVAL));
        }
        if (base + offset < 0) return traced(fd, "lseek", "", SysResult::failure(EINVAL));
        f->offset = static_cast<std::size_t>(base + offset);
        return traced(fd, "lseek", "", SysResult::success(base + offset));
    }
    if (!valid(fd)) return traced(fd, "lseek", "", SysResult::failure(EBADF));
    return traced(fd, "lseek", "", SysResult::failure(ESPIPE));  // Linux: sockets use no_llseek
}

SysResult Sockets::open_memory_file(Bytes bytes) {
    auto f = std::make_shared<MemoryFile>();
    f->bytes.assign(bytes.begin(), bytes.end());
    const int fd = allocate_descriptor(Descriptor{nullptr, std::move(f), false, nullptr});
    if (fd < 0) return traced(-1, "open", "memory file", SysResult::failure(EMFILE));
    return traced(fd, "open", "memory file", SysResult::success(fd));
}

SysResult Sockets::sendfile(int out_fd, int in_fd, long* offset, std::size_t count) {
    // Linux do_sendfile(): in_fd first (EBADF; EINVAL when it cannot be read like a file, e.g. a
    // socket), then out_fd (EBADF; our files are read-only), then the offset (EINVAL if < 0).
    MemoryFile* f = lookup_file(in_fd);
    if (f == nullptr) return traced(out_fd, "sendfile", "", SysResult::failure(valid(in_fd) ? EINVAL : EBADF));
    if (!valid(out_fd)) return traced(out_fd, "sendfile", "", SysResult::failure(EBADF));
    const long pos = offset != nullptr ? *offset : static_cast<long>(f->offset);
    if (pos < 0) return traced(out_fd, "sendfile", "", SysResult::failure(EINVAL));
    const auto upos = static_cast<std::size_t>(pos);
    const std::size_t n = upos >= f->bytes.size() ? 0 : std::min(count, f->bytes.size() - upos);
    if (n == 0) return traced(out_fd, "sendfile", "", SysResult::success(0));  // EOF: nothing to send
    // Copy out first: send() may be followed by more calls that touch the file table.
    SysResult r = send(out_fd, Bytes(f->bytes.data() + upos, n), 0);
    if (r.value > 0) {
        if (offset != nullptr)
            *offset = pos + r.value;  // value-result; the file offset stays (TLPI 61.4)
        else
            f->offset = upos + static_cast<std::size_t>(r.value);
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// ioctl

SysResult Sockets::ioctl(int fd, unsigned long request, int* arg) {
    const std::string detail = tracing() ? std::to_string(request) : "";
    auto result = [&](SysResult r) { return traced(fd, "ioctl", detail, r); };
    if (MemoryFile* f = lookup_file(fd)) {
        if (request != FIONREAD) return result(SysResult::failure(ENOTTY));
        if (arg == nullptr) return result(SysResult::failure(EFAULT));
        *arg = static_cast<int>(f->offset >= f->bytes.size() ? 0 : f->bytes.size() - f->offset);
        return result(SysResult::success(0));
    }
    Socket* s = lookup(fd);
    if (s == nullptr) return result(SysResult::failure(EBADF));
    if (request != FIONREAD && request != SIOCOUTQ && request != SIOCOUTQNSD && request != SIOCATMARK && request != FIONBIO)
        return result(SysResult::failure(ENOTTY));  // Linux sock_do_ioctl(): not a socket ioctl
    if (arg == nullptr) return result(SysResult::failure(EFAULT));
    if (request == FIONBIO) {
        s->nonblocking = *arg != 0;
        return result(SysResult::success(0));
    }
    const tcp::State st = s->tcp_state();
    const bool live = s->rec != nullptr && !s->rec->is_listener() && !s->rec->closed();
    // Linux tcp_ioctl().
    if ((request == FIONREAD || request == SIOCOUTQ || request == SIOCOUTQNSD) && st == tcp::State::Listen)
        return result(SysResult::failure(EINVAL));
    const tcp::Connection* c = s->rec != nullptr && !s->rec->is_listener() ? &s->rec->conn() : nullptr;
    switch (request) {
        case FIONREAD:  // == SIOCINQ
            *arg = (c == nullptr || st == tcp::State::SynSent || st == tcp::State::SynRecv) ? 0 : static_cast<int>(c->readable_bytes());
            break;
        case SIOCOUTQ: *arg = live ? static_cast<int>(c->send_queue_bytes()) : 0; break;
        case SIOCOUTQNSD: *arg = live ? static_cast<int>(c->unsent_bytes()) : 0; break;
        case SIOCATMARK: *arg = c != nullptr && c->at_urgent_mark() ? 1 : 0; break;
        default: break;
    }
    return result(SysResult::success(0));
}

// ---------------------------------------------------------------------------------------------
// epoll(7)

struct Sockets::Epoll {
    struct Item {
        int fd;
        std::weak_ptr<Socket> sock;
        std::uint32_t events;  // EPOLLIN|EPOLLOUT|... plus EPOLLET / EPOLLONESHOT
        std::uint64_t data;
        short last = 0;                // readiness at the last look (edge detection)
        std::size_t last_readable = 0;  // bytes readable at the last look
        short pending = 0;             // edges not yet reported (EPOLLET)
        bool armed = true;             // EPOLLONESHOT: off after one report until EPOLL_CTL_MOD
    };
    std::vector<Item> items;  // in EPOLL_CTL_ADD order
};

Sockets::Epoll* Sockets::lookup_epoll(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
    return fds_[static_cast<std::size_t>(fd)].ep.get();
}

SysResult Sockets::epoll_create(int size) {
    if (size <= 0) return traced(-1, "epoll_create", "", SysResult::failure(EINVAL));  // Linux: size must be > 0
    return epoll_create1(0);
}

SysResult Sockets::epoll_create1(int flags) {
    if ((flags & ~EPOLL_CLOEXEC) != 0) return traced(-1, "epoll_create1", "", SysResult::failure(EINVAL));
    Descriptor d;
    d.ep = std::make_shared<Epoll>();
    d.cloexec = (flags & EPOLL_CLOEXEC) != 0;
    const int fd = allocate_descriptor(std::move(d));
    if (fd < 0) return traced(-1, "epoll_create1", "", SysResult::failure(EMFILE));
    return traced(fd, "epoll_create1", "", SysResult::success(fd));
}

void Sockets::epoll_look(Socket& s) {
    // Edge detection for EPOLLET: Linux queues an item when the socket's wake-up callback runs
    // with a matching event; a user-space stack has no callbacks per sk_* event, so an edge is
    // readiness that was not there at the previous look, or (EPOLLIN) more bytes to read
    // (every sk_data_ready wakes edge-triggered readers). Looks happen on every connection
    // change, every send/recv on the socket and at epoll_wait().
    const short bits = poll_bits(s);
    const std::size_t readable =
        s.rec != nullptr && !s.rec->is_listener() && !s.rec->closed() ? s.rec->conn().readable_bytes() : 0;
    std::erase_if(s.epolls, [](const std::weak_ptr<Epoll>& w) { return w.expired(); });
    for (const auto& w : s.epolls) {
        auto ep = w.lock();
        for (Epoll::Item& it : ep->items) {
            if (it.sock.lock().get() != &s) continue;
            short edge = static_cast<short>(bits & ~it.last);
            if (readable > it.last_readable) edge |= static_cast<short>(bits & kReadable);
            it.pending |= edge;
            it.last = bits;
            it.last_readable = readable;
        }
    }
}

SysResult Sockets::epoll_ctl(int epfd, int op, int fd, const epoll_event* event) {
    const std::string detail = tracing() ? std::to_string(op) + ", " + std::to_string(fd) : "";
    auto result = [&](SysResult r) { return traced(epfd, "epoll_ctl", detail, r); };
    Epoll* ep = lookup_epoll(epfd);
    // Linux do_epoll_ctl(): EBADF for a bad epfd or fd, EPERM for a target that cannot be
    // polled (a regular file), EINVAL when epfd is not an epoll or fd == epfd.
    if (ep == nullptr && lookup(epfd) == nullptr && lookup_file(epfd) == nullptr) return result(SysResult::failure(EBADF));
    if (lookup_file(fd) != nullptr) return result(SysResult::failure(EPERM));
    if (lookup_epoll(fd) != nullptr) return result(SysResult::failure(epfd == fd ? EINVAL : EPERM));  // nested epoll: not simulated
    Socket* s = lookup(fd);
    if (s == nullptr) return result(SysResult::failure(EBADF));
    if (ep == nullptr) return result(SysResult::failure(EINVAL));
    if (op != EPOLL_CTL_DEL && event == nullptr) return result(SysResult::failure(EFAULT));
    auto it = std::find_if(ep->items.begin(), ep->items.end(), [&](const Epoll::Item& i) { return i.fd == fd && i.sock.lock().get() == s; });
    const auto sp = fds_[static_cast<std::size_t>(fd)].sock;
    switch (op) {
        case EPOLL_CTL_ADD: {
            if (it != ep->items.end()) return result(SysResult::failure(EEXIST));
            Epoll::Item item{fd, sp, event->events, event->data.u64};
            // Linux ep_insert(): an item that is ready now is queued at once.
            item.last = poll_bits(*s);
            item.last_readable = s->rec != nullptr && !s->rec->is_listener() && !s->rec->closed() ? s->rec->conn().readable_bytes() : 0;
            item.pending = item.last;
            ep->items.push_back(item);
            // The epoll holds the socket weakly; the socket knows its epolls for edge detection.
            const std::weak_ptr<Epoll> self = fds_[static_cast<std::size_t>(epfd)].ep;
            if (std::none_of(s->epolls.begin(), s->epolls.end(), [&](const auto& w) { return !w.owner_before(self) && !self.owner_before(w); }))
                s->epolls.push_back(self);
            return result(SysResult::success(0));
        }
        case EPOLL_CTL_MOD:
            if (it == ep->items.end()) return result(SysResult::failure(ENOENT));
            it->events = event->events;
            it->data = event->data.u64;
            it->armed = true;
            // Linux ep_modify(): re-polls and queues the item if it is ready now.
            it->last = poll_bits(*s);
            it->pending = it->last;
            return result(SysResult::success(0));
        case EPOLL_CTL_DEL:
            if (it == ep->items.end()) return result(SysResult::failure(ENOENT));
            ep->items.erase(it);
            return result(SysResult::success(0));
        default: return result(SysResult::failure(EINVAL));
    }
}

SysResult Sockets::epoll_wait(int epfd, std::span<epoll_event> events) {
    Epoll* ep = lookup_epoll(epfd);
    if (ep == nullptr) return traced(epfd, "epoll_wait", "", SysResult::failure(valid(epfd) || lookup_file(epfd) ? EINVAL : EBADF));
    if (events.empty()) return traced(epfd, "epoll_wait", "", SysResult::failure(EINVAL));  // maxevents <= 0
    // Items whose socket is gone (the last descriptor closed) leave the set, as in Linux.
    std::erase_if(ep->items, [](const Epoll::Item& i) { return i.sock.expired(); });
    std::size_t n = 0;
    for (Epoll::Item& it : ep->items) {
        if (n == events.size()) break;
        auto sp = it.sock.lock();
        epoll_look(*sp);
        if (!it.armed) continue;
        const std::uint32_t wanted = (it.events & ~(EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)) | EPOLLERR | EPOLLHUP;
        const short now_bits = poll_bits(*sp);
        std::uint32_t rev = static_cast<std::uint16_t>(now_bits) & wanted;
        if ((it.events & EPOLLET) != 0) {
            rev &= static_cast<std::uint16_t>(it.pending);
            it.pending = 0;
        }
        if (rev == 0) continue;
        if ((it.events & EPOLLONESHOT) != 0) it.armed = false;
        events[n].events = rev;
        events[n].data.u64 = it.data;
        ++n;
    }
    return traced(epfd, "epoll_wait", "", SysResult::success(static_cast<long>(n)));
}

// ---------------------------------------------------------------------------------------------
// Multi-descriptor poll

SysResult Sockets::poll(std::span<pollfd> fds) {
    if (fds.size() > static_cast<std::size_t>(kMaxDescriptors)) return SysResult::failure(EINVAL);  // RLIMIT_NOFILE
    long n = 0;
    for (pollfd& p : fds) {
        p.revents = 0;
        if (p.fd < 0) continue;  // poll(2): ignored
        if (lookup_file(p.fd) != nullptr) {
            p.revents = static_cast<short>(p.events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM));  // files are always ready
        } else {
            const short bits = poll(p.fd);
            p.revents = static_cast<short>(bits & (p.events | kAlwaysReported));
        }
        if (p.revents != 0) ++n;
    }
    return SysResult::success(n);
}

void Sockets::poll_wait(std::vector<pollfd> fds, int timeout_ms, std::function<void(std::vector<pollfd>&, int)> done) {
    struct PollState {
        std::vector<pollfd> fds;
        std::function<void(std::vector<pollfd>&, int)> done;
        std::vector<WaitId> waits;
        TimerHandle timer;
        bool finished = false;
    };
    auto st = std::make_shared<PollState>();
    st->fds = std::move(fds);
    st->done = std::move(done);
    std::weak_ptr<bool> alive = alive_;
    auto finish = [this, st](bool timed_out) {
        if (st->finished) return;
        st->finished = true;
        for (WaitId w : st->waits) cancel_wait(w);
        host_.world().cancel(st->timer);
        SysResult r = poll(st->fds);
        const int n = r.ok() ? static_cast<int>(r.value) : 0;
        (void)timed_out;
        st->done(st->fds, n);
    };
    SysResult now_ready = poll(st->fds);
    if (now_ready.value > 0 || timeout_ms == 0) {
        host_.world().at(host_.now(), [alive, finish] {
            if (auto a = alive.lock(); a && *a) finish(false);
        });
        return;
    }
    for (const pollfd& p : st->fds)
        if (p.fd >= 0 && valid(p.fd))
            st->waits.push_back(wait(p.fd, p.events, kTimeNever, [finish](short) { finish(false); }));
    if (timeout_ms > 0)
        st->timer = host_.world().at(host_.now() + std::chrono::milliseconds(timeout_ms), [alive, finish] {
            if (auto a = alive.lock(); a && *a) finish(true);
        });
}

// ---------------------------------------------------------------------------------------------
// Blocking calls in virtual time

template <class Call>
void Sockets::drive(int fd, Call call, Done done) {
    // One call attempt; `call(timed_out)` keeps its own progress and makes the final result.
    struct Driver {
        Sockets* self;
        int fd;
        std::shared_ptr<Call> call;
        std::shared_ptr<Done> done;
        std::shared_ptr<std::optional<Time>> deadline;  // fixed at the first block (Linux timeo)
        std::weak_ptr<bool> alive;
        void step(bool timed_out) const {
            SysResult r = (*call)(timed_out);
            if (r.wait_for == 0 || timed_out) {
                r.wait_for = 0;
                (*done)(r);
                return;
            }
            if (!deadline->has_value()) *deadline = self->deadline_for(fd, r.wait_for);
            Driver next = *this;
            self->wait(fd, r.wait_for, **deadline, [next](short revents) { next.step(revents == 0); });
        }
    };
    Driver d{this, fd, std::make_shared<Call>(std::move(call)), std::make_shared<Done>(std::move(done)),
             std::make_shared<std::optional<Time>>(), alive_};
    // Start from a world event so `done` never runs inside the caller's own call.
    host_.world().at(host_.now(), [d] {
        if (auto a = d.alive.lock(); a && *a) d.step(false);
    });
}

void Sockets::blocking_send(int fd, Bytes data, int flags, Done done) {
    auto sent = std::make_shared<std::size_t>(0);
    drive(fd, [this, fd, data, flags, sent](bool timed_out) -> SysResult {
        // SO_SNDTIMEO: the count moved so far, or EAGAIN (socket(7)).
        if (timed_out) return *sent > 0 ? SysResult::success(static_cast<long>(*sent)) : SysResult::failure(EAGAIN);
        SysResult r = send(fd, data.subspan(*sent), flags);
        if (r.value > 0) *sent += static_cast<std::size_t>(r.value);
        if (r.wait_for != 0 && *sent < data.size()) return SysResult{static_cast<long>(*sent), 0, r.wait_for};
        if (!r.ok()) return *sent > 0 ? SysResult::success(static_cast<long>(*sent)) : r;  // Linux: copied wins
        return SysResult::success(static_cast<long>(*sent));
    }, std::move(done));
}

void Sockets::blocking_recv(int fd, MutableBytes out, int flags, Done done) {
    auto got = std::make_shared<std::size_t>(0);
    drive(fd, [this, fd, out, flags, got](bool timed_out) -> SysResult {
        if (timed_out) {
            // Linux copies as data arrives; take whatever is there now (below SO_RCVLOWAT too).
            SysResult r = recv(fd, out.subspan(*got), (flags & ~MSG_WAITALL) | MSG_DONTWAIT);
            if (r.value > 0) *got += static_cast<std::size_t>(r.value);
            return *got > 0 ? SysResult::success(static_cast<long>(*got)) : SysResult::failure(EAGAIN);
        }
        if (*got > 0 && (flags & MSG_WAITALL) != 0) {
            // Linux tcp_recvmsg(): reaching the urgent mark after copying something ends the call.
            int mark = 0;
            if (ioctl(fd, SIOCATMARK, &mark).ok() && mark != 0) return SysResult::success(static_cast<long>(*got));
        }
        SysResult r = recv(fd, out.subspan(*got), flags);
        if (r.value > 0) *got += static_cast<std::size_t>(r.value);
        if (r.wait_for != 0) return SysResult{static_cast<long>(*got), 0, r.wait_for};
        if (!r.ok()) return *got > 0 ? SysResult::success(static_cast<long>(*got)) : r;
        return SysResult::success(static_cast<long>(*got));
    }, std::move(done));
}

void Sockets::blocking_connect(int fd, tcp::Endpoint remote, Done done) {
    drive(fd, [this, fd, remote](bool timed_out) -> SysResult {
        // socket(7): a connect that times out under SO_SNDTIMEO reports EINPROGRESS (the SYN
        // retransmissions go on in the background).
        if (timed_out) return SysResult::failure(EINPROGRESS);
        SysResult r = connect(fd, remote);
        if (r.err == EALREADY && r.wait_for == 0 && !nonblocking(fd)) return SysResult::blocked(EALREADY, POLLOUT);
        return r;
    }, std::move(done));
}

void Sockets::blocking_accept(int fd, Done done) {
    drive(fd, [this, fd](bool timed_out) -> SysResult {
        if (timed_out) return SysResult::failure(EAGAIN);
        return accept(fd);
    }, std::move(done));
}
}  // namespace tcpsim::stack
