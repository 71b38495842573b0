// Host: ICMP output (echo, errors), input, and what an ICMP error does to a TCP connection.
#include "stack/host/host_internal.hpp"

#include <cerrno>
#include <string>

#include "ip/icmp.hpp"

namespace tcpsim::stack {

using namespace host_detail;

void Host::send_icmp(Ipv4Addr src, Ipv4Addr dst, std::uint8_t tos, std::uint8_t type, std::uint8_t code,
                     std::uint32_t rest, Bytes body) {
    ip::IcmpMessage m;
    m.type = static_cast<ip::IcmpType>(type);
    m.code = code;
    m.rest = rest;
    m.body = body;
    ip::Ipv4Packet h;
    h.tos = tos;
    h.id = icmp_ip_id_++;
    h.ttl = config_.ttl;
    h.protocol = ip::Protocol::Icmp;
    h.src = src;
    h.dst = dst;
    const std::size_t size = kEth + kIp + m.wire_size();
    if (m.wire_size() + kIp > ip::kIpv4MaxDatagram) return;
    TxBuffer buf(*this, size);
    ip::encode_icmp(m, buf.bytes().subspan(kEth + kIp));
    ip::encode_ipv4_header(h, m.wire_size(), buf.bytes().subspan(kEth, kIp));
    ++stats_.icmp_out;
    output_ipv4(buf.bytes(), dst);
}

void Host::send_icmp_error(const ip::Ipv4Packet& original, Bytes original_bytes, std::uint8_t type, std::uint8_t code,
                           std::uint16_t mtu, bool link_broadcast) {
    if (!ip::may_send_icmp_error(original, link_broadcast)) return;
    auto src = source_address_for(original.src);
    if (!src) return;
    const ip::IcmpMessage m = ip::IcmpMessage::error(static_cast<ip::IcmpType>(type), code, original_bytes, mtu);
    const ip::Ipv4Packet h = ip::icmp_error_ipv4_header(original, *src);
    send_icmp(h.src, h.dst, h.tos, type, code, m.rest, m.body);
}

bool Host::ping(Ipv4Addr dst, std::uint16_t id, std::uint16_t seq, Bytes data) {
    auto src = source_address_for(dst);
    if (!src) return false;
    const auto m = ip::IcmpMessage::echo_request(id, seq, data);
    send_icmp(*src, dst, 0, static_cast<std::uint8_t>(m.type), m.code, m.rest, m.body);
    return true;
}

void Host::input_icmp(const ip::Ipv4Packet& pkt, Bytes datagram, bool broadcast) {
    auto m = ip::parse_icmp(pkt.payload);
    if (!m) {
        const auto reason = m.error() == ip::IcmpError::BadChecksum ? DropReason::BadChecksum : DropReason::Malformed;
        return drop(reason, ip::to_string(m.error()), datagram);
    }
    ++stats_.icmp_in;
    switch (m->type) {
        case ip::IcmpType::EchoRequest: {
            if (broadcast && config_.icmp_echo_ignore_broadcasts) return;  // Linux default
            const auto reply = ip::IcmpMessage::echo_reply_to(*m);
            const Ipv4Addr src = broadcast ? source_address_for(pkt.src).value_or(pkt.dst) : pkt.dst;
            return send_icmp(src, pkt.src, pkt.tos, static_cast<std::uint8_t>(reply.type), reply.code, reply.rest, reply.body);
        }
        case ip::IcmpType::EchoReply:
            ++stats_.echo_replies_received;
            if (world_.trace().wants(TraceKind::Note))
                note("ICMP echo reply from " + pkt.src.to_string() + " id " + std::to_string(m->echo_id()) + " seq " +
                     std::to_string(m->echo_seq()));
            return;
        case ip::IcmpType::DestUnreachable:
        case ip::IcmpType::TimeExceeded: {
            auto q = ip::quoted_datagram(*m);
            if (!q) return drop(DropReason::Malformed, ip::to_string(q.error()), datagram);
            if (q->protocol != ip::Protocol::Tcp || q->payload.size() < 4 || !is_local_address(q->src)) return;
            const tcp::FourTuple t{{q->src, load_be16(q->payload, 0)}, {q->dst, load_be16(q->payload, 2)}};
            return apply_icmp_error(t, static_cast<std::uint8_t>(m->type), m->code);
        }
        case ip::IcmpType::SourceQuench:  // RFC 6633: ignored
        case ip::IcmpType::Redirect:
        case ip::IcmpType::ParameterProblem:
        case ip::IcmpType::TimestampRequest:
        case ip::IcmpType::TimestampReply: return;
    }
}

void Host::apply_icmp_error(const tcp::FourTuple& tuple, std::uint8_t type, std::uint8_t code) {
    auto it = table_.find(tuple);
    if (it == table_.end()) return;
    ConnectionRecord& r = *it->second;
    const bool time_exceeded = type == static_cast<std::uint8_t>(ip::IcmpType::TimeExceeded);
    const std::string cause = ip::icmp_error_text(type, code);
    if (!time_exceeded && code == static_cast<std::uint8_t>(ip::UnreachableCode::FragmentationNeeded)) {
        // Path MTU discovery (RFC 1191) needs an engine hook to lower the MSS; noted only.
        return note(cause + " for " + format_tuple(tuple) + " (PMTU not applied)");
    }
    const int err = time_exceeded ? EHOSTUNREACH : ip::unreachable_errno(code);
    if (err == 0) return;
    const tcp::State st = r.state();
    if (r.parent_ != nullptr && st == tcp::State::SynRecv) {
        // Linux tcp_req_err(): a request socket dies quietly on net/host unreachable or time
        // exceeded; other codes leave it to its SYN-ACK retransmissions.
        if (time_exceeded || code == 0 || code == 1) kill(r, errno_code(err), cause);
        return;
    }
    bool hard;
    if (config_.rfc1122_icmp_errors)
        hard = !time_exceeded && (code == 2 || code == 3);  // RFC 1122 §4.2.3.9: codes 2-4 hard
    else
        hard = st == tcp::State::SynSent || st == tcp::State::SynRecv;  // Linux tcp_v4_err()
    if (hard)
        kill(r, errno_code(err), cause);
    else {
        r.soft_error_ = errno_code(err);  // Linux sk_err_soft: reported if the connection times out
        note(cause + " for " + format_tuple(tuple) + " (soft error)");
    }
}

}  // namespace tcpsim::stack
