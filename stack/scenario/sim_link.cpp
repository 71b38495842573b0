#include "stack/scenario/sim_link.hpp"

#include <string>

namespace tcpsim::stack::scenario {

SimLink::SimLink(World& world, std::string name, std::uint64_t seed)
    : world_(world), name_(std::move(name)), link_(seed) {
    for (std::size_t i = 0; i < 2; ++i) {
        ends_[i].link = this;
        ends_[i].side = i == 0 ? link::Side::A : link::Side::B;
    }
}

FrameSink& SimLink::attach(link::Side side, std::string endpoint, FrameSink& receiver) {
    auto& e = ends_[link::index(side)];
    e.endpoint = std::move(endpoint);
    e.receiver = &receiver;
    return e;
}

void SimLink::arm_schedule() {
    if (auto t = link_.next_schedule_time()) world_.at(*t, *this, kScheduleTag);
}

void SimLink::send(link::Side from, Bytes frame) {
    auto& bus = world_.trace();
    if (bus.wants(TraceKind::Frame))
        bus.emit(FrameEvent{world_.now(), name_, ends_[link::index(from)].endpoint, FrameAction::Sent, frame});
    link_.transmit(world_.now(), from, frame, *this);
}

void SimLink::deliver(Time at, link::Side to, Bytes frame, const link::DeliveryNote&) {
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(in_flight_.size());
        in_flight_.emplace_back();
    }
    auto& f = in_flight_[slot];
    f.bytes.assign(frame.begin(), frame.end());  // the slot's capacity is reused
    f.to = to;
    world_.at(at, *this, slot);
}

void SimLink::dropped(Time now, link::Side from, Bytes frame, const link::DropNote& note) {
    auto& bus = world_.trace();
    const auto& end = ends_[link::index(from)];
    if (bus.wants(TraceKind::Frame)) bus.emit(FrameEvent{now, name_, end.endpoint, FrameAction::Lost, frame});
    if (bus.wants(TraceKind::Drop)) {
        std::string detail = !note.fault.empty() ? std::string(note.fault)
                             : note.reason == link::DropReason::Loss ? std::string("random loss")
                                                                     : std::string(link::to_string(note.reason));
        bus.emit(DropEvent{now, name_, DropReason::LinkLoss, detail, frame});
    }
}

void SimLink::on_event(Time now, std::uint64_t tag) {
    if (tag == kScheduleTag) {
        link_.advance(now);
        arm_schedule();
        return;
    }
    auto slot = static_cast<std::uint32_t>(tag);
    auto& f = in_flight_[slot];
    const auto& end = ends_[link::index(f.to)];
    auto& bus = world_.trace();
    if (bus.wants(TraceKind::Frame)) bus.emit(FrameEvent{now, name_, end.endpoint, FrameAction::Delivered, f.bytes});
    free_.push_back(slot);  // before the hand-off: the receiver may send (and deliver) at once
    // Move the bytes out: a nested delivery may reuse this slot while the receiver runs.
    ByteVector bytes = std::move(f.bytes);
    if (end.receiver) end.receiver->accept_frame(bytes);
    if (in_flight_[slot].bytes.capacity() == 0) in_flight_[slot].bytes = std::move(bytes);
}

}  // namespace tcpsim::stack::scenario
