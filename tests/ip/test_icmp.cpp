#define BOOST_TEST_MODULE ip_icmp
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <random>

#include "ip/checksum.hpp"
#include "ip/icmp.hpp"
#include "ip/ipv4.hpp"
#include "link/base/bytes.hpp"
#include "linux_captures.hpp"

using namespace tcpsim;
using namespace tcpsim::ip;
using namespace tcpsim::testing::captures;

// `echo hi | nc -u 192.0.2.2 9` and the port unreachable it drew (see linux_captures.hpp).
const char* const kUdpToPort9 = "4500001fa07d40004011164dc0000201c0000202ad940009000b842068690a";
const char* const kPortUnreachable =
    "45c0003b706000004001859ec0000202c0000201"
    "030358ca00000000"
    "4500001fa07d40004011164dc0000201c0000202ad940009000b842068690a";

// The packet views `wire`, which must outlive it.
Ipv4Packet ip_of(const ByteVector& wire) {
    auto p = parse_ipv4(wire);
    BOOST_REQUIRE(p.has_value());
    return *p;
}

BOOST_AUTO_TEST_CASE(captured_echo_request_parses_and_reencodes) {
    ByteVector wire = from_hex(kEchoRequest);
    Ipv4Packet ip = ip_of(wire);
    auto m = parse_icmp(ip.payload);
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST((m->type == IcmpType::EchoRequest));
    BOOST_TEST(m->code == 0);
    BOOST_TEST(m->checksum == 0x91b4);
    BOOST_TEST(m->echo_id() == 0x1fdc);
    BOOST_TEST(m->echo_seq() == 1);
    BOOST_TEST(m->body.size() == 56u);
    BOOST_TEST(!m->is_error());
    BOOST_TEST(to_hex(encode_icmp(*m)) == to_hex(ip.payload));
    BOOST_TEST(to_hex(encode_icmp(IcmpMessage::echo_request(0x1fdc, 1, m->body))) == to_hex(ip.payload));
}

BOOST_AUTO_TEST_CASE(our_echo_reply_to_the_captured_request_equals_linuxs_reply) {
    ByteVector req_wire = from_hex(kEchoRequest);
    Ipv4Packet req_ip = ip_of(req_wire);
    ByteVector reply_wire = from_hex(kEchoReply);
    Ipv4Packet reply_ip = ip_of(reply_wire);
    auto req = parse_icmp(req_ip.payload);
    auto reply = parse_icmp(reply_ip.payload);
    BOOST_REQUIRE(req.has_value());
    BOOST_REQUIRE(reply.has_value());
    BOOST_TEST((reply->type == IcmpType::EchoReply));
    BOOST_TEST(reply->checksum == 0x99b4);
    BOOST_TEST(to_hex(encode_icmp(*reply)) == to_hex(reply_ip.payload));
    BOOST_TEST(to_hex(encode_icmp(IcmpMessage::echo_reply_to(*req))) == to_hex(reply_ip.payload));
}

BOOST_AUTO_TEST_CASE(captured_port_unreachable_quotes_the_udp_datagram) {
    ByteVector wire = from_hex(kPortUnreachable);
    Ipv4Packet ip = ip_of(wire);
    BOOST_TEST(ip.tos == 0xc0);
    auto m = parse_icmp(ip.payload);
    BOOST_REQUIRE(m.has_value());
    BOOST_TEST((m->type == IcmpType::DestUnreachable));
    BOOST_TEST(m->code == static_cast<std::uint8_t>(UnreachableCode::Port));
    BOOST_TEST(m->is_error());
    BOOST_TEST(to_hex(encode_icmp(*m)) == to_hex(ip.payload));
    auto q = quoted_datagram(*m);
    BOOST_REQUIRE(q.has_value());
    BOOST_TEST((q->protocol == Protocol::Udp));
    BOOST_TEST((q->src == kA));
    BOOST_TEST((q->dst == kB));
    BOOST_TEST(q->id == 0xa07d);
    BOOST_TEST(load_be16(q->payload, 0) == 44436);  // source port
    BOOST_TEST(load_be16(q->payload, 2) == 9);      // destination port
}

