#include "link/virtual/virtual_link.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace tcpsim::link {

namespace {
enum Stream : std::uint64_t { kSideA = 101, kSideB = 102, kFaults = 201 };

constexpr std::size_t kTosOffset = kEthernetHeaderBytes + 1;
constexpr std::size_t kIpChecksumOffset = kEthernetHeaderBytes + 10;

// RFC 3168 §5: ECT(0), ECT(1) or CE in the low two bits of the IPv4 TOS byte.
bool ecn_capable(Bytes frame) {
    return frame.size() >= kEthernetHeaderBytes + 20 && load_be16(frame, 12) == kEthertypeIpv4 &&
           (load_u8(frame, kEthernetHeaderBytes) >> 4) == 4 && (load_u8(frame, kTosOffset) & 0x03) != 0;
}

// Sets CE and patches the header checksum incrementally (RFC 1624 eqn. 3), as the kernel's
// IP_ECN_set_ce() does, so a checksum that was already wrong stays wrong.
void set_ce(MutableBytes frame) {
    const std::uint16_t old_word = load_be16(frame, kEthernetHeaderBytes);
    store_u8(frame, kTosOffset, static_cast<std::uint8_t>(load_u8(frame, kTosOffset) | 0x03));
    const std::uint16_t new_word = load_be16(frame, kEthernetHeaderBytes);
    std::uint32_t sum = static_cast<std::uint16_t>(~load_be16(frame, kIpChecksumOffset));
    sum += static_cast<std::uint16_t>(~old_word);
    sum += new_word;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    store_be16(frame, kIpChecksumOffset, static_cast<std::uint16_t>(~sum));
}
}  // namespace

std::string_view to_string(DropReason r) {
    switch (r) {
        case DropReason::Loss: return "loss";
        case DropReason::QueueFull: return "queue full";
        case DropReason::ExceedsMtu: return "exceeds MTU";
        case DropReason::LinkDown: return "link down";
        case DropReason::Fault: return "fault";
    }
    return "?";
}

std::uint64_t LinkCounters::dropped_total() const {
    return std::accumulate(dropped.begin(), dropped.end(), std::uint64_t{0});
}

VirtualLink::VirtualLink(std::uint64_t seed)
    : dirs_{Direction{derive_seed(seed, kSideA)}, Direction{derive_seed(seed, kSideB)}},
      faults_(derive_seed(seed, kFaults)) {}

void VirtualLink::configure(Side from, const Impairments& imp) { dir(from).netem.configure(imp); }

void VirtualLink::configure_both(const Impairments& imp) {
    validate(imp);
    configure(Side::A, imp);
    configure(Side::B, imp);
}

void VirtualLink::add_fault(FaultRule rule) { faults_.add(std::move(rule)); }

void VirtualLink::add_schedule(ScheduleEntry entry) {
    if (entry.kind == ScheduleEntry::Kind::Set) validate(entry.impairments);
    // Keep pending entries sorted by time, stable for ties.
    auto pos = std::upper_bound(schedule_.begin() + static_cast<std::ptrdiff_t>(next_entry_), schedule_.end(), entry.at,
                                [](Time t, const ScheduleEntry& e) { return t < e.at; });
    schedule_.insert(pos, std::move(entry));
}

std::optional<Time> VirtualLink::next_schedule_time() const {
    if (next_entry_ >= schedule_.size()) return std::nullopt;
    return schedule_[next_entry_].at;
}

void VirtualLink::advance(Time now) {
    while (next_entry_ < schedule_.size() && schedule_[next_entry_].at <= now) {
        const ScheduleEntry& e = schedule_[next_entry_++];
        for (Side s : {Side::A, Side::B}) {
            if (e.from && *e.from != s) continue;
            switch (e.kind) {
                case ScheduleEntry::Kind::Down: dir(s).up = false; break;
                case ScheduleEntry::Kind::Up: dir(s).up = true; break;
                case ScheduleEntry::Kind::Set: dir(s).netem.configure(e.impairments); break;
            }
        }
    }
}

