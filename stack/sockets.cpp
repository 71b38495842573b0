#include "stack/sockets.hpp"

#include <algorithm>
#include <cerrno>
#include <string>

#include "stack/host.hpp"

namespace tcpsim::stack {

const char* errno_name(int err) {
    switch (err) {
        case 0: return "0";
        case EPERM: return "EPERM";
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

    void connection_changed() override { layer->socket_changed(*this); }
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

bool Sockets::valid(int fd) const { return lookup(fd) != nullptr; }
bool Sockets::nonblocking(int fd) const {
    const Socket* s = lookup(fd);
    return s != nullptr && s->nonblocking;
}
std::size_t Sockets::open_descriptors() const {
    return static_cast<std::size_t>(std::count_if(fds_.begin(), fds_.end(), [](const Descriptor& d) { return d.sock != nullptr; }));
}
tcp::State Sockets::state(int fd) const {
    const Socket* s = lookup(fd);
    return s == nullptr ? tcp::State::Closed : s->tcp_state();
}

int Sockets::allocate_fd(std::shared_ptr<Socket> s, bool cloexec, int min_fd) {
    // POSIX: the lowest free descriptor. 0-2 belong to stdio, as in a process.
    std::size_t i = static_cast<std::size_t>(min_fd);
    while (i < fds_.size() && fds_[i].sock) ++i;
    if (i >= static_cast<std::size_t>(kMaxDescriptors)) return -1;
    if (i >= fds_.size()) fds_.resize(i + 1);
    ++s->refs;
    fds_[i] = Descriptor{std::move(s), cloexec};
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
    if (s == nullptr) return traced(fd, "dup", "", SysResult::failure(EBADF));
    const int nfd = allocate_fd(fds_[static_cast<std::size_t>(fd)].sock, false);  // dup clears FD_CLOEXEC
    if (nfd < 0) return traced(fd, "dup", "", SysResult::failure(EMFILE));
    return traced(fd, "dup", "", SysResult::success(nfd));
}

SysResult Sockets::dup2(int fd, int newfd) {
    Socket* s = lookup(fd);
    if (s == nullptr || newfd < 0 || newfd >= kMaxDescriptors) return traced(fd, "dup2", "", SysResult::failure(EBADF));
    if (fd == newfd) return traced(fd, "dup2", "", SysResult::success(newfd));
    if (lookup(newfd) != nullptr) close(newfd);
    if (static_cast<std::size_t>(newfd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(newfd) + 1);
    auto sp = fds_[static_cast<std::size_t>(fd)].sock;
    ++sp->refs;
    fds_[static_cast<std::size_t>(newfd)] = Descriptor{std::move(sp), false};
    return traced(fd, "dup2", "", SysResult::success(newfd));
}

SysResult Sockets::close(int fd) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "close", "", SysResult::failure(EBADF));
    std::shared_ptr<Socket> sp = std::move(fds_[static_cast<std::size_t>(fd)].sock);
    fds_[static_cast<std::size_t>(fd)] = Descriptor{};
    // Waits registered through this descriptor end with POLLNVAL (poll(2) on a closed fd).
    std::vector<WaitId> ended;
    for (WaitId w : sp->waits)
        if (auto it = waiters_.find(w); it != waiters_.end() && it->second.fd == fd) ended.push_back(w);
    for (WaitId w : ended) finish_wait(w, POLLNVAL);
    if (--sp->refs == 0) release(*sp);
    return traced(fd, "close", "", SysResult::success(0));
}

void Sockets::release(Socket& s) {
    // The last descriptor is gone: close the socket (TLPI 61.2; FIN or RST as the engine decides).
    if (s.rec != nullptr) {
        ConnectionRecord* r = s.rec;
        s.rec = nullptr;
        r->owner = nullptr;
        if (!r->is_listener() && !r->closed()) r->conn().close(host_.now());
        host_.release(*r);
    }
    if (s.lease != 0) {
        host_.release_port(s.lease);
        s.lease = 0;
    }
}

SysResult Sockets::fcntl(int fd, int cmd, long arg) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "fcntl", "", SysResult::failure(EBADF));
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
    if (s == nullptr) return traced(fd, "bind", detail, SysResult::failure(EBADF));
    // Linux inet_bind: a socket binds once, and only while CLOSE.
    if (s->bound || s->rec != nullptr) return traced(fd, "bind", detail, SysResult::failure(EINVAL));
    if (local.addr.is_broadcast() || local.addr.is_multicast())
        return traced(fd, "bind", detail, SysResult::failure(EADDRNOTAVAIL));
    Host::Lease l = host_.bind_port(local, s->reuse_addr);
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
    if (s == nullptr) return traced(fd, "listen", detail, SysResult::failure(EBADF));
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
        Host::Lease l = host_.bind_port(tcp::Endpoint{Ipv4Addr::any(), 0}, s->reuse_addr);
        if (l.err != 0) return traced(fd, "listen", detail, SysResult::failure(EADDRINUSE));
        s->bound = true;
        s->lease = l.id;
        s->local = l.local;
    }
    Host::Opened o = host_.open_passive(s->lease, clamped, s->cfg, s);
    if (o.err != 0) return traced(fd, "listen", detail, SysResult::failure(o.err));
    s->lease = 0;  // the listener record holds it now
    s->rec = o.record;
    return traced(fd, "listen", detail, SysResult::success(0));
}

