#include "stack/sim/world.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>


namespace tcpsim::stack {

// ---------------------------------------------------------------------------------------------
// Wire

struct Wire::Attachment final : FrameSink {
    Wire* wire;
    std::size_t index;
    std::string endpoint;
    FrameSink* receiver;
    Time tx_free = kTimeZero;  // when this sender's transmitter is idle again (rate-limited wires)
    Attachment(Wire* w, std::size_t i, std::string e, FrameSink* r)
        : wire(w), index(i), endpoint(std::move(e)), receiver(r) {}
    void accept_frame(Bytes frame) override { wire->send(index, frame); }
};

struct Wire::InFlight {
    ByteVector bytes;  // kept (capacity reused) across frames: no allocation in steady state
    std::size_t from = 0;
    bool used = false;
};

class Wire::Delivery final : public EventTarget {
public:
    explicit Delivery(Wire& w) : wire_(w) {}
    void on_event(Time, std::uint64_t tag) override { wire_.deliver(tag); }

private:
    Wire& wire_;
};

Wire::Wire(World& world, std::string name, Duration delay, std::uint64_t bits_per_second)
    : world_(world), name_(std::move(name)), delay_(delay), rate_(bits_per_second),
      delivery_(std::make_unique<Delivery>(*this)) {
    if (delay < Duration::zero()) throw std::invalid_argument("wire " + name_ + ": negative delay");
}

Wire::~Wire() = default;

FrameSink& Wire::attach(std::string endpoint, FrameSink& receiver) {
    attachments_.push_back(std::make_unique<Attachment>(this, attachments_.size(), std::move(endpoint), &receiver));
    return *attachments_.back();
}

void Wire::send(std::size_t from, Bytes frame) {
    Attachment& a = *attachments_[from];
    const Time now = world_.now();
    ++frames_sent_;
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Frame)) bus.emit(FrameEvent{now, name_, a.endpoint, FrameAction::Sent, frame});

    Time leaves = now;
    if (rate_ != 0) {
        // Serialization: frames from one sender go out back to back (FIFO), none lost.
        const Time start = std::max(now, a.tx_free);
        const auto bits = static_cast<unsigned __int128>(frame.size()) * 8u * 1'000'000'000u;
        leaves = start + Duration(static_cast<std::int64_t>((bits + rate_ - 1) / rate_));
        a.tx_free = leaves;
    }
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        in_flight_.emplace_back();
        slot = static_cast<std::uint32_t>(in_flight_.size() - 1);
    }
    InFlight& f = in_flight_[slot];
    f.bytes.assign(frame.begin(), frame.end());
    f.from = from;
    f.used = true;
    world_.at(leaves + delay_, *delivery_, slot);
}

void Wire::deliver(std::uint64_t tag) {
    const auto slot = static_cast<std::uint32_t>(tag);
    InFlight& f = in_flight_[slot];
    // Receivers may send (growing in_flight_), so deliver from a stable buffer: swap it out.
    ByteVector bytes;
    bytes.swap(f.bytes);
    const std::size_t from = f.from;
    f.used = false;
    TraceBus& bus = world_.trace();
    for (std::size_t i = 0; i < attachments_.size(); ++i) {
        if (i == from) continue;
        Attachment& to = *attachments_[i];
        if (bus.wants(TraceKind::Frame))
            bus.emit(FrameEvent{world_.now(), name_, to.endpoint, FrameAction::Delivered, bytes});
        to.receiver->accept_frame(bytes);
    }
    // Give the buffer back to the slot so its capacity is reused.
    in_flight_[slot].bytes.swap(bytes);
    free_.push_back(slot);
}

// ---------------------------------------------------------------------------------------------
// World

World::World(std::uint64_t seed) : seed_(seed) {}

World::~World() {
    // Hosts first (their connections may still reference wires through ports), then wires.
    hosts_.clear();
    wires_.clear();
}

TimerHandle World::at(Time t, EventTarget& target, std::uint64_t tag) {
    return queue_.schedule(std::max(t, now_), target, tag);
}

TimerHandle World::at(Time t, EventQueue::Callback fn) { return queue_.schedule(std::max(t, now_), std::move(fn)); }

bool World::step(Time limit) {
    if (!queue_.run_next(limit, now_)) return false;
    ++events_run_;
    return true;
}

void World::run_until(Time t) {
    stop_ = false;
    while (!stop_ && step(t)) {
    }
    if (!stop_ && t > now_ && t != kTimeNever) now_ = t;
    stop_ = false;
}

std::uint64_t World::run_until_idle(Time limit) {
    stop_ = false;
    std::uint64_t n = 0;
    while (!stop_ && step(limit)) ++n;
    stop_ = false;
    return n;
}

std::vector<Host*> World::hosts() const {
    std::vector<Host*> out;
    out.reserve(hosts_.size());
    for (const auto& h : hosts_) out.push_back(h.get());
    return out;
}

Wire& World::add_wire(std::string name, Duration delay, std::uint64_t bits_per_second) {
    if (name.empty()) throw std::invalid_argument("link name must not be empty");
    if (find_wire(name) != nullptr) throw std::invalid_argument("duplicate link name '" + name + "'");
    wires_.push_back(std::make_unique<Wire>(*this, std::move(name), delay, bits_per_second));
    return *wires_.back();
}

Wire* World::find_wire(std::string_view name) {
    for (auto& w : wires_)
        if (w->name() == name) return w.get();
    return nullptr;
}

}  // namespace tcpsim::stack
