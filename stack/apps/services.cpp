#include "stack/apps/services.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "stack/host/host.hpp"
#include "stack/sockets/sockets.hpp"

namespace tcpsim::stack {

namespace {

constexpr std::size_t kChunk = 64 * 1024;
// An echo handler stops reading while this much is still waiting to go back: the peer's window
// then closes, which is flow control doing its job rather than this process buffering forever.
constexpr std::size_t kEchoBacklog = 256 * 1024;
constexpr std::size_t kMaxHttpRequest = 16 * 1024;

std::string throughput(std::uint64_t bytes, Duration elapsed) {
    double secs = std::chrono::duration<double>(elapsed).count();
    char buf[96];
    if (secs > 0)
        std::snprintf(buf, sizeof buf, "%llu bytes in %.6f s (%.1f Mbit/s)", static_cast<unsigned long long>(bytes),
                      secs, bytes * 8.0 / secs / 1e6);
    else
        std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
    return buf;
}

// RFC 864's pattern: lines of 72 printable characters starting one later each line, CRLF.
std::byte chargen_byte(std::uint64_t offset) {
    std::uint64_t line = offset / 74, col = offset % 74;
    if (col == 72) return std::byte{'\r'};
    if (col == 73) return std::byte{'\n'};
    return std::byte(' ' + (line + col) % 95);
}

// State shared by a service's listener and its connections (connections outlive the Service
// object when it is destroyed mid-transfer).
struct Shared {
    Host& host;
    ServiceKind kind;
    std::uint16_t port;
    ServiceOptions options;
    std::uint64_t connections = 0, bytes_in = 0, bytes_out = 0;
    Shared(Host& h, ServiceKind k, std::uint16_t p, ServiceOptions o) : host(h), kind(k), port(p), options(std::move(o)) {}
    Sockets& sockets() { return host.sockets(); }
};

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(std::shared_ptr<Shared> shared, int fd, tcp::Endpoint peer)
        : s_(std::move(shared)), fd_(fd), peer_(peer), started_(s_->host.now()) {}

    void step() {
        if (done_) return;
        Sockets& so = s_->sockets();
        // 1. Read what is there (unless the echo backlog is full).
        while (!peer_eof_ && !backlogged()) {
            SysResult r = so.recv(fd_, buf_, MSG_DONTWAIT);
            if (r.value > 0) {
                take(Bytes(buf_.data(), static_cast<std::size_t>(r.value)));
                if (done_) return;
            } else if (r.value == 0) {
                peer_eof_ = true;
            } else if (r.err == EAGAIN) {
                break;
            } else {
                return finish(r.err);
            }
        }
        // 2. Produce (chargen) and write what is pending.
        if (s_->kind == ServiceKind::Chargen && !shut_wr_) refill_chargen();
        while (sent_ < pending_.size()) {
            SysResult r = so.send(fd_, Bytes(pending_.data() + sent_, pending_.size() - sent_), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r.value > 0) {
                sent_ += static_cast<std::size_t>(r.value);
                out_ += static_cast<std::uint64_t>(r.value);
                s_->bytes_out += static_cast<std::uint64_t>(r.value);
                if (s_->kind == ServiceKind::Chargen && !shut_wr_) refill_chargen();
            } else if (r.err == EAGAIN) {
                break;
            } else {
                return finish(r.err);
            }
        }
        if (sent_ == pending_.size()) {
            pending_.clear();
            sent_ = 0;
        }
        // 3. Decide whether this connection is finished.
        bool flushed = pending_.empty();
        switch (s_->kind) {
            case ServiceKind::Echo:
            case ServiceKind::Discard:
            case ServiceKind::Sink:
                if (peer_eof_ && flushed) return finish(0);
                break;
            case ServiceKind::Http:
                if (responded_ && flushed) return finish(0);
                if (peer_eof_ && !responded_) return finish(0);  // closed before a full request
                break;
            case ServiceKind::Chargen:
                if (peer_eof_) return finish(0);
                if (limit_reached() && flushed && !shut_wr_) {
                    so.shutdown(fd_, SHUT_WR);
                    shut_wr_ = true;
                }
                break;
        }
        // 4. Wait for what would let us go on. Only for events this handler will act on: asking
        // for POLLIN while the echo backlog keeps us from reading would wake us at once, forever.
        short events = 0;
        if (!peer_eof_ && !backlogged()) events |= POLLIN;
        if (!pending_.empty()) events |= POLLOUT;
        // (events may be 0: errors and hang-ups are always reported.)
        auto self = shared_from_this();
        so.wait(fd_, events, kTimeNever, [self](short) { self->step(); });
    }

private:
    bool backlogged() const { return s_->kind == ServiceKind::Echo && pending_.size() - sent_ >= kEchoBacklog; }