SysResult Sockets::accept(int fd, tcp::Endpoint* peer, int flags) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "accept", "", SysResult::failure(EBADF));
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
    // Linux: O_NONBLOCK is not inherited (TLPI 61.11); socket options are.
    ns->nonblocking = (flags & SOCK_NONBLOCK) != 0;
    ns->cfg = child->conn().config();
    ns->reuse_addr = s->reuse_addr;
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
    if (s == nullptr) return traced(fd, "connect", detail, SysResult::failure(EBADF));
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
                    Host::Lease l = host_.bind_port(s->bind_request, s->reuse_addr);
                    if (l.err != 0) return result(SysResult::failure(l.err));
                    s->lease = l.id;
                    s->local = l.local;
                } else if (!s->explicit_bind) {
                    s->local = {};
                }
            }
            Host::Opened o = host_.open_active(s->local, s->lease, remote, s->cfg, s);
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
    if (s == nullptr) return traced(fd, "shutdown", detail, SysResult::failure(EBADF));
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
    if (s == nullptr) return traced(fd, "getsockname", "", SysResult::failure(EBADF));
    out = s->rec != nullptr ? s->rec->conn().tuple().local : (s->bound ? s->local : tcp::Endpoint{});
    if (s->rec != nullptr && s->rec->is_listener()) out = s->local;
    return traced(fd, "getsockname", tracing() ? out.to_string() : "", SysResult::success(0));
}

SysResult Sockets::getpeername(int fd, tcp::Endpoint& out) {
    Socket* s = lookup(fd);
    if (s == nullptr) return traced(fd, "getpeername", "", SysResult::failure(EBADF));
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
    if (s == nullptr) return result(SysResult::failure(EBADF));
    const bool dontwait = s->nonblocking || (flags & MSG_DONTWAIT) != 0;
    auto epipe = [&] {
        sigpipe_ = (flags & MSG_NOSIGNAL) == 0;
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
    const std::size_t n = s->rec->conn().send(host_.now(), data, sf, ec);
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
    if (s == nullptr) return result(SysResult::failure(EBADF));
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
    std::error_code ec;
    tcp::ReceiveFlags rf{(flags & MSG_PEEK) != 0, (flags & MSG_OOB) != 0};
    const std::size_t n = s->rec->conn().receive(host_.now(), out, rf, ec);
    if (ec) {
        if (ec.value() == EAGAIN) {
            if (s->shut_rd) return result(SysResult::success(0));  // Linux: RCV_SHUTDOWN reads EOF
            if (dontwait) return result(SysResult::failure(EAGAIN));
            return result(SysResult::blocked(EAGAIN, POLLIN));
        }
        return result(SysResult::failure(ec.value()));
    }
    return result(SysResult::success(static_cast<long>(n)));
}

// ---------------------------------------------------------------------------------------------
// Options

SysResult Sockets::getsockopt(int fd, int level, int name, int& value) {
    Socket* s = lookup(fd);
    const std::string detail = tracing() ? std::to_string(level) + "/" + std::to_string(name) : "";
    if (s == nullptr) return traced(fd, "getsockopt", detail, SysResult::failure(EBADF));
    auto ok = [&](int v) {
        value = v;
        return traced(fd, "getsockopt", detail, SysResult::success(0));
    };
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_ERROR: return ok(s->rec != nullptr ? s->rec->take_error().value() : 0);
            case SO_TYPE: return ok(SOCK_STREAM);
            case SO_DOMAIN: return ok(AF_INET);
            case SO_PROTOCOL: return ok(IPPROTO_TCP);
            case SO_ACCEPTCONN: return ok(s->listening() ? 1 : 0);
            case SO_REUSEADDR: return ok(s->reuse_addr ? 1 : 0);
            case SO_KEEPALIVE: return ok(s->cfg.keepalive ? 1 : 0);
            case SO_RCVBUF: return ok(static_cast<int>(s->cfg.receive_buffer));
            case SO_SNDBUF: return ok(static_cast<int>(s->cfg.send_buffer));
            default: break;
        }
    } else if (level == IPPROTO_TCP) {
        switch (name) {
            case TCP_NODELAY: return ok(s->cfg.nodelay ? 1 : 0);
            default: break;
        }
    }
    return traced(fd, "getsockopt", detail, SysResult::failure(ENOPROTOOPT));
}

