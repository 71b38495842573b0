#include "link/virtual/fault.hpp"

#include <stdexcept>

namespace tcpsim::link {

std::string_view to_string(Side s) { return s == Side::A ? "A" : "B"; }

std::string_view to_string(FaultAction::Kind k) {
    switch (k) {
        case FaultAction::Kind::Drop: return "drop";
        case FaultAction::Kind::Delay: return "delay";
        case FaultAction::Kind::Corrupt: return "corrupt";
        case FaultAction::Kind::Duplicate: return "duplicate";
    }
    return "?";
}

FrameSummary summarize_frame(Bytes frame) {
    FrameSummary s;
    if (frame.size() < kEthernetHeaderBytes) return s;
    s.ethertype = load_be16(frame, 12);
    if (s.ethertype != kEthertypeIpv4) return s;

    // IPv4 (RFC 791 §3.1): version 4, IHL >= 5, total length within the frame (Ethernet may pad).
    const Bytes ip = frame.subspan(kEthernetHeaderBytes);
    if (ip.size() < 20) return s;
    const std::uint8_t vihl = load_u8(ip, 0);
    const std::size_t ihl = std::size_t{vihl & 0x0fu} * 4;
    const std::size_t total = load_be16(ip, 2);
    if ((vihl >> 4) != 4 || ihl < 20 || total < ihl || total > ip.size()) return s;
    s.ipv4 = true;
    s.ip_offset = kEthernetHeaderBytes;
    s.ip_protocol = load_u8(ip, 9);
    s.src = Ipv4Addr{load_be32(ip, 12)};
    s.dst = Ipv4Addr{load_be32(ip, 16)};
    const bool later_fragment = (load_be16(ip, 6) & 0x1fffu) != 0;
    if (s.ip_protocol != kIpProtocolTcp || later_fragment) return s;

    // TCP (RFC 9293 §3.1): data offset >= 5 words and within the IP payload.
    const Bytes tcp = ip.subspan(ihl, total - ihl);
    if (tcp.size() < 20) return s;
    const std::size_t doff = static_cast<std::size_t>(load_u8(tcp, 12) >> 4) * 4;
    if (doff < 20 || doff > tcp.size()) return s;
    s.tcp = true;
    s.tcp_offset = kEthernetHeaderBytes + ihl;
    s.src_port = load_be16(tcp, 0);
    s.dst_port = load_be16(tcp, 2);
    s.seq = load_be32(tcp, 4);
    s.ack = load_be32(tcp, 8);
    s.flags = load_u8(tcp, 13);
    s.payload_offset = s.tcp_offset + doff;
    s.payload_len = tcp.size() - doff;
    return s;
}

bool FrameMatcher::needs_tcp() const {
    return src_port || dst_port || flags_set != 0 || flags_clear != 0 || payload_min || payload_max || seq || ack ||
           retransmission || final_ack;
}

bool FrameMatcher::needs_ipv4() const { return needs_tcp() || ip_protocol || src_addr || dst_addr; }

std::optional<FrameMatcher> FrameMatcher::named(std::string_view name) {
    using namespace tcp_flag;
    FrameMatcher m;
    if (name == "any") return m;
    if (name == "ipv4") {
        m.ethertype = kEthertypeIpv4;
        return m;
    }
    m.ip_protocol = kIpProtocolTcp;
    if (name == "tcp") return m;
    if (name == "syn") {
        m.flags_set = Syn;
        m.flags_clear = Ack;
    } else if (name == "syn-ack") {
        m.flags_set = Syn | Ack;
    } else if (name == "ack") {
        m.flags_set = Ack;
        m.flags_clear = Syn | Fin | Rst;
        m.payload_max = 0;
    } else if (name == "data") {
        m.payload_min = 1;
    } else if (name == "fin") {
        m.flags_set = Fin;
    } else if (name == "rst") {
        m.flags_set = Rst;
    } else if (name == "final-ack") {
        m.final_ack = true;
    } else if (name == "retransmission") {
        m.retransmission = true;
    } else if (name == "new-data") {
        m.payload_min = 1;
        m.retransmission = false;
    } else {
        return std::nullopt;
    }
    return m;
}

void validate(const FaultRule& rule) {
    const std::string who = rule.name.empty() ? std::string("fault") : "fault '" + rule.name + "'";
    if (rule.nth == 0) throw std::invalid_argument(who + ": nth counts from 1");
    if (rule.active_until <= rule.active_from) throw std::invalid_argument(who + ": active window is empty");
    const auto& m = rule.match;
    if (m.payload_min && m.payload_max && *m.payload_min > *m.payload_max)
        throw std::invalid_argument(who + ": payload min exceeds max");
    if ((m.flags_set & m.flags_clear) != 0)
        throw std::invalid_argument(who + ": a TCP flag is required both set and clear");
    const auto& a = rule.action;
    if (a.delay < Duration::zero()) throw std::invalid_argument(who + ": delay must not be negative");
    if (a.delay > std::chrono::hours(24 * 365)) throw std::invalid_argument(who + ": delay must be at most a year");
    if (a.kind == FaultAction::Kind::Delay && a.delay == Duration::zero())
        throw std::invalid_argument(who + ": delay action needs a positive delay");
    if (a.kind == FaultAction::Kind::Corrupt) {
        if (a.bit && *a.bit > 7) throw std::invalid_argument(who + ": bit must be 0..7");
    }
}

void FaultEngine::add(FaultRule rule) {
    validate(rule);
    track_flows_ = track_flows_ || rule.match.final_ack || rule.match.retransmission.has_value();
    rules_.push_back(std::move(rule));
    state_.push_back({});
}

FaultEngine::FlowFacts FaultEngine::track_flow(const FrameSummary& s) {
    using namespace tcp_flag;
    // Find the connection; side 0 of a Flow is whichever endpoint we saw first.
    Flow* flow = nullptr;
    int me = 0;
    for (auto& f : flows_) {
        if (!f.used) continue;
        if (f.addr[0] == s.src && f.port[0] == s.src_port && f.addr[1] == s.dst && f.port[1] == s.dst_port) {
            flow = &f;
            me = 0;
            break;
        }
        if (f.addr[1] == s.src && f.port[1] == s.src_port && f.addr[0] == s.dst && f.port[0] == s.dst_port) {
            flow = &f;
            me = 1;
            break;
        }
    }
    const bool is_syn_only = (s.flags & Syn) != 0 && (s.flags & Ack) == 0;
    const bool new_incarnation = flow != nullptr && is_syn_only && !(flow->syn_seen[me] && flow->syn_seq[me] == s.seq);
    if (flow == nullptr || new_incarnation) {
        // A new connection, or a new incarnation of the 4-tuple (a SYN with another ISN): forget
        // old FINs and sequence numbers.
        if (flow == nullptr) {
            flow = &flows_[next_flow_slot_];
            next_flow_slot_ = (next_flow_slot_ + 1) % flows_.size();
        }
        *flow = Flow{};
        flow->used = true;
        flow->addr[0] = s.src;
        flow->port[0] = s.src_port;
        flow->addr[1] = s.dst;
        flow->port[1] = s.dst_port;
        me = 0;
    }
    const int peer = 1 - me;
    if ((s.flags & Syn) != 0) {
        flow->syn_seen[me] = true;
        flow->syn_seq[me] = s.seq;
    }
    FlowFacts facts;
    const bool pure_ack = (s.flags & Ack) != 0 && (s.flags & (Syn | Fin | Rst)) == 0 && s.payload_len == 0;
    facts.final_ack = pure_ack && flow->fin_sent[me] && flow->fin_sent[peer] && s.ack == flow->fin_ack[peer];

    // RFC 9293 §3.4: SYN and FIN each occupy one sequence number; RST occupies none.
    const std::uint32_t syn = (s.flags & Syn) != 0 ? 1u : 0u;
    const std::uint32_t length = static_cast<std::uint32_t>(s.payload_len) + syn + ((s.flags & Fin) != 0 ? 1u : 0u);
    if (length != 0 && (s.flags & Rst) == 0) {
        const std::uint32_t end = s.seq + length;
        if (flow->seen_data[me]) {
            // Modular comparisons (RFC 9293 §3.4): seq before snd_max means resent sequence space.
            facts.retransmission = static_cast<std::int32_t>(s.seq - flow->snd_max[me]) < 0;
            if (static_cast<std::int32_t>(end - flow->snd_max[me]) > 0) flow->snd_max[me] = end;
        } else {
            flow->seen_data[me] = true;
            flow->snd_max[me] = end;
        }
    }
    if ((s.flags & Fin) != 0) {
        // The FIN occupies the sequence number after the payload (and after a SYN).
        flow->fin_sent[me] = true;
        flow->fin_ack[me] = s.seq + static_cast<std::uint32_t>(s.payload_len) + syn + 1u;
    }
    return facts;
}

bool FaultEngine::rule_matches(const FrameMatcher& m, Side from, const FrameSummary& s, const FlowFacts& facts) const {
    if (m.from && *m.from != from) return false;
    if (m.ethertype && *m.ethertype != s.ethertype) return false;
    if (m.needs_ipv4() && !s.ipv4) return false;
    if (m.ip_protocol && *m.ip_protocol != s.ip_protocol) return false;
    if (m.src_addr && *m.src_addr != s.src) return false;
    if (m.dst_addr && *m.dst_addr != s.dst) return false;
    if (!m.needs_tcp()) return true;
    if (!s.tcp) return false;
    if (m.src_port && *m.src_port != s.src_port) return false;
    if (m.dst_port && *m.dst_port != s.dst_port) return false;
    if ((s.flags & m.flags_set) != m.flags_set || (s.flags & m.flags_clear) != 0) return false;
    if (m.payload_min && s.payload_len < *m.payload_min) return false;
    if (m.payload_max && s.payload_len > *m.payload_max) return false;
    if (m.seq && *m.seq != s.seq) return false;
    if (m.ack && *m.ack != s.ack) return false;
    if (m.final_ack && !facts.final_ack) return false;
    if (m.retransmission) {
        const bool occupies = s.payload_len != 0 || (s.flags & (tcp_flag::Syn | tcp_flag::Fin)) != 0;
        if (!occupies || (s.flags & tcp_flag::Rst) != 0 || facts.retransmission != *m.retransmission) return false;
    }
    return true;
}

FaultOutcome FaultEngine::apply(Time now, Side from, Bytes frame) {
    FaultOutcome out;
    if (rules_.empty()) return out;
    const FrameSummary s = summarize_frame(frame);
    const FlowFacts facts = track_flows_ && s.tcp ? track_flow(s) : FlowFacts{};

    for (std::size_t i = 0; i < rules_.size(); ++i) {
        const FaultRule& r = rules_[i];
        if (now < r.active_from || now >= r.active_until) continue;
        if (!rule_matches(r.match, from, s, facts)) continue;

        // Resolve a corrupt target first: a frame without that byte does not match the rule.
        std::size_t base = 0, end = frame.size();
        if (r.action.kind == FaultAction::Kind::Corrupt) {
            switch (r.action.base) {
                case FaultAction::Base::Frame: break;
                case FaultAction::Base::Ip:
                    if (!s.ipv4) continue;
                    base = s.ip_offset;
                    break;
                case FaultAction::Base::Tcp:
                    if (!s.tcp) continue;
                    base = s.tcp_offset;
                    break;
                case FaultAction::Base::Payload:
                    if (!s.tcp) continue;
                    base = s.payload_offset;
                    end = s.payload_offset + s.payload_len;
                    break;
            }
            if (base >= end) continue;
            if (r.action.byte && *r.action.byte >= end - base) continue;
        }

        RuleState& st = state_[i];
        ++st.matches;
        if (st.matches < r.nth || (r.count != 0 && st.matches - r.nth >= r.count)) continue;
        ++st.hits;
        ++out.hits;
        out.rule = r.name;
        switch (r.action.kind) {
            case FaultAction::Kind::Drop:
                out.drop = true;
                return out;
            case FaultAction::Kind::Delay:
                out.extra_delay += r.action.delay;
                break;
            case FaultAction::Kind::Duplicate:
                out.duplicate = true;
                out.duplicate_delay = r.action.delay;
                break;
            case FaultAction::Kind::Corrupt:
                out.corrupt = true;
                out.corrupt_byte = r.action.byte ? base + *r.action.byte : base + static_cast<std::size_t>(rng_.uniform(end - base));
                out.corrupt_bit = r.action.bit ? *r.action.bit : static_cast<std::uint8_t>(rng_.uniform(8));
                break;
        }
    }
    return out;
}

}  // namespace tcpsim::link