    void take(Bytes data) {
        in_ += data.size();
        s_->bytes_in += data.size();
        switch (s_->kind) {
            case ServiceKind::Echo:
                pending_.insert(pending_.end(), data.begin(), data.end());
                break;
            case ServiceKind::Discard:
            case ServiceKind::Sink:
            case ServiceKind::Chargen:
                break;
            case ServiceKind::Http:
                if (!responded_) {
                    request_.append(reinterpret_cast<const char*>(data.data()), data.size());
                    if (request_.find("\r\n\r\n") != std::string::npos || request_.find("\n\n") != std::string::npos)
                        respond();
                    else if (request_.size() > kMaxHttpRequest)
                        respond_status("431 Request Header Fields Too Large");
                }
                break;
        }
    }

    void respond() {
        if (request_.rfind("GET ", 0) != 0 && request_.rfind("HEAD ", 0) != 0) return respond_status("405 Method Not Allowed");
        if (request_.find(" HTTP/1.") == std::string::npos) return respond_status("400 Bad Request");
        std::string body = s_->options.http_body;
        if (body.empty())
            body = "<!DOCTYPE html>\n<html><head><title>tcpsim</title></head>\n<body><h1>Hello from tcpsim</h1>\n<p>Served by host " +
                   s_->host.name() + " over tcpsim's own TCP/IPv4 stack.</p></body></html>\n";
        bool head = request_.rfind("HEAD ", 0) == 0;
        std::string resp = "HTTP/1.1 200 OK\r\nServer: tcpsim\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
        if (!head) resp += body;
        queue(resp);
    }
    void respond_status(const std::string& status) {
        std::string body = status + "\n";
        queue("HTTP/1.1 " + status + "\r\nServer: tcpsim\r\nContent-Type: text/plain\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    }
    void queue(const std::string& text) {
        auto b = as_bytes(text);
        pending_.insert(pending_.end(), b.begin(), b.end());
        responded_ = true;
    }

    bool limit_reached() const { return s_->options.chargen_limit != 0 && chargen_pos_ >= s_->options.chargen_limit; }
    void refill_chargen() {
        if (pending_.size() - sent_ >= kChunk / 2) return;
        if (sent_ > 0) {
            pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(sent_));
            sent_ = 0;
        }
        std::uint64_t want = kChunk;
        if (s_->options.chargen_limit) want = std::min<std::uint64_t>(want, s_->options.chargen_limit - chargen_pos_);
        for (std::uint64_t i = 0; i < want; ++i) pending_.push_back(chargen_byte(chargen_pos_++));
    }

    void finish(int err) {
        if (done_) return;
        done_ = true;
        s_->sockets().close(fd_);
        if (!s_->options.on_close) return;
        ServiceReport r;
        r.peer = peer_;
        r.bytes_in = in_;
        r.bytes_out = out_;
        r.elapsed = s_->host.now() - started_;
        r.error = err;
        r.summary = std::string(to_string(s_->kind)) + " " + peer_.to_string() + ": ";
        if (s_->kind == ServiceKind::Sink || s_->kind == ServiceKind::Discard)
            r.summary += throughput(in_, r.elapsed) + " received";
        else
            r.summary += std::to_string(in_) + " bytes in, " + std::to_string(out_) + " bytes out";
        if (err) r.summary += std::string(", ended by ") + errno_name(err);
        s_->options.on_close(r);
    }

    std::shared_ptr<Shared> s_;
    int fd_;
    tcp::Endpoint peer_;
    Time started_;
    std::array<std::byte, kChunk> buf_{};
    ByteVector pending_;
    std::size_t sent_ = 0;
    std::uint64_t in_ = 0, out_ = 0, chargen_pos_ = 0;
    std::string request_;
    bool peer_eof_ = false, responded_ = false, shut_wr_ = false, done_ = false;
};

class Listener : public Service, public std::enable_shared_from_this<Listener> {
public:
    explicit Listener(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
    ~Listener() override {
        if (wait_) s_->sockets().cancel_wait(wait_);
        if (fd_ >= 0) s_->sockets().close(fd_);
    }

    void open() {
        Sockets& so = s_->sockets();
        auto fail = [&](const char* call, const SysResult& r) {
            if (fd_ >= 0) so.close(fd_);
            fd_ = -1;
            throw std::runtime_error(std::string(call) + " 0.0.0.0:" + std::to_string(s_->port) + ": " + errno_name(r.err));
        };
        SysResult r = so.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (!r.ok()) fail("socket", r);
        fd_ = static_cast<int>(r.value);
        so.setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, 1);
        if (r = so.bind(fd_, tcp::Endpoint{Ipv4Addr::any(), s_->port}); !r.ok()) fail("bind", r);
        if (r = so.listen(fd_, s_->options.backlog); !r.ok()) fail("listen", r);
        arm();
    }

