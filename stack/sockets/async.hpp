// Asio-style asynchronous operations on the socket facade (DESIGN.md "Applications in
// simulation"). Every operation is written with boost::asio::async_initiate, so any completion
// token works: a callback, boost::asio::use_awaitable (co_await), boost::asio::use_future.
//
//   World world(1);  ...hosts and wires...
//   boost::asio::io_context io;                 // declare AFTER the world (see "Lifetime")
//   co_spawn(io, [&]() -> awaitable<void> {
//       async::Socket s(co_await this_coro::executor, client);
//       co_await s.async_connect({server_ip, 7}, use_awaitable);
//       co_await async::async_write(s, asio::buffer(msg), use_awaitable);
//   }, detached);
//   async::run(world, io);                       // virtual time, deterministic
//
// Completion: operations never complete inside the initiating call. Readiness comes from a world
// event (Sockets::wait); the handler is then POSTED to its associated executor (default: the
// socket's). In simulation, async::run() alternates world.step() and io.poll(), so a handler runs
// at the virtual instant its event fired, before the world moves on. In live mode the
// LiveRuntime's io_context runs the handlers; install its wake-up with set_activity_hook() so
// socket calls made by handlers get their world events pumped (see docs/async.md).
//
// Errors: errno values as boost::system::error_code in the system category (ECONNREFUSED,
// ECONNRESET, EPIPE, ...); end of stream is boost::asio::error::eof; close()/cancel() complete
// pending operations with boost::asio::error::operation_aborted.
//
// Lifetime: the World (hosts) must outlive the io_context and every Socket. When the io_context
// is destroyed, handlers of operations still pending are destroyed without being invoked (as in
// Asio), which frees suspended coroutines.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange (PLATFORM.md)

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <poll.h>

#include "link/base/time.hpp"
#include "stack/sockets/sockets.hpp"
#include "tcp/types.hpp"

namespace tcpsim::stack {
class Host;
class World;
}  // namespace tcpsim::stack

namespace tcpsim::stack::async {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using Executor = asio::any_io_executor;

// errno -> error_code in the system category (0 -> success).
inline error_code make_error(int err) { return err == 0 ? error_code{} : error_code(err, boost::system::system_category()); }

// Runs the world and the io_context together until both are idle or the next world event lies
// after `until`; then (if `until` is finite) sets the clock to `until`. One world event at a time,
// each followed by io.poll(), so handlers interleave deterministically with the stack. Returns the
// number of handlers run. A stopped io_context is restarted.
std::size_t run(World& world, asio::io_context& io, Time until = kTimeNever);

// Called after every socket call an operation makes (and after close()), so a live driver can run
// the world events those calls scheduled. Per execution context; empty in simulation.
void set_activity_hook(asio::execution_context& ctx, std::function<void()> hook);

enum class WaitType : short { read = POLLIN, write = POLLOUT, error = POLLERR };

namespace detail {

class Service;
struct SocketState;

// One pending operation of a socket. attempt() makes the non-blocking call; when it would block
// the socket parks the operation on Sockets::wait() for events() and calls attempt() again.
struct Op {
    virtual ~Op() = default;
    // Returns true when the operation finished (its handler is posted).
    virtual bool attempt(SocketState& s) = 0;
    virtual short events() const = 0;
    // Posts the handler with `ec` (close/cancel).
    virtual void abort(error_code ec) = 0;
    Sockets::WaitId wait = 0;
};

struct SocketState : std::enable_shared_from_this<SocketState> {
    SocketState(Host& h, int f, Executor e);
    ~SocketState();
    Sockets& sockets();
    void start(std::unique_ptr<Op> op);  // attempt now, park if needed
    void cancel_all(error_code ec);
    void close();
    void touched();  // activity hook
    void park(Op* op);
    void woken(Op* op);

    Host* host;
    int fd;
    Executor ex;
    Service* service;
    std::vector<std::unique_ptr<Op>> ops;
};

// Posts `handler(args...)` to the handler's associated executor (default: `fallback`), keeping
// that executor's outstanding work while the operation is pending.
template <class Handler, class... Args>
void post_completion(Handler& handler, const Executor& fallback, Args... args) {
    auto ex = asio::get_associated_executor(handler, fallback);
    asio::post(ex, [h = std::move(handler), ... a = std::move(args)]() mutable { h(std::move(a)...); });
}

template <class Handler, class Result>
struct CompletingOp : Op {
    CompletingOp(Handler&& h, const Executor& ex)
        : handler(std::move(h)), work(asio::prefer(asio::get_associated_executor(handler, ex), asio::execution::outstanding_work.tracked)), fallback(ex) {}
    void finish(error_code ec, Result r) { post_completion(handler, fallback, ec, std::move(r)); }
    void abort(error_code ec) override { finish(ec, Result{}); }
    Handler handler;
    decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>(), std::declval<const Executor&>()),
                          asio::execution::outstanding_work.tracked)) work;
    Executor fallback;
};

