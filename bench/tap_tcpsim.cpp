// `tcpsim tap --create --serve sink:PORT` with the host's TCP buffers as parameters: the same
// wiring as tools/tap_command.cpp (LiveRuntime + Host + the sink service), so bench/tap_throughput
// can show how much of the live figure is the advertised receive window.
//
//   bench_tap_tcpsim --dev NAME --addr 192.0.2.2/24 --kernel-addr 192.0.2.1/24 --port 9
//                    [--rcvbuf BYTES] [--seconds S]
// Prints "ready" once serving, the sink's summary when the connection closes, then exits.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "link/tap/tap_device.hpp"
#include "stack/host/host.hpp"
#include "stack/live/runtime.hpp"
#include "stack/apps/services.hpp"
#include "stack/sim/world.hpp"

using namespace tcpsim;

namespace {
[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "bench_tap_tcpsim: %s\nusage: bench_tap_tcpsim --dev NAME --addr IP/LEN --kernel-addr IP/LEN --port P "
                 "[--rcvbuf BYTES] [--seconds S]\n",
                 msg);
    std::exit(2);
}
}  // namespace

int main(int argc, char** argv) {
    std::string dev;
    std::optional<Ipv4Prefix> addr, kaddr;
    unsigned long port = 9, rcvbuf = 0;
    double seconds = 60;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) usage("missing value");
        const char* v = argv[++i];
        if (a == "--dev") dev = v;
        else if (a == "--addr") addr = Ipv4Prefix::parse(v);
        else if (a == "--kernel-addr") kaddr = Ipv4Prefix::parse(v);
        else if (a == "--port") port = std::strtoul(v, nullptr, 10);
        else if (a == "--rcvbuf") rcvbuf = std::strtoul(v, nullptr, 10);
        else if (a == "--seconds") seconds = std::atof(v);
        else usage("unknown option");
    }
    if (dev.empty() || !addr || !kaddr || port == 0 || port > 65535) usage("needs --dev, --addr, --kernel-addr, --port");

    auto tap = link::TapDevice::open(dev, {.create = true});
    if (!tap) {
        std::fprintf(stderr, "bench_tap_tcpsim: %s: %s\n", dev.c_str(), tap.error().message().c_str());
        return 1;
    }
    tap->disable_ipv6();
    if (tap->set_kernel_address(*kaddr) || tap->set_up(true)) {
        std::fprintf(stderr, "bench_tap_tcpsim: cannot configure %s\n", dev.c_str());
        return 1;
    }
    stack::LiveRuntime rt(1);
    stack::Host& host = rt.world().add_host("tcpsim");
    if (rcvbuf) host.config().tcp.receive_buffer = static_cast<std::uint32_t>(rcvbuf);
    std::size_t ifindex = host.add_interface({.name = dev, .mac = *MacAddr::parse("02:00:c0:00:02:02"), .address = *addr});
    rt.attach(host, ifindex, std::move(*tap));
    auto sink = stack::start_service(host, stack::ServiceKind::Sink, static_cast<std::uint16_t>(port),
                                     {.on_close = [&](const stack::ServiceReport& r) {
                                         std::printf("%s\n", r.summary.c_str());
                                         std::fflush(stdout);
                                         rt.stop();
                                     }});
    std::printf("ready (receive buffer %u bytes)\n", host.config().tcp.receive_buffer);
    std::fflush(stdout);
    rt.run(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
    return 0;
}