void VirtualLink::drop(Time now, Side from, Bytes frame, DropReason reason, std::string_view fault,
                       DeliverySink& sink) {
    ++dir(from).counters.dropped[static_cast<std::size_t>(reason)];
    sink.dropped(now, from, frame, DropNote{reason, fault});
}

void VirtualLink::emit(Time now, Side from, Bytes frame, const CopyFate& fate, Duration extra, std::uint8_t flags,
                       std::string_view fault, DeliverySink& sink) {
    switch (fate.kind) {
        case CopyFate::Kind::Lost: drop(now, from, frame, DropReason::Loss, {}, sink); return;
        case CopyFate::Kind::QueueFull: drop(now, from, frame, DropReason::QueueFull, {}, sink); return;
        case CopyFate::Kind::Deliver: break;
    }
    Direction& d = dir(from);
    Bytes out = frame;
    if (fate.ecn_mark || fate.corrupt) {
        copy_scratch_.assign(frame.begin(), frame.end());
        out = copy_scratch_;
    }
    if (fate.ecn_mark && (load_u8(out, kTosOffset) & 0x03) != 0x03) {
        set_ce(copy_scratch_);
        flags |= delivery_flag::CeMarked;
        ++d.counters.ecn_marked;
    }
    if (fate.corrupt) {
        copy_scratch_[fate.corrupt_byte] ^= std::byte(1u << fate.corrupt_bit);
        flags |= delivery_flag::Corrupted;
    }
    if (fate.duplicate) flags |= delivery_flag::Duplicate;
    const Time at = fate.at + extra;
    if (at < d.latest_arrival) {
        flags |= delivery_flag::Reordered;
        ++d.counters.reordered;
    } else {
        d.latest_arrival = at;
    }
    if ((flags & delivery_flag::Corrupted) != 0) ++d.counters.corrupted;
    ++d.counters.delivered;
    d.counters.delivered_bytes += out.size();
    sink.deliver(at, other(from), out, DeliveryNote{flags, fault});
}

void VirtualLink::transmit(Time now, Side from, Bytes frame, DeliverySink& sink) {
    advance(now);
    Direction& d = dir(from);
    ++d.counters.sent;
    d.counters.sent_bytes += frame.size();

    if (!d.up) return drop(now, from, frame, DropReason::LinkDown, {}, sink);
    const std::uint32_t mtu = d.netem.config().mtu;
    if (mtu != 0 && frame.size() > std::size_t{mtu} + kEthernetHeaderBytes)
        return drop(now, from, frame, DropReason::ExceedsMtu, {}, sink);

    FaultOutcome fo;
    if (!faults_.empty()) {
        fo = faults_.apply(now, from, frame);
        d.counters.fault_hits += fo.hits;
        if (fo.drop) return drop(now, from, frame, DropReason::Fault, fo.rule, sink);
        if (fo.corrupt) {
            fault_scratch_.assign(frame.begin(), frame.end());
            fault_scratch_[fo.corrupt_byte] ^= std::byte(1u << fo.corrupt_bit);
            frame = fault_scratch_;
        }
    }
    std::uint8_t flags = 0;
    if (fo.corrupt) flags |= delivery_flag::Corrupted;
    if (fo.extra_delay > Duration::zero()) flags |= delivery_flag::FaultDelayed;

    const bool ect = d.netem.config().ecn && ecn_capable(frame);
    const Verdict v = d.netem.offer(now, frame.size(), true, ect);
    for (std::uint8_t i = 0; i < v.count; ++i) {
        if (v.copies[i].duplicate) ++d.counters.duplicated;
        emit(now, from, frame, v.copies[i], fo.extra_delay, flags, fo.rule, sink);
    }
    if (fo.duplicate) {
        ++d.counters.duplicated;
        Verdict copy = d.netem.offer(now, frame.size(), false, ect);
        copy.copies[0].duplicate = true;
        emit(now, from, frame, copy.copies[0], fo.duplicate_delay,
             static_cast<std::uint8_t>(flags & delivery_flag::Corrupted), fo.rule, sink);
    }
}

}  // namespace tcpsim::link
