// The live side of a scenario run (live.hpp): the TAP device, the LiveRuntime whose World the
// runner fills, and when a live run is over.
#include "stack/scenario/live.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <system_error>

#include "link/tap/tap_device.hpp"
#include "stack/host/host.hpp"
#include "stack/live/runtime.hpp"
#include "stack/sockets/sockets.hpp"
#include "stack/sim/world.hpp"

namespace tcpsim::stack::scenario {

namespace {

// How often a live run checks whether it is over (world time = wall time): a run ends at most
// this long after its last script step and connection close.
constexpr Duration kDonePoll = 20ms;

Diagnostic at(const Scenario& sc, Mark m, std::string message) { return Diagnostic{sc.file, m, std::move(message)}; }

[[noreturn]] void fail(const Scenario& sc, Mark m, std::string message) {
    throw ScenarioError({at(sc, m, std::move(message))});
}

// Connections still exchanging segments: the run waits for them (not for TIME_WAIT).
bool busy(const Host& h) {
    for (const auto& c : h.connections())
        if (c.state != tcp::State::Listen && c.state != tcp::State::TimeWait && c.state != tcp::State::Closed) return true;
    return false;
}

}  // namespace

std::vector<Diagnostic> live_problems(const Scenario& sc, bool root) {
    std::vector<Diagnostic> v;
    const HostSpec* h = sc.live_host();
    if (h && h->live->create && !root)
        v.push_back(at(sc, h->live->create_mark.line ? h->live->create_mark : h->live->mark,
                       "'create: true' makes the TAP device " + h->live->dev +
                           ", which needs root (CAP_NET_ADMIN): run as root, or create it beforehand "
                           "(ip tuntap add " + h->live->dev + " mode tap user $USER) and drop 'create:'"));
    return v;
}

struct LiveSession::Impl {
    LiveRuntime rt;
    std::function<bool()> apps_done;
    bool running = false;
    End end = End::Finished;
    TimerHandle poll_timer, limit_timer;
    Host* host = nullptr;

    explicit Impl(std::uint64_t seed) : rt(seed) {}

    void poll() {
        if (!running) return;
        if (apps_done && apps_done() && !busy(*host)) {
            end = End::Finished;
            running = false;
            rt.stop();
            return;
        }
        poll_timer = rt.world().after(kDonePoll, [this] { poll(); });
    }
};

LiveSession::LiveSession(const Scenario& sc, std::uint64_t seed) {
    const HostSpec* h = sc.live_host();
    if (!h) throw ScenarioError({at(sc, {}, "the scenario has no live host")});
    spec_ = *h;
    const LiveSpec& l = *spec_.live;
    if (auto problems = live_problems(sc, ::geteuid() == 0); !problems.empty()) throw ScenarioError(std::move(problems));

    auto tap = link::TapDevice::open(l.dev, {.create = l.create});
    if (!tap) {
        const auto& e = tap.error();
        std::string why = e.message();
        if (e == std::errc::no_such_device)
            why = "there is no device " + l.dev + " in this network namespace: create it (ip tuntap add " + l.dev +
                  " mode tap) or add 'create: true'";
        else if (e == std::errc::operation_not_permitted)
            why = "not permitted: creating a device needs root; opening one needs root or to be its owner";
        else if (e == std::errc::permission_denied)
            why = "permission denied: this user cannot open /dev/net/tun (most systems make it crw-rw-rw-)";
        else if (e == std::errc::device_or_resource_busy)
            why = "the device is busy (another process, e.g. another tcpsim, is attached to it)";
        fail(sc, l.mark, "cannot open TAP device " + l.dev + ": " + why);
    }
    if (l.create) {
        tap->disable_ipv6();  // no router solicitations/MLD on link-up (PLATFORM.md)
        const auto& ifc = spec_.interfaces.front();
        if (auto ec = tap->set_mtu(static_cast<int>(ifc.mtu)))
            fail(sc, l.mark, "setting the MTU of " + l.dev + " to " + std::to_string(ifc.mtu) + ": " + ec.message());
        if (l.kernel) {
            if (auto ec = tap->set_kernel_address(*l.kernel)) fail(sc, l.mark, "giving " + l.dev + " the kernel's address: " + ec.message());
            if (auto ec = tap->set_up(true)) fail(sc, l.mark, "bringing " + l.dev + " up: " + ec.message());
        }
    }
    impl_ = std::make_unique<Impl>(seed);
    tap_ = std::make_unique<link::TapDevice>(std::move(*tap));
}

LiveSession::~LiveSession() = default;

World& LiveSession::world() { return impl_->rt.world(); }

void LiveSession::attach(Host& host) {
    host_ = &host;
    impl_->host = &host;
    impl_->rt.attach(host, 0, std::move(*tap_));
    tap_.reset();
}

LiveSession::End LiveSession::run(Time limit, std::function<bool()> apps_done) {
    Impl& im = *impl_;
    World& w = im.rt.world();
    im.apps_done = std::move(apps_done);
    im.running = true;
    im.end = End::Finished;
    if (limit != kTimeNever)
        im.limit_timer = w.at(limit, [&im] {
            if (!im.running) return;
            im.end = End::Limit;
            im.running = false;
            im.rt.stop();
        });
    im.poll_timer = w.after(kDonePoll, [&im] { im.poll(); });
    auto why = im.rt.run();
    if (im.running) {  // stopped by a signal
        im.running = false;
        im.end = why == LiveRuntime::StopReason::Signal ? End::Signal : End::Limit;
    }
    w.cancel(im.poll_timer);
    w.cancel(im.limit_timer);
    return im.end;
}

int LiveSession::abandon() {
    if (!host_) return 0;
    Sockets& so = host_->sockets();
    int n = 0;
    for (int fd = 0; fd < Sockets::kMaxDescriptors; ++fd) {
        if (!so.valid(fd)) continue;
        // SO_LINGER {1, 0}: close() aborts with a RST (a listener drops its queue).
        linger abort_now{1, 0};
        so.setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
        so.close(fd);
        ++n;
    }
    World& w = impl_->rt.world();
    w.run_until(w.now());  // the RSTs go out now (the device is written synchronously)
    return n;
}

std::string LiveSession::summary() const {
    const auto& st = impl_->rt.stats();
    return std::to_string(st.frames_in) + " frames from the kernel, " + std::to_string(st.frames_out) + " to it on " +
           spec_.live->dev + (st.write_errors ? ", " + std::to_string(st.write_errors) + " refused by the device" : "");
}

}  // namespace tcpsim::stack::scenario