BOOST_AUTO_TEST_CASE(our_port_unreachable_for_the_captured_datagram_equals_linuxs_bytes) {
    ByteVector udp = from_hex(kUdpToPort9);
    Ipv4Packet original = ip_of(udp);
    BOOST_TEST(may_send_icmp_error(original));
    ByteVector icmp = encode_icmp(IcmpMessage::dest_unreachable(UnreachableCode::Port, udp));
    Ipv4Packet h = icmp_error_ipv4_header(original, kB);
    h.id = 0x7060;  // the id Linux happened to pick
    h.payload = icmp;
    BOOST_TEST(to_hex(encode_ipv4(h)) == to_hex(from_hex(kPortUnreachable)));
}

BOOST_AUTO_TEST_CASE(fragmentation_needed_carries_the_next_hop_mtu) {
    Ipv4Packet orig{.dont_fragment = true, .protocol = Protocol::Tcp, .src = kA, .dst = kB};  // no missing-initializer warning
    ByteVector payload(1480, std::byte{0x5a});
    orig.payload = payload;
    ByteVector wire = encode_ipv4(orig);
    IcmpMessage m = IcmpMessage::dest_unreachable(UnreachableCode::FragmentationNeeded, wire, 1400);
    BOOST_TEST(m.next_hop_mtu() == 1400);
    // Linux quotes as much as fits in 576 bytes: 548 bytes of the original.
    BOOST_TEST(m.body.size() == kIcmpErrorQuoteMax);
    BOOST_TEST(kIcmpErrorQuoteMax == 548u);
    ByteVector bytes = encode_icmp(m);
    BOOST_TEST(to_hex(Bytes(bytes).first(8)).substr(0, 4) == "0304");
    BOOST_TEST(to_hex(Bytes(bytes).subspan(4, 4)) == "00000578");
    auto back = parse_icmp(bytes);
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST(back->next_hop_mtu() == 1400);
    auto q = quoted_datagram(*back);
    BOOST_REQUIRE(q.has_value());
    BOOST_TEST(q->total_length == 1500);
    BOOST_TEST(q->payload.size() == 528u);
    BOOST_TEST(q->dont_fragment);
    // Other codes leave the field zero even if an MTU is passed.
    BOOST_TEST(IcmpMessage::dest_unreachable(UnreachableCode::Host, wire, 1400).rest == 0u);
}

BOOST_AUTO_TEST_CASE(quote_stops_at_the_total_length_not_at_padding) {
    ByteVector padded = from_hex(kUdpToPort9);
    padded.resize(46, std::byte{0});  // as received in a 60-byte Ethernet frame
    IcmpMessage m = IcmpMessage::dest_unreachable(UnreachableCode::Port, padded);
    BOOST_TEST(m.body.size() == 31u);
}

BOOST_AUTO_TEST_CASE(time_exceeded_round_trips) {
    ByteVector orig = from_hex(kEchoRequest);
    IcmpMessage m = IcmpMessage::time_exceeded(TimeExceededCode::ReassemblyTimeExceeded, orig);
    ByteVector bytes = encode_icmp(m);
    BOOST_TEST(to_hex(Bytes(bytes).first(2)) == "0b01");
    BOOST_TEST(bytes.size() == 8u + 84u);
    auto back = parse_icmp(bytes);
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST((back->type == IcmpType::TimeExceeded));
    BOOST_TEST(back->code == 1);
    BOOST_TEST(to_hex(encode_icmp(*back)) == to_hex(bytes));
    auto q = quoted_datagram(*back);
    BOOST_REQUIRE(q.has_value());
    BOOST_TEST(q->id == 0x7c71);
}

