#include "stack/trace/tcpdump_format.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <ostream>

#include "ip/ipv4.hpp"
#include "link/arp/arp.hpp"
#include "link/ethernet/ethernet.hpp"
#include "tcp/segment.hpp"

// The output follows tcpdump 4.99's print-ether.c, print-ip.c, print-tcp.c, print-udp.c,
// print-icmp.c, print-arp.c and util-print.c (txtproto_print) in non-verbose mode with -nn -S.
// Every branch was checked against tcpdump 4.99.3 on crafted frames (tests/stack/
// test_tcpdump_format.cpp diffs against the real binary).

namespace tcpsim::stack {

namespace {

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20,
                       kEce = 0x40, kCwr = 0x80;

// ---------------------------------------------------------------------------------------------
// Output helpers

struct Out {
    std::string& s;

    Out& operator<<(std::string_view v) {
        s.append(v);
        return *this;
    }
    Out& operator<<(char c) {
        s.push_back(c);
        return *this;
    }
    Out& num(std::uint64_t v) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        s.append(buf, r.ptr);
        return *this;
    }
    Out& hex(std::uint64_t v, int width) {  // lower-case, zero padded to `width`
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v, 16);
        for (int pad = width - static_cast<int>(r.ptr - buf); pad > 0; --pad) s.push_back('0');
        s.append(buf, r.ptr);
        return *this;
    }
    Out& ip(std::uint32_t a) {
        num(a >> 24) << '.';
        num((a >> 16) & 0xff) << '.';
        num((a >> 8) & 0xff) << '.';
        return num(a & 0xff);
    }
    Out& link_addr(Bytes b) {  // "02:00:00:00:00:01", any length
        for (std::size_t i = 0; i < b.size(); ++i) {
            if (i) s.push_back(':');
            hex(load_u8(b, i), 2);
        }
        return *this;
    }
    // nd_print_trunc(): " [|proto]".
    void trunc(std::string_view proto) { *this << " [|" << proto << ']'; }
};

// hex_and_ascii_print(ndo, "\n\t", ...): 16 bytes a line, 2-byte groups, then the ASCII column.
void hex_dump(Out& o, Bytes b) {
    constexpr std::size_t kHexColumns = 8 * 5;  // " xxxx" per 2-byte group
    for (std::size_t off = 0; off < b.size(); off += 16) {
        const std::size_t n = std::min<std::size_t>(16, b.size() - off);
        o << "\n\t0x";
        o.hex(off, 4) << ": ";
        std::size_t width = 0;
        for (std::size_t i = 0; i < n; i += 2) {
            o << ' ';
            o.hex(load_u8(b, off + i), 2);
            width += 3;
            if (i + 1 < n) {
                o.hex(load_u8(b, off + i + 1), 2);
                width += 2;
            }
        }
        o.s.append(kHexColumns - width, ' ');
        o << "  ";
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint8_t c = load_u8(b, off + i);
            o << (c > 0x20 && c < 0x7f ? static_cast<char>(c) : '.');  // ND_ASCII_ISGRAPH: space is a dot
        }
    }
}

bool is_print(std::uint8_t c) { return c >= 0x20 && c < 0x7f; }

// ---------------------------------------------------------------------------------------------
// Text protocols (util-print.c txtproto_print): protocol name, then in non-verbose mode the first
// line when the payload looks like a request or response.

constexpr std::string_view kHttpCommands[] = {
    "GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE", "MKCOL", "TRACE",
    "LABEL", "MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE", "NOTIFY", "BDELETE", "CONNECT",
    "OPTIONS", "CHECKIN", "PROPFIND", "CHECKOUT", "CCM_POST", "SUBSCRIBE", "PROPPATCH", "BPROPFIND",
    "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE", "UNSUBSCRIBE", "RPC_CONNECT",
    "VERSION-CONTROL", "BASELINE-CONTROL"};
constexpr std::string_view kRtspCommands[] = {"DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS",
                                              "PAUSE", "PLAY", "RECORD", "REDIRECT", "SETUP",
                                              "SET_PARAMETER", "TEARDOWN"};

// The payload as tcpdump sees it: `len` bytes claimed by the headers, of which `data` were
// captured. Reading past the capture is truncation.
struct Payload {
    Bytes data;
    std::uint32_t len;
    bool has(std::size_t i) const { return i < data.size(); }
    std::uint8_t at(std::size_t i) const { return load_u8(data, i); }
};

// fetch_token(): returns the index after the token and its trailing blanks, 0 on failure.
std::size_t fetch_token(const Payload& p, std::size_t idx, std::string& token) {
    constexpr std::size_t kMaxToken = 128;
    token.clear();
    for (; idx < p.len; ++idx) {
        if (!p.has(idx)) return 0;
        const std::uint8_t c = p.at(idx);
        if (c >= 0x80) return 0;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
        if (!is_print(c)) return 0;
        if (token.size() + 2 > kMaxToken + 1) return 0;
        token.push_back(static_cast<char>(c));
    }
    if (token.empty()) return 0;
    for (; idx < p.len; ++idx) {
        if (!p.has(idx)) break;
        const std::uint8_t c = p.at(idx);
        if (c == '\r' || c == '\n') break;
        if (!is_print(c)) break;
        if (c != ' ' && c != '\t') break;
    }
    return idx;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto up = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; };
               return up(x) == up(y);
           });
}