    ServiceKind kind() const override { return s_->kind; }
    std::uint16_t port() const override { return s_->port; }
    std::uint64_t connections() const override { return s_->connections; }
    std::uint64_t bytes_in() const override { return s_->bytes_in; }
    std::uint64_t bytes_out() const override { return s_->bytes_out; }

private:
    void arm() {
        // The callback holds only the shared state and this listener's fd: the Service object
        // cancels the wait in its destructor, so `this` is alive whenever it runs.
        wait_ = s_->sockets().wait(fd_, POLLIN, kTimeNever, [this](short) {
            wait_ = 0;
            accept_all();
            arm();
        });
    }
    void accept_all() {
        for (;;) {
            tcp::Endpoint peer;
            SysResult r = s_->sockets().accept(fd_, &peer, SOCK_NONBLOCK);
            if (!r.ok()) return;  // EAGAIN, or ECONNABORTED for a child reset before accept
            ++s_->connections;
            auto c = std::make_shared<Connection>(s_, static_cast<int>(r.value), peer);
            c->step();
        }
    }

    std::shared_ptr<Shared> s_;
    int fd_ = -1;
    Sockets::WaitId wait_ = 0;
};

class SenderImpl : public Sender, public std::enable_shared_from_this<SenderImpl> {
public:
    SenderImpl(Host& host, tcp::Endpoint remote, SenderOptions o)
        : host_(host), remote_(remote), opt_(std::move(o)), total_(opt_.data.empty() ? opt_.generated : opt_.data.size()) {}

    void begin() {
        started_ = host_.now();
        Sockets& so = host_.sockets();
        SysResult r = so.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (!r.ok()) return finish(r.err);
        fd_ = static_cast<int>(r.value);
        r = so.connect(fd_, remote_);
        if (!r.ok() && r.err != EINPROGRESS) return finish(r.err);
        connecting_ = !r.ok();
        step();
    }
    bool finished() const override { return done_; }

private:
    void step() {
        if (done_) return;
        Sockets& so = host_.sockets();
        if (connecting_) {
            short rev = so.poll(fd_);
            if (!(rev & (POLLOUT | POLLERR | POLLHUP))) return wait(POLLOUT);
            int err = 0;
            so.getsockopt(fd_, SOL_SOCKET, SO_ERROR, err);
            if (err) return finish(err);
            connecting_ = false;
        }
        while (sent_ < total_) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(total_ - sent_, chunk_.size()));
            Bytes piece;
            if (!opt_.data.empty()) {
                piece = Bytes(opt_.data.data() + sent_, n);
            } else {
                piece = pattern_slice(sent_, n);
            }
            SysResult r = so.send(fd_, piece, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r.value > 0) {
                sent_ += static_cast<std::uint64_t>(r.value);
            } else if (r.err == EAGAIN) {
                break;
            } else {
                return finish(r.err);
            }
        }
        if (sent_ == total_ && !shut_) {
            so.shutdown(fd_, SHUT_WR);
            shut_ = true;
        }
        while (!peer_eof_) {
            SysResult r = so.recv(fd_, chunk_, MSG_DONTWAIT);
            if (r.value > 0) {
                check_echo(Bytes(chunk_.data(), static_cast<std::size_t>(r.value)));
                received_ += static_cast<std::uint64_t>(r.value);
            } else if (r.value == 0) {
                peer_eof_ = true;  // the peer half-closed: it can still receive what is left
            } else if (r.err == EAGAIN) {
                break;
            } else {
                return finish(r.err);
            }
        }
        if (peer_eof_ && shut_) return finish(0);
        wait(static_cast<short>((peer_eof_ ? 0 : POLLIN) | (sent_ < total_ ? POLLOUT : 0)));
    }
    // The pattern bytes [off, off + n), n <= kChunk. Each byte is generated once even when
    // send() takes only part of a slice (or nothing: EAGAIN) and the next attempt asks for
    // [off', off' + n) again: the window slides by one memmove per kChunk consumed.
    Bytes pattern_slice(std::uint64_t off, std::size_t n) {
        if (off < pattern_from_ || off > pattern_from_ + pattern_len_) {
            pattern_from_ = off;
            pattern_len_ = 0;
        }
        auto at = static_cast<std::size_t>(off - pattern_from_);
        if (at + n > pattern_.size()) {
            std::memmove(pattern_.data(), pattern_.data() + at, pattern_len_ - at);
            pattern_from_ = off;
            pattern_len_ -= at;
            at = 0;
        }
        for (; pattern_len_ < at + n; ++pattern_len_) pattern_[pattern_len_] = pattern_byte(pattern_from_ + pattern_len_);
        return Bytes(pattern_.data() + at, n);
    }

