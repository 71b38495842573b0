#define BOOST_TEST_MODULE link_pcap
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#include "link/base/bytes.hpp"
#include "link/capture/pcap.hpp"

using namespace tcpsim;
using namespace tcpsim::link;

// Frames captured from Linux (veth between two namespaces, 192.0.2.1/24 and 192.0.2.2/24,
// `ping -c 1 192.0.2.2`, `tcpdump -i vA -w`): an ARP request and an ICMP echo request.
const char* const kArpRequestFrame =
    "fffffffffffffa20a3949dd708060001080006040001fa20a3949dd7c0000201000000000000c0000202";
const char* const kEchoRequestFrame =
    "2a929089978cfa20a3949dd70800450000547c71400040013a34c0000201c0000202"
    "080091b41fdc00014bd4016b000000002d5c0d0000000000"
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
// The 24-byte file header tcpdump 4.99 wrote for that capture (little-endian host).
const char* const kTcpdumpFileHeader = "d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000";

std::string write_two_frames() {
    std::ostringstream out;
    PcapWriter w(out);
    w.write(kTimeZero, from_hex(kArpRequestFrame));
    w.write(kTimeZero + 1s + 250us, from_hex(kEchoRequestFrame));
    BOOST_TEST(w.ok());
    BOOST_TEST(w.records() == 2u);
    return out.str();
}

Bytes bytes_of(const std::string& s) { return as_bytes(s); }

BOOST_AUTO_TEST_CASE(file_header_matches_what_tcpdump_writes) {
    std::string file = write_two_frames();
    BOOST_REQUIRE(file.size() >= 24u);
    BOOST_TEST(to_hex(bytes_of(file).first(24)) == to_hex(from_hex(kTcpdumpFileHeader)));
}

BOOST_AUTO_TEST_CASE(records_have_exact_headers_and_bytes) {
    std::string file = write_two_frames();
    Bytes b = bytes_of(file);
    // First record: 0.000000, 42 captured of 42.
    BOOST_TEST(to_hex(b.subspan(24, 16)) == "00000000000000002a0000002a000000");
    BOOST_TEST(to_hex(b.subspan(40, 42)) == to_hex(from_hex(kArpRequestFrame)));
    // Second record: 1.000250, 98 of 98.
    BOOST_TEST(to_hex(b.subspan(82, 16)) == "01000000fa0000006200000062000000");
    BOOST_TEST(file.size() == 24u + 16u + 42u + 16u + 98u);
}

BOOST_AUTO_TEST_CASE(reader_yields_what_the_writer_wrote) {
    std::string file = write_two_frames();
    auto r = PcapReader::open(bytes_of(file));
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->linktype() == kLinktypeEthernet);
    BOOST_TEST(r->snaplen() == 262144u);
    BOOST_TEST(r->version_major() == 2);
    BOOST_TEST(r->version_minor() == 4);
    BOOST_TEST(!r->nanosecond());
    auto a = r->next();
    BOOST_REQUIRE(a.has_value());
    BOOST_REQUIRE(a->has_value());
    BOOST_TEST(((*a)->time == kTimeZero));
    BOOST_TEST(to_hex((*a)->data) == to_hex(from_hex(kArpRequestFrame)));
    BOOST_TEST((*a)->original_length == 42u);
    auto b = r->next();
    BOOST_REQUIRE(b.has_value());
    BOOST_REQUIRE(b->has_value());
    BOOST_TEST(((*b)->time == kTimeZero + 1000250us));
    BOOST_TEST(to_hex((*b)->data) == to_hex(from_hex(kEchoRequestFrame)));
    auto end = r->next();
    BOOST_REQUIRE(end.has_value());
    BOOST_TEST(!end->has_value());
}

BOOST_AUTO_TEST_CASE(timestamps_truncate_to_microseconds_and_clamp_at_zero) {
    std::ostringstream out;
    PcapWriter w(out);
    ByteVector f = from_hex(kArpRequestFrame);
    w.write(kTimeZero + 2s + 999999999ns, f);  // 2.999999999 -> 2.999999
    w.write(kTimeZero - 5ms, f);               // before the run started -> 0.000000
    std::string file = out.str();
    auto r = PcapReader::open(bytes_of(file));
    BOOST_REQUIRE(r.has_value());
    auto a = r->next();
    BOOST_REQUIRE((a.has_value() && a->has_value()));
    BOOST_TEST(((*a)->time == kTimeZero + 2999999us));
    auto b = r->next();
    BOOST_REQUIRE((b.has_value() && b->has_value()));
    BOOST_TEST(((*b)->time == kTimeZero));
}

