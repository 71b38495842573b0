// Segment transcripts for the TCP engine (STYLE.md item 7): a fake ConnectionEnv records what the
// connection transmits and every state change; tests deliver segments at explicit virtual times
// and expect exactly the replies (or silence). Timers run in virtual time: deliver()/advance()
// fire every deadline that falls before the new time, in order.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <deque>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tcp/connection.hpp"

namespace tcpsim::tcp {
inline std::ostream& operator<<(std::ostream& o, State s) { return o << to_string(s); }
}  // namespace tcpsim::tcp

namespace tcpsim::tcp::test {

inline Time at(Duration d) { return kTimeZero + d; }

// A segment from the peer. Fields in Segment order so designated initializers read naturally.
struct In {
    SeqNum seq{};
    SeqNum ack{};
    Flags flags{};
    std::uint16_t window = 65535;
    std::uint16_t urgent = 0;
    Options options{};
    std::string data{};
};

// What a transmitted segment must look like; unset fields are not checked.
struct Out {
    std::optional<SeqNum> seq{};
    std::optional<SeqNum> ack{};
    std::optional<Flags> flags{};
    std::optional<std::uint16_t> window{};
    std::optional<std::uint16_t> urgent{};
    std::optional<Options> options{};
    std::optional<std::string> data{};
    std::optional<std::size_t> len{};
};

struct Sent {
    Time at;
    Segment seg;
    std::string data;  // payload copy (the segment's spans view the connection's buffers)
};

struct Change {
    Time at;
    State from;
    State to;
    std::string cause;
};

inline std::string describe(const Segment& s) {
    std::ostringstream o;
    o << s.flags.to_tcpdump() << " seq " << s.seq.raw() << " ack " << s.ack.raw() << " win " << s.window << " len "
      << s.payload.size();
    if (s.flags.any(Urg)) o << " urg " << s.urgent;
    return o.str();
}

// Coverage registry for RFC 9293 Figure 5 arcs (see test_connection_states.cpp).
inline std::set<std::string>& covered_arcs() {
    static std::set<std::string> s;
    return s;
}

class Harness : public ConnectionEnv {
public:
    explicit Harness(Config cfg = Config{}) : config(cfg), conn(std::make_unique<Connection>(config, *this)) {}

    Config config;
    std::unique_ptr<Connection> conn;
    Time now = kTimeZero;
    std::deque<Sent> sent;
    std::vector<Change> changes;
    std::vector<TimerKind> fired;
    int wakes = 0;
    Time known_deadline = kTimeNever;
    FourTuple tuple{{Ipv4Addr(192, 0, 2, 1), 40000}, {Ipv4Addr(192, 0, 2, 2), 80}};
    SeqNum our_iss{1000};
    SeqNum peer_iss{5000};

    // ---- ConnectionEnv ----
    void transmit(Connection&, const Segment& seg) override {
        Sent s{now, seg, {}};
        s.data.resize(seg.payload.size());
        std::copy(seg.payload.first.begin(), seg.payload.first.end(), reinterpret_cast<std::byte*>(s.data.data()));
        std::copy(seg.payload.second.begin(), seg.payload.second.end(),
                  reinterpret_cast<std::byte*>(s.data.data()) + seg.payload.first.size());
        s.seg.payload = {};
        sent.push_back(std::move(s));
    }
    void state_changed(Connection&, State from, State to, std::string_view cause) override {
        changes.push_back(Change{now, from, to, std::string(cause)});
    }
    void wake(Connection&) override { ++wakes; }
    void deadline_changed(Connection& c) override { known_deadline = c.next_deadline(); }
    void timer_fired(Connection&, TimerKind k) override { fired.push_back(k); }

    Connection& c() { return *conn; }
    State state() const { return conn->state(); }

    // The owner must hear about every deadline move (ConnectionEnv::deadline_changed).
    void check_deadline() { BOOST_CHECK(conn->next_deadline() == known_deadline); }

    // Fires timers due before (or, with inclusive, at) `t`, then sets now = t.
    void run_timers(Time t, bool inclusive) {
        for (int guard = 0; guard < 100000; ++guard) {
            Time d = conn->next_deadline();
            if (d == kTimeNever || d > t || (!inclusive && d == t)) break;
            now = d;
            conn->on_timer(d);
            check_deadline();
        }
        now = t;
    }
    void advance(Time t) { run_timers(t, true); }

    Segment make(const In& in) const {
        Segment s;
        s.src_port = tuple.remote.port;
        s.dst_port = tuple.local.port;
        s.seq = in.seq;
        s.ack = in.ack;
        s.flags = in.flags;
        s.window = in.window;
        s.urgent = in.urgent;
        s.options = in.options;
        s.payload.first = as_bytes(in.data);
        return s;
    }

    void deliver(Time t, const In& in) {
        run_timers(t, false);
        Segment s = make(in);
        conn->on_segment(t, s);
        check_deadline();
    }