// print_txt_line() for the first line only; returns false when truncation stopped the output.
void print_first_line(Out& o, const Payload& p, std::string_view proto_lower) {
    std::size_t idx = 0;
    while (idx < p.len) {
        if (!p.has(idx)) return o.trunc(proto_lower);
        const std::uint8_t c = p.at(idx);
        if (c == '\n') break;
        if (c == '\r') {
            if (idx + 1 >= p.len) return;  // CR at the end: not a line in this packet
            if (!p.has(idx + 1)) return o.trunc(proto_lower);
            if (p.at(idx + 1) == '\n') break;
            return;  // CR then something else: binary
        }
        if (!is_print(c) && c != '\t') return;
        ++idx;
    }
    o << ": " << std::string_view(reinterpret_cast<const char*>(p.data.data()), idx);
    if (idx >= p.len) o.trunc(proto_lower);  // no line ending in the packet
}

template <std::size_t N>
void txtproto(Out& o, const Payload& p, std::string_view caps, std::string_view lower,
              const std::string_view (*commands)[N]) {
    bool print_this = commands == nullptr;
    if (commands) {
        std::string token;
        std::size_t idx = fetch_token(p, 0, token);
        if (idx != 0) {
            for (std::string_view cmd : *commands)
                if (iequals(token, cmd)) {
                    print_this = true;
                    break;
                }
            idx = fetch_token(p, idx, token);  // the response code is the second token
            if (idx != 0 && token.size() == 3 && std::all_of(token.begin(), token.end(), [](char c) {
                    return c >= '0' && c <= '9';
                }))
                print_this = true;
        }
    }
    o << caps;
    if (print_this) print_first_line(o, p, lower);
}

void txtproto_plain(Out& o, const Payload& p, std::string_view caps, std::string_view lower) {
    txtproto<1>(o, p, caps, lower, nullptr);
}

// print-ssh.c: the identification string "SSH-2.0-..." when the payload is one whole line of
// printable text ending in LF or CR LF.
void ssh(Out& o, const Payload& p) {
    for (std::size_t i = 0; i < 4; ++i) {  // byte by byte, reading past a short payload
        if (!p.has(i)) return o.trunc("ssh");
        if (p.at(i) != "SSH-"[i]) return;
    }
    for (std::size_t idx = 0; idx < p.len; ++idx) {
        if (!p.has(idx)) return o.trunc("ssh");
        const std::uint8_t c = p.at(idx);
        bool end = c == '\n';
        if (c == '\r') {
            if (idx + 1 >= p.len) return;
            if (!p.has(idx + 1)) return o.trunc("ssh");
            if (p.at(idx + 1) != '\n') return;
            end = true;
        }
        if (end) {
            o << ": SSH: " << std::string_view(reinterpret_cast<const char*>(p.data.data()), idx);
            return;
        }
        if (!is_print(c)) return;
    }
}

// print-telnet.c: the IAC commands at the start of the payload, " [telnet WILL ECHO, DO NAWS]".
// Subnegotiation (IAC SB ... IAC SE) is not mirrored: the list stops there.
constexpr std::string_view kTelnetCommands[] = {"EOF", "SUSP", "ABORT", "EOR", "SE", "NOP", "DMARK",
                                                "BRK", "IP", "AO", "AYT", "EC", "EL", "GA", "SB",
                                                "WILL", "WONT", "DO", "DONT", "IAC"};
constexpr std::string_view kTelnetOptions[] = {
    "BINARY", "ECHO", "RCP", "SUPPRESS GO AHEAD", "NAME", "STATUS", "TIMING MARK", "RCTE", "NAOL", "NAOP",
    "NAOCRD", "NAOHTS", "NAOHTD", "NAOFFD", "NAOVTS", "NAOVTD", "NAOLFD", "EXTEND ASCII", "LOGOUT",
    "BYTE MACRO", "DATA ENTRY TERMINAL", "SUPDUP", "SUPDUP OUTPUT", "SEND LOCATION", "TERMINAL TYPE",
    "END OF RECORD", "TACACS UID", "OUTPUT MARKING", "TTYLOC", "3270 REGIME", "X.3 PAD", "NAWS", "TSPEED",
    "LFLOW", "LINEMODE", "XDISPLOC", "OLD-ENVIRON", "AUTHENTICATION", "ENCRYPT", "NEW-ENVIRON"};

void telnet(Out& o, const Payload& p) {
    constexpr std::uint8_t kIac = 255, kSb = 250, kWill = 251, kDont = 254, kFirst = 236;
    bool first = true;
    std::size_t pos = 0;
    while (pos < p.len) {
        if (!p.has(pos)) return o.trunc("telnet");
        if (p.at(pos) != kIac) break;
        // One command: IAC IAC, IAC <cmd>, or IAC WILL/WONT/DO/DONT <option>.
        if (pos + 1 >= p.len) break;
        if (!p.has(pos + 1)) return o.trunc("telnet");
        const std::uint8_t c = p.at(pos + 1);
        std::size_t n = 2;
        std::string text;
        Out t{text};
        if (c == kIac) {
            t << "IAC IAC";
        } else if (c < kFirst || c == kSb) {
            break;
        } else if (c >= kWill && c <= kDont) {
            if (pos + 2 >= p.len) break;
            if (!p.has(pos + 2)) return o.trunc("telnet");
            const std::uint8_t x = p.at(pos + 2);
            t << kTelnetCommands[c - kFirst] << ' ';
            if (x < std::size(kTelnetOptions)) t << kTelnetOptions[x];
            else t << "0x", t.hex(x, 0);
            n = 3;
        } else {
            t << kTelnetCommands[c - kFirst];
        }
        o << (first ? " [telnet " : ", ") << text;
        first = false;
        pos += n;
    }
    if (!first) o << ']';
}

