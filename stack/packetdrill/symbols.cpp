#include "stack/packetdrill/symbols.hpp"

#include <algorithm>
#include <iterator>

namespace tcpsim::stack::packetdrill {

namespace {

struct Sym {
    std::string_view name;
    std::int64_t value;
};

// Linux x86-64 values (uapi headers: socket.h, in.h, tcp.h, fcntl.h, poll.h, eventpoll.h,
// sockios.h, errno-base.h/errno.h). Sorted by name for binary search.
constexpr Sym kSymbols[] = {
        {"AF_INET", 2}, {"AF_INET6", 10}, {"AF_UNSPEC", 0},
        // packetdrill symbols_linux.c names for IP_RECVERR control messages.
        {"CMSG_LEVEL_IP", 0}, {"CMSG_LEVEL_IPV6", 41}, {"CMSG_TYPE_RECVERR", 11}, {"CMSG_TYPE_RECVERR6", 25},
        {"E2BIG", 7}, {"EACCES", 13}, {"EADDRINUSE", 98}, {"EADDRNOTAVAIL", 99}, {"EAFNOSUPPORT", 97},
        {"EAGAIN", 11}, {"EALREADY", 114}, {"EBADF", 9}, {"EBUSY", 16}, {"ECONNABORTED", 103},
        {"ECONNREFUSED", 111}, {"ECONNRESET", 104}, {"EDESTADDRREQ", 89}, {"EEXIST", 17}, {"EFAULT", 14},
        {"EHOSTDOWN", 112}, {"EHOSTUNREACH", 113}, {"EINPROGRESS", 115}, {"EINTR", 4}, {"EINVAL", 22},
        {"EIO", 5}, {"EISCONN", 106}, {"EMFILE", 24}, {"EMSGSIZE", 90}, {"ENETDOWN", 100},
        {"ENETRESET", 102}, {"ENETUNREACH", 101}, {"ENFILE", 23}, {"ENOBUFS", 105}, {"ENOENT", 2},
        {"ENOMEM", 12}, {"ENOPROTOOPT", 92}, {"ENOSPC", 28}, {"ENOTCONN", 107}, {"ENOTSOCK", 88},
        {"ENOTSUP", 95}, {"EOPNOTSUPP", 95}, {"EPERM", 1}, {"EPFNOSUPPORT", 96},
        {"EPIPE", 32}, {"EPOLLERR", 0x008}, {"EPOLLET", 1LL << 31}, {"EPOLLEXCLUSIVE", 1LL << 28},
        {"EPOLLHUP", 0x010}, {"EPOLLIN", 0x001}, {"EPOLLONESHOT", 1LL << 30}, {"EPOLLOUT", 0x004},
        {"EPOLLPRI", 0x002}, {"EPOLLRDBAND", 0x080}, {"EPOLLRDHUP", 0x2000}, {"EPOLLRDNORM", 0x040},
        {"EPOLLWRBAND", 0x200}, {"EPOLLWRNORM", 0x100}, {"EPOLL_CTL_ADD", 1}, {"EPOLL_CTL_DEL", 2},
        {"EPOLL_CTL_MOD", 3}, {"EPROTONOSUPPORT", 93}, {"EPROTOTYPE", 91}, {"ESHUTDOWN", 108},
        {"ESOCKTNOSUPPORT", 94}, {"ESPIPE", 29}, {"ETIMEDOUT", 110}, {"EWOULDBLOCK", 11},
        {"FD_CLOEXEC", 1}, {"FIONBIO", 0x5421}, {"FIONREAD", 0x541B},
        {"F_DUPFD", 0}, {"F_GETFD", 1}, {"F_GETFL", 3}, {"F_SETFD", 2}, {"F_SETFL", 4},
        {"INADDR_ANY", 0}, {"IPPROTO_IP", 0}, {"IPPROTO_IPV6", 41}, {"IPPROTO_TCP", 6}, {"IPPROTO_UDP", 17},
        {"IP_MTU_DISCOVER", 10}, {"IP_PMTUDISC_DO", 2}, {"IP_PMTUDISC_DONT", 0}, {"IP_RECVERR", 11}, {"IP_TOS", 1}, {"IP_TTL", 2},
        {"MSG_CONFIRM", 0x800}, {"MSG_CTRUNC", 0x8}, {"MSG_DONTROUTE", 0x4}, {"MSG_DONTWAIT", 0x40},
        {"MSG_EOR", 0x80}, {"MSG_ERRQUEUE", 0x2000}, {"MSG_FASTOPEN", 0x20000000}, {"MSG_MORE", 0x8000},
        {"MSG_NOSIGNAL", 0x4000}, {"MSG_OOB", 0x1}, {"MSG_PEEK", 0x2}, {"MSG_TRUNC", 0x20},
        {"MSG_WAITALL", 0x100}, {"MSG_ZEROCOPY", 0x4000000},
        {"O_APPEND", 02000}, {"O_CLOEXEC", 02000000}, {"O_CREAT", 0100}, {"O_NDELAY", 04000},
        {"O_NONBLOCK", 04000}, {"O_RDONLY", 0}, {"O_RDWR", 2}, {"O_TRUNC", 01000}, {"O_WRONLY", 1},
        {"PF_INET", 2}, {"PF_INET6", 10}, {"PF_UNSPEC", 0},
        {"POLLERR", 0x008}, {"POLLHUP", 0x010}, {"POLLIN", 0x001}, {"POLLMSG", 0x400}, {"POLLNVAL", 0x020},
        {"POLLOUT", 0x004}, {"POLLPRI", 0x002}, {"POLLRDBAND", 0x080}, {"POLLRDHUP", 0x2000},
        {"POLLRDNORM", 0x040}, {"POLLWRBAND", 0x200}, {"POLLWRNORM", 0x100},
        {"SHUT_RD", 0}, {"SHUT_RDWR", 2}, {"SHUT_WR", 1},
        {"SIOCATMARK", 0x8905}, {"SIOCINQ", 0x541B}, {"SIOCOUTQ", 0x5411}, {"SIOCOUTQNSD", 0x894B},
        {"SOCK_CLOEXEC", 02000000}, {"SOCK_DGRAM", 2}, {"SOCK_NONBLOCK", 04000}, {"SOCK_RAW", 3},
        {"SOCK_STREAM", 1},
        {"SOL_IP", 0}, {"SOL_IPV6", 41}, {"SOL_SOCKET", 1}, {"SOL_TCP", 6}, {"SOL_UDP", 17},
        {"SO_ACCEPTCONN", 30}, {"SO_BROADCAST", 6}, {"SO_DEBUG", 1}, {"SO_DOMAIN", 39}, {"SO_DONTROUTE", 5},
        {"SO_EE_CODE_ZEROCOPY_COPIED", 1}, {"SO_EE_ORIGIN_ICMP", 2},
        {"SO_EE_ORIGIN_LOCAL", 1}, {"SO_EE_ORIGIN_NONE", 0}, {"SO_EE_ORIGIN_TIMESTAMPING", 4},
        {"SO_EE_ORIGIN_ZEROCOPY", 5}, {"SO_ERROR", 4}, {"SO_INCOMING_CPU", 49}, {"SO_KEEPALIVE", 9}, {"SO_LINGER", 13}, {"SO_MARK", 36},
        {"SO_MAX_PACING_RATE", 47}, {"SO_OOBINLINE", 10}, {"SO_PRIORITY", 12}, {"SO_PROTOCOL", 38},
        {"SO_RCVBUF", 8}, {"SO_RCVBUFFORCE", 33}, {"SO_RCVLOWAT", 18}, {"SO_RCVTIMEO", 20},
        {"SO_REUSEADDR", 2}, {"SO_REUSEPORT", 15}, {"SO_SNDBUF", 7}, {"SO_SNDBUFFORCE", 32},
        {"SO_SNDLOWAT", 19}, {"SO_SNDTIMEO", 21}, {"SO_TIMESTAMP", 29}, {"SO_TIMESTAMPING", 37},
        {"SO_TYPE", 3}, {"SO_ZEROCOPY", 60},
        {"TCPI_OPT_ECN", 8}, {"TCPI_OPT_ECN_SEEN", 16}, {"TCPI_OPT_SACK", 2}, {"TCPI_OPT_SYN_DATA", 32},
        {"TCPI_OPT_TIMESTAMPS", 1}, {"TCPI_OPT_WSCALE", 4},
        {"TCP_CA_CWR", 2}, {"TCP_CA_Disorder", 1}, {"TCP_CA_Loss", 4}, {"TCP_CA_Open", 0},
        {"TCP_CA_Recovery", 3}, {"TCP_CC_INFO", 26}, {"TCP_CLOSE", 7}, {"TCP_CLOSE_WAIT", 8},
        {"TCP_CLOSING", 11}, {"TCP_CM_INQ", 36}, {"TCP_CONGESTION", 13}, {"TCP_CORK", 3},
        {"TCP_DEFER_ACCEPT", 9}, {"TCP_ESTABLISHED", 1}, {"TCP_FASTOPEN", 23}, {"TCP_FASTOPEN_CONNECT", 30},
        {"TCP_FASTOPEN_KEY", 33}, {"TCP_FASTOPEN_NO_COOKIE", 34}, {"TCP_FIN_WAIT1", 4}, {"TCP_FIN_WAIT2", 5},
        {"TCP_INFO", 11}, {"TCP_INQ", 36}, {"TCP_KEEPCNT", 6}, {"TCP_KEEPIDLE", 4}, {"TCP_KEEPINTVL", 5},
        {"TCP_LAST_ACK", 9}, {"TCP_LINGER2", 8}, {"TCP_LISTEN", 10}, {"TCP_MAXSEG", 2}, {"TCP_MD5SIG", 14},
        {"TCP_NODELAY", 1}, {"TCP_NOTSENT_LOWAT", 25}, {"TCP_QUICKACK", 12}, {"TCP_REPAIR", 19},
        {"TCP_SAVED_SYN", 28}, {"TCP_SAVE_SYN", 27}, {"TCP_SYNCNT", 7}, {"TCP_SYN_RECV", 3},
        {"TCP_SYN_SENT", 2}, {"TCP_THIN_DUPACK", 17}, {"TCP_THIN_LINEAR_TIMEOUTS", 16},
        {"TCP_TIMESTAMP", 24}, {"TCP_TIME_WAIT", 6}, {"TCP_TX_DELAY", 37}, {"TCP_ULP", 31},
        {"TCP_USER_TIMEOUT", 18}, {"TCP_WINDOW_CLAMP", 10}, {"TCP_ZEROCOPY_RECEIVE", 35},
};

constexpr bool sorted_unique() {
    for (std::size_t i = 1; i < std::size(kSymbols); ++i)
        if (!(kSymbols[i - 1].name < kSymbols[i].name)) return false;
    return true;
}
static_assert(sorted_unique(), "kSymbols must be sorted by name, without duplicates");

bool is_errno_name(std::string_view n) {
    return n.size() > 1 && n[0] == 'E' && n.compare(0, 5, "EPOLL") != 0;
}

}  // namespace

std::optional<std::int64_t> symbol_value(std::string_view name) {
    auto it = std::lower_bound(std::begin(kSymbols), std::end(kSymbols), name,
                               [](const Sym& s, std::string_view n) { return s.name < n; });
    if (it == std::end(kSymbols) || it->name != name) return std::nullopt;
    return it->value;
}

std::optional<int> errno_number(std::string_view name) {
    if (!is_errno_name(name)) return std::nullopt;
    auto v = symbol_value(name);
    if (!v) return std::nullopt;
    return static_cast<int>(*v);
}

Expected<std::int64_t, std::string> evaluate_integer(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::Integer: return e.integer;
        case Expr::Kind::Word:
            if (auto v = symbol_value(e.text)) return *v;
            return unexpected(std::string("unknown constant '") + e.text + "'");
        case Expr::Kind::BitOr: {
            std::int64_t acc = 0;
            for (const Expr& x : e.items) {
                auto v = evaluate_integer(x);
                if (!v) return v;
                acc |= *v;
            }
            return acc;
        }
        default: return unexpected("'" + e.to_string() + "' is not an integer expression");
    }
}

}  // namespace tcpsim::stack::packetdrill