    std::size_t send(Time t, std::string_view data, SendFlags flags = {}) {
        run_timers(t, false);
        std::error_code ec;
        std::size_t n = conn->send(t, as_bytes(data), flags, ec);
        check_deadline();
        return n;
    }
    std::string receive(Time t, std::size_t max = 1 << 20, ReceiveFlags flags = {}, std::error_code* ecp = nullptr) {
        run_timers(t, false);
        std::string out(max, '\0');
        std::error_code ec;
        std::size_t n = conn->receive(t, std::as_writable_bytes(std::span(out.data(), out.size())), flags, ec);
        if (ecp) *ecp = ec;
        out.resize(n);
        check_deadline();
        return out;
    }
    void close(Time t) {
        run_timers(t, false);
        conn->close(t);
        check_deadline();
    }

    Sent expect_sent(const Out& o) {
        BOOST_TEST_REQUIRE(!sent.empty(), "expected a segment, but nothing was sent");
        Sent s = sent.front();
        sent.pop_front();
        const Segment& g = s.seg;
        std::string d = describe(g);
        if (o.seq) BOOST_TEST(g.seq.raw() == o.seq->raw(), "seq in: " << d);
        if (o.ack) BOOST_TEST(g.ack.raw() == o.ack->raw(), "ack in: " << d);
        if (o.flags) BOOST_TEST(g.flags.to_tcpdump() == o.flags->to_tcpdump(), "flags in: " << d);
        if (o.window) BOOST_TEST(g.window == *o.window, "window in: " << d);
        if (o.urgent) BOOST_TEST(g.urgent == *o.urgent, "urgent in: " << d);
        if (o.options) BOOST_TEST(to_hex(g.options.raw()) == to_hex(o.options->raw()), "options in: " << d);
        if (o.data) BOOST_TEST(s.data == *o.data, "payload in: " << d);
        if (o.len) BOOST_TEST(s.data.size() == *o.len, "length in: " << d);
        return s;
    }
    void expect_silence() {
        BOOST_TEST(sent.empty(), "expected silence, got " << sent.size() << " segment(s), first: "
                                                          << (sent.empty() ? "" : describe(sent.front().seg)));
    }
    void expect_transition(State from, State to) {
        auto it = std::find_if(changes.begin(), changes.end(), [&](const Change& ch) { return ch.from == from && ch.to == to; });
        BOOST_TEST((it != changes.end()), "no transition " << to_string(from) << " -> " << to_string(to));
        if (it != changes.end()) covered_arcs().insert(std::string(to_string(from)) + "->" + to_string(to));
    }
    std::optional<Time> transition_time(State to) const {
        for (auto& ch : changes)
            if (ch.to == to) return ch.at;
        return std::nullopt;
    }

    // ---- common openings ----
    // Peer SYN options like Linux's (mss 1460, sackOK, TS, nop, wscale 7) or a bare MSS.
    static Options linux_syn_options(bool ts, std::uint32_t tsval = 500, std::uint32_t tsecr = 0) {
        Options o;
        o.mss(1460);
        if (ts) {
            o.sack_permitted().timestamps(tsval, tsecr);
        } else {
            o.nop().nop().sack_permitted();
        }
        o.nop().window_scale(7);
        return o;
    }

    // CLOSED -> SYN_SENT -> ESTABLISHED with the peer's SYN-ACK at 10 ms.
    void open_active(bool peer_ts = false) {
        conn->connect(now, tuple, our_iss);
        check_deadline();
        expect_sent({.seq = our_iss, .flags = Syn});
        deliver(now + std::chrono::milliseconds(10),
                {.seq = peer_iss, .ack = our_iss + 1, .flags = Syn | Ack, .window = 65535,
                 .options = linux_syn_options(peer_ts, 500, peer_ts ? sent_tsval_hint : 0)});
        expect_sent({.seq = our_iss + 1, .ack = peer_iss + 1, .flags = Ack});
        BOOST_TEST_REQUIRE(state() == State::Established);
    }
    // (LISTEN) -> SYN_RECV -> ESTABLISHED: accept_syn on the peer's SYN, then its ACK at 10 ms.
    void open_passive(bool peer_ts = false) {
        Segment syn = make({.seq = peer_iss, .flags = Syn, .window = 65535, .options = linux_syn_options(peer_ts)});
        conn->accept_syn(now, tuple, our_iss, syn);
        check_deadline();
        expect_sent({.seq = our_iss, .ack = peer_iss + 1, .flags = Syn | Ack});
        Options o;
        if (peer_ts) o.nop().nop().timestamps(510, 0);
        deliver(now + std::chrono::milliseconds(10),
                {.seq = peer_iss + 1, .ack = our_iss + 1, .flags = Ack, .window = 512, .options = o});
        expect_silence();
        BOOST_TEST_REQUIRE(state() == State::Established);
    }
    std::uint32_t sent_tsval_hint = 0;
};

inline std::string pattern(std::size_t n, std::size_t seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
    return s;
}

}  // namespace tcpsim::tcp::test
