// Live tests: a tcpsim process started by the test (and stopped only by its own PID), and a
// scratch directory that is removed afterwards. Waits are bounded in wall time, because wall
// time is what a live test waits for.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tcpsim::testing {

class TcpsimProcess {
public:
    // Runs `[wrapper...] TCPSIM_TOOL subcommand args...` with stdout and stderr in `log`.
    // `wrapper` runs tcpsim under another program (e.g. setpriv to drop root).
    TcpsimProcess(const std::string& subcommand, const std::vector<std::string>& args, const std::filesystem::path& log,
                  std::vector<std::string> wrapper = {}) {
        std::vector<std::string> argv = std::move(wrapper);
        argv.insert(argv.end(), {TCPSIM_TOOL, subcommand});
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(a.data());
        cargv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        if (posix_spawn(&pid_, argv[0].c_str(), &fa, nullptr, cargv.data(), environ) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&fa);
    }
    TcpsimProcess(const TcpsimProcess&) = delete;
    TcpsimProcess& operator=(const TcpsimProcess&) = delete;
    ~TcpsimProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    bool started() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    // False once the process has ended (its status is then kept for wait_exit()).
    bool alive() {
        if (pid_ <= 0) return false;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            exit_status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            pid_ = -1;
            return false;
        }
        return true;
    }
    // The exit status (128 + signal when killed) once the process ends within `budget`, else -1.
    int wait_exit(std::chrono::milliseconds budget) {
        auto until = std::chrono::steady_clock::now() + budget;
        while (std::chrono::steady_clock::now() < until) {
            if (!alive()) return exit_status_;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }
    // SIGINT, as a user's ^C; returns the exit status.
    int interrupt() {
        if (pid_ > 0) ::kill(pid_, SIGINT);
        return wait_exit(std::chrono::seconds(10));
    }
    // Resident set size in KiB (/proc/PID/status VmRSS), 0 if unknown.
    long rss_kib() const {
        std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
        for (std::string line; std::getline(f, line);)
            if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
        return 0;
    }

private:
    pid_t pid_ = -1;
    int exit_status_ = -1;
};

// A fresh directory under the system temp dir, named after the test and this PID.
struct TempDir {
    std::filesystem::path dir;
    explicit TempDir(const std::string& name) {
        dir = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::filesystem::path operator/(const std::string& name) const { return dir / name; }
};

}  // namespace tcpsim::testing
