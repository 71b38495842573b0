// The scenario hook into live mode: a scenario whose host says `live: {dev: NAME}` runs that
// host's stack on the TAP device NAME in real time (stack/runtime.hpp), with the Linux kernel as
// its peer. The runner builds the same hosts and runs the same app scripts; only the clock and
// the far side of the wire change: virtual time becomes wall-clock time since the start of the
// run, and the live host's frames travel through the device instead of a virtual link (traced
// as a link named after the device, so --pcap/--trace/--states and expectations work).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "link/base/time.hpp"
#include "stack/scenario/error.hpp"
#include "stack/scenario/model.hpp"

namespace tcpsim::link {
class TapDevice;
}  // namespace tcpsim::link
namespace tcpsim::stack {
class World;
class Host;
}  // namespace tcpsim::stack

namespace tcpsim::stack::scenario {

// What stops `sc`'s live host from running here, as file:line:column diagnostics (empty when
// nothing does): `create: true` needs root (CAP_NET_ADMIN) to make the device.
std::vector<Diagnostic> live_problems(const Scenario& sc, bool root);

// The live side of one scenario run.
class LiveSession {
public:
    // Opens (with `create:`, makes) the live host's device in this process's network namespace.
    // Throws ScenarioError pointing at the `live:` block when that is impossible.
    LiveSession(const Scenario& sc, std::uint64_t seed);
    ~LiveSession();
    LiveSession(const LiveSession&) = delete;
    LiveSession& operator=(const LiveSession&) = delete;

    // The world the runner builds its hosts in; its clock follows the wall clock.
    World& world();
    const HostSpec& host_spec() const { return spec_; }
    // Frames on the device are traced as a link of this name (the device's).
    const std::string& link_name() const { return spec_.live->dev; }

    // Plugs the live host (built from host_spec()) into the device.
    void attach(Host& host);

    enum class End { Finished, Limit, Signal };
    // Runs in real time until `limit` (world time), SIGINT/SIGTERM, or until `apps_done()` holds
    // and the live host has no connection in the middle of an exchange (only LISTEN, TIME_WAIT
    // and CLOSED left): a live run ends when its scripts have, without waiting out TIME_WAIT.
    End run(Time limit, std::function<bool()> apps_done);

    // After the run: the stack goes away, so what the live host still has open is aborted (RST)
    // rather than left hanging on the kernel's side. Returns how many descriptors were closed.
    int abandon();

    // One line for the run log: frames in/out, write errors.
    std::string summary() const;

    struct Impl;

private:
    HostSpec spec_;
    Host* host_ = nullptr;
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<link::TapDevice> tap_;  // until attach()
};

}  // namespace tcpsim::stack::scenario
