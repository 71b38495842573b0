// Small network services and a bulk sender, written as event-driven state machines on the
// sockets facade (non-blocking descriptors + Sockets::wait). They run the same way on a
// simulated host and on a live TAP-attached one (`tcpsim tap --serve ...`):
//   echo     RFC 862: returns every byte; closes after the peer's FIN once all is echoed
//   discard  RFC 863: reads and drops
//   chargen  RFC 864: streams the rotating 72-column pattern until the peer closes
//   sink     like discard, and reports bytes and throughput when the peer closes
//   http     answers GET with a small HTML page and Content-Length, then closes
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "tcp/types.hpp"

namespace tcpsim::stack {

class Host;

enum class ServiceKind { Echo, Discard, Chargen, Sink, Http };
const char* to_string(ServiceKind k);
std::optional<ServiceKind> parse_service_kind(std::string_view name);

struct ServiceReport {
    tcp::Endpoint peer;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    Duration elapsed{};   // accept to close
    int error = 0;        // errno that ended the connection, 0 for an orderly close
    std::string summary;  // one readable line, e.g. "sink 192.0.2.1:40000: 1048576 bytes in 0.012 s (699.1 Mbit/s)"
};

struct ServiceOptions {
    int backlog = 128;
    std::uint64_t chargen_limit = 0;  // chargen: bytes per connection, 0 = until the peer closes
    std::string http_body{};          // http: the page; empty = a built-in page naming the host
    std::function<void(const ServiceReport&)> on_close{};  // every connection, when it ends
};

// A listening service on `host`, port `port`, all local addresses. Stops (closing the listener;
// connections in progress finish) when destroyed.
class Service {
public:
    virtual ~Service() = default;
    virtual ServiceKind kind() const = 0;
    virtual std::uint16_t port() const = 0;
    virtual std::uint64_t connections() const = 0;
    virtual std::uint64_t bytes_in() const = 0;
    virtual std::uint64_t bytes_out() const = 0;
};

// Throws std::runtime_error naming the failed call (e.g. "bind 0.0.0.0:7: EADDRINUSE").
std::unique_ptr<Service> start_service(Host& host, ServiceKind kind, std::uint16_t port, ServiceOptions options = {});

// Connects to `remote`, sends `data` (or `generated` bytes of a deterministic pattern when data
// is empty), shuts down its write side, reads until the peer's EOF (counting what comes back),
// closes, and calls `done` once with the outcome.
struct SenderReport {
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    Duration elapsed{};
    int error = 0;  // connect or transfer errno (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...)
    // Every byte received equals the byte sent at the same offset (what an echo peer returns).
    bool echo_matches = true;
    std::string summary;
};
struct SenderOptions {
    ByteVector data{};
    std::uint64_t generated = 0;
    std::function<void(const SenderReport&)> done{};
};
class Sender {
public:
    virtual ~Sender() = default;
    virtual bool finished() const = 0;
};
std::unique_ptr<Sender> start_sender(Host& host, tcp::Endpoint remote, SenderOptions options);

// The byte at `offset` of the generated pattern (so receivers can verify what they got).
std::byte pattern_byte(std::uint64_t offset);

}  // namespace tcpsim::stack