BOOST_AUTO_TEST_CASE(frames_longer_than_the_snaplen_are_cut_keeping_the_wire_length) {
    std::ostringstream out;
    PcapWriter w(out, kLinktypeEthernet, 64);
    w.write(kTimeZero, from_hex(kEchoRequestFrame));
    std::string file = out.str();
    BOOST_TEST(file.size() == 24u + 16u + 64u);
    auto r = PcapReader::open(bytes_of(file));
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->snaplen() == 64u);
    auto a = r->next();
    BOOST_REQUIRE((a.has_value() && a->has_value()));
    BOOST_TEST((*a)->data.size() == 64u);
    BOOST_TEST((*a)->original_length == 98u);
}

BOOST_AUTO_TEST_CASE(big_endian_and_nanosecond_files_are_read) {
    // Written by hand as a big-endian host with nanosecond resolution would: 1.5 s, 2 bytes.
    ByteVector file = from_hex(
        "a1b23c4d 0002 0004 00000000 00000000 00040000 00000001"
        "00000001 1dcd6500 00000002 00000002 abcd");
    auto r = PcapReader::open(file);
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(r->swapped());
    BOOST_TEST(r->nanosecond());
    BOOST_TEST(r->linktype() == 1u);
    auto a = r->next();
    BOOST_REQUIRE((a.has_value() && a->has_value()));
    BOOST_TEST(((*a)->time == kTimeZero + 1500ms));
    BOOST_TEST(to_hex((*a)->data) == "abcd");
}

PcapError open_error(const ByteVector& file) {
    auto r = PcapReader::open(file);
    BOOST_REQUIRE(!r.has_value());
    return r.error();
}

PcapError first_record_error(const ByteVector& file) {
    auto r = PcapReader::open(file);
    BOOST_REQUIRE(r.has_value());
    auto rec = r->next();
    BOOST_REQUIRE(!rec.has_value());
    return rec.error();
}

BOOST_AUTO_TEST_CASE(each_damaged_file_yields_its_typed_error) {
    std::string good_s = write_two_frames();
    ByteVector good = to_vector(bytes_of(good_s));
    auto prefix = [&](std::size_t n) { return ByteVector(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)); };

    BOOST_TEST((open_error(prefix(23)) == PcapError::TruncatedFileHeader));
    BOOST_TEST((open_error({}) == PcapError::TruncatedFileHeader));
    // pcapng's section header block magic.
    ByteVector pcapng = good;
    store_be32(pcapng, 0, 0x0a0d0d0a);
    BOOST_TEST((open_error(pcapng) == PcapError::BadMagic));
    ByteVector v1 = good;
    v1[4] = std::byte{1};
    BOOST_TEST((open_error(v1) == PcapError::UnsupportedVersion));

    BOOST_TEST((first_record_error(prefix(24 + 15)) == PcapError::TruncatedRecordHeader));
    BOOST_TEST((first_record_error(prefix(24 + 16 + 41)) == PcapError::TruncatedRecordData));
    ByteVector too_long = good;
    too_long[24 + 8 + 3] = std::byte{0x7f};  // caplen 0x7f00002a
    BOOST_TEST((first_record_error(too_long) == PcapError::RecordTooLong));
    ByteVector bad_us = good;
    store_be32(bad_us, 24 + 4, 0x40420f00);  // 1000000 little-endian
    BOOST_TEST((first_record_error(bad_us) == PcapError::BadTimestamp));

    // A file cut inside the second record: the first record still reads, then the error.
    ByteVector cut = prefix(good.size() - 1);
    auto r = PcapReader::open(cut);
    BOOST_REQUIRE(r.has_value());
    auto first = r->next();
    BOOST_REQUIRE((first.has_value() && first->has_value()));
    auto second = r->next();
    BOOST_REQUIRE(!second.has_value());
    BOOST_TEST((second.error() == PcapError::TruncatedRecordData));

    // A header alone is a valid, empty capture.
    ByteVector header_only = prefix(24);
    auto empty = PcapReader::open(header_only);
    BOOST_REQUIRE(empty.has_value());
    auto none = empty->next();
    BOOST_REQUIRE(none.has_value());
    BOOST_TEST(!none->has_value());

    BOOST_TEST(!read_pcap_file("/nonexistent/tcpsim/x.pcap").has_value());
}

