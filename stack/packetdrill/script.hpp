// Entry points of the packetdrill front end: parse a script into its syntax tree, check what can
// be checked without a stack (packetdrill's own semantic errors), resolve options into a
// ScriptConfig and times into a Schedule, and classify what tcpsim's interpreter cannot run.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "stack/packetdrill/ast.hpp"
#include "stack/packetdrill/diagnostic.hpp"

namespace tcpsim::stack::packetdrill {

struct ParseResult {
    Script script;                   // as much as could be parsed (complete when ok())
    std::vector<Diagnostic> errors;  // lexical, syntax and semantic errors, in source order
    bool ok() const { return errors.empty(); }
};

// Parses `text` named `file` (the name is only used in messages). Never throws on bad input.
ParseResult parse_script(std::string_view text, const std::string& file);
// Reads and parses a file; an unreadable file gives one error "path: cannot read script".
ParseResult load_script(const std::filesystem::path& path);

// Builds the event schedule and checks time order (first event at 0, no absolute time going
// backwards, blocking ends not before their starts). parse_script() already calls it and
// stores the result in Script::schedule; exposed for tests and tools.
Schedule build_schedule(const Script& script, std::vector<Diagnostic>& errors);

// ---------------------------------------------------------------------------------------------
// What the interpreter will not run.

struct Finding {
    enum class Severity {
        Unsupported,  // the script cannot be run faithfully: report "unsupported: <construct>"
        Ignored,      // skipped with a note (e.g. an unknown shell command)
    };
    Severity severity = Severity::Unsupported;
    std::string construct;  // short, stable: "IPv6", "UDP packet", "python code block", ...
    std::string detail;     // what exactly, e.g. the syscall name or the command text
    SourceLoc loc;
    std::string to_string(const std::string& file) const;  // "f:3:5: unsupported: UDP packet (udp)"
};

struct ClassifyOptions {
    // System calls the interpreter implements; others are "unsupported: system call".
    std::set<std::string, std::less<>> syscalls = {
        "socket", "bind", "listen", "accept", "connect", "read", "write", "readv", "writev",
        "recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg", "close", "shutdown",
        "setsockopt", "getsockopt", "fcntl", "ioctl", "poll", "getsockname", "getpeername",
    };
    // True once the interpreter evaluates %{ }% blocks in the code.hpp subset (tcp_info
    // assertions); blocks outside the subset stay unsupported either way.
    bool tcp_info_assertions = false;
};

// A sysctl that a shell command sets (`sysctl -q net.ipv4.x=1`, set_sysctls.py /proc/sys/...),
// so the interpreter can map it onto host configuration.
struct SysctlSetting {
    std::string name;   // dotted: "net.ipv4.tcp_timestamps"
    std::string value;  // as written, quotes removed: "4096 50000 4194304"
    SourceLoc loc;      // the command
};

struct Classification {
    std::vector<Finding> findings;      // in source order
    std::vector<SysctlSetting> sysctls; // from all shell commands, in order
    bool runnable() const;              // no Unsupported finding
};

Classification classify(const Script& script, const ClassifyOptions& options = {});

}  // namespace tcpsim::stack::packetdrill
