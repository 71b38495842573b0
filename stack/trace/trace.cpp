#include "stack/trace/trace.hpp"

#include <algorithm>
#include <ostream>

namespace tcpsim::stack {

const char* to_string(FrameAction a) {
    switch (a) {
        case FrameAction::Sent: return "sent";
        case FrameAction::Delivered: return "delivered";
        case FrameAction::Lost: return "lost";
    }
    return "?";
}

const char* to_string(DropReason r) {
    switch (r) {
        case DropReason::Malformed: return "malformed";
        case DropReason::BadChecksum: return "bad checksum";
        case DropReason::NotForUs: return "not for us";
        case DropReason::NoRoute: return "no route";
        case DropReason::ArpTimeout: return "ARP timeout";
        case DropReason::ArpQueueFull: return "ARP queue full";
        case DropReason::TtlExceeded: return "TTL exceeded";
        case DropReason::UnsupportedProtocol: return "unsupported protocol";
        case DropReason::NoSocket: return "no socket";
        case DropReason::ListenQueueFull: return "listen queue full";
        case DropReason::Reassembly: return "reassembly";
        case DropReason::LinkLoss: return "link loss";
        case DropReason::Other: return "other";
    }
    return "?";
}

void TraceBus::subscribe(TraceSubscriber& s) {
    for (const Entry& e : subs_)
        if (e.sub == &s) return;
    subs_.push_back(Entry{&s, s.interests()});
    mask_ |= subs_.back().mask;
}

void TraceBus::unsubscribe(TraceSubscriber& s) {
    for (Entry& e : subs_)
        if (e.sub == &s) {
            e.sub = nullptr;
            e.mask = 0;
        }
    if (depth_ > 0)
        dirty_ = true;  // erase after the running dispatch, which iterates by index
    else
        std::erase_if(subs_, [](const Entry& e) { return e.sub == nullptr; });
    recompute();
}

void TraceBus::recompute() {
    mask_ = 0;
    for (const Entry& e : subs_) mask_ |= e.mask;
}

template <class Fn>
void TraceBus::dispatch(TraceKind k, Fn&& fn) {
    const unsigned bit = trace_bit(k);
    if ((mask_ & bit) == 0) return;
    ++depth_;
    // By index: a subscriber may subscribe others (push_back) or unsubscribe (nulls) meanwhile.
    for (std::size_t i = 0; i < subs_.size(); ++i) {
        TraceSubscriber* s = subs_[i].sub;
        if (s != nullptr && (subs_[i].mask & bit) != 0) fn(*s);
    }
    if (--depth_ == 0 && dirty_) {
        dirty_ = false;
        std::erase_if(subs_, [](const Entry& e) { return e.sub == nullptr; });
    }
}

void TraceBus::emit(const FrameEvent& e) { dispatch(TraceKind::Frame, [&](TraceSubscriber& s) { s.on_frame(e); }); }
void TraceBus::emit(const SegmentEvent& e) { dispatch(TraceKind::Segment, [&](TraceSubscriber& s) { s.on_segment(e); }); }
void TraceBus::emit(const StateEvent& e) { dispatch(TraceKind::State, [&](TraceSubscriber& s) { s.on_state(e); }); }
void TraceBus::emit(const TimerEvent& e) { dispatch(TraceKind::Timer, [&](TraceSubscriber& s) { s.on_timer(e); }); }
void TraceBus::emit(const SocketEvent& e) { dispatch(TraceKind::Socket, [&](TraceSubscriber& s) { s.on_socket(e); }); }
void TraceBus::emit(const DropEvent& e) { dispatch(TraceKind::Drop, [&](TraceSubscriber& s) { s.on_drop(e); }); }
void TraceBus::emit(const NoteEvent& e) { dispatch(TraceKind::Note, [&](TraceSubscriber& s) { s.on_note(e); }); }

std::string format_tuple(const tcp::FourTuple& t) {
    return t.local.to_string() + ">" + t.remote.to_string();
}

void StateLogSubscriber::on_state(const StateEvent& e) {
    out_ << format_seconds(e.at) << ' ' << e.host << ' ' << format_tuple(e.tuple) << ' ' << tcp::to_string(e.from)
         << " -> " << tcp::to_string(e.to) << " (" << e.cause << ")\n";
}

void TraceRecorder::on_state(const StateEvent& e) {
    states.push_back(State{e.at, std::string(e.host), e.tuple, e.from, e.to, std::string(e.cause)});
}

void TraceRecorder::on_drop(const DropEvent& e) {
    drops.push_back(Drop{e.at, std::string(e.where), e.reason, std::string(e.detail)});
}

void TraceRecorder::on_segment(const SegmentEvent& e) {
    segments.push_back(Segment{e.at, std::string(e.host), e.dir, e.src, e.dst, e.segment.src_port,
                               e.segment.dst_port, e.segment.flags, e.segment.seq.raw(), e.segment.ack.raw(),
                               e.segment.payload.size()});
}

std::vector<tcp::State> TraceRecorder::path(std::string_view host, const tcp::FourTuple& tuple) const {
    std::vector<tcp::State> out;
    for (const State& s : states) {
        if (s.host != host || s.tuple != tuple) continue;
        if (out.empty()) out.push_back(s.from);
        out.push_back(s.to);
    }
    return out;
}

}  // namespace tcpsim::stack
