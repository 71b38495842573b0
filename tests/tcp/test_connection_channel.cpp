#define BOOST_TEST_MODULE tcp_connection_channel
#include <boost/test/unit_test.hpp>

// Property test: two Connections joined by an in-memory channel that loses, duplicates, delays
// and reorders segments (seeded), in virtual time. Whatever the channel does, each side must
// receive the other's bytes exactly, both must close, and no stall may outlast what the RTO
// rules (RFC 6298 backoff up to rto_max) explain.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "tcp/connection.hpp"

using namespace tcpsim;
using namespace tcpsim::tcp;
using namespace std::chrono_literals;

namespace {

struct Impairment {
    double loss = 0.0;
    double duplicate = 0.0;
    double reorder = 0.0;        // probability of an extra random delay
    Duration delay = 10ms;       // one way
    Duration jitter = 30ms;      // extra delay of a reordered segment, uniform in [0, jitter)
    std::uint64_t bandwidth_bps = 0;  // 0 = unlimited; else a serializing bottleneck per direction
};

struct Packet {
    Segment seg;
    std::vector<std::byte> data;
};

struct Event {
    Time at;
    std::uint64_t order;
    int dst;
    std::shared_ptr<Packet> pkt;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : order > o.order; }
};

// Longest silence RFC 6298 allows with k consecutive timeouts: the RTO in force when the stall
// began, doubling on each expiry (5.5), capped at rto_max.
Duration allowed_gap(int timeouts, Duration rto, const Config& cfg) {
    Duration total{}, r = rto;
    for (int i = 0; i <= timeouts; ++i) {
        total += r;
        r = std::min(r * 2, cfg.rto_max);
    }
    return total + 1s;  // path delay and jitter
}

class World;

struct Node : ConnectionEnv {
    World* world = nullptr;
    int id = 0;
    Config cfg;
    std::unique_ptr<Connection> conn;
    std::string to_send;
    std::size_t sent_bytes = 0;
    std::string received;
    bool eof = false;
    bool closed_called = false;
    int rto_fired = 0;
    std::vector<State> states;
    std::string log;  // state changes with causes, for failure messages

    void transmit(Connection&, const Segment& seg) override;
    void state_changed(Connection&, State from, State to, std::string_view cause) override;
    void wake(Connection&) override {}
    void deadline_changed(Connection&) override {}
    void timer_fired(Connection&, TimerKind k) override {
        if (k == TimerKind::Retransmission) ++rto_fired;
    }
};

class World {
public:
    World(std::uint64_t seed, Impairment imp, Config cfg) : rng(seed), imp(imp) {
        for (int i = 0; i < 2; ++i) {
            nodes[i].world = this;
            nodes[i].id = i;
            nodes[i].cfg = cfg;
            nodes[i].conn = std::make_unique<Connection>(cfg, nodes[i]);
        }
    }

    std::mt19937_64 rng;
    Impairment imp;
    Node nodes[2];
    Time now = kTimeZero;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> queue;
    std::uint64_t order = 0;
    Time link_free[2] = {kTimeZero, kTimeZero};
    bool b_created = false;
    FourTuple a_tuple{{Ipv4Addr(192, 0, 2, 1), 40000}, {Ipv4Addr(192, 0, 2, 2), 80}};
    std::uint64_t segments = 0;
    bool trace = std::getenv("TCPSIM_CHANNEL_TRACE") != nullptr;

