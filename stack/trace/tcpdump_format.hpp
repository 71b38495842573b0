// tcpdump text for Ethernet frames (DESIGN.md "Outputs users rely on").
//
// format_tcpdump() prints a frame exactly as `tcpdump -tt -nn -S -r file.pcap` (tcpdump 4.99)
// does, so a user can diff our trace against real tcpdump: TCP (flags, seq/ack, window, urgent
// pointer, every option kind tcpdump names, malformed options and headers), the text protocols
// tcpdump recognises by port (HTTP 80/8080, RTSP 554/8554, FTP 21, SMTP 25, WHOIS 43, SSH 22
// banners, telnet 23 option negotiation), UDP (generic), ICMP, ARP, IPv4 errors and truncation,
// and unknown EtherTypes (hex dump). Checksums are not checked: tcpdump only does that with -v.
// Not reproduced (tcpdump has a dedicated dissector we do not mirror): IPv6, 802.3/LLC frames,
// IP protocols other than TCP/UDP/ICMP that tcpdump decodes (GRE, IGMP, OSPF, AH ...), MPTCP
// options, telnet subnegotiation, payloads on the other dissector ports (DNS 53, BGP 179, SMB,
// NFS, Redis ...), UDP application protocols, and EtherType names beyond the common ones in the
// "Unknown Protocol" text of odd ARP packets.
//
// TeachingFormatter prints the classic relative-sequence style of TLPI §61.8
// (`IP pukaki.60391 > tekapo.55555: P 1:17(16) ack 1 win 5840`), remembering each connection's
// initial sequence numbers.
//
// Nothing here runs unless called: producers test TraceBus::wants() before emitting frames.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <unordered_map>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "stack/trace/trace.hpp"

namespace tcpsim::stack {

// Appends what tcpdump prints for one frame (timestamp included, no trailing newline; unknown
// frames print a hex dump on following lines, as tcpdump does).
void format_tcpdump(Time at, Bytes frame, std::string& out);
std::string format_tcpdump(Time at, Bytes frame);

struct TeachingOptions {
    bool timestamps = false;  // TLPI's examples use -t
    bool tcp_options = true;  // `<mss 1460,sackOK,timestamp 1 0,nop,wscale 7>`
    // Names for addresses ("pukaki"); unnamed addresses print as dotted quads.
    std::function<std::string(Ipv4Addr)> host_name;
};

// Old-style tcpdump lines with sequence numbers relative to each direction's ISN, as in TLPI
// §61.8. A SYN (re)starts a connection: it and the SYN-ACK print absolute numbers; later
// segments print seq - ISN(sender) and ack - ISN(receiver). A connection first seen mid-stream
// takes its bases from that first segment (which prints absolute), like tcpdump without -S.
// Non-TCP frames print as format_tcpdump() does.
class TeachingFormatter {
public:
    explicit TeachingFormatter(TeachingOptions options = {}) : options_(std::move(options)) {}
    void format(Time at, Bytes frame, std::string& out);
    std::string format(Time at, Bytes frame);
    void reset() { connections_.clear(); }

private:
    struct Key {
        std::uint32_t lo_addr, hi_addr;
        std::uint16_t lo_port, hi_port;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept;
    };
    struct Bases {
        std::uint32_t lo_isn = 0, hi_isn = 0;  // ISN of the side that sorts low / high
        bool lo_known = false, hi_known = false;
    };
    std::string name(Ipv4Addr a) const;

    TeachingOptions options_;
    std::unordered_map<Key, Bases, KeyHash> connections_;
};

// Prints every frame put on a link (FrameAction::Sent) in tcpdump format, one per line.
// `link` filters to one link by name (empty: all links).
class TcpdumpPrinter : public TraceSubscriber {
public:
    explicit TcpdumpPrinter(std::ostream& out, std::string link = {}) : out_(out), link_(std::move(link)) {}
    unsigned interests() const override { return trace_bit(TraceKind::Frame); }
    void on_frame(const FrameEvent& e) override;

private:
    std::ostream& out_;
    std::string link_;
    std::string line_;
};

}  // namespace tcpsim::stack
