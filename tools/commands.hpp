// Subcommands of the tcpsim tool that live in their own files (main.cpp dispatches to them).
#pragma once

#include <string>
#include <vector>

namespace tcpsim::tools {

// `tcpsim packetdrill SCRIPT.pkt... [--trace FILE] [--pcap FILE] [--states FILE] [--verbose]`.
// Returns the exit status: 0 none failed, 1 a script failed, 2 bad arguments.
int packetdrill_command(const std::vector<std::string>& args);
extern const char* const kPacketdrillHelp;

}  // namespace tcpsim::tools
