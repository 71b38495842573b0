// Runs the tcpsim binary (TCPSIM_TOOL) in a shell and captures exit status, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace cli {

struct Result {
    int status = -1;
    std::string out, err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void spit(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// `args` is appended to the tool path as shell words; `tag` keeps parallel tests' files apart.
inline Result run(const std::string& args, const std::string& tag = "cli") {
    std::string out = tag + ".stdout", err = tag + ".stderr";
    std::string cmd = std::string("'") + TCPSIM_TOOL + "' " + args + " >" + out + " 2>" + err + " </dev/null";
    int raw = std::system(cmd.c_str());
    Result r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

inline bool has_program(const std::string& name) {
    return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs a shell command and returns its stdout.
inline std::string capture(const std::string& cmd, const std::string& tag, int* status = nullptr) {
    std::string file = tag + ".capture";
    int raw = std::system((cmd + " >" + file + " 2>/dev/null").c_str());
    if (status) *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return slurp(file);
}

inline const std::string kScenarios = std::string(TCPSIM_SOURCE_DIR) + "/scenarios/";

}  // namespace cli