// print-tcp.c's port dispatch, in its order. Ports whose dissector we do not mirror stop the
// chain like tcpdump's would (and print nothing).
void tcp_payload(Out& o, std::uint16_t sport, std::uint16_t dport, const Payload& p) {
    auto is = [&](std::uint16_t port) { return sport == port || dport == port; };
    if (is(23)) return telnet(o, p);
    if (is(25)) { o << ": "; return txtproto_plain(o, p, "SMTP", "smtp"); }
    if (is(43)) { o << ": "; return txtproto_plain(o, p, "WHOIS", "whois"); }
    if (is(179) || is(1723) || is(6379)) return;           // BGP, PPTP, Redis
    if (is(22)) return ssh(o, p);
    if (is(139) || is(445) || is(10288) || is(6633) || is(6653)) return;  // NBT, SMB, BEEP, OpenFlow
    if (is(21)) { o << ": "; return txtproto_plain(o, p, "FTP", "ftp"); }
    if (is(80) || is(8080)) { o << ": "; return txtproto(o, p, "HTTP", "http", &kHttpCommands); }
    if (is(554) || is(8554)) { o << ": "; return txtproto(o, p, "RTSP", "rtsp", &kRtspCommands); }
}

// ---------------------------------------------------------------------------------------------
// TCP

std::string_view tcp_option_name(std::uint8_t opt) {
    switch (opt) {
        case 0: return "eol";
        case 1: return "nop";
        case 2: return "mss";
        case 3: return "wscale";
        case 4: return "sackOK";
        case 5: return "sack";
        case 6: return "echo";
        case 7: return "echoreply";
        case 8: return "TS";
        case 11: return "cc";
        case 12: return "ccnew";
        case 13: return "";  // CCECHO: tcpdump's table has an empty name
        case 19: return "md5";
        case 20: return "scps";
        case 28: return "uto";
        case 29: return "tcp-ao";
        case 30: return "mptcp";
        case 34: return "tfo";
        case 254: return "exp";
        default: return {};
    }
}

void fastopen(Out& o, Bytes cp, bool experimental) {
    if (experimental) o << "tfo";
    if (cp.empty()) {
        o << " cookiereq";
    } else if (cp.size() % 2 != 0 || cp.size() < 4 || cp.size() > 16) {
        o << " (invalid)";
    } else {
        o << " cookie ";
        for (std::size_t i = 0; i < cp.size(); ++i) o.hex(load_u8(cp, i), 2);
    }
}

// The option list of print-tcp.c, including its handling of malformed options: returns false
// when it stopped the line ("[bad opt]" or truncation).
bool tcp_options(Out& o, Bytes seg, std::size_t hlen, std::uint32_t payload_len) {
    std::size_t pos = 20;  // cursor into seg
    std::size_t left = hlen - 20;
    char sep = '\0';
    o << ", options [";
    auto bad = [&] {
        o << "[bad opt]";
        if (sep != '\0') o << ']';
        return false;
    };
    auto cut = [&](bool via_tcheck) {  // ND_TCHECK's trunc label adds '>' after an option
        o.trunc("tcp");
        if (via_tcheck && sep != '\0') o << '>';
        return false;
    };
    while (left > 0) {
        if (sep != '\0') o << sep;
        if (pos >= seg.size()) return cut(false);
        const std::uint8_t opt = load_u8(seg, pos++);
        std::size_t len = 1;
        if (opt > 1) {
            if (pos >= seg.size()) return cut(false);
            len = load_u8(seg, pos++);
            if (len < 2 || len > left) return bad();
            --left;
        }
        --left;
        std::size_t datalen = 0;
        // LENCHECK(l): the option must have l bytes left in the header and in the capture.
        enum class Check { Ok, Bad, Cut };
        auto lencheck = [&](std::size_t l) {
            if (l > left) return Check::Bad;
            if (pos + l > seg.size()) return Check::Cut;
            return Check::Ok;
        };
#define TCPSIM_LENCHECK(l)                          \
    do {                                            \
        switch (lencheck(l)) {                      \
            case Check::Ok: break;                  \
            case Check::Bad: return bad();          \
            case Check::Cut: return cut(true);      \
        }                                           \
    } while (0)

        const std::string_view name = tcp_option_name(opt);
        if (name.data() == nullptr) {
            o << "unknown-";
            o.num(opt);
        } else {
            o << name;
        }
        switch (opt) {
            case 2:
                datalen = 2;
                TCPSIM_LENCHECK(datalen);
                o << ' ';
                o.num(load_be16(seg, pos));
                break;
            case 3:
                datalen = 1;
                TCPSIM_LENCHECK(datalen);
                o << ' ';
                o.num(load_u8(seg, pos));
                break;
            case 5:
                datalen = len - 2;
                if (datalen % 8 != 0) {
                    o << " invalid sack";
                } else {
                    o << ' ';
                    o.num(datalen / 8) << ' ';
                    for (std::size_t i = 0; i < datalen; i += 8) {
                        TCPSIM_LENCHECK(i + 4);
                        TCPSIM_LENCHECK(i + 8);
                        o << '{';
                        o.num(load_be32(seg, pos + i)) << ':';
                        o.num(load_be32(seg, pos + i + 4)) << '}';
                    }
                }
                break;
            case 6: case 7: case 11: case 12: case 13:
                datalen = 4;
                TCPSIM_LENCHECK(datalen);
                o << ' ';
                o.num(load_be32(seg, pos));
                break;
            case 8:
                datalen = 8;
                TCPSIM_LENCHECK(datalen);
                o << " val ";
                o.num(load_be32(seg, pos)) << " ecr ";
                o.num(load_be32(seg, pos + 4));
                break;
            case 19: {
                datalen = 16;
                TCPSIM_LENCHECK(datalen);
                // tcpdump built with libcrypto (Debian's) tries to verify the signature: it
                // needs the whole payload captured and a secret (-M), which we never have.
                o << ' ';
                if (hlen + payload_len > seg.size()) o << "snaplen too short, ";
                else o << "shared secret not supplied with -M, ";
                o << "can't check - ";
                for (std::size_t i = 0; i < 16; ++i) o.hex(load_u8(seg, pos + i), 2);
                break;
            }
            case 20:
                datalen = 2;
                TCPSIM_LENCHECK(datalen);
                o << " cap ";
                o.hex(load_u8(seg, pos), 2) << " id ";
                o.num(load_u8(seg, pos + 1));
                break;
            case 29:
                datalen = len - 2;
                if (datalen < 2) {
                    o << " (invalid)";
                } else {
                    TCPSIM_LENCHECK(1);
                    o << " keyid ";
                    o.num(load_u8(seg, pos));
                    TCPSIM_LENCHECK(2);
                    o << " rnextkeyid ";
                    o.num(load_u8(seg, pos + 1));
                    if (datalen > 2) {
                        o << " mac 0x";
                        for (std::size_t i = 2; i < datalen; ++i) {
                            TCPSIM_LENCHECK(i + 1);
                            o.hex(load_u8(seg, pos + i), 2);
                        }
                    }
                }
                break;
            case 0: case 1: case 4:
                break;
            case 28: {
                datalen = 2;
                TCPSIM_LENCHECK(datalen);
                std::uint32_t uto = load_be16(seg, pos);
                o << " 0x";
                o.hex(uto, 0) << ' ';
                o.num((uto & 1) ? (uto >> 1) * 60 : uto >> 1);  // RFC 5482: granularity bit
                break;
            }
            case 34:
                datalen = len - 2;
                TCPSIM_LENCHECK(datalen);
                o << ' ';
                fastopen(o, seg.subspan(pos, datalen), false);
                break;
            case 254: {
                datalen = len - 2;
                TCPSIM_LENCHECK(datalen);
                if (datalen < 2) return bad();
                const std::uint16_t magic = load_be16(seg, pos);
                o << '-';
                if (magic == 0xf989) fastopen(o, seg.subspan(pos + 2, datalen - 2), true);  // RFC 7413
                else o.hex(magic, 4);
                break;
            }
            default:
                datalen = len - 2;
                if (datalen) o << " 0x";
                for (std::size_t i = 0; i < datalen; ++i) {
                    TCPSIM_LENCHECK(i + 1);
                    o.hex(load_u8(seg, pos + i), 2);
                }
                break;
        }
#undef TCPSIM_LENCHECK
        pos += datalen;
        left -= datalen;
        // tcpdump moves on by what it printed, not by the option's length, and flags the
        // difference.
        const std::size_t consumed = datalen + (opt > 1 ? 2 : 1);
        if (consumed != len) {
            o << "[len ";
            o.num(len) << ']';
        }
        sep = ',';
        if (opt == 0) break;
    }
    o << ']';
    return true;
}