BOOST_AUTO_TEST_CASE(odd_length_echo_data_checksums_correctly) {
    ByteVector data = from_hex("616263");
    ByteVector bytes = encode_icmp(IcmpMessage::echo_request(7, 9, data));
    BOOST_TEST(to_hex(bytes).substr(0, 4) == "0800");
    BOOST_TEST(internet_checksum(bytes) == 0);
    // Hand sum: 0800 + 0007 + 0009 + 6162 + 6300 = 0xcc72 -> checksum 0x338d.
    BOOST_TEST(load_be16(bytes, 2) == 0x338d);
}

IcmpError error_of(const ByteVector& wire, bool verify = true) {
    auto m = parse_icmp(wire, verify);
    BOOST_REQUIRE(!m.has_value());
    return m.error();
}

IcmpError quote_error_of(const IcmpMessage& m) {
    auto q = quoted_datagram(m);
    BOOST_REQUIRE(!q.has_value());
    return q.error();
}

BOOST_AUTO_TEST_CASE(each_malformed_message_yields_its_typed_error) {
    BOOST_TEST((error_of(from_hex("08000000000000")) == IcmpError::TooShort));
    BOOST_TEST((error_of({}) == IcmpError::TooShort));
    ByteVector bad = from_hex(kEchoRequest);
    bad.erase(bad.begin(), bad.begin() + 20);
    bad[10] = std::byte{0xff};
    BOOST_TEST((error_of(bad) == IcmpError::BadChecksum));
    BOOST_TEST(parse_icmp(bad, /*verify_checksum=*/false).has_value());

    ByteVector udp = from_hex(kUdpToPort9);
    auto echo = IcmpMessage::echo_request(1, 1, udp);
    BOOST_TEST((quote_error_of(echo) == IcmpError::NotAnError));

    // Header + 7 bytes of a longer datagram: too short (RFC 792 wants 8).
    auto short_quote = IcmpMessage::dest_unreachable(UnreachableCode::Port, Bytes(udp).first(27));
    BOOST_TEST((quote_error_of(short_quote) == IcmpError::QuoteTooShort));
    auto tiny = IcmpMessage::dest_unreachable(UnreachableCode::Port, Bytes(udp).first(12));
    BOOST_TEST((quote_error_of(tiny) == IcmpError::QuoteTooShort));

    ByteVector v6 = udp;
    v6[0] = std::byte{0x60};
    auto bad_quote = IcmpMessage::dest_unreachable(UnreachableCode::Port, v6);
    BOOST_TEST((quote_error_of(bad_quote) == IcmpError::BadQuotedDatagram));

    // A datagram shorter than header + 8 is fine when quoted whole.
    Ipv4Packet small{.protocol = Protocol::Udp, .src = kA, .dst = kB, .options = {}, .payload = {}};
    ByteVector three = from_hex("010203");
    small.payload = three;
    ByteVector small_wire = encode_ipv4(small);
    auto whole = quoted_datagram(IcmpMessage::dest_unreachable(UnreachableCode::Port, small_wire));
    BOOST_REQUIRE(whole.has_value());
    BOOST_TEST(whole->payload.size() == 3u);
}

