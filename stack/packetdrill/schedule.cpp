// Timing model (packetdrill run.c: get_next_event, adjust_relative_event_times, verify_time):
// - an absolute time counts from the first event, which must be at 0;
// - `+t` counts from when the interpreter reaches the event, i.e. when the previous event
//   actually happened; between two inbound packets it counts from the previous packet's
//   scheduled time, so injection does not drift;
// - `*` means "whenever" (outbound packets), `a~b` / `+a~+b` a window (outbound packets);
// - a blocking call `t...e name()` starts at t and must finish by e, e on the same clock as t;
// - tolerance = max(--tolerance_usecs, --tolerance_percent of the gap to the previous event).
#include <algorithm>

#include "stack/packetdrill/script.hpp"

namespace tcpsim::stack::packetdrill {

namespace {
bool inbound_packet(const Event& e) {
    const PacketSpec* p = e.packet();
    return p && p->direction == Direction::Inbound;
}
}  // namespace

Schedule build_schedule(const Script& script, std::vector<Diagnostic>& errors) {
    Schedule sch;
    sch.tolerance = script.config.tolerance;
    sch.tolerance_percent = script.config.tolerance_percent;
    Duration prev{};
    for (std::size_t i = 0; i < script.events.size(); ++i) {
        const Event& ev = script.events[i];
        const EventTime& t = ev.time;
        ScheduledEvent se;
        se.event = i;
        se.offset = t.start;
        se.offset_end = t.end;
        switch (t.kind) {
            case EventTime::Kind::Absolute:
            case EventTime::Kind::AbsoluteRange:
                se.anchor = ScheduledEvent::Anchor::Start;
                se.start = t.start;
                se.end = t.end;
                if (i > 0 && !script.events[i - 1].time.relative() && t.start < prev)
                    errors.push_back(Diagnostic{script.file, t.loc,
                                                "time goes backward in script from " + format_duration(prev) + " to " +
                                                    format_duration(t.start)});
                break;
            case EventTime::Kind::Relative:
            case EventTime::Kind::RelativeRange:
            case EventTime::Kind::Any:
                se.anchor = (i > 0 && inbound_packet(script.events[i - 1]) && inbound_packet(ev))
                                ? ScheduledEvent::Anchor::PreviousScheduled
                                : ScheduledEvent::Anchor::PreviousActual;
                se.any_time = t.kind == EventTime::Kind::Any;
                if (se.any_time) se.offset = se.offset_end = Duration{};
                se.start = prev + se.offset;
                se.end = prev + se.offset_end;
                break;
        }
        if (const SyscallSpec* sc = ev.syscall(); sc && sc->end_time) {
            se.blocking_end_offset = *sc->end_time;
            se.blocking_end = se.anchor == ScheduledEvent::Anchor::Start ? *sc->end_time : prev + *sc->end_time;
        }
        if (i == 0 && se.start != Duration{})
            errors.push_back(Diagnostic{script.file, t.loc, "first event should be at time 0, not " + format_duration(se.start)});
        Duration gap = i == 0 ? Duration{} : se.start - prev;
        auto dynamic = Duration(static_cast<Duration::rep>(static_cast<double>(gap.count()) * sch.tolerance_percent / 100.0));
        se.tolerance = std::max(sch.tolerance, dynamic);
        prev = se.start;
        sch.events.push_back(se);
    }
    return sch;
}

}  // namespace tcpsim::stack::packetdrill