void print_tcp(Out& o, Bytes seg, std::uint32_t length, std::uint32_t src, std::uint32_t dst) {
    if (seg.size() < 4) {
        o.ip(src) << " > ";
        o.ip(dst) << ':';
        return o.trunc("tcp");
    }
    const std::uint16_t sport = load_be16(seg, 0), dport = load_be16(seg, 2);
    o.ip(src) << '.';
    o.num(sport) << " > ";
    o.ip(dst) << '.';
    o.num(dport) << ": ";
    if (seg.size() < 20) return o.trunc("tcp");
    const std::uint32_t hlen = static_cast<std::uint32_t>(load_u8(seg, 12) >> 4) * 4;
    if (hlen < 20) {
        o << " tcp ";
        o.num(static_cast<std::uint32_t>(length - hlen)) << " [bad hdr length ";
        o.num(hlen) << " - too short, < 20]";
        return;
    }
    const std::uint32_t seq = load_be32(seg, 4), ack = load_be32(seg, 8);
    const std::uint16_t win = load_be16(seg, 14), urp = load_be16(seg, 18);
    const std::uint8_t flags = load_u8(seg, 13);
    o << "Flags [" << tcp::Flags{flags}.to_tcpdump() << ']';
    if (hlen > length) {
        o << " [bad hdr length ";
        o.num(hlen) << " - too long, > ";
        o.num(length) << ']';
        return;
    }
    length -= hlen;
    if (length > 0 || (flags & (kSyn | kFin | kRst))) {
        o << ", seq ";
        o.num(seq);
        if (length > 0) o << ':', o.num(static_cast<std::uint32_t>(seq + length));
    }
    if (flags & kAck) o << ", ack ", o.num(ack);
    o << ", win ";
    o.num(win);
    if (flags & kUrg) o << ", urg ", o.num(urp);
    if (hlen > 20 && !tcp_options(o, seg, hlen, length)) return;
    o << ", length ";
    o.num(length);
    if (length == 0) return;
    if (seg.size() < hlen) {
        o << " [remaining caplen(";
        o.num(seg.size()) << ") < header length(";
        o.num(hlen) << ")]";
        return o.trunc("tcp");
    }
    tcp_payload(o, sport, dport, Payload{seg.subspan(hlen), length});
}

// ---------------------------------------------------------------------------------------------
// UDP (generic: tcpdump's UDP port dissectors are not mirrored)

