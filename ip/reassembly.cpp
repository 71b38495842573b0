#include "ip/reassembly.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace tcpsim::ip {

const char* to_string(ReassemblyOutcome o) {
    switch (o) {
        case ReassemblyOutcome::Complete: return "complete";
        case ReassemblyOutcome::Pending: return "pending";
        case ReassemblyOutcome::Duplicate: return "duplicate fragment ignored";
        case ReassemblyOutcome::DroppedOverlap: return "overlapping fragment: datagram discarded";
        case ReassemblyOutcome::DroppedBadLength: return "fragment contradicts the datagram's length: datagram discarded";
        case ReassemblyOutcome::DroppedOversize: return "fragment ends past 65535 bytes: datagram discarded";
        case ReassemblyOutcome::DroppedNoRoom: return "reassembly limits reached: fragment dropped";
        case ReassemblyOutcome::NotAFragment: return "not a fragment";
    }
    return "unknown reassembly outcome";
}

const char* to_string(FragmentError e) {
    switch (e) {
        case FragmentError::DontFragment: return "datagram larger than the MTU with DF set";
        case FragmentError::MtuTooSmall: return "MTU too small for the header plus 8 bytes";
    }
    return "unknown fragmentation error";
}

void Reassembler::erase(std::size_t index) {
    bytes_ -= entries_[index].held;
    if (index + 1 != entries_.size()) entries_[index] = std::move(entries_.back());
    entries_.pop_back();
}

Reassembler::Result Reassembler::drop(std::size_t index, ReassemblyOutcome why) {
    switch (why) {
        case ReassemblyOutcome::DroppedOverlap: ++stats_.overlaps; break;
        case ReassemblyOutcome::DroppedBadLength: ++stats_.bad_lengths; break;
        case ReassemblyOutcome::DroppedOversize: ++stats_.oversize; break;
        default: break;
    }
    erase(index);
    return {why, {}};
}

Reassembler::Result Reassembler::add(Time now, const Ipv4Packet& frag) {
    if (!frag.is_fragment()) return {ReassemblyOutcome::NotAFragment, {}};
    const FragmentKey key{frag.src, frag.dst, frag.protocol, frag.id};
    const std::size_t offset = frag.fragment_byte_offset();
    std::size_t end = offset + frag.payload.size();

    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
    std::size_t index = static_cast<std::size_t>(it - entries_.begin());

    // Linux: "Oversized IP packet"; the datagram could never be delivered.
    if (frag.header_size() + end > kIpv4MaxDatagram) {
        ++stats_.oversize;
        if (it != entries_.end()) erase(index);
        return {ReassemblyOutcome::DroppedOversize, {}};
    }
    // Linux: no new fragments while memory is over ipfrag_high_thresh.
    if (bytes_ + frag.payload.size() > limits_.max_bytes ||
        (it == entries_.end() && entries_.size() >= limits_.max_datagrams)) {
        ++stats_.no_room;
        return {ReassemblyOutcome::DroppedNoRoom, {}};
    }
    if (it == entries_.end()) {
        Entry e;
        e.key = key;
        e.deadline = now + limits_.timeout;  // Linux: armed once, not refreshed by later fragments
        entries_.push_back(std::move(e));
    }
    Entry& e = entries_[index];

    if (!frag.more_fragments) {
        // The last fragment fixes the total; it may neither shrink below data held nor move.
        if (end < e.known_end || (e.last_seen && end != e.known_end)) return drop(index, ReassemblyOutcome::DroppedBadLength);
        e.last_seen = true;
        e.known_end = end;
    } else {
        // Linux: a non-final fragment's data is cut to a multiple of 8 bytes.
        end &= ~std::size_t{7};
        if (end > e.known_end) {
            if (e.last_seen) return drop(index, ReassemblyOutcome::DroppedBadLength);
            e.known_end = end;
        }
    }
    if (end <= offset) return drop(index, ReassemblyOutcome::DroppedBadLength);

    // Place the run: wholly inside a held run is a duplicate; any other overlap is fatal.
    auto pos = std::lower_bound(e.runs.begin(), e.runs.end(), offset, [](const Run& r, std::size_t off) { return r.end <= off; });
    if (pos != e.runs.end() && pos->begin < end) {
        if (offset >= pos->begin && end <= pos->end) {
            ++stats_.duplicates;
            return {ReassemblyOutcome::Duplicate, {}};
        }
        return drop(index, ReassemblyOutcome::DroppedOverlap);
    }
    if (e.data.size() < end) e.data.resize(end);
    std::memcpy(e.data.data() + offset, frag.payload.data(), end - offset);
    e.held += end - offset;
    bytes_ += end - offset;
    pos = e.runs.insert(pos, Run{offset, end});
    // Merge with the neighbours that touch it.
    if (pos + 1 != e.runs.end() && (pos + 1)->begin == pos->end) {
        pos->end = (pos + 1)->end;
        e.runs.erase(pos + 1);
    }
    if (pos != e.runs.begin() && (pos - 1)->end == pos->begin) {
        (pos - 1)->end = pos->end;
        pos = e.runs.erase(pos) - 1;
    }
    if (frag.dont_fragment) e.dont_fragment = true;
    if (offset == 0) {
        e.first = frag;
        e.first->payload = {};
        e.first_len = end;
    }

    if (!(e.last_seen && e.runs.size() == 1 && e.runs.front().begin == 0 && e.runs.front().end == e.known_end))
        return {ReassemblyOutcome::Pending, {}};

    // Complete: the first fragment's header (options included), as Linux's ip_frag_reasm.
    Ipv4Packet h = *e.first;
    h.more_fragments = false;
    h.fragment_offset = 0;
    h.dont_fragment = e.dont_fragment;
    out_.resize(h.header_size() + e.known_end);
    encode_ipv4_header(h, e.known_end, out_);
    std::memcpy(out_.data() + h.header_size(), e.data.data(), e.known_end);
    erase(index);
    ++stats_.reassembled;
    return {ReassemblyOutcome::Complete, out_};
}

