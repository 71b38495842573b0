// Classic libpcap files (the format tcpdump -w writes): a writer for traces and a small reader
// for tests and tools. Timestamps come from a Time (a simulated run starts at 0.000000), with
// microsecond resolution.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "link/base/bytes.hpp"
#include "link/base/expected.hpp"
#include "link/base/time.hpp"

namespace tcpsim::link {

inline constexpr std::uint32_t kPcapMagicMicros = 0xa1b2c3d4;
inline constexpr std::uint32_t kPcapMagicNanos = 0xa1b23c4d;
inline constexpr std::uint32_t kPcapSnaplen = 262144;  // tcpdump's default
inline constexpr std::uint32_t kLinktypeEthernet = 1;
inline constexpr std::size_t kPcapFileHeaderSize = 24;
inline constexpr std::size_t kPcapRecordHeaderSize = 16;

// Writes the 24-byte global header on construction and one record per write(), in host byte
// order (readers detect it from the magic). Stream errors are reported by ok().
class PcapWriter {
public:
    explicit PcapWriter(std::ostream& out, std::uint32_t linktype = kLinktypeEthernet,
                        std::uint32_t snaplen = kPcapSnaplen);
    // Opens (truncates) `path`; check ok() afterwards.
    explicit PcapWriter(const std::string& path, std::uint32_t linktype = kLinktypeEthernet,
                        std::uint32_t snaplen = kPcapSnaplen);
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;

    // One captured frame. Frames longer than the snaplen are cut, keeping the original length;
    // times before zero are written as 0.000000.
    void write(Time t, Bytes frame);
    void flush();
    bool ok() const;
    std::size_t records() const { return records_; }

private:
    void write_file_header(std::uint32_t linktype);
    std::unique_ptr<std::ofstream> file_;
    std::ostream* out_;
    std::uint32_t snaplen_;
    std::size_t records_ = 0;
};

struct PcapRecord {
    Time time{};
    Bytes data{};                        // the captured bytes, a view into the file buffer
    std::uint32_t original_length = 0; // the frame's length on the wire (>= data.size())
};

enum class PcapError {
    TruncatedFileHeader,    // fewer than 24 bytes
    BadMagic,               // not a classic pcap file (pcapng, or not a capture at all)
    UnsupportedVersion,     // major version other than 2
    TruncatedRecordHeader,  // the file ends inside a 16-byte record header
    TruncatedRecordData,    // the file ends before a record's captured bytes
    RecordTooLong,          // a captured length above the snaplen (and above 256 KiB)
    BadTimestamp,           // microseconds/nanoseconds field out of range
    CannotOpen,             // the file could not be read
};
const char* to_string(PcapError e);

// Reads records from a whole file held in memory; both byte orders and both (micro/nano)
// resolutions are accepted. Records view the buffer, which must outlive them.
class PcapReader {
public:
    static Expected<PcapReader, PcapError> open(Bytes file);
    // The next record, nullopt at a clean end of file, or the reason the file is damaged.
    Expected<std::optional<PcapRecord>, PcapError> next();

    std::uint32_t linktype() const { return linktype_; }
    std::uint32_t snaplen() const { return snaplen_; }
    bool swapped() const { return swapped_; }
    bool nanosecond() const { return nanos_; }
    std::uint16_t version_major() const { return major_; }
    std::uint16_t version_minor() const { return minor_; }

private:
    PcapReader() = default;
    std::uint32_t u32(std::size_t off) const;
    Bytes file_;
    std::size_t pos_ = kPcapFileHeaderSize;
    std::uint32_t linktype_ = 0;
    std::uint32_t snaplen_ = 0;
    std::uint16_t major_ = 0;
    std::uint16_t minor_ = 0;
    bool swapped_ = false;
    bool nanos_ = false;
};

// Reads a whole file into memory for PcapReader::open.
Expected<ByteVector, PcapError> read_pcap_file(const std::string& path);

}  // namespace tcpsim::link