void print_udp(Out& o, Bytes d, std::uint32_t length, std::uint32_t src, std::uint32_t dst, bool fragmented) {
    auto addrs = [&](bool ports) {
        o.ip(src);
        if (ports) o << '.', o.num(load_be16(d, 0));
        o << " > ";
        o.ip(dst);
        if (ports) o << '.', o.num(load_be16(d, 2));
        o << ": ";
    };
    if (d.size() < 4) {  // the ports are not there
        addrs(false);
        return o.trunc("udp");
    }
    if (length < 8) {
        addrs(true);
        o << "truncated-udp ";
        o.num(length);
        return;
    }
    if (d.size() < 6) {
        addrs(true);
        return o.trunc("udp");
    }
    std::uint32_t ulen = load_be16(d, 4);
    if (ulen < 8) {
        addrs(true);
        o << "truncated-udplength ";
        o.num(ulen);
        return;
    }
    ulen -= 8;
    length -= 8;
    addrs(true);
    if (d.size() < 8) return o.trunc("udp");  // the payload would start past the capture
    if (ulen > length && !fragmented) {  // a first fragment carries only part of the datagram
        o << "UDP, bad length ";
        o.num(ulen) << " > ";
        o.num(length);
    } else {
        o << "UDP, length ";
        o.num(ulen);
    }
}

// ---------------------------------------------------------------------------------------------
// ICMP

void tstamp(Out& o, std::uint32_t ms) {  // icmp_tstamp_print(): milliseconds since midnight UT
    const std::uint32_t msec = ms % 1000;
    std::uint32_t sec = ms / 1000;
    std::uint32_t min = sec / 60;
    sec -= min * 60;
    const std::uint32_t hrs = min / 60;
    min -= hrs * 60;
    auto two = [&](std::uint32_t v) {
        if (v < 10) o << '0';
        o.num(v);
    };
    two(hrs);
    o << ':';
    two(min);
    o << ':';
    two(sec);
    o << '.';
    if (msec < 100) o << '0';
    if (msec < 10) o << '0';
    o.num(msec);
}

void print_icmp(Out& o, Bytes d, std::uint32_t length) {
    // tcpdump builds the text first and prints "ICMP <text>" only when every field was there.
    std::string text;
    Out t{text};
    auto need = [&](std::size_t n) { return d.size() >= n; };
    if (!need(2)) return o.trunc("icmp");
    const std::uint8_t type = load_u8(d, 0), code = load_u8(d, 1);
    // The quoted datagram of an error starts at offset 8.
    auto quoted_dst = [&]() { return load_be32(d, 8 + 16); };
    switch (type) {
        case 0:
        case 8:
            if (!need(8)) return o.trunc("icmp");
            t << (type == 0 ? "echo reply, id " : "echo request, id ");
            t.num(load_be16(d, 4)) << ", seq ";
            t.num(load_be16(d, 6));
            break;
        case 3: {
            if (!need(8 + 20)) return o.trunc("icmp");
            const std::uint32_t qdst = quoted_dst();
            switch (code) {
                case 0: t << "net "; t.ip(qdst) << " unreachable"; break;
                case 1: t << "host "; t.ip(qdst) << " unreachable"; break;
                case 2:
                    t.ip(qdst) << " protocol ";
                    t.num(load_u8(d, 8 + 9)) << " unreachable";
                    break;
                case 3: {
                    const std::size_t qhl = static_cast<std::size_t>(load_u8(d, 8) & 0x0f) * 4;
                    if (!need(8 + qhl + 4)) return o.trunc("icmp");
                    const std::uint8_t qproto = load_u8(d, 8 + 9);
                    const std::uint16_t qport = load_be16(d, 8 + qhl + 2);
                    t.ip(qdst);
                    if (qproto == 6) t << " tcp port ", t.num(qport);
                    else if (qproto == 17) t << " udp port ", t.num(qport);
                    else t << " protocol ", t.num(qproto) << " port ", t.num(qport);
                    t << " unreachable";
                    break;
                }
                case 4: {
                    const std::uint16_t mtu = load_be16(d, 6);
                    t.ip(qdst) << " unreachable - need to frag";
                    if (mtu) t << " (mtu ", t.num(mtu) << ')';
                    break;
                }
                case 5: t.ip(qdst) << " unreachable - source route failed"; break;
                case 6: t << "net "; t.ip(qdst) << " unreachable - unknown"; break;
                case 7: t << "host "; t.ip(qdst) << " unreachable - unknown"; break;
                case 8: t.ip(qdst) << " unreachable - source host isolated"; break;
                case 9: t << "net "; t.ip(qdst) << " unreachable - admin prohibited"; break;
                case 10: t << "host "; t.ip(qdst) << " unreachable - admin prohibited"; break;
                case 11: t << "net "; t.ip(qdst) << " unreachable - tos prohibited"; break;
                case 12: t << "host "; t.ip(qdst) << " unreachable - tos prohibited"; break;
                case 13: t << "host "; t.ip(qdst) << " unreachable - admin prohibited filter"; break;
                case 14: t << "host "; t.ip(qdst) << " unreachable - host precedence violation"; break;
                case 15: t << "host "; t.ip(qdst) << " unreachable - precedence cutoff"; break;
                default: t.ip(qdst) << " unreachable - #", t.num(code); break;
            }
            break;
        }
        case 4: t << "source quench"; break;
        case 5: {
            if (!need(8 + 20)) return o.trunc("icmp");
            static constexpr std::string_view kRedirect[] = {"redirect ", "redirect ", "redirect-tos ",
                                                             "redirect-tos "};
            static constexpr std::string_view kTo[] = {" to net ", " to host ", " to net ", " to host "};
            if (code < 4) {
                t << kRedirect[code];
                t.ip(quoted_dst()) << kTo[code];
            } else {
                t << "redirect-#";
                t.num(code) << ' ';
                t.ip(quoted_dst()) << " to ";
            }
            t.ip(load_be32(d, 4));
            break;
        }
        case 9: {
            if (!need(8)) return o.trunc("icmp");
            t << "router advertisement lifetime ";
            const std::uint32_t life = load_be16(d, 6);
            auto two = [&](std::uint32_t v) {
                if (v < 10) t << '0';
                t.num(v);
            };
            if (life < 60) {
                t.num(life);
            } else if (life < 3600) {
                t.num(life / 60) << ':';
                two(life % 60);
            } else {
                t.num(life / 3600) << ':';
                two(life % 3600 / 60);
                t << ':';
                two(life % 60);
            }
            const std::uint32_t num = load_u8(d, 4), size = load_u8(d, 5);
            t << ' ';
            t.num(num) << ':';
            if (size != 2) {
                t << " [size ";
                t.num(size) << ']';
                break;
            }
            for (std::uint32_t i = 0; i < num; ++i) {
                if (!need(8 + 8 * (i + 1))) return o.trunc("icmp");
                t << " {";
                t.ip(load_be32(d, 8 + 8 * i)) << ' ';
                t.num(load_be32(d, 12 + 8 * i)) << '}';
            }
            break;
        }
        case 10: t << "router solicitation"; break;
        case 11:
            if (!need(8 + 20)) return o.trunc("icmp");
            if (code == 0) t << "time exceeded in-transit";
            else if (code == 1) t << "ip reassembly time exceeded";
            else t << "time exceeded-#", t.num(code);
            break;
        case 12:
            if (code == 0 && !need(5)) return o.trunc("icmp");
            if (code == 0) t << "parameter problem - octet ", t.num(load_u8(d, 4));
            else t << "parameter problem - code ", t.num(code);
            break;
        case 13:
        case 14:
            if (!need(type == 13 ? 8 : 20)) return o.trunc("icmp");
            t << (type == 13 ? "time stamp query id " : "time stamp reply id ");
            t.num(load_be16(d, 4)) << " seq ";
            t.num(load_be16(d, 6));
            if (type == 14) {
                t << ": org ";
                tstamp(t, load_be32(d, 8));
                t << ", recv ";
                tstamp(t, load_be32(d, 12));
                t << ", xmit ";
                tstamp(t, load_be32(d, 16));
            }
            break;
        case 15: t << "information request"; break;
        case 16: t << "information reply"; break;
        case 17: t << "address mask request"; break;
        case 18:
            if (!need(12)) return o.trunc("icmp");
            t << "address mask is 0x";
            t.hex(load_be32(d, 8), 8);
            break;
        default: t << "type-#", t.num(type); break;
    }
    o << "ICMP " << text << ", length ";
    o.num(length);
}