BOOST_AUTO_TEST_CASE(no_icmp_errors_about_errors_broadcasts_or_later_fragments) {
    ByteVector udp = from_hex(kUdpToPort9);
    Ipv4Packet ok = ip_of(udp);
    BOOST_TEST(may_send_icmp_error(ok));
    BOOST_TEST(!may_send_icmp_error(ok, /*link_broadcast=*/true));

    Ipv4Packet p = ok;
    p.dst = Ipv4Addr::broadcast();
    BOOST_TEST(!may_send_icmp_error(p));
    p = ok;
    p.dst = Ipv4Addr{224, 0, 0, 1};
    BOOST_TEST(!may_send_icmp_error(p));
    p = ok;
    p.fragment_offset = 185;
    BOOST_TEST(!may_send_icmp_error(p));
    p = ok;
    p.more_fragments = true;  // the first fragment may be answered
    BOOST_TEST(may_send_icmp_error(p));
    for (Ipv4Addr bad_src : {Ipv4Addr{0u}, Ipv4Addr{127, 0, 0, 1}, Ipv4Addr{224, 0, 0, 5}, Ipv4Addr{240, 0, 0, 1}}) {
        p = ok;
        p.src = bad_src;
        BOOST_TEST(!may_send_icmp_error(p), bad_src.to_string());
    }

    ByteVector unreach_wire = from_hex(kPortUnreachable);
    Ipv4Packet unreach = ip_of(unreach_wire);
    BOOST_TEST(!may_send_icmp_error(unreach));
    ByteVector echo_wire = from_hex(kEchoRequest);
    Ipv4Packet echo = ip_of(echo_wire);
    BOOST_TEST(may_send_icmp_error(echo));
}

BOOST_AUTO_TEST_CASE(random_messages_and_quotes_never_read_out_of_bounds) {
    std::mt19937 rng(792);
    ByteVector good = from_hex(kPortUnreachable);
    good.erase(good.begin(), good.begin() + 20);
    for (int round = 0; round < 20000; ++round) {
        ByteVector wire = good;
        for (int flips = 1 + rng() % 4; flips > 0; --flips) wire[rng() % wire.size()] = std::byte(rng() & 0xff);
        wire.resize(rng() % (wire.size() + 1));
        auto m = parse_icmp(wire, /*verify_checksum=*/false);
        if (!m) {
            BOOST_TEST(wire.size() < kIcmpHeaderSize);
            continue;
        }
        BOOST_TEST(m->body.size() + kIcmpHeaderSize == wire.size());
        auto q = quoted_datagram(*m);
        if (!q) continue;
        BOOST_TEST(q->payload.data() + q->payload.size() <= wire.data() + wire.size());
        BOOST_TEST((q->payload.size() >= 8u || q->header_size() + q->payload.size() == q->total_length));
    }
}

BOOST_AUTO_TEST_CASE(error_builder_picks_the_message_for_the_type) {
    const ByteVector original = from_hex(kUdpToPort9);
    const auto te = IcmpMessage::error(IcmpType::TimeExceeded, 1, original);
    BOOST_TEST((te.type == IcmpType::TimeExceeded));
    BOOST_TEST(te.code == 1);
    BOOST_TEST(to_hex(te.body) == to_hex(IcmpMessage::time_exceeded(TimeExceededCode::ReassemblyTimeExceeded, original).body));
    const auto du = IcmpMessage::error(IcmpType::DestUnreachable, 4, original, 1280);
    BOOST_TEST((du.type == IcmpType::DestUnreachable));
    BOOST_TEST(du.next_hop_mtu() == 1280);
    BOOST_TEST(du.rest == IcmpMessage::dest_unreachable(UnreachableCode::FragmentationNeeded, original, 1280).rest);
}

BOOST_AUTO_TEST_CASE(unreachable_codes_map_to_linux_errnos_and_names) {
    BOOST_TEST(unreachable_errno(0) == ENETUNREACH);
    BOOST_TEST(unreachable_errno(1) == EHOSTUNREACH);
    BOOST_TEST(unreachable_errno(2) == ENOPROTOOPT);
    BOOST_TEST(unreachable_errno(3) == ECONNREFUSED);
    BOOST_TEST(unreachable_errno(4) == EMSGSIZE);
    BOOST_TEST(unreachable_errno(7) == EHOSTDOWN);
    BOOST_TEST(unreachable_errno(16) == 0);
    BOOST_TEST(icmp_error_text(3, 3) == "ICMP port unreachable");
    BOOST_TEST(icmp_error_text(11, 0) == "ICMP time exceeded");
    BOOST_TEST(icmp_error_text(3, 13) == "ICMP unreachable code 13");
}
