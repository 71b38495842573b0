// A world link with impairments: link::VirtualLink (netem, targeted faults, schedules) driven by
// the world's clock and event queue. Frames sent by a side go through the VirtualLink; each copy
// it delivers becomes a world event that hands the bytes to the far side's receiver. Emits
// FrameEvent Sent/Delivered/Lost and DropEvent{LinkLoss} on the trace bus like stack::Wire.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "link/virtual/virtual_link.hpp"
#include "stack/sim/world.hpp"

namespace tcpsim::stack::scenario {

class SimLink final : public link::DeliverySink, public EventTarget {
public:
    SimLink(World& world, std::string name, std::uint64_t seed);
    SimLink(const SimLink&) = delete;
    SimLink& operator=(const SimLink&) = delete;

    // Connects side `side` (named `endpoint`, "client/eth0"): frames for it go to `receiver`;
    // returns the sink that side sends into.
    FrameSink& attach(link::Side side, std::string endpoint, FrameSink& receiver);

    link::VirtualLink& vlink() { return link_; }
    const std::string& name() const { return name_; }
    const std::string& endpoint(link::Side s) const { return ends_[link::index(s)].endpoint; }
    // Makes the schedule entries take effect at their time even when no frame is sent.
    void arm_schedule();

private:
    struct End final : FrameSink {
        SimLink* link = nullptr;
        link::Side side = link::Side::A;
        std::string endpoint;
        FrameSink* receiver = nullptr;
        void accept_frame(Bytes frame) override { link->send(side, frame); }
    };
    struct InFlight {
        ByteVector bytes;
        link::Side to = link::Side::A;
    };

    void send(link::Side from, Bytes frame);
    void deliver(Time at, link::Side to, Bytes frame, const link::DeliveryNote& note) override;
    void dropped(Time now, link::Side from, Bytes frame, const link::DropNote& note) override;
    void on_event(Time now, std::uint64_t tag) override;

    static constexpr std::uint64_t kScheduleTag = ~std::uint64_t{0};

    World& world_;
    std::string name_;
    link::VirtualLink link_;
    std::array<End, 2> ends_;
    std::vector<InFlight> in_flight_;  // slots reused through free_
    std::vector<std::uint32_t> free_;
};

}  // namespace tcpsim::stack::scenario