template <class Handler>
struct WaitOp : Op {
    WaitOp(Handler&& h, const Executor& ex, short ev)
        : handler(std::move(h)), work(asio::prefer(asio::get_associated_executor(handler, ex), asio::execution::outstanding_work.tracked)), fallback(ex), want(ev) {}
    bool attempt(SocketState& s) override {
        if ((s.sockets().poll(s.fd) & (want | POLLERR | POLLHUP | POLLNVAL)) == 0) return false;
        post_completion(handler, fallback, error_code{});
        return true;
    }
    short events() const override { return want; }
    void abort(error_code ec) override { post_completion(handler, fallback, ec); }
    Handler handler;
    decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>(), std::declval<const Executor&>()),
                          asio::execution::outstanding_work.tracked)) work;
    Executor fallback;
    short want;
};

// recv() into one buffer: read_some (all == false) or the whole buffer (all == true).
// Returns {done, ec}; `got` accumulates.
struct Progress {
    bool done;
    error_code ec;
};
Progress read_step(SocketState& s, asio::mutable_buffer buf, std::size_t& got, bool all);
Progress write_step(SocketState& s, asio::const_buffer buf, std::size_t& put, bool all);
Progress connect_step(SocketState& s, const tcp::Endpoint& remote, bool& started);
Progress accept_step(SocketState& s, int& new_fd, tcp::Endpoint& peer);

template <class Handler>
struct ReadOp : CompletingOp<Handler, std::size_t> {
    ReadOp(Handler&& h, const Executor& ex, asio::mutable_buffer b, bool a)
        : CompletingOp<Handler, std::size_t>(std::move(h), ex), buf(b), all(a) {}
    bool attempt(SocketState& s) override {
        Progress p = read_step(s, buf, got, all);
        if (p.done) this->finish(p.ec, got);
        return p.done;
    }
    short events() const override { return POLLIN; }
    asio::mutable_buffer buf;
    bool all;
    std::size_t got = 0;
};

template <class Handler>
struct WriteOp : CompletingOp<Handler, std::size_t> {
    WriteOp(Handler&& h, const Executor& ex, asio::const_buffer b, bool a)
        : CompletingOp<Handler, std::size_t>(std::move(h), ex), buf(b), all(a) {}
    bool attempt(SocketState& s) override {
        Progress p = write_step(s, buf, put, all);
        if (p.done) this->finish(p.ec, put);
        return p.done;
    }
    short events() const override { return POLLOUT; }
    asio::const_buffer buf;
    bool all;
    std::size_t put = 0;
};

template <class Handler>
struct ConnectOp : Op {
    ConnectOp(Handler&& h, const Executor& ex, tcp::Endpoint r)
        : handler(std::move(h)), work(asio::prefer(asio::get_associated_executor(handler, ex), asio::execution::outstanding_work.tracked)), fallback(ex), remote(r) {}
    bool attempt(SocketState& s) override {
        Progress p = connect_step(s, remote, started);
        if (p.done) post_completion(handler, fallback, p.ec);
        return p.done;
    }
    short events() const override { return POLLOUT; }
    void abort(error_code ec) override { post_completion(handler, fallback, ec); }
    Handler handler;
    decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>(), std::declval<const Executor&>()),
                          asio::execution::outstanding_work.tracked)) work;
    Executor fallback;
    tcp::Endpoint remote;
    bool started = false;
};

}  // namespace detail

// A connected (or connectable) TCP socket of one host: a descriptor of host.sockets(), made
// non-blocking. Move-only; the destructor closes it (pending operations: operation_aborted).
class Socket {
public:
    using executor_type = Executor;

    // Opens a fresh TCP socket on `host` (throws boost::system::system_error on EMFILE...).
    Socket(const executor_type& ex, Host& host);
    // Adopts an existing descriptor of host.sockets() (made non-blocking).
    Socket(const executor_type& ex, Host& host, int fd);
    Socket(Socket&&) noexcept = default;
    Socket& operator=(Socket&& other) noexcept;
    ~Socket();

    executor_type get_executor() const { return ex_; }
    bool is_open() const { return state_ != nullptr && state_->fd >= 0; }
    int native_handle() const { return state_ ? state_->fd : -1; }
    Host& host() const { return *state_->host; }
    Sockets& sockets() const { return state_->sockets(); }

    // Completes every pending operation with operation_aborted, then closes the descriptor.
    void close();
    // Completes every pending operation with operation_aborted; the socket stays open.
    void cancel();
    error_code shutdown(int how);
    tcp::Endpoint local_endpoint() const;
    tcp::Endpoint remote_endpoint() const;
    error_code set_option(int level, int name, int value);

