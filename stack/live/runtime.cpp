#include "stack/live/runtime.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange (PLATFORM.md)

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <vector>

#include "stack/host/host.hpp"
#include "stack/trace/trace.hpp"
#include "stack/sim/world.hpp"

namespace tcpsim::stack {

namespace asio = boost::asio;
using WallClock = std::chrono::steady_clock;

namespace {
// Frames read per readiness notification before the world gets to run its due events: large
// enough to batch, small enough that timers are not starved under a flood.
constexpr int kReadBatch = 256;
constexpr std::size_t kMaxFrame = 65536 + 14;
}  // namespace

// One TAP attachment: a FrameSink for the host's output, an async reader for the kernel's.
class TapPort final : public FrameSink {
public:
    TapPort(LiveRuntime::Impl& rt, Host& host, std::size_t ifindex, link::TapDevice tap);
    ~TapPort() { stop_reading(); }
    void accept_frame(Bytes frame) override;
    void arm();
    // Lets go of the Asio descriptor (the TapDevice keeps and later closes the fd); must run
    // while the io_context is alive. Frames can still be written afterwards.
    void stop_reading() {
        if (sd_) sd_->release();
        sd_.reset();
    }

private:
    void on_readable();
    LiveRuntime::Impl& rt_;
    Host& host_;
    std::size_t ifindex_;
    link::TapDevice tap_;
    std::optional<asio::posix::stream_descriptor> sd_;
    std::string endpoint_;
    std::vector<std::byte> buf_;
};

struct LiveRuntime::Impl {
    // Destruction order matters: the io_context goes first, while the world and the TAP ports
    // are still alive, because destroying its pending handlers (suspended coroutines of async
    // applications) closes their sockets, which makes hosts send RSTs/FINs through the ports.
    World world;
    std::vector<std::unique_ptr<TapPort>> ports;
    asio::io_context io;
    WallClock::time_point start = WallClock::now();
    asio::steady_timer timer{io};
    asio::steady_timer limit_timer{io};
    asio::steady_timer grace_timer{io};
    asio::signal_set signals{io, SIGINT, SIGTERM};
    Stats stats;
    std::function<void()> on_shutdown;
    std::function<bool()> busy;
    Duration grace = 2s;
    bool shutting_down = false;
    std::optional<StopReason> stopped;
    Time armed_for = kTimeNever;
    bool wake_posted = false;

    explicit Impl(std::uint64_t seed) : world(seed) {}
    ~Impl() {
        for (auto& p : ports) p->stop_reading();  // descriptors before their io_context
    }

    Time wall_now() const { return Time(std::chrono::duration_cast<Duration>(WallClock::now() - start)); }

    // Runs every world event that is due by the wall clock, then sleeps until the next one.
    void pump() {
        world.run_until(std::max(world.now(), wall_now()));
        if (shutting_down && !(busy && busy())) return finish(*stopped);
        Time next = world.next_event_time();
        if (next == armed_for) return;
        armed_for = next;
        if (next == kTimeNever) {
            timer.cancel();
            return;
        }
        timer.expires_at(start + std::chrono::duration_cast<WallClock::duration>(next.time_since_epoch()));
        timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            armed_for = kTimeNever;
            pump();
        });
    }

    void begin_shutdown(StopReason why) {
        if (shutting_down) return finish(why);  // second signal: stop now
        shutting_down = true;
        stopped = why;
        if (on_shutdown) on_shutdown();
        grace_timer.expires_after(std::chrono::duration_cast<WallClock::duration>(grace));
        grace_timer.async_wait([this, why](const boost::system::error_code& ec) {
            if (!ec) finish(why);
        });
        pump();
    }

    void finish(StopReason why) {
        stopped = why;
        io.stop();
    }

    void wait_signal() {
        signals.async_wait([this](const boost::system::error_code& ec, int) {
            if (ec) return;
            begin_shutdown(StopReason::Signal);
            wait_signal();
        });
    }
};

TapPort::TapPort(LiveRuntime::Impl& rt, Host& host, std::size_t ifindex, link::TapDevice tap)
    : rt_(rt),
      host_(host),
      ifindex_(ifindex),
      tap_(std::move(tap)),
      sd_(std::in_place, rt.io, tap_.fd()),
      endpoint_(host.name() + "/" + host.interface(ifindex).name),
      buf_(kMaxFrame) {}