SysResult Sockets::setsockopt(int fd, int level, int name, int value) {
    Socket* s = lookup(fd);
    const std::string detail = tracing() ? std::to_string(level) + "/" + std::to_string(name) + "=" + std::to_string(value) : "";
    if (s == nullptr) return traced(fd, "setsockopt", detail, SysResult::failure(EBADF));
    auto ok = [&] { return traced(fd, "setsockopt", detail, SysResult::success(0)); };
    tcp::Connection* conn = (s->rec != nullptr && !s->rec->is_listener() && !s->rec->closed()) ? &s->rec->conn() : nullptr;
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_REUSEADDR:
                s->reuse_addr = value != 0;
                if (s->lease != 0) host_.set_lease_reuse(s->lease, s->reuse_addr);
                return ok();
            case SO_KEEPALIVE:
                s->cfg.keepalive = value != 0;
                if (conn != nullptr) conn->set_keepalive(host_.now(), value != 0);
                return ok();
            case SO_RCVBUF:
            case SO_SNDBUF: {
                // Linux doubles the value (bookkeeping overhead) and enforces minimums.
                const auto v = static_cast<std::uint32_t>(std::max(value, 0));
                if (name == SO_RCVBUF) {
                    s->cfg.receive_buffer = std::max<std::uint32_t>(2 * v, 2304);
                    if (conn != nullptr) conn->set_receive_buffer(s->cfg.receive_buffer);
                } else {
                    s->cfg.send_buffer = std::max<std::uint32_t>(2 * v, 4608);
                    if (conn != nullptr) conn->set_send_buffer(s->cfg.send_buffer);
                }
                return ok();
            }
            default: break;
        }
    } else if (level == IPPROTO_TCP) {
        switch (name) {
            case TCP_NODELAY:
                s->cfg.nodelay = value != 0;
                if (conn != nullptr) conn->set_nodelay(host_.now(), value != 0);
                return ok();
            default: break;
        }
    }
    return traced(fd, "setsockopt", detail, SysResult::failure(ENOPROTOOPT));
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
        if (!closed && c.readable_bytes() > 0) mask |= kReadable;
        if (!snd_shut) {
            // sk_stream_is_writeable(): free space at least half of what is queued.
            const std::size_t space = c.send_space();
            if (space > 0 && space >= c.send_queue_bytes() / 2) mask |= kWritable;
        } else {
            mask |= kWritable;
        }
        if (!closed && c.has_urgent_data()) mask |= POLLPRI;
    }
    if (r.error()) mask |= POLLERR;
    return mask;
}

short Sockets::poll(int fd) const {
    const Socket* s = lookup(fd);
    return s == nullptr ? POLLNVAL : poll_bits(*s);
}

void Sockets::socket_changed(Socket& s) {
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
    std::vector<std::shared_ptr<Socket>> dirty;
    dirty.swap(dirty_);
    std::vector<std::pair<WaitId, short>> ready;
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

}  // namespace tcpsim::stack
