#define BOOST_TEST_MODULE tcp_connection_alloc
// The replaced operator new/delete below are malloc/free by design; g++ 12 sees the inlined pair
// at Boost.Test's call sites and calls it a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <boost/test/unit_test.hpp>

// Performance budget (DESIGN.md): no heap allocation per segment in steady state. Two
// Connections exchange a bulk transfer over a preallocated wire; a counting operator new proves
// that, once the transfer is under way, the engine allocates nothing at all.

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "tcp/connection.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
std::atomic<std::uint64_t> g_bytes{0};
}

void* operator new(std::size_t n) {
    ++g_allocations;
    g_bytes += n;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace tcpsim;
using namespace tcpsim::tcp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kSlots = 8192;
constexpr Duration kDelay = 1ms;

struct Slot {
    Segment seg;
    std::array<std::byte, 1600> data;
    Time at;
};

// A fixed-capacity FIFO per direction; a constant delay keeps FIFO order equal to time order.
struct Fifo {
    std::vector<Slot> slots = std::vector<Slot>(kSlots);
    std::size_t head = 0, size = 0;
    bool overflow = false;
    void push(const Segment& s, Time at) {
        if (size == kSlots) {
            overflow = true;
            return;
        }
        Slot& slot = slots[(head + size++) % kSlots];
        slot.seg = s;
        std::size_t a = s.payload.first.size();
        std::copy(s.payload.first.begin(), s.payload.first.end(), slot.data.begin());
        std::copy(s.payload.second.begin(), s.payload.second.end(), slot.data.begin() + static_cast<std::ptrdiff_t>(a));
        slot.seg.payload = Payload{Bytes(slot.data.data(), s.payload.size()), {}};
        slot.at = at;
    }
};

struct Side : ConnectionEnv {
    Fifo* out = nullptr;
    Time* now = nullptr;
    void transmit(Connection&, const Segment& seg) override { out->push(seg, *now + kDelay); }
    void state_changed(Connection&, State, State, std::string_view) override {}
    void wake(Connection&) override {}
    void deadline_changed(Connection&) override {}
};

}  // namespace

BOOST_AUTO_TEST_CASE(steady_state_bulk_transfer_allocates_nothing_per_segment) {
    Time now = kTimeZero;
    Fifo ab, ba;
    Side a, b;
    a.out = &ab;
    b.out = &ba;
    a.now = b.now = &now;
    Config cfg;
    cfg.send_buffer = 1 << 20;
    Connection ca(cfg, a), cb(cfg, b);
    FourTuple t{{Ipv4Addr(192, 0, 2, 1), 40000}, {Ipv4Addr(192, 0, 2, 2), 80}};
    ca.connect(now, t, SeqNum(1));
    bool b_open = false;

    std::vector<std::byte> src(64 * 1024), dst(64 * 1024);
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i * 31);
    const std::uint64_t total = 32ull << 20, warmup = 1ull << 20;
    std::uint64_t sent = 0, received = 0, at_warmup = 0;
    bool measuring = false;
    std::uint64_t segments_measured = 0;

    for (int step = 0; step < 10'000'000 && received < total; ++step) {
        Time next = kTimeNever;
        if (ab.size) next = std::min(next, ab.slots[ab.head].at);
        if (ba.size) next = std::min(next, ba.slots[ba.head].at);
        next = std::min({next, ca.next_deadline(), cb.next_deadline()});
        BOOST_REQUIRE(next != kTimeNever);
        now = next;
        if (ca.next_deadline() <= now) ca.on_timer(now);
        if (cb.next_deadline() <= now) cb.on_timer(now);
        if (ab.size && ab.slots[ab.head].at <= now) {
            Slot& s = ab.slots[ab.head];
            if (!b_open) {
                cb.accept_syn(now, FourTuple{t.remote, t.local}, SeqNum(100000), s.seg);
                b_open = true;
            } else {
                cb.on_segment(now, s.seg);
            }
            ab.head = (ab.head + 1) % kSlots;
            --ab.size;
            if (measuring) ++segments_measured;
        }
        if (ba.size && ba.slots[ba.head].at <= now) {
            ca.on_segment(now, ba.slots[ba.head].seg);
            ba.head = (ba.head + 1) % kSlots;
            --ba.size;
        }
        std::error_code ec;
        while (ca.state() == State::Established && sent < total) {
            std::size_t off = sent % src.size();
            std::size_t k = ca.send(now, Bytes(src.data() + off, src.size() - off), {}, ec);
            if (k == 0) break;
            sent += k;
        }
        for (;;) {
            std::size_t k = cb.receive(now, MutableBytes(dst.data(), dst.size()), {}, ec);
            if (k == 0) break;
            for (std::size_t i = 0; i < k; i += 997) BOOST_REQUIRE(dst[i] == src[(received + i) % src.size()]);
            received += k;
        }
        if (!measuring && received >= warmup) {
            measuring = true;
            at_warmup = g_allocations.load();
        }
    }
    BOOST_TEST(received == total);
    BOOST_TEST(!ab.overflow);
    BOOST_TEST(!ba.overflow);
    BOOST_TEST(segments_measured > 10000u);
    BOOST_TEST(at_warmup > 0u);  // the counter works: setting up the connections allocated
    BOOST_TEST(g_allocations.load() - at_warmup == 0u, "allocations during " << segments_measured << " segments");
}

BOOST_AUTO_TEST_CASE(half_open_child_does_not_allocate_its_buffers_until_established) {
    // A SYN flood keeps up to backlog + 256 SYN_RECV children: each must stay small. The rings
    // (SO_SNDBUF + SO_RCVBUF) come when the handshake completes.
    Time now = kTimeZero;
    Fifo wire;
    Side side;
    side.out = &wire;
    side.now = &now;
    Config cfg;  // 16 KB send + 128 KB receive buffer
    FourTuple t{{Ipv4Addr(192, 0, 2, 2), 80}, {Ipv4Addr(192, 0, 2, 1), 40000}};
    Segment syn;
    syn.src_port = 40000;
    syn.dst_port = 80;
    syn.seq = SeqNum(5000);
    syn.flags = Syn;
    syn.window = 65535;
    syn.options.mss(1460);
    std::uint64_t before = g_bytes.load();
    Connection conn(cfg, side);
    Connection* child = &conn;
    child->accept_syn(now, t, SeqNum(1), syn);
    std::uint64_t half_open = g_bytes.load() - before;
    BOOST_TEST((child->state() == State::SynRecv));
    BOOST_TEST(half_open < 8192u, "a SYN_RECV child allocated " << half_open << " bytes");
    // The handshake completes: now the buffers exist and data flows.
    Segment ack;
    ack.src_port = 40000;
    ack.dst_port = 80;
    ack.seq = SeqNum(5001);
    ack.ack = SeqNum(2);
    ack.flags = Ack;
    ack.window = 65535;
    now += 1ms;
    child->on_segment(now, ack);
    BOOST_TEST_REQUIRE((child->state() == State::Established));
    BOOST_TEST(g_bytes.load() - before >= cfg.send_buffer + cfg.receive_buffer);
    BOOST_TEST(child->send_space() == cfg.send_buffer);
    std::array<std::byte, 100> payload{};
    Segment data = ack;
    data.flags = Ack | Psh;
    data.payload = Payload{Bytes(payload.data(), payload.size()), {}};
    child->on_segment(now, data);
    BOOST_TEST(child->readable_bytes() == 100u);
}