void TapPort::accept_frame(Bytes frame) {
    TraceBus& bus = rt_.world.trace();
    if (bus.wants(TraceKind::Frame))
        bus.emit(FrameEvent{rt_.world.now(), tap_.name(), endpoint_, FrameAction::Sent, frame});
    if (tap_.write(frame))
        ++rt_.stats.write_errors;
    else
        ++rt_.stats.frames_out;
}

void TapPort::arm() {
    if (!sd_) return;
    sd_->async_wait(asio::posix::descriptor_base::wait_read, [this](const boost::system::error_code& ec) {
        if (ec) return;
        on_readable();
        arm();
    });
}

void TapPort::on_readable() {
    TraceBus& bus = rt_.world.trace();
    // What one readiness brings is one input batch: the host coalesces its pure ACKs into one
    // per connection, written when the batch ends (Host::begin_input_batch; Linux GRO).
    struct Batch {
        Host& h;
        explicit Batch(Host& host) : h(host) { h.begin_input_batch(); }
        ~Batch() { h.end_input_batch(); }
        Batch(const Batch&) = delete;
        Batch& operator=(const Batch&) = delete;
    };
    std::optional<Batch> batch;
    batch.emplace(host_);
    for (int i = 0; i < kReadBatch; ++i) {
        auto n = tap_.read(buf_);
        if (!n) {
            if (n.error() != std::errc::resource_unavailable_try_again) ++rt_.stats.read_errors;
            break;
        }
        // Frames arrive at the wall-clock instant they were read: advance the world to it first
        // so the host sees them in time order with its own timers.
        rt_.world.run_until(std::max(rt_.world.now(), rt_.wall_now()));
        Bytes frame(buf_.data(), *n);
        ++rt_.stats.frames_in;
        if (bus.wants(TraceKind::Frame))
            bus.emit(FrameEvent{rt_.world.now(), tap_.name(), "kernel", FrameAction::Sent, frame});
        host_.receive_frame(ifindex_, frame);
    }
    batch.reset();  // the ACKs go out before the world's timers run
    rt_.pump();
}

LiveRuntime::LiveRuntime(std::uint64_t seed) : impl_(std::make_unique<Impl>(seed)) {}
LiveRuntime::~LiveRuntime() = default;

World& LiveRuntime::world() { return impl_->world; }
asio::io_context& LiveRuntime::io_context() { return impl_->io; }

void LiveRuntime::wake() {
    Impl& im = *impl_;
    if (im.wake_posted) return;  // one pump per batch of socket calls
    im.wake_posted = true;
    asio::post(im.io, [&im] {
        im.wake_posted = false;
        im.pump();
    });
}
const LiveRuntime::Stats& LiveRuntime::stats() const { return impl_->stats; }

void LiveRuntime::attach(Host& host, std::size_t ifindex, link::TapDevice tap) {
    auto port = std::make_unique<TapPort>(*impl_, host, ifindex, std::move(tap));
    host.attach(ifindex, *port);
    impl_->ports.push_back(std::move(port));
}

void LiveRuntime::set_shutdown(std::function<void()> on_shutdown, std::function<bool()> busy, Duration grace) {
    impl_->on_shutdown = std::move(on_shutdown);
    impl_->busy = std::move(busy);
    impl_->grace = grace;
}

void LiveRuntime::stop() { impl_->finish(StopReason::Requested); }

LiveRuntime::StopReason LiveRuntime::run(std::optional<Duration> limit) {
    Impl& im = *impl_;
    im.stopped.reset();
    im.shutting_down = false;
    im.wait_signal();
    if (limit) {
        im.limit_timer.expires_after(std::chrono::duration_cast<WallClock::duration>(*limit));
        im.limit_timer.async_wait([&im](const boost::system::error_code& ec) {
            if (!ec) im.begin_shutdown(StopReason::Duration);
        });
    }
    for (auto& p : im.ports) p->arm();
    asio::post(im.io, [&im] { im.pump(); });
    im.io.run();
    im.io.restart();
    im.signals.cancel();
    im.limit_timer.cancel();
    im.grace_timer.cancel();
    // Run what the handlers left due (e.g. the RSTs of an abort) so they reach the device.
    im.world.run_until(std::max(im.world.now(), im.wall_now()));
    im.io.poll();
    im.io.restart();
    return im.stopped.value_or(StopReason::Requested);
}

}  // namespace tcpsim::stack