// Runs a shell command, returning its exit status and standard output.
std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return {-1, out};
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    return {status, out};
}

BOOST_AUTO_TEST_CASE(tcpdump_reads_our_file_and_we_read_tcpdumps) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("tcpsim_test_pcap_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string ours = (dir / "ours.pcap").string();
    {
        PcapWriter w(ours);
        BOOST_REQUIRE(w.ok());
        w.write(kTimeZero, from_hex(kArpRequestFrame));
        w.write(kTimeZero + 1s + 250us, from_hex(kEchoRequestFrame));
        w.flush();
        BOOST_TEST(w.ok());
    }
    auto loaded = read_pcap_file(ours);
    BOOST_REQUIRE(loaded.has_value());
    BOOST_TEST(loaded->size() == 24u + 16u + 42u + 16u + 98u);

    if (run("command -v tcpdump >/dev/null 2>&1").first != 0) {
        BOOST_TEST_MESSAGE("tcpdump not installed: skipping the cross-check with tcpdump -r");
        fs::remove_all(dir);
        return;
    }
    auto [status, text] = run("tcpdump -nn -tt -r " + ours + " 2>/dev/null");
    BOOST_TEST(status == 0);
    BOOST_TEST(text.find("0.000000 ARP, Request who-has 192.0.2.2 tell 192.0.2.1, length 28") != std::string::npos, text);
    BOOST_TEST(text.find("1.000250 IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 8156, seq 1, length 64") != std::string::npos, text);

    // Wireshark's dissectors, with IPv4 and ICMP checksum validation on.
    if (run("command -v tshark >/dev/null 2>&1").first == 0) {
        auto [tstatus, ttext] = run("tshark -n -r " + ours + " -o ip.check_checksum:TRUE -V 2>/dev/null");
        BOOST_TEST(tstatus == 0);
        BOOST_TEST(ttext.find("Echo (ping) request") != std::string::npos, ttext);
        BOOST_TEST(ttext.find("[Checksum Status: Good]") != std::string::npos);
        BOOST_TEST(ttext.find("Malformed") == std::string::npos, ttext);
        BOOST_TEST(ttext.find("Bad]") == std::string::npos, ttext);
    } else {
        BOOST_TEST_MESSAGE("tshark not installed: skipping the Wireshark cross-check");
    }

    // libpcap's own writer, read back by our reader.
    std::string theirs = (dir / "theirs.pcap").string();
    BOOST_TEST(run("tcpdump -r " + ours + " -w " + theirs + " 2>/dev/null").first == 0);
    auto their_bytes = read_pcap_file(theirs);
    BOOST_REQUIRE(their_bytes.has_value());
    auto r = PcapReader::open(*their_bytes);
    BOOST_REQUIRE(r.has_value());
    int count = 0;
    for (;;) {
        auto rec = r->next();
        BOOST_REQUIRE(rec.has_value());
        if (!rec->has_value()) break;
        ++count;
        if (count == 2) {
            BOOST_TEST(((*rec)->time == kTimeZero + 1000250us));
            BOOST_TEST(to_hex((*rec)->data) == to_hex(from_hex(kEchoRequestFrame)));
        }
    }
    BOOST_TEST(count == 2);
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(mutated_files_end_in_records_or_typed_errors_never_out_of_bounds) {
    std::mt19937 rng(2024);
    std::string good_s = write_two_frames();
    ByteVector good = to_vector(bytes_of(good_s));
    for (int round = 0; round < 5000; ++round) {
        ByteVector file = good;
        for (int flips = 1 + rng() % 4; flips > 0; --flips) file[rng() % file.size()] = std::byte(rng() & 0xff);
        file.resize(rng() % (file.size() + 1));
        auto r = PcapReader::open(file);
        if (!r) continue;
        for (int i = 0; i < 10; ++i) {  // at most two records fit; bounded anyway
            auto rec = r->next();
            if (!rec || !rec->has_value()) break;
            Bytes d = (*rec)->data;
            BOOST_TEST(d.data() >= file.data());
            BOOST_TEST(d.data() + d.size() <= file.data() + file.size());
        }
    }
}
