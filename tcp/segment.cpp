#include "tcp/segment.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "ip/checksum.hpp"

namespace tcpsim::tcp {

namespace {

constexpr std::size_t kHeaderSize = 20;
constexpr std::uint8_t kProtoTcp = 6;

// Option lengths (RFC 9293 §3.2, RFC 7323, RFC 2018).
constexpr std::uint8_t kLenMss = 4;
constexpr std::uint8_t kLenWindowScale = 3;
constexpr std::uint8_t kLenSackPermitted = 2;
constexpr std::uint8_t kLenTimestamps = 10;
constexpr std::uint8_t kSackBlockSize = 8;

constexpr std::uint8_t kind_byte(OptionKind k) { return static_cast<std::uint8_t>(k); }

// The pseudoheader of RFC 9293 §3.1 in wire order: src, dst, zero, protocol, TCP length.
void add_pseudo_header(ip::ChecksumAccumulator& acc, const PseudoHeader& pseudo, std::uint16_t tcp_length) {
    acc.add_be32(pseudo.src.value);
    acc.add_be32(pseudo.dst.value);
    acc.add_be16(kProtoTcp);
    acc.add_be16(tcp_length);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Flags

std::string Flags::to_tcpdump() const {
    // tcpdump print-tcp.c: the letters in bit order, low to high, with '.' for ACK and "none"
    // when no bit is set.
    static constexpr char kLetters[8] = {'F', 'S', 'R', 'P', '.', 'U', 'E', 'W'};
    if (bits == 0) return "none";
    std::string out;
    for (int i = 0; i < 8; ++i)
        if (bits & (1u << i)) out.push_back(kLetters[i]);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Options: builders

// Appending past 40 bytes is a caller bug: it asserts in debug builds and is refused (the option
// is dropped) in release builds rather than overrunning the array.
#define TCPSIM_REQUIRE_ROOM(n)    \
    do {                          \
        assert(fits(n));          \
        if (!fits(n)) return *this; \
    } while (0)

Options& Options::eol() {
    TCPSIM_REQUIRE_ROOM(1);
    bytes_[size_++] = std::byte{0};
    return *this;
}

Options& Options::nop() {
    TCPSIM_REQUIRE_ROOM(1);
    bytes_[size_++] = std::byte{1};
    return *this;
}

Options& Options::mss(std::uint16_t value) {
    TCPSIM_REQUIRE_ROOM(kLenMss);
    MutableBytes b(bytes_);
    store_u8(b, size_, kind_byte(OptionKind::Mss));
    store_u8(b, size_ + 1, kLenMss);
    store_be16(b, size_ + 2, value);
    size_ += kLenMss;
    mss_ = value;
    return *this;
}

Options& Options::window_scale(std::uint8_t shift) {
    TCPSIM_REQUIRE_ROOM(kLenWindowScale);
    MutableBytes b(bytes_);
    store_u8(b, size_, kind_byte(OptionKind::WindowScale));
    store_u8(b, size_ + 1, kLenWindowScale);
    store_u8(b, size_ + 2, shift);
    size_ += kLenWindowScale;
    wscale_ = shift;
    return *this;
}

Options& Options::sack_permitted() {
    TCPSIM_REQUIRE_ROOM(kLenSackPermitted);
    MutableBytes b(bytes_);
    store_u8(b, size_, kind_byte(OptionKind::SackPermitted));
    store_u8(b, size_ + 1, kLenSackPermitted);
    size_ += kLenSackPermitted;
    sack_permitted_ = true;
    return *this;
}

Options& Options::timestamps(std::uint32_t value, std::uint32_t echo_reply) {
    TCPSIM_REQUIRE_ROOM(kLenTimestamps);
    MutableBytes b(bytes_);
    store_u8(b, size_, kind_byte(OptionKind::Timestamps));
    store_u8(b, size_ + 1, kLenTimestamps);
    store_be32(b, size_ + 2, value);
    store_be32(b, size_ + 6, echo_reply);
    size_ += kLenTimestamps;
    ts_ = Timestamps{value, echo_reply};
    return *this;
}

Options& Options::sack(std::span<const SackBlock> blocks) {
    assert(!blocks.empty() && blocks.size() <= kMaxSackBlocks);
    if (blocks.empty() || blocks.size() > kMaxSackBlocks) return *this;
    const std::size_t len = 2 + kSackBlockSize * blocks.size();
    TCPSIM_REQUIRE_ROOM(len);
    MutableBytes b(bytes_);
    store_u8(b, size_, kind_byte(OptionKind::Sack));
    store_u8(b, size_ + 1, static_cast<std::uint8_t>(len));
    std::size_t off = size_ + 2;
    for (const SackBlock& blk : blocks) {
        store_be32(b, off, blk.left.raw());
        store_be32(b, off + 4, blk.right.raw());
        off += kSackBlockSize;
    }
    size_ = static_cast<std::uint8_t>(size_ + len);
    std::copy(blocks.begin(), blocks.end(), sack_.begin());
    sack_count_ = static_cast<std::uint8_t>(blocks.size());
    return *this;
}

Options& Options::unknown(std::uint8_t kind, Bytes data) {
    const std::size_t len = 2 + data.size();
    assert(kind > 1);
    if (kind <= 1) return *this;
    TCPSIM_REQUIRE_ROOM(len);
    MutableBytes b(bytes_);
    store_u8(b, size_, kind);
    store_u8(b, size_ + 1, static_cast<std::uint8_t>(len));
    std::copy(data.begin(), data.end(), b.begin() + size_ + 2);
    size_ = static_cast<std::uint8_t>(size_ + len);
    return *this;
}

#undef TCPSIM_REQUIRE_ROOM

// ---------------------------------------------------------------------------------------------
// Options: parsing

Expected<Options, Options::Error> Options::parse(Bytes area) {
    if (area.size() > kMaxBytes) return unexpected(Error::PastHeader);  // 60-byte header limit
    Options o;
    std::copy(area.begin(), area.end(), o.bytes_.begin());
    o.size_ = static_cast<std::uint8_t>(area.size());

    std::size_t pos = 0;
    while (pos < area.size()) {
        const std::uint8_t kind = load_u8(area, pos);
        if (kind == kind_byte(OptionKind::End)) break;  // RFC 9293 §3.2: the rest is padding
        if (kind == kind_byte(OptionKind::Nop)) {
            ++pos;
            continue;
        }
        if (pos + 1 >= area.size()) return unexpected(Error::PastHeader);  // no room for the length
        const std::uint8_t len = load_u8(area, pos + 1);
        if (len < 2) return unexpected(Error::BadLength);  // would loop forever or run backwards
        if (pos + len > area.size()) return unexpected(Error::PastHeader);
        switch (kind) {
            case kind_byte(OptionKind::Mss):
                if (len != kLenMss) return unexpected(Error::BadFixedLength);
                o.mss_ = load_be16(area, pos + 2);
                break;
            case kind_byte(OptionKind::WindowScale):
                if (len != kLenWindowScale) return unexpected(Error::BadFixedLength);
                o.wscale_ = load_u8(area, pos + 2);
                break;
            case kind_byte(OptionKind::SackPermitted):
                if (len != kLenSackPermitted) return unexpected(Error::BadFixedLength);
                o.sack_permitted_ = true;
                break;
            case kind_byte(OptionKind::Timestamps):
                if (len != kLenTimestamps) return unexpected(Error::BadFixedLength);
                o.ts_ = Timestamps{load_be32(area, pos + 2), load_be32(area, pos + 6)};
                break;
            case kind_byte(OptionKind::Sack): {
                // RFC 2018 §3: 2 + 8n bytes; at most 4 blocks fit in 40 bytes of options.
                const std::size_t n = (len - 2u) / kSackBlockSize;
                if ((len - 2u) % kSackBlockSize != 0 || n == 0 || n > kMaxSackBlocks)
                    return unexpected(Error::BadSackLength);
                for (std::size_t i = 0; i < n; ++i) {
                    const std::size_t off = pos + 2 + i * kSackBlockSize;
                    o.sack_[i] = SackBlock{SeqNum(load_be32(area, off)), SeqNum(load_be32(area, off + 4))};
                }
                o.sack_count_ = static_cast<std::uint8_t>(n);
                break;
            }
            default:
                break;  // unknown kinds are skipped by their length (RFC 9293 §3.1, MUST-6)
        }
        pos += len;
    }
    return o;
}

bool Options::operator==(const Options& o) const {
    // Same encoded bytes: same padded length, and the shorter raw area plus zero padding equals
    // the longer one.
    if (padded_size() != o.padded_size()) return false;
    const std::size_t common = std::min(size_, o.size_);
    if (!std::equal(bytes_.begin(), bytes_.begin() + common, o.bytes_.begin())) return false;
    const auto& longer = size_ > o.size_ ? bytes_ : o.bytes_;
    const std::size_t longer_size = std::max(size_, o.size_);
    return std::all_of(longer.begin() + common, longer.begin() + longer_size,
                       [](std::byte b) { return b == std::byte{0}; });
}

// ---------------------------------------------------------------------------------------------
// Options: iteration (defensive: a malformed area ends the iteration instead of reading past it)

Options::Iterator Options::begin() const { return Iterator(raw(), 0); }
Options::Iterator Options::end() const { return Iterator(raw(), size_); }

OptionItem Options::Iterator::operator*() const {
    OptionItem item;
    if (pos_ >= area_.size()) return item;
    item.kind = load_u8(area_, pos_);
    if (item.kind <= kind_byte(OptionKind::Nop) || pos_ + 1 >= area_.size()) return item;
    const std::size_t len = load_u8(area_, pos_ + 1);
    if (len >= 2 && pos_ + len <= area_.size()) item.data = area_.subspan(pos_ + 2, len - 2);
    return item;
}

Options::Iterator& Options::Iterator::operator++() {
    if (pos_ >= area_.size()) return *this;
    const std::uint8_t kind = load_u8(area_, pos_);
    if (kind == kind_byte(OptionKind::End)) {
        pos_ = area_.size();
    } else if (kind == kind_byte(OptionKind::Nop)) {
        ++pos_;
    } else if (pos_ + 1 >= area_.size()) {
        pos_ = area_.size();
    } else {
        const std::size_t len = load_u8(area_, pos_ + 1);
        pos_ = (len < 2 || pos_ + len > area_.size()) ? area_.size() : pos_ + len;
    }
    return *this;
}

// ---------------------------------------------------------------------------------------------
// Errors

const char* to_string(ParseError e) {
    switch (e) {
        case ParseError::TooShort: return "TCP segment shorter than 20 bytes";
        case ParseError::BadDataOffset: return "TCP data offset below 5";
        case ParseError::DataOffsetPastBuffer: return "TCP data offset past the end of the segment";
        case ParseError::BadOptionLength: return "TCP option length below 2";
        case ParseError::OptionPastHeader: return "TCP option runs past the header";
        case ParseError::BadOptionValue: return "TCP option with a wrong length for its kind";
        case ParseError::BadChecksum: return "TCP checksum mismatch";
    }
    return "?";
}

ParseError to_parse_error(Options::Error e) {
    switch (e) {
        case Options::Error::BadLength: return ParseError::BadOptionLength;
        case Options::Error::PastHeader: return ParseError::OptionPastHeader;
        case Options::Error::BadSackLength: return ParseError::BadOptionValue;
        case Options::Error::BadFixedLength: return ParseError::BadOptionValue;
    }
    return ParseError::BadOptionValue;
}

const char* to_string(Options::Error e) { return to_string(to_parse_error(e)); }

// ---------------------------------------------------------------------------------------------
// Segments

ByteVector Payload::to_vector() const {
    ByteVector v;
    v.reserve(size());
    v.insert(v.end(), first.begin(), first.end());
    v.insert(v.end(), second.begin(), second.end());
    return v;
}

Expected<Segment, ParseError> parse_segment(Bytes wire, const PseudoHeader& pseudo, bool verify_checksum) {
    if (wire.size() < kHeaderSize) return unexpected(ParseError::TooShort);
    const std::uint8_t offset_byte = load_u8(wire, 12);
    const std::size_t header_size = static_cast<std::size_t>(offset_byte >> 4) * 4;
    if (header_size < kHeaderSize) return unexpected(ParseError::BadDataOffset);
    if (header_size > wire.size()) return unexpected(ParseError::DataOffsetPastBuffer);

    if (verify_checksum) {
        // A segment longer than 65535 bytes cannot travel in IPv4 and its pseudoheader length
        // cannot be written, so no checksum can be right for it.
        if (wire.size() > 0xffff) return unexpected(ParseError::BadChecksum);
        ip::ChecksumAccumulator acc;
        add_pseudo_header(acc, pseudo, static_cast<std::uint16_t>(wire.size()));
        acc.add(wire);
        if (acc.folded() != 0xffff) return unexpected(ParseError::BadChecksum);
    }

    auto options = Options::parse(wire.subspan(kHeaderSize, header_size - kHeaderSize));
    if (!options) return unexpected(to_parse_error(options.error()));

    Segment seg;
    seg.src_port = load_be16(wire, 0);
    seg.dst_port = load_be16(wire, 2);
    seg.seq = SeqNum(load_be32(wire, 4));
    seg.ack = SeqNum(load_be32(wire, 8));
    seg.reserved = offset_byte & 0x0f;
    seg.flags = Flags{load_u8(wire, 13)};
    seg.window = load_be16(wire, 14);
    seg.checksum = load_be16(wire, 16);
    seg.urgent = load_be16(wire, 18);
    seg.options = std::move(*options);
    seg.payload.first = wire.subspan(header_size);
    return seg;
}

std::size_t encode_segment(const Segment& seg, MutableBytes out, const PseudoHeader& pseudo) {
    const std::size_t header_size = seg.header_size();
    const std::size_t total = header_size + seg.payload.size();
    assert(out.size() >= total && total <= 0xffff);
    if (out.size() < total || total > 0xffff) return 0;  // nothing written: see the header

    store_be16(out, 0, seg.src_port);
    store_be16(out, 2, seg.dst_port);
    store_be32(out, 4, seg.seq.raw());
    store_be32(out, 8, seg.ack.raw());
    store_u8(out, 12, static_cast<std::uint8_t>((header_size / 4) << 4 | (seg.reserved & 0x0f)));
    store_u8(out, 13, seg.flags.bits);
    store_be16(out, 14, seg.window);
    store_be16(out, 16, 0);
    store_be16(out, 18, seg.urgent);

    // Options, then zero padding (EOL bytes) up to the data offset.
    Bytes opts = seg.options.raw();
    std::byte* p = out.data() + kHeaderSize;
    if (!opts.empty()) std::memcpy(p, opts.data(), opts.size());
    std::memset(p + opts.size(), 0, header_size - kHeaderSize - opts.size());

    p = out.data() + header_size;
    if (!seg.payload.first.empty()) std::memcpy(p, seg.payload.first.data(), seg.payload.first.size());
    p += seg.payload.first.size();
    if (!seg.payload.second.empty()) std::memcpy(p, seg.payload.second.data(), seg.payload.second.size());

    ip::ChecksumAccumulator acc;
    add_pseudo_header(acc, pseudo, static_cast<std::uint16_t>(total));
    acc.add(out.first(total));
    store_be16(out, 16, acc.finish());
    return total;
}

ByteVector encode_segment(const Segment& seg, const PseudoHeader& pseudo) {
    ByteVector v(seg.wire_size());
    encode_segment(seg, MutableBytes(v), pseudo);
    return v;
}

}  // namespace tcpsim::tcp