    // void(error_code). ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH... as error codes.
    template <class Token>
    auto async_connect(tcp::Endpoint remote, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, tcp::Endpoint r) {
                using H = std::decay_t<decltype(handler)>;
                start(std::make_unique<detail::ConnectOp<H>>(std::move(handler), ex_, r));
            },
            token, remote);
    }

    // void(error_code, std::size_t): at least one byte (eof when the peer has closed and
    // everything was read); a zero-size buffer completes at once with 0.
    template <class Token>
    auto async_read_some(asio::mutable_buffer buf, Token&& token) {
        return initiate_read<Token>(buf, false, std::forward<Token>(token));
    }
    // void(error_code, std::size_t): at least one byte queued for sending.
    template <class Token>
    auto async_write_some(asio::const_buffer buf, Token&& token) {
        return initiate_write<Token>(buf, false, std::forward<Token>(token));
    }
    // void(error_code): until the socket is readable / writable / has an error (POLLERR and
    // POLLHUP always count, like poll(2)).
    template <class Token>
    auto async_wait(WaitType what, Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler, WaitType w) {
                using H = std::decay_t<decltype(handler)>;
                start(std::make_unique<detail::WaitOp<H>>(std::move(handler), ex_, static_cast<short>(w)));
            },
            token, what);
    }

    // Composed operations (async_read / async_write below) use these.
    template <class Token>
    auto initiate_read(asio::mutable_buffer buf, bool all, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, asio::mutable_buffer b, bool a) {
                using H = std::decay_t<decltype(handler)>;
                start(std::make_unique<detail::ReadOp<H>>(std::move(handler), ex_, b, a));
            },
            token, buf, all);
    }
    template <class Token>
    auto initiate_write(asio::const_buffer buf, bool all, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, asio::const_buffer b, bool a) {
                using H = std::decay_t<decltype(handler)>;
                start(std::make_unique<detail::WriteOp<H>>(std::move(handler), ex_, b, a));
            },
            token, buf, all);
    }

private:
    friend class Acceptor;
    void start(std::unique_ptr<detail::Op> op);
    executor_type ex_;
    std::shared_ptr<detail::SocketState> state_;
};

// Reads until `buf` is full: void(error_code, bytes read). A peer close before that gives eof
// with the bytes read so far.
template <class Token>
auto async_read(Socket& s, asio::mutable_buffer buf, Token&& token) {
    return s.initiate_read(buf, true, std::forward<Token>(token));
}
// Queues all of `buf`: void(error_code, bytes written).
template <class Token>
auto async_write(Socket& s, asio::const_buffer buf, Token&& token) {
    return s.initiate_write(buf, true, std::forward<Token>(token));
}

namespace detail {
template <class Handler>
struct AcceptOp : Op {
    AcceptOp(Handler&& h, const Executor& ex, Executor sock_ex)
        : handler(std::move(h)), work(asio::prefer(asio::get_associated_executor(handler, ex), asio::execution::outstanding_work.tracked)), fallback(ex), socket_ex(std::move(sock_ex)) {}
    bool attempt(SocketState& s) override {
        int nfd = -1;
        tcp::Endpoint peer;
        Progress p = accept_step(s, nfd, peer);
        if (!p.done) return false;
        if (p.ec)
            post_completion(handler, fallback, p.ec, Socket(socket_ex, *s.host, -1));
        else
            post_completion(handler, fallback, p.ec, Socket(socket_ex, *s.host, nfd));
        return true;
    }
    short events() const override { return POLLIN; }
    void abort(error_code ec) override { post_completion(handler, fallback, ec, Socket(socket_ex, *state_host, -1)); }
    Handler handler;
    decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>(), std::declval<const Executor&>()),
                          asio::execution::outstanding_work.tracked)) work;
    Executor fallback;
    Executor socket_ex;
    Host* state_host = nullptr;
};
}  // namespace detail

// A listening socket. Move-only; closes on destruction.
class Acceptor {
public:
    using executor_type = Executor;

    // socket + SO_REUSEADDR + bind(local) + listen(backlog); throws boost::system::system_error.
    Acceptor(const executor_type& ex, Host& host, tcp::Endpoint local, int backlog = SOMAXCONN);
    Acceptor(Acceptor&&) noexcept = default;
    Acceptor& operator=(Acceptor&&) noexcept = default;
    ~Acceptor() = default;

    executor_type get_executor() const { return sock_.get_executor(); }
    bool is_open() const { return sock_.is_open(); }
    int native_handle() const { return sock_.native_handle(); }
    tcp::Endpoint local_endpoint() const { return sock_.local_endpoint(); }
    void close() { sock_.close(); }
    void cancel() { sock_.cancel(); }

    // void(error_code, Socket): the accepted connection (executor: the acceptor's).
    template <class Token>
    auto async_accept(Token&& token) {
        return asio::async_initiate<Token, void(error_code, Socket)>(
            [this](auto handler) {
                using H = std::decay_t<decltype(handler)>;
                auto op = std::make_unique<detail::AcceptOp<H>>(std::move(handler), sock_.get_executor(), sock_.get_executor());
                op->state_host = &sock_.host();
                start(std::move(op));
            },
            token);
    }

    template <class Token>
    auto async_wait(WaitType what, Token&& token) {
        return sock_.async_wait(what, std::forward<Token>(token));
    }

private:
    void start(std::unique_ptr<detail::Op> op);
    Socket sock_;
};

}  // namespace tcpsim::stack::async
