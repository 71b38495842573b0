// Time as the stack sees it: nanoseconds since the owner's epoch. The world (simulation) or the
// runtime (live) owns the clock and passes `now` into every entry point; nothing below stack/
// reads a clock (DESIGN.md principle 1).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tcpsim {

// A clock tag without now(): time points of this clock can only be handed in by an owner.
struct StackClock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::duration<rep, period>;
    using time_point = std::chrono::time_point<StackClock, duration>;
    static constexpr bool is_steady = true;
};

using Duration = StackClock::duration;
using Time = StackClock::time_point;

inline constexpr Time kTimeZero{};
inline constexpr Time kTimeNever = Time::max();

using namespace std::chrono_literals;

inline std::int64_t to_micros(Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }
inline std::int64_t to_micros(Time t) { return to_micros(t.time_since_epoch()); }

// "12.345678" (seconds with microseconds), the form tcpdump -tt prints.
std::string format_seconds(Time t);

}  // namespace tcpsim