    // Compares what comes back with what was sent at the same offset (an echo peer).
    void check_echo(Bytes got) {
        for (std::size_t i = 0; i < got.size() && echo_matches_; ++i) {
            std::uint64_t off = received_ + i;
            std::byte want = off >= total_ ? std::byte{0} : opt_.data.empty() ? pattern_byte(off) : opt_.data[off];
            if (off >= total_ || got[i] != want) echo_matches_ = false;
        }
    }
    void wait(short events) {
        std::weak_ptr<SenderImpl> weak = shared_from_this();
        host_.sockets().wait(fd_, events, kTimeNever, [weak](short) {
            if (auto self = weak.lock()) self->step();
        });
    }
    void finish(int err) {
        if (done_) return;
        done_ = true;
        if (fd_ >= 0) host_.sockets().close(fd_);
        SenderReport r;
        r.bytes_sent = sent_;
        r.bytes_received = received_;
        r.elapsed = host_.now() - started_;
        r.error = err;
        r.echo_matches = echo_matches_;
        r.summary = "send " + remote_.to_string() + ": " + throughput(sent_, r.elapsed) + " sent, " +
                    std::to_string(received_) + " bytes received";
        if (err) r.summary += std::string(", failed: ") + errno_name(err);
        if (opt_.done) opt_.done(r);
    }

    Host& host_;
    tcp::Endpoint remote_;
    SenderOptions opt_;
    std::uint64_t total_;
    std::uint64_t sent_ = 0, received_ = 0;
    std::array<std::byte, kChunk> chunk_{};        // receive buffer
    std::array<std::byte, 2 * kChunk> pattern_{};  // pattern bytes [pattern_from_, pattern_from_ + pattern_len_)
    std::uint64_t pattern_from_ = 0;
    std::size_t pattern_len_ = 0;
    Time started_{};
    int fd_ = -1;
    bool connecting_ = false, shut_ = false, peer_eof_ = false, done_ = false, echo_matches_ = true;
};

// Keeps the shared_ptr-managed implementation alive for as long as the caller holds the handle.
template <class Impl, class Base>
class Handle : public Base {
public:
    explicit Handle(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

protected:
    std::shared_ptr<Impl> impl_;
};

class ServiceHandle final : public Handle<Listener, Service> {
public:
    using Handle::Handle;
    ServiceKind kind() const override { return impl_->kind(); }
    std::uint16_t port() const override { return impl_->port(); }
    std::uint64_t connections() const override { return impl_->connections(); }
    std::uint64_t bytes_in() const override { return impl_->bytes_in(); }
    std::uint64_t bytes_out() const override { return impl_->bytes_out(); }
};

class SenderHandle final : public Handle<SenderImpl, Sender> {
public:
    using Handle::Handle;
    bool finished() const override { return impl_->finished(); }
};

}  // namespace

const char* to_string(ServiceKind k) {
    switch (k) {
        case ServiceKind::Echo: return "echo";
        case ServiceKind::Discard: return "discard";
        case ServiceKind::Chargen: return "chargen";
        case ServiceKind::Sink: return "sink";
        case ServiceKind::Http: return "http";
    }
    return "?";
}

std::optional<ServiceKind> parse_service_kind(std::string_view name) {
    for (ServiceKind k : {ServiceKind::Echo, ServiceKind::Discard, ServiceKind::Chargen, ServiceKind::Sink, ServiceKind::Http})
        if (name == to_string(k)) return k;
    return std::nullopt;
}

std::byte pattern_byte(std::uint64_t offset) {
    // A cheap mix of the offset: not periodic at any power-of-two stride, so a misplaced
    // segment shows up in a comparison.
    std::uint64_t x = offset * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return std::byte(x & 0xff);
}

std::unique_ptr<Service> start_service(Host& host, ServiceKind kind, std::uint16_t port, ServiceOptions options) {
    auto shared = std::make_shared<Shared>(host, kind, port, std::move(options));
    auto listener = std::make_shared<Listener>(shared);
    listener->open();
    return std::make_unique<ServiceHandle>(std::move(listener));
}

std::unique_ptr<Sender> start_sender(Host& host, tcp::Endpoint remote, SenderOptions options) {
    auto impl = std::make_shared<SenderImpl>(host, remote, std::move(options));
    impl->begin();
    return std::make_unique<SenderHandle>(std::move(impl));
}

}  // namespace tcpsim::stack