// ---------------------------------------------------------------------------------------------
// IPv4

void print_ipv4(Out& o, Bytes b) {
    if (b.empty()) return o.trunc("ip");
    const std::uint8_t version = load_u8(b, 0) >> 4;
    if (version != 4) {
        if (version == 6) o << "IP6, wrong link-layer encapsulation";
        else o << "IP", o.num(version);
        o << " (invalid)";
        return;
    }
    o << "IP ";
    if (b.size() < ip::kIpv4MinHeaderSize) return o.trunc("ip");
    const std::uint32_t hlen = static_cast<std::uint32_t>(load_u8(b, 0) & 0x0f) * 4;
    if (hlen < ip::kIpv4MinHeaderSize) {
        o << "bad-hlen ";
        o.num(hlen);
        return;
    }
    const std::uint32_t total = load_be16(b, 2);
    if (b.size() < total) {
        o << "truncated-ip - ";
        o.num(total - b.size()) << " bytes missing! ";
    }
    if (total < hlen) {
        o << "bad-len ";
        o.num(total);
        return;
    }
    // Past this point the codec's view is what tcpdump sees (checksum not checked, truncation
    // allowed, Ethernet padding cut at the total length).
    auto pkt = ip::parse_ipv4(b, ip::Ipv4ParseOptions{.verify_checksum = false, .allow_truncated = true});
    const std::uint32_t src = load_be32(b, 12), dst = load_be32(b, 16);
    const std::uint8_t proto = load_u8(b, 9);
    const std::uint16_t off = load_be16(b, 6);
    const std::uint32_t payload_len = total - hlen;
    if ((off & 0x1fff) != 0) {  // not the first fragment: no transport header to show
        o.ip(src) << " > ";
        o.ip(dst) << ": ip-proto-";
        o.num(proto);
        return;
    }
    if (proto != 6 && proto != 17) {
        o.ip(src) << " > ";
        o.ip(dst) << ": ";
    }
    if (!pkt) {  // the header itself is cut short
        o << " [remaining caplen(";
        o.num(b.size()) << ") < header length(";
        o.num(hlen) << ")]";
        return o.trunc("ip");
    }
    switch (proto) {
        case 6: return print_tcp(o, pkt->payload, payload_len, src, dst);
        case 17: return print_udp(o, pkt->payload, payload_len, src, dst, (off & 0x2000) != 0);
        case 1: return print_icmp(o, pkt->payload, payload_len);
        default:
            o << " ip-proto-";
            o.num(proto) << ' ';
            o.num(payload_len);
            return;
    }
}

// ---------------------------------------------------------------------------------------------
// ARP

