// Ethernet II framing (IEEE 802.3 with an EtherType, RFC 894): a value type plus parse/encode.
// Parsing yields a view of the payload inside the frame; it never trusts a length field.
#pragma once

#include <cstddef>
#include <cstdint>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"

namespace tcpsim::link {

// Any 16-bit value may be carried; the named ones are those the stack handles or recognises.
enum class EtherType : std::uint16_t {
    Ipv4 = 0x0800,
    Arp = 0x0806,
    Vlan = 0x8100,
    Ipv6 = 0x86dd,
};

inline constexpr std::size_t kEthernetHeaderSize = 14;
// The minimum frame without the 4-byte FCS: 64 - 4. Shorter frames are padded with zeros by
// the sender; the padding is not part of the payload's own length (RFC 894).
inline constexpr std::size_t kEthernetMinFrameSize = 60;
inline constexpr std::size_t kEthernetMinPayload = kEthernetMinFrameSize - kEthernetHeaderSize;
// Values below 1536 are an IEEE 802.3 length, not an EtherType.
inline constexpr std::uint16_t kEtherTypeMin = 0x0600;

struct EthernetHeader {
    MacAddr dst{};
    MacAddr src{};
    EtherType type = EtherType::Ipv4;
    bool operator==(const EthernetHeader&) const = default;
};

// A parsed frame. `payload` is everything after the header, padding included: the upper layer
// (IPv4 total length, ARP's fixed size) knows its own length and ignores the rest.
struct EthernetFrame {
    EthernetHeader header{};
    Bytes payload{};
};

enum class EthernetError {
    TooShort,       // fewer than 14 bytes
    NotEthernetII,  // the type field is an 802.3 length (< 0x0600), i.e. an LLC frame
};
const char* to_string(EthernetError e);

// A MAC address at byte `off` (6 bytes, as on the wire); shared with the ARP codec.
MacAddr load_mac(Bytes b, std::size_t off);
void store_mac(MutableBytes b, std::size_t off, const MacAddr& m);

Expected<EthernetFrame, EthernetError> parse_ethernet(Bytes frame);

// Whether encode pads a short frame to 60 bytes. Real NICs pad on the wire (Linux's veth and TAP
// do not); the simulated wire pads so that frame sizes and pcaps look like real Ethernet.
enum class Padding { None, ToMinimum };

// Bytes needed for a frame carrying `payload_size` bytes.
constexpr std::size_t ethernet_frame_size(std::size_t payload_size, Padding pad = Padding::None) {
    std::size_t n = kEthernetHeaderSize + payload_size;
    return pad == Padding::ToMinimum && n < kEthernetMinFrameSize ? kEthernetMinFrameSize : n;
}

// Writes the 14-byte header at the start of `out` (out.size() >= 14). For building a frame in
// place: reserve 14 bytes, let the upper layer write its payload after them, then call this.
void encode_ethernet_header(const EthernetHeader& h, MutableBytes out);

// Writes header, payload and (if asked) zero padding into `out`, which must hold
// ethernet_frame_size(payload.size(), pad) bytes; returns the number of bytes written.
std::size_t encode_ethernet(const EthernetHeader& h, Bytes payload, MutableBytes out, Padding pad = Padding::None);
ByteVector encode_ethernet(const EthernetHeader& h, Bytes payload, Padding pad = Padding::None);

// Pads a frame of `size` bytes built in `buffer` up to the minimum with zeros; returns the new
// size. `buffer` must hold at least kEthernetMinFrameSize bytes when size is below it.
std::size_t pad_ethernet(MutableBytes buffer, std::size_t size);

}  // namespace tcpsim::link