    double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng); }

    void send(int from, const Segment& seg) {
        ++segments;
        auto pkt = std::make_shared<Packet>();
        pkt->seg = seg;
        pkt->data.resize(seg.payload.size());
        std::copy(seg.payload.first.begin(), seg.payload.first.end(), pkt->data.begin());
        std::copy(seg.payload.second.begin(), seg.payload.second.end(), pkt->data.begin() + static_cast<std::ptrdiff_t>(seg.payload.first.size()));
        pkt->seg.payload = Payload{Bytes(pkt->data.data(), pkt->data.size()), {}};
        Time depart = now;
        if (imp.bandwidth_bps) {
            depart = std::max(now, link_free[from]);
            auto ser = std::chrono::nanoseconds((seg.wire_size() + 20) * 8 * 1'000'000'000ull / imp.bandwidth_bps);
            link_free[from] = depart + ser;
            depart += ser;
        }
        if (uniform() < imp.loss) return;
        int copies = uniform() < imp.duplicate ? 2 : 1;
        for (int i = 0; i < copies; ++i) {
            Duration d = imp.delay;
            if (uniform() < imp.reorder)
                d += std::chrono::nanoseconds(static_cast<std::int64_t>(uniform() * static_cast<double>(imp.jitter.count())));
            queue.push(Event{depart + d, order++, 1 - from, pkt});
        }
    }

    void deliver(int dst, const Segment& seg) {
        Node& n = nodes[dst];
        if (trace)
            std::fprintf(stderr, "%lld %c> %s seq %u ack %u win %u len %zu\n", static_cast<long long>(to_micros(now)),
                         dst ? 'B' : 'A', seg.flags.to_tcpdump().c_str(), seg.seq.raw(), seg.ack.raw(), seg.window,
                         seg.payload.size());
        if (dst == 1 && !b_created) {
            if (listen_reply(seg) != ListenAction::NewConnection) return;
            FourTuple t{a_tuple.remote, a_tuple.local};
            n.conn->accept_syn(now, t, SeqNum(0xfffff000u), seg);  // ISS near the wrap on purpose
            b_created = true;
            return;
        }
        n.conn->on_segment(now, seg);
    }

    void pump_apps() {
        for (Node& n : nodes) {
            Connection& c = *n.conn;
            if (&n == &nodes[1] && !b_created) continue;
            State s = c.state();
            if (s == State::Established || s == State::CloseWait) {
                while (n.sent_bytes < n.to_send.size()) {
                    std::error_code ec;
                    std::size_t k = c.send(now, as_bytes(std::string_view(n.to_send).substr(n.sent_bytes)), {}, ec);
                    if (k == 0) break;
                    n.sent_bytes += k;
                }
                if (n.sent_bytes == n.to_send.size() && !n.closed_called) {
                    n.closed_called = true;
                    c.shutdown_send(now);
                }
            }
            for (;;) {
                char buf[65536];
                std::error_code ec;
                std::size_t k = c.receive(now, std::as_writable_bytes(std::span(buf, sizeof buf)), {}, ec);
                if (k == 0) {
                    if (!ec && c.at_eof()) n.eof = true;
                    break;
                }
                n.received.append(buf, k);
            }
        }
    }

    bool done() const {
        for (const Node& n : nodes) {
            State s = n.conn->state();
            if (!(s == State::Closed || s == State::TimeWait)) return false;
        }
        return b_created;
    }

    // Runs until both sides are done; returns false on a stall longer than `max_gap`.
    struct Result {
        bool finished = false;
        Duration longest_gap{};
        int timeouts_in_longest_gap = 0;  // retransmission timeouts that fired during that stall
        Duration worst_unexplained{};     // longest stall beyond what its timeouts explain (0: none)
        Time end{};
    };
    Result run(Time limit) {
        Result r;
        nodes[0].conn->connect(now, a_tuple, SeqNum(0x7ffffff0u));
        Time last_progress = now;
        std::size_t progress = 0;
        int timeouts_at_progress = 0;
        Duration rto_at_progress = nodes[0].cfg.rto_initial;
        while (!done()) {
            Time next = kTimeNever;
            if (!queue.empty()) next = queue.top().at;
            for (Node& n : nodes) next = std::min(next, n.conn->next_deadline());
            if (next == kTimeNever || next > limit) break;
            now = next;
            bool fired = false;
            for (Node& n : nodes) {
                if (n.conn->next_deadline() <= now) {
                    n.conn->on_timer(now);
                    fired = true;
                }
            }
            if (!fired) {
                Event e = queue.top();
                queue.pop();
                deliver(e.dst, e.pkt->seg);
            }
            pump_apps();
            std::size_t p = nodes[0].received.size() + nodes[1].received.size() + (nodes[0].eof ? 1 : 0) + (nodes[1].eof ? 1 : 0);
            if (p != progress) {
                // Each stall must be explained by the RTO backoff chain of the timeouts that
                // fired during it (RFC 6298 5.5: the timer doubles on each expiry).
                Duration gap = now - last_progress;
                int k = nodes[0].rto_fired + nodes[1].rto_fired - timeouts_at_progress;
                if (gap > r.longest_gap) {
                    r.longest_gap = gap;
                    r.timeouts_in_longest_gap = k;
                }
                Duration excess = gap - allowed_gap(std::min(k, 15), rto_at_progress, nodes[0].cfg);
                r.worst_unexplained = std::max(r.worst_unexplained, excess);
                progress = p;
                last_progress = now;
                timeouts_at_progress = nodes[0].rto_fired + nodes[1].rto_fired;
                rto_at_progress = Duration::zero();
                for (Node& n : nodes)
                    if (n.conn->state() != State::Closed)
                        rto_at_progress = std::max(rto_at_progress, Duration(std::chrono::microseconds(n.conn->info(now).rto_us)));
            }
        }
        r.finished = done();
        r.end = now;
        return r;
    }
};

void Node::transmit(Connection&, const Segment& seg) { world->send(id, seg); }
void Node::state_changed(Connection&, State from, State to, std::string_view cause) {
    states.push_back(to);
    log += std::to_string(to_micros(world->now)) + "us " + to_string(from) + "->" + to_string(to) + " (" + std::string(cause) + "); ";
}

std::size_t first_difference(const std::string& a, const std::string& b) {
    auto m = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    return static_cast<std::size_t>(m.first - a.begin());
}

std::string pattern(std::size_t n, std::uint64_t seed) {
    std::string s(n, '\0');
    std::mt19937_64 g(seed);
    for (auto& ch : s) ch = static_cast<char>(g());
    return s;
}