void print_arp(Out& o, Bytes b) {
    if (b.size() < 8) return o.trunc("arp");
    const std::uint16_t hrd = load_be16(b, 0), pro = load_be16(b, 2), op = load_be16(b, 6);
    const std::size_t hln = load_u8(b, 4), pln = load_u8(b, 5);
    if (b.size() < 8 + 2 * hln + 2 * pln) return o.trunc("arp");
    const Bytes sha = b.subspan(8, hln), spa = b.subspan(8 + hln, pln);
    const Bytes tha = b.subspan(8 + hln + pln, hln), tpa = b.subspan(8 + 2 * hln + pln, pln);
    o << "ARP, ";
    if ((pro != 0x0800 && pro != 0x1000) || pln != 4 || hln == 0) {
        if (hrd == 1) o << "Ethernet";
        else o << "Unknown Hardware (", o.num(hrd) << ')';
        o << " (len ";
        o.num(hln) << "), ";
        if (pro == 0x0800) o << "IPv4";
        else if (pro == 0x86dd) o << "IPv6";
        else o << "Unknown Protocol (0x", o.hex(pro, 4) << ')';
        o << " (len ";
        o.num(pln) << ')';
    } else {
        auto ip_of = [](Bytes a) { return load_be32(a, 0); };
        switch (op) {
            case 1:
                o << "Request who-has ";
                o.ip(ip_of(tpa));
                if (std::any_of(tha.begin(), tha.end(), [](std::byte x) { return x != std::byte{0}; }))
                    o << " (", o.link_addr(tha) << ')';
                o << " tell ";
                o.ip(ip_of(spa));
                break;
            case 2:
                o << "Reply ";
                o.ip(ip_of(spa)) << " is-at ";
                o.link_addr(sha);
                break;
            case 3:
                o << "Reverse Request who-is ";
                o.link_addr(tha) << " tell ";
                o.link_addr(sha);
                break;
            case 4:
                o << "Reverse Reply ";
                o.link_addr(tha) << " at ";
                o.ip(ip_of(tpa));
                break;
            case 8:
                o << "Inverse Request who-is ";
                o.link_addr(tha) << " tell ";
                o.link_addr(sha);
                break;
            case 9:
                o << "Inverse Reply ";
                o.link_addr(sha) << " at ";
                o.ip(ip_of(spa));
                break;
            default:
                if (op == 10) o << "NACK Reply ";
                else o << "Unknown (", o.num(op) << ") ";
                hex_dump(o, b);
                return;
        }
    }
    o << ", length ";
    o.num(b.size());
}

// ---------------------------------------------------------------------------------------------
// Ethernet

std::string_view ethertype_name(std::uint16_t t) {
    switch (t) {
        case 0x0800: return "IPv4";
        case 0x0806: return "ARP";
        case 0x8035: return "Reverse ARP";
        case 0x86dd: return "IPv6";
        case 0x8100: return "802.1Q";
        case 0x88cc: return "LLDP";
        default: return "Unknown";
    }
}

void print_frame(Out& o, Bytes frame) {
    auto eth = link::parse_ethernet(frame);
    if (!eth && eth.error() == link::EthernetError::TooShort) return o.trunc("ether");
    std::uint16_t type = load_be16(frame, 12);
    Bytes payload = frame.subspan(link::kEthernetHeaderSize);
    // 802.1Q tags: tcpdump without -e prints nothing for them.
    while (type == 0x8100 && payload.size() >= 4) {
        type = load_be16(payload, 2);
        payload = payload.subspan(4);
    }
    switch (type) {
        case 0x0800: return print_ipv4(o, payload);
        case 0x0806: return print_arp(o, payload);
        default:
            // An EtherType tcpdump would decode but we do not (IPv6, LLC ...) or an unknown one:
            // tcpdump's header line and a hex dump of the payload.
            o.link_addr(frame.subspan(6, 6)) << " > ";
            o.link_addr(frame.subspan(0, 6)) << ", ethertype " << ethertype_name(type) << " (0x";
            o.hex(type, 4) << "), length ";
            o.num(frame.size()) << ": ";
            hex_dump(o, payload);
            return;
    }
}

void timestamp(Out& o, Time at) {
    const std::int64_t us = std::max<std::int64_t>(0, to_micros(at));
    o.num(static_cast<std::uint64_t>(us / 1000000)) << '.';
    const auto frac = static_cast<std::uint64_t>(us % 1000000);
    for (std::uint64_t p = 100000; p > 1 && frac < p; p /= 10) o << '0';
    o.num(frac) << ' ';
}

}  // namespace

void format_tcpdump(Time at, Bytes frame, std::string& out) {
    Out o{out};
    timestamp(o, at);
    print_frame(o, frame);
}

std::string format_tcpdump(Time at, Bytes frame) {
    std::string s;
    format_tcpdump(at, frame, s);
    return s;
}

// ---------------------------------------------------------------------------------------------
// Teaching format

std::size_t TeachingFormatter::KeyHash::operator()(const Key& k) const noexcept {
    std::uint64_t a = (std::uint64_t{k.lo_addr} << 32) | k.hi_addr;
    std::uint64_t b = (std::uint64_t{k.lo_port} << 16) | k.hi_port;
    std::uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    return static_cast<std::size_t>(h ^ (h >> 29));
}

std::string TeachingFormatter::name(Ipv4Addr a) const {
    if (options_.host_name) {
        std::string n = options_.host_name(a);
        if (!n.empty()) return n;
    }
    return a.to_string();
}

std::string TeachingFormatter::format(Time at, Bytes frame) {
    std::string s;
    format(at, frame, s);
    return s;
}

