#include "stack/sockets/async.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cerrno>
#include <unordered_set>

#include "stack/host/host.hpp"
#include "stack/sim/world.hpp"

namespace tcpsim::stack::async {

namespace detail {

// Per execution context (io_context): the sockets created on it, so that destroying the context
// destroys the handlers of pending operations (Asio's rule), and the live activity hook.
class Service final : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;
    explicit Service(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

    void shutdown() override {
        // Handlers may own coroutine frames that own Sockets: collect first, destroy after, so
        // the registry is not walked while it changes.
        // Sockets that outlive the context are detached: they can still close, but start nothing.
        std::vector<std::unique_ptr<Op>> doomed;
        for (SocketState* s : sockets) {
            for (auto& op : s->ops) {
                if (op->wait != 0) s->sockets().cancel_wait(op->wait);
                doomed.push_back(std::move(op));
            }
            s->ops.clear();
            s->service = nullptr;
        }
        sockets.clear();
        hook = nullptr;
        doomed.clear();
    }

    std::unordered_set<SocketState*> sockets;
    std::function<void()> hook;
};

namespace {
Service& service_of(const Executor& ex) {
    return asio::use_service<Service>(asio::query(ex, asio::execution::context));
}
bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }
}  // namespace

SocketState::SocketState(Host& h, int f, Executor e) : host(&h), fd(f), ex(std::move(e)), service(&service_of(ex)) {
    service->sockets.insert(this);
}

SocketState::~SocketState() {
    if (fd >= 0) close();
    if (service != nullptr) service->sockets.erase(this);
}

Sockets& SocketState::sockets() { return host->sockets(); }

void SocketState::touched() {
    if (service != nullptr && service->hook) service->hook();
}

void SocketState::start(std::unique_ptr<Op> op) {
    if (service == nullptr) return;  // the context is shut down: drop the handler, as Asio does
    if (fd < 0) {
        op->abort(asio::error::bad_descriptor);
        return;
    }
    const bool done = op->attempt(*this);
    if (!done) {
        ops.push_back(std::move(op));
        park(ops.back().get());
    }
    touched();
}

void SocketState::park(Op* op) {
    op->wait = sockets().wait(fd, op->events(), kTimeNever, [self = weak_from_this(), op](short) {
        if (auto s = self.lock()) s->woken(op);
    });
}

void SocketState::woken(Op* op) {
    auto it = std::find_if(ops.begin(), ops.end(), [op](const auto& p) { return p.get() == op; });
    if (it == ops.end()) return;
    op->wait = 0;
    if (op->attempt(*this)) {
        // attempt() may have started nothing else, but look the op up again to be safe.
        it = std::find_if(ops.begin(), ops.end(), [op](const auto& p) { return p.get() == op; });
        if (it != ops.end()) ops.erase(it);
    } else {
        park(op);
    }
    touched();
}

void SocketState::cancel_all(error_code ec) {
    std::vector<std::unique_ptr<Op>> pending;
    pending.swap(ops);
    for (auto& op : pending) {
        if (op->wait != 0) sockets().cancel_wait(op->wait);
        op->abort(ec);
    }
}

void SocketState::close() {
    if (fd < 0) return;
    cancel_all(asio::error::operation_aborted);
    sockets().close(fd);
    fd = -1;
    touched();
}

Progress read_step(SocketState& s, asio::mutable_buffer buf, std::size_t& got, bool all) {
    auto* base = static_cast<std::byte*>(buf.data());
    for (;;) {
        const std::size_t want = buf.size() - got;
        if (want == 0) return {true, {}};
        SysResult r = s.sockets().recv(s.fd, MutableBytes(base + got, want), MSG_DONTWAIT);
        if (r.value > 0) {
            got += static_cast<std::size_t>(r.value);
            if (!all) return {true, {}};
            continue;
        }
        if (r.value == 0) return {true, asio::error::eof};
        if (would_block(r.err)) return {false, {}};
        return {true, make_error(r.err)};
    }
}

Progress write_step(SocketState& s, asio::const_buffer buf, std::size_t& put, bool all) {
    const auto* base = static_cast<const std::byte*>(buf.data());
    for (;;) {
        const std::size_t left = buf.size() - put;
        if (left == 0) return {true, {}};
        SysResult r = s.sockets().send(s.fd, Bytes(base + put, left), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r.value > 0) {
            put += static_cast<std::size_t>(r.value);
            if (!all) return {true, {}};
            continue;
        }
        if (r.value == 0 || would_block(r.err)) return {false, {}};
        return {true, make_error(r.err)};
    }
}

Progress connect_step(SocketState& s, const tcp::Endpoint& remote, bool& started) {
    const bool again = started;
    started = true;
    // The repeated connect() reports the outcome (Linux second-connect semantics, sockets.hpp).
    SysResult r = s.sockets().connect(s.fd, remote);
    if (r.ok()) return {true, {}};
    if (r.err == EINPROGRESS || r.err == EALREADY) return {false, {}};
    if (again && r.err == EISCONN) return {true, {}};
    return {true, make_error(r.err)};
}

Progress accept_step(SocketState& s, int& new_fd, tcp::Endpoint& peer) {
    SysResult r = s.sockets().accept(s.fd, &peer, SOCK_NONBLOCK);
    if (r.ok()) {
        new_fd = static_cast<int>(r.value);
        return {true, {}};
    }
    if (would_block(r.err)) return {false, {}};
    return {true, make_error(r.err)};
}

}  // namespace detail

