// Source locations and diagnostics of the packetdrill front end: every message reads
// `file:line:column: message`, the form compilers use, so editors can jump to it.
#pragma once

#include <cstdint>
#include <string>

namespace tcpsim::stack::packetdrill {

// 1-based line and column; columns count bytes (a tab is one column). line 0 = the whole file.
struct SourceLoc {
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    auto operator<=>(const SourceLoc&) const = default;
};

struct Diagnostic {
    std::string file;
    SourceLoc loc;
    std::string message;
    // "file:12:5: message" ("file: message" when there is no line).
    std::string to_string() const;
};

}  // namespace tcpsim::stack::packetdrill
