#include "ip/forward.hpp"

#include "ip/checksum.hpp"

namespace tcpsim::ip {

ForwardDecision decide_forward(const Ipv4Packet& pkt, std::size_t datagram_size, std::optional<NextHop> hop,
                               std::uint32_t hop_mtu) {
    ForwardDecision d;
    if (pkt.ttl <= 1) {
        d.action = ForwardAction::TtlExceeded;  // RFC 1812 §5.3.1
        d.icmp_type = IcmpType::TimeExceeded;
        d.icmp_code = static_cast<std::uint8_t>(TimeExceededCode::TtlExceeded);
        return d;
    }
    if (!hop) {
        d.action = ForwardAction::NoRoute;
        d.icmp_code = static_cast<std::uint8_t>(UnreachableCode::Net);
        return d;
    }
    d.hop = *hop;
    if (datagram_size > hop_mtu && pkt.dont_fragment) {
        // RFC 1191: tell the sender the next-hop MTU.
        d.action = ForwardAction::FragmentationNeeded;
        d.icmp_code = static_cast<std::uint8_t>(UnreachableCode::FragmentationNeeded);
        d.icmp_mtu = static_cast<std::uint16_t>(hop_mtu);
        return d;
    }
    return d;
}

void decrement_ttl(MutableBytes d) {
    // The 16-bit word at offset 8 is TTL | protocol.
    const std::uint16_t old_word = load_be16(d, 8);
    const auto new_word = static_cast<std::uint16_t>(old_word - 0x100);
    store_be16(d, 8, new_word);
    store_be16(d, 10, checksum_update(load_be16(d, 10), old_word, new_word));
}

}  // namespace tcpsim::ip
