// tcpsim command-line entry point (thin: no protocol logic here).
#include <cstdio>
#include <cstring>

#include "stack/version.hpp"

int main(int argc, char** argv) {
    if (argc >= 2 && (std::strcmp(argv[1], "--version") == 0)) {
        std::printf("tcpsim %s\n", tcpsim::kVersion);
        return 0;
    }
    std::fprintf(stderr, "tcpsim: the command line is being built (see README.md)\n");
    return 2;
}
