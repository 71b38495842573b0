// The live runtime (DESIGN.md principle 2, "one stack, two clocks"): a World whose clock follows
// the wall clock, driven by a Boost.Asio io_context, with host interfaces attached to TAP devices.
// Hosts, connections and sockets are the very same objects as in simulation: the runtime only
// feeds real frames in, writes frames out, and runs the world's events when they fall due.
//
// Asio stays inside runtime.cpp (PLATFORM.md: it costs seconds per translation unit).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "link/tap/tap_device.hpp"
#include "link/base/time.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tcpsim::stack {

class World;
class Host;

class LiveRuntime {
public:
    explicit LiveRuntime(std::uint64_t seed = 1);
    ~LiveRuntime();
    LiveRuntime(const LiveRuntime&) = delete;
    LiveRuntime& operator=(const LiveRuntime&) = delete;

    World& world();

    // The io_context the runtime runs on: async operations (stack/async.hpp) complete on it, so
    // the same application code runs here and in simulation. Handlers that make socket calls
    // schedule world events: wake() (safe from any handler) runs those due and re-arms the timer.
    // async::set_activity_hook(rt.io_context(), [&rt] { rt.wake(); }) does that automatically.
    boost::asio::io_context& io_context();
    void wake();

    // Plugs interface `ifindex` of `host` into `tap`: what the host sends is written to the
    // device, what the kernel sends is fed to the host. On the trace bus both directions appear
    // as FrameEvents on a link named after the device (endpoints "<host>/<ifname>" and "kernel"),
    // so pcap, tcpdump and log printers work as in simulation.
    void attach(Host& host, std::size_t ifindex, link::TapDevice tap);

    enum class StopReason { Requested, Signal, Duration };
    // Runs until stop(), SIGINT/SIGTERM or `limit` of wall time. On a signal or the limit,
    // `on_shutdown` (if set) runs first, then the runtime keeps going for at most `grace` while
    // `busy()` (if set) says there is still something to finish (FIN exchanges); a second signal
    // stops at once.
    StopReason run(std::optional<Duration> limit = std::nullopt);
    void stop();
    void set_shutdown(std::function<void()> on_shutdown, std::function<bool()> busy, Duration grace = 2s);

    struct Stats {
        std::uint64_t frames_in = 0;
        std::uint64_t frames_out = 0;
        std::uint64_t write_errors = 0;  // the device refused a frame (counted and dropped)
        std::uint64_t read_errors = 0;
    };
    const Stats& stats() const;

    struct Impl;  // public name so runtime.cpp's helpers can refer to it; defined there only

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace tcpsim::stack
