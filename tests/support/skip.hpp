// Skipping tests that cannot run here (not root, ../shared absent, a tool missing). Use it only in
// files whose EVERY test case needs the condition: the marker marks the whole executable skipped.
// The marker line makes CTest report the test as skipped
// (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt)
// instead of passed, so nothing passes silently.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tcpsim::testing {

inline void announce_skip(const std::string& why) {
    std::printf("[tcpsim-skip] %s\n", why.c_str());
    std::fflush(stdout);
}

inline bool is_root() { return ::geteuid() == 0; }

inline std::filesystem::path shared_dir() { return std::filesystem::path(TCPSIM_SOURCE_DIR) / ".." / "shared"; }

inline bool have_program(const std::string& name) {
    std::string cmd = "command -v " + name + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
}

}  // namespace tcpsim::testing

// Use at the top of a test case: returns from it, with the marker, when the condition fails.
#define TCPSIM_SKIP_UNLESS(cond, why)                    \
    do {                                                 \
        if (!(cond)) {                                   \
            ::tcpsim::testing::announce_skip(why);       \
            BOOST_TEST_MESSAGE("skipped: " << (why));    \
            return;                                      \
        }                                                \
    } while (0)
