#include "link/base/time.hpp"

#include <cstdio>

namespace tcpsim {

std::string format_seconds(Time t) {
    std::int64_t us = to_micros(t);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(us / 1000000),
                  static_cast<long long>(us % 1000000));
    return buf;
}

}  // namespace tcpsim
