#include "link/capture/pcap.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>

namespace tcpsim::link {

namespace {
// Records are written in host byte order, as libpcap does; the magic tells readers which.
template <class T>
void put(std::array<char, 24>& buf, std::size_t off, T v) {
    std::memcpy(buf.data() + off, &v, sizeof v);
}

// Captured lengths above this are corrupt even when the header claims a larger snaplen
// (libpcap: MAXIMUM_SNAPLEN).
constexpr std::uint32_t kMaxRecordLength = 262144;
}  // namespace

const char* to_string(PcapError e) {
    switch (e) {
        case PcapError::TruncatedFileHeader: return "pcap file shorter than its 24-byte header";
        case PcapError::BadMagic: return "not a classic pcap file (bad magic number)";
        case PcapError::UnsupportedVersion: return "unsupported pcap version (expected 2.x)";
        case PcapError::TruncatedRecordHeader: return "pcap file ends inside a record header";
        case PcapError::TruncatedRecordData: return "pcap file ends inside a record's data";
        case PcapError::RecordTooLong: return "pcap record longer than the snapshot length";
        case PcapError::BadTimestamp: return "pcap record timestamp fraction out of range";
        case PcapError::CannotOpen: return "cannot read the pcap file";
    }
    return "unknown pcap error";
}

PcapWriter::PcapWriter(std::ostream& out, std::uint32_t linktype, std::uint32_t snaplen)
    : out_(&out), snaplen_(snaplen) {
    write_file_header(linktype);
}

PcapWriter::PcapWriter(const std::string& path, std::uint32_t linktype, std::uint32_t snaplen)
    : file_(std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc)),
      out_(file_.get()),
      snaplen_(snaplen) {
    write_file_header(linktype);
}

void PcapWriter::write_file_header(std::uint32_t linktype) {
    std::array<char, 24> h{};
    put<std::uint32_t>(h, 0, kPcapMagicMicros);
    put<std::uint16_t>(h, 4, 2);  // version 2.4
    put<std::uint16_t>(h, 6, 4);
    put<std::int32_t>(h, 8, 0);    // thiszone: timestamps are UTC
    put<std::uint32_t>(h, 12, 0);  // sigfigs
    put<std::uint32_t>(h, 16, snaplen_);
    put<std::uint32_t>(h, 20, linktype);
    out_->write(h.data(), static_cast<std::streamsize>(h.size()));
}

void PcapWriter::write(Time t, Bytes frame) {
    std::int64_t us = std::max<std::int64_t>(0, to_micros(t));
    std::uint32_t caplen = static_cast<std::uint32_t>(std::min<std::size_t>(frame.size(), snaplen_));
    std::array<char, 24> h{};
    put<std::uint32_t>(h, 0, static_cast<std::uint32_t>(us / 1000000));
    put<std::uint32_t>(h, 4, static_cast<std::uint32_t>(us % 1000000));
    put<std::uint32_t>(h, 8, caplen);
    put<std::uint32_t>(h, 12, static_cast<std::uint32_t>(frame.size()));
    out_->write(h.data(), kPcapRecordHeaderSize);
    out_->write(reinterpret_cast<const char*>(frame.data()), caplen);
    ++records_;
}

void PcapWriter::flush() { out_->flush(); }
bool PcapWriter::ok() const { return static_cast<bool>(*out_); }

std::uint32_t PcapReader::u32(std::size_t off) const {
    std::uint32_t v;
    std::memcpy(&v, file_.data() + off, 4);
    return swapped_ ? __builtin_bswap32(v) : v;
}

Expected<PcapReader, PcapError> PcapReader::open(Bytes file) {
    if (file.size() < kPcapFileHeaderSize) return unexpected(PcapError::TruncatedFileHeader);
    PcapReader r;
    r.file_ = file;
    std::uint32_t magic;
    std::memcpy(&magic, file.data(), 4);
    if (magic == kPcapMagicMicros || magic == kPcapMagicNanos) {
        r.swapped_ = false;
    } else if (__builtin_bswap32(magic) == kPcapMagicMicros || __builtin_bswap32(magic) == kPcapMagicNanos) {
        r.swapped_ = true;
        magic = __builtin_bswap32(magic);
    } else {
        return unexpected(PcapError::BadMagic);
    }
    r.nanos_ = magic == kPcapMagicNanos;
    std::uint16_t a, b;  // major and minor version, two 16-bit fields
    std::memcpy(&a, file.data() + 4, 2);
    std::memcpy(&b, file.data() + 6, 2);
    if (r.swapped_) {
        a = __builtin_bswap16(a);
        b = __builtin_bswap16(b);
    }
    r.major_ = a;
    r.minor_ = b;
    if (r.major_ != 2) return unexpected(PcapError::UnsupportedVersion);
    r.snaplen_ = r.u32(16);
    r.linktype_ = r.u32(20) & 0x0fffffff;  // the high bits carry FCS flags (pcap-linktype(7))
    return r;
}

Expected<std::optional<PcapRecord>, PcapError> PcapReader::next() {
    if (pos_ == file_.size()) return std::optional<PcapRecord>{};
    if (file_.size() - pos_ < kPcapRecordHeaderSize) return unexpected(PcapError::TruncatedRecordHeader);
    std::uint32_t sec = u32(pos_), frac = u32(pos_ + 4), caplen = u32(pos_ + 8), len = u32(pos_ + 12);
    if (caplen > std::max(snaplen_, kMaxRecordLength)) return unexpected(PcapError::RecordTooLong);
    if (frac >= (nanos_ ? 1000000000u : 1000000u)) return unexpected(PcapError::BadTimestamp);
    std::size_t data = pos_ + kPcapRecordHeaderSize;
    if (file_.size() - data < caplen) return unexpected(PcapError::TruncatedRecordData);
    PcapRecord rec;
    Duration since = std::chrono::seconds(sec) + (nanos_ ? Duration(frac) : Duration(std::chrono::microseconds(frac)));
    rec.time = Time(since);
    rec.data = file_.subspan(data, caplen);
    rec.original_length = std::max(len, caplen);
    pos_ = data + caplen;
    return std::optional<PcapRecord>{rec};
}

Expected<ByteVector, PcapError> read_pcap_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return unexpected(PcapError::CannotOpen);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return unexpected(PcapError::CannotOpen);
    ByteVector out(raw.size());
    if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
    return out;
}

}  // namespace tcpsim::link