void transfer(std::uint64_t seed, Impairment imp, std::size_t a_bytes, std::size_t b_bytes, Config cfg = {}) {
    World w(seed, imp, cfg);
    w.nodes[0].to_send = pattern(a_bytes, seed * 2 + 1);
    w.nodes[1].to_send = pattern(b_bytes, seed * 2 + 2);
    auto r = w.run(kTimeZero + 3600s);
    BOOST_TEST_CONTEXT("seed " << seed << " loss " << imp.loss << " dup " << imp.duplicate << " reorder " << imp.reorder) {
        BOOST_TEST(r.finished);
        BOOST_TEST(w.nodes[1].received.size() == a_bytes);
        BOOST_TEST((w.nodes[1].received == w.nodes[0].to_send),
                   "first difference at " << first_difference(w.nodes[1].received, w.nodes[0].to_send));
        BOOST_TEST(w.nodes[0].received.size() == b_bytes);
        BOOST_TEST((w.nodes[0].received == w.nodes[1].to_send),
                   "first difference at " << first_difference(w.nodes[0].received, w.nodes[1].to_send));
        BOOST_TEST(w.nodes[0].eof, "A: " << w.nodes[0].log << " B: " << w.nodes[1].log);
        BOOST_TEST(w.nodes[1].eof);
        BOOST_TEST(r.worst_unexplained == Duration::zero(),
                   "a stall outlasted its RTO backoff chain by " << to_micros(r.worst_unexplained)
                       << " us (longest stall " << to_micros(r.longest_gap) << " us with "
                       << r.timeouts_in_longest_gap << " timeouts in it)");
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(clean_channel_transfers_both_ways_byte_identical) {
    transfer(1, Impairment{}, 1 << 20, 256 << 10);
}

BOOST_AUTO_TEST_CASE(lossy_duplicating_reordering_channel_transfers_1mib_over_many_seeds) {
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        Impairment imp;
        imp.loss = 0.01 + 0.04 * static_cast<double>(seed % 5) / 4.0;  // 1% .. 5%
        imp.duplicate = 0.02;
        imp.reorder = 0.05;
        imp.bandwidth_bps = (seed % 2) ? 50'000'000 : 0;
        transfer(seed, imp, 1 << 20, 64 << 10);
    }
}

BOOST_AUTO_TEST_CASE(without_sack_or_timestamps_lossy_transfer_still_completes) {
    Config cfg;
    cfg.sack = false;
    cfg.timestamps = false;
    for (std::uint64_t seed = 100; seed < 116; ++seed) {
        if (std::getenv("TCPSIM_SEED") && std::to_string(seed) != std::getenv("TCPSIM_SEED")) continue;
        Impairment imp;
        imp.loss = 0.03;
        imp.duplicate = 0.01;
        imp.reorder = 0.05;
        imp.bandwidth_bps = 20'000'000;
        transfer(seed, imp, 1 << 20, 32 << 10, cfg);
    }
}

BOOST_AUTO_TEST_CASE(heavy_loss_transfer_completes) {
    for (std::uint64_t seed = 200; seed < 204; ++seed) {
        Impairment imp;
        imp.loss = 0.2;
        imp.reorder = 0.1;
        transfer(seed, imp, 128 << 10, 16 << 10);
    }
}

BOOST_AUTO_TEST_CASE(long_transfer_64mib_over_a_bottleneck) {
    Config cfg;
    cfg.send_buffer = 1 << 20;
    cfg.receive_buffer = 2 << 20;
    Impairment imp;
    imp.loss = 0.001;
    imp.bandwidth_bps = 1'000'000'000;
    imp.delay = 5ms;
    transfer(7, imp, 64 << 20, 0, cfg);
}

// 64 MiB through a lossy, duplicating, reordering bottleneck, over several seeds: long enough for
// sequence numbers to travel far (ISS near the wrap on one side), for cwnd to grow into window
// scaling territory, and for many independent recovery episodes per run.
BOOST_AUTO_TEST_CASE(lossy_duplicating_reordering_channel_transfers_64mib_over_many_seeds) {
    Config cfg;
    cfg.send_buffer = 1 << 20;
    cfg.receive_buffer = 2 << 20;
    for (std::uint64_t seed = 300; seed < 308; ++seed) {
        if (std::getenv("TCPSIM_SEED") && std::to_string(seed) != std::getenv("TCPSIM_SEED")) continue;
        Impairment imp;
        imp.loss = 0.001 * static_cast<double>(1 + (seed % 4) * 6);  // 0.1% .. 1.9%
        imp.duplicate = 0.002;
        imp.reorder = 0.005 * static_cast<double>(1 + seed % 3);     // 0.5% .. 1.5%
        imp.delay = 5ms;
        imp.jitter = 10ms;
        imp.bandwidth_bps = (seed % 2) ? 1'000'000'000 : 100'000'000;
        transfer(seed, imp, 64 << 20, 1 << 20, cfg);
    }
}
