// IPv4 forwarding decisions (RFC 1812 §5.2-§5.3): what a router does with a datagram that is not
// for it. Pure: the caller looks up the route and the outgoing MTU, acts on the decision (drop and
// send the ICMP error it names, or send on) and rewrites the header with decrement_ttl().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "ip/icmp.hpp"
#include "ip/ipv4.hpp"
#include "ip/route.hpp"
#include "link/base/bytes.hpp"

namespace tcpsim::ip {

enum class ForwardAction : std::uint8_t {
    Forward,               // send on to `hop`
    TtlExceeded,           // RFC 1812 §5.3.1: TTL would reach 0
    NoRoute,               // RFC 1812 §5.2.7.1: net unreachable
    FragmentationNeeded,   // RFC 1191: too big for the next hop and DF set
};

struct ForwardDecision {
    ForwardAction action = ForwardAction::Forward;
    NextHop hop{};  // Forward, FragmentationNeeded
    // The ICMP error to send back when not forwarded: type, code and (FragmentationNeeded) the
    // next-hop MTU.
    IcmpType icmp_type = IcmpType::DestUnreachable;
    std::uint8_t icmp_code = 0;
    std::uint16_t icmp_mtu = 0;
};

// `hop` is the route to pkt.dst (nullopt: none), `hop_mtu` the MTU of its interface.
ForwardDecision decide_forward(const Ipv4Packet& pkt, std::size_t datagram_size, std::optional<NextHop> hop,
                               std::uint32_t hop_mtu);

// TTL - 1 in an encoded IPv4 header, with the incremental checksum update of RFC 1624.
void decrement_ttl(MutableBytes datagram);

}  // namespace tcpsim::ip
