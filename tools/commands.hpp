// Subcommands of the tcpsim CLI other than run/check (which live in main.cpp).
#pragma once

#include <string>
#include <vector>

namespace tcpsim::tools {

extern const char* const kTapHelp;
// `tcpsim tap ...`; args exclude "tcpsim tap". Returns the exit status.
int tap_command(const std::vector<std::string>& args);

}  // namespace tcpsim::tools
