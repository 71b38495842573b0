#include "link/ethernet/ethernet.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace tcpsim::link {

const char* to_string(EthernetError e) {
    switch (e) {
        case EthernetError::TooShort: return "Ethernet frame shorter than its 14-byte header";
        case EthernetError::NotEthernetII: return "802.3 length field instead of an EtherType (not Ethernet II)";
    }
    return "unknown Ethernet error";
}

MacAddr load_mac(Bytes b, std::size_t off) {
    MacAddr m;
    for (std::size_t i = 0; i < 6; ++i) m.octets[i] = load_u8(b, off + i);
    return m;
}
void store_mac(MutableBytes b, std::size_t off, const MacAddr& m) {
    for (std::size_t i = 0; i < 6; ++i) store_u8(b, off + i, m.octets[i]);
}

Expected<EthernetFrame, EthernetError> parse_ethernet(Bytes frame) {
    if (frame.size() < kEthernetHeaderSize) return unexpected(EthernetError::TooShort);
    std::uint16_t type = load_be16(frame, 12);
    if (type < kEtherTypeMin) return unexpected(EthernetError::NotEthernetII);
    EthernetFrame f;
    f.header.dst = load_mac(frame, 0);
    f.header.src = load_mac(frame, 6);
    f.header.type = static_cast<EtherType>(type);
    f.payload = frame.subspan(kEthernetHeaderSize);
    return f;
}

void encode_ethernet_header(const EthernetHeader& h, MutableBytes out) {
    assert(out.size() >= kEthernetHeaderSize);
    store_mac(out, 0, h.dst);
    store_mac(out, 6, h.src);
    store_be16(out, 12, static_cast<std::uint16_t>(h.type));
}

std::size_t pad_ethernet(MutableBytes buffer, std::size_t size) {
    if (size >= kEthernetMinFrameSize) return size;
    assert(buffer.size() >= kEthernetMinFrameSize);
    std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(size), buffer.begin() + kEthernetMinFrameSize, std::byte{0});
    return kEthernetMinFrameSize;
}

std::size_t encode_ethernet(const EthernetHeader& h, Bytes payload, MutableBytes out, Padding pad) {
    [[maybe_unused]] std::size_t n = ethernet_frame_size(payload.size(), pad);
    assert(out.size() >= n);
    encode_ethernet_header(h, out);
    if (!payload.empty()) std::memcpy(out.data() + kEthernetHeaderSize, payload.data(), payload.size());
    std::size_t written = kEthernetHeaderSize + payload.size();
    return pad == Padding::ToMinimum ? pad_ethernet(out, written) : written;
}

ByteVector encode_ethernet(const EthernetHeader& h, Bytes payload, Padding pad) {
    ByteVector out(ethernet_frame_size(payload.size(), pad));
    encode_ethernet(h, payload, out, pad);
    return out;
}

}  // namespace tcpsim::link