std::optional<Reassembler::Expired> Reassembler::expire(Time now) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        Entry& e = entries_[i];
        if (e.deadline > now) continue;
        Expired x{e.key, {}};
        if (e.first) {
            // Re-create the first fragment as it arrived, for the ICMP quote.
            Ipv4Packet h = *e.first;
            out_.resize(h.header_size() + e.first_len);
            encode_ipv4_header(h, e.first_len, out_);
            std::memcpy(out_.data() + h.header_size(), e.data.data(), e.first_len);
            x.first_fragment = out_;
        }
        ++stats_.timeouts;
        erase(i);
        return x;
    }
    return std::nullopt;
}

Time Reassembler::next_deadline() const {
    Time t = kTimeNever;
    for (const Entry& e : entries_) t = std::min(t, e.deadline);
    return t;
}

namespace {
// RFC 791 §3.1: options whose type has the copy bit (0x80) go into every fragment; the others
// only into the first. Linux's ip_options_fragment overwrites them with NOPs.
Ipv4Options options_for_later_fragments(const Ipv4Options& first) {
    Ipv4Options o = first;
    std::size_t i = 0;
    while (i < o.size) {
        std::uint8_t type = std::to_integer<std::uint8_t>(o.bytes[i]);
        if (type == 0) break;  // end of option list
        if (type == 1) {
            ++i;
            continue;
        }
        if (i + 1 >= o.size) break;
        std::size_t len = std::to_integer<std::uint8_t>(o.bytes[i + 1]);
        if (len < 2 || i + len > o.size) break;  // malformed: leave the rest as it is
        if ((type & 0x80) == 0) std::fill_n(o.bytes.begin() + static_cast<std::ptrdiff_t>(i), len, std::byte{1});
        i += len;
    }
    return o;
}
}  // namespace

Fragmenter::Fragmenter(const Ipv4Packet& d, std::size_t chunk)
    : datagram_(d), later_options_(options_for_later_fragments(d.options)), chunk_(chunk) {
    std::size_t n = d.payload.size();
    count_ = n == 0 ? 1 : (n + chunk - 1) / chunk;
}

Expected<Fragmenter, FragmentError> Fragmenter::create(const Ipv4Packet& datagram, std::size_t mtu) {
    if (datagram.wire_size() <= mtu) return Fragmenter(datagram, std::max<std::size_t>(datagram.payload.size(), 1));
    if (datagram.dont_fragment) return unexpected(FragmentError::DontFragment);
    if (mtu < datagram.header_size() + 8) return unexpected(FragmentError::MtuTooSmall);
    return Fragmenter(datagram, (mtu - datagram.header_size()) & ~std::size_t{7});
}

std::size_t Fragmenter::next_size() const {
    assert(!done());
    std::size_t start = index_ * chunk_;
    return datagram_.header_size() + std::min(chunk_, datagram_.payload.size() - std::min(start, datagram_.payload.size()));
}

std::size_t Fragmenter::next(MutableBytes out) {
    assert(!done());
    const std::size_t total = datagram_.payload.size();
    const std::size_t start = index_ * chunk_;
    const std::size_t len = std::min(chunk_, total - std::min(start, total));
    const bool last = index_ + 1 == count_;
    Ipv4Packet h = datagram_;
    h.payload = datagram_.payload.subspan(start, len);
    if (count_ > 1) {
        // Offsets add to the datagram's own: it may itself be a fragment being split again.
        h.fragment_offset = static_cast<std::uint16_t>(datagram_.fragment_offset + start / 8);
        h.more_fragments = last ? datagram_.more_fragments : true;
        if (index_ > 0) h.options = later_options_;
    }
    ++index_;
    return encode_ipv4(h, out);
}

}  // namespace tcpsim::ip