void TeachingFormatter::format(Time at, Bytes frame, std::string& out) {
    // Only a whole, first-fragment IPv4/TCP segment with a sane header gets the classic line;
    // everything else prints as tcpdump 4.99 would.
    auto fallback = [&] {
        std::string line;
        format_tcpdump(at, frame, line);
        out += options_.timestamps ? line : line.substr(line.find(' ') + 1);
    };
    auto eth = link::parse_ethernet(frame);
    if (!eth || eth->header.type != link::EtherType::Ipv4) return fallback();
    auto pkt = ip::parse_ipv4(eth->payload, ip::Ipv4ParseOptions{.verify_checksum = false});
    if (!pkt || pkt->protocol != ip::Protocol::Tcp || pkt->fragment_offset != 0) return fallback();
    auto seg = tcp::parse_segment(pkt->payload, tcp::PseudoHeader{pkt->src, pkt->dst}, false);
    if (!seg) return fallback();

    // Connection bases: the side that sorts first by (address, port) is "lo".
    const bool from_lo = std::pair(pkt->src.value, seg->src_port) < std::pair(pkt->dst.value, seg->dst_port);
    const Key key = from_lo ? Key{pkt->src.value, pkt->dst.value, seg->src_port, seg->dst_port}
                            : Key{pkt->dst.value, pkt->src.value, seg->dst_port, seg->src_port};
    Bases& b = connections_[key];
    std::uint32_t& my_isn = from_lo ? b.lo_isn : b.hi_isn;
    std::uint32_t& peer_isn = from_lo ? b.hi_isn : b.lo_isn;
    bool& my_known = from_lo ? b.lo_known : b.hi_known;
    bool& peer_known = from_lo ? b.hi_known : b.lo_known;

    const std::uint8_t flags = seg->flags.bits;
    const std::uint32_t seq = seg->seq.raw(), ack = seg->ack.raw();
    bool relative = true;
    if (flags & kSyn) {  // a (new) connection: both SYNs print absolute numbers
        my_isn = seq;
        my_known = true;
        if (flags & kAck) {
            peer_isn = ack - 1;
            peer_known = true;
        } else {
            peer_known = false;
        }
        relative = false;
    } else if (!my_known) {  // joined mid-stream, as tcpdump does without -S
        my_isn = seq;
        my_known = true;
        if ((flags & kAck) && !peer_known) {
            peer_isn = ack - 1;
            peer_known = true;
        }
        relative = false;
    }
    const std::uint32_t rseq = relative ? seq - my_isn : seq;
    const std::uint32_t rack = relative && peer_known ? ack - peer_isn : ack;

    Out o{out};
    if (options_.timestamps) timestamp(o, at);
    o << "IP " << name(pkt->src) << '.';
    o.num(seg->src_port) << " > " << name(pkt->dst) << '.';
    o.num(seg->dst_port) << ": ";
    // tcpdump 3.x letters (TLPI §61.8): S F R P, W for CWR, E for ECE; '.' when none is set.
    if (flags & (kSyn | kFin | kRst | kPsh | kCwr | kEce)) {
        if (flags & kSyn) o << 'S';
        if (flags & kFin) o << 'F';
        if (flags & kRst) o << 'R';
        if (flags & kPsh) o << 'P';
        if (flags & kCwr) o << 'W';
        if (flags & kEce) o << 'E';
    } else {
        o << '.';
    }
    const auto len = static_cast<std::uint32_t>(seg->payload.size());
    if (len > 0 || (flags & (kSyn | kFin | kRst))) {
        o << ' ';
        o.num(rseq) << ':';
        o.num(static_cast<std::uint32_t>(rseq + len)) << '(';
        o.num(len) << ')';
    }
    if (flags & kAck) o << " ack ", o.num(rack);
    o << " win ";
    o.num(seg->window);
    if (flags & kUrg) o << " urg ", o.num(seg->urgent);
    if (options_.tcp_options && !seg->options.empty()) {
        o << " <";
        char sep = '\0';
        for (tcp::OptionItem item : seg->options) {
            if (sep) o << sep;
            sep = ',';
            switch (item.kind) {
                case 0: o << "eol"; break;
                case 1: o << "nop"; break;
                case 2: o << "mss ", o.num(load_be16(item.data, 0)); break;
                case 3: o << "wscale ", o.num(load_u8(item.data, 0)); break;
                case 4: o << "sackOK"; break;
                case 5:
                    o << "sack ";
                    o.num(item.data.size() / 8) << ' ';
                    for (std::size_t i = 0; i + 8 <= item.data.size(); i += 8) {
                        const std::uint32_t l = load_be32(item.data, i), r = load_be32(item.data, i + 4);
                        o << '{';
                        o.num(peer_known ? l - peer_isn : l) << ':';
                        o.num(peer_known ? r - peer_isn : r) << '}';
                    }
                    break;
                case 8:
                    o << "timestamp ";
                    o.num(load_be32(item.data, 0)) << ' ';
                    o.num(load_be32(item.data, 4));
                    break;
                default:
                    o << "opt-";
                    o.num(item.kind) << ':';
                    for (std::size_t i = 0; i < item.data.size(); ++i) o.hex(load_u8(item.data, i), 2);
                    break;
            }
        }
        o << '>';
    }
}

// ---------------------------------------------------------------------------------------------

void TcpdumpPrinter::on_frame(const FrameEvent& e) {
    if (e.action != FrameAction::Sent) return;
    if (!link_.empty() && e.link != link_) return;
    line_.clear();
    format_tcpdump(e.at, e.frame, line_);
    line_ += '\n';
    out_ << line_;
}

}  // namespace tcpsim::stack