namespace {
[[noreturn]] void raise(int err, const char* what) { throw boost::system::system_error(make_error(err), what); }
}  // namespace

std::size_t run(World& world, asio::io_context& io, Time until) {
    std::size_t handlers = 0;
    for (;;) {
        if (io.stopped()) io.restart();
        const std::size_t n = io.poll();
        handlers += n;
        const bool stepped = world.step(until);
        if (!stepped && n == 0) break;
    }
    if (until != kTimeNever && world.now() < until) world.run_until(until);
    return handlers;
}

void set_activity_hook(asio::execution_context& ctx, std::function<void()> hook) {
    asio::use_service<detail::Service>(ctx).hook = std::move(hook);
}

// ---- Socket ----

Socket::Socket(const executor_type& ex, Host& host) : ex_(ex) {
    SysResult r = host.sockets().socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (!r.ok()) raise(r.err, "socket");
    state_ = std::make_shared<detail::SocketState>(host, static_cast<int>(r.value), ex_);
}

Socket::Socket(const executor_type& ex, Host& host, int fd) : ex_(ex) {
    if (fd >= 0) {
        Sockets& s = host.sockets();
        SysResult fl = s.fcntl(fd, F_GETFL);
        if (!fl.ok()) raise(fl.err, "fcntl");
        s.fcntl(fd, F_SETFL, fl.value | O_NONBLOCK);
    }
    state_ = std::make_shared<detail::SocketState>(host, fd, ex_);
}

Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        if (state_) state_->close();
        ex_ = std::move(other.ex_);
        state_ = std::move(other.state_);
    }
    return *this;
}

Socket::~Socket() {
    if (state_) state_->close();
}

void Socket::start(std::unique_ptr<detail::Op> op) {
    if (!state_) {
        op->abort(asio::error::bad_descriptor);  // a moved-from socket
        return;
    }
    state_->start(std::move(op));
}

void Socket::close() {
    if (state_) state_->close();
}

void Socket::cancel() {
    if (state_) state_->cancel_all(asio::error::operation_aborted);
}

error_code Socket::shutdown(int how) {
    if (!is_open()) return asio::error::bad_descriptor;
    error_code ec = make_error(sockets().shutdown(state_->fd, how).err);
    state_->touched();
    return ec;
}

tcp::Endpoint Socket::local_endpoint() const {
    tcp::Endpoint e;
    if (is_open()) sockets().getsockname(state_->fd, e);
    return e;
}

tcp::Endpoint Socket::remote_endpoint() const {
    tcp::Endpoint e;
    if (is_open()) sockets().getpeername(state_->fd, e);
    return e;
}

error_code Socket::set_option(int level, int name, int value) {
    if (!is_open()) return asio::error::bad_descriptor;
    return make_error(sockets().setsockopt(state_->fd, level, name, value).err);
}

// ---- Acceptor ----

Acceptor::Acceptor(const executor_type& ex, Host& host, tcp::Endpoint local, int backlog) : sock_(ex, host) {
    Sockets& s = host.sockets();
    const int fd = sock_.native_handle();
    s.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);  // as asio::ip::tcp::acceptor does
    if (SysResult r = s.bind(fd, local); !r.ok()) raise(r.err, "bind");
    if (SysResult r = s.listen(fd, backlog); !r.ok()) raise(r.err, "listen");
}

void Acceptor::start(std::unique_ptr<detail::Op> op) { sock_.start(std::move(op)); }

}  // namespace tcpsim::stack::async
