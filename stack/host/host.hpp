// A simulated (or TAP-attached) IPv4 host: interfaces, ARP, routing and forwarding, ICMP, and the
// TCP demultiplexer that owns every tcp::Connection of the host. Sockets (stack/sockets/sockets.hpp)
// sit on top; the world (or the TAP runtime) connects each interface to the outside through a
// FrameSink and feeds received frames into input(ifindex). The host never knows which.
//
//   Host& h = world.add_host("client");
//   auto eth0 = h.add_interface({.name = "eth0", .mac = *MacAddr::parse("02:00:00:00:00:01"),
//                                .address = *Ipv4Prefix::parse("192.0.2.1/24")});
//   h.set_default_gateway(*Ipv4Addr::parse("192.0.2.254"));
//   h.config().tcp.nodelay = true;        // host-wide TCP defaults (net.ipv4.* equivalents)
//   world.connect(h, eth0, wire);
//   Sockets& s = h.sockets();             // BSD-style calls
//
// Everything runs on the world's clock and event queue; all randomness (ISN secret, ephemeral
// port offsets, IP ids) comes from the world's substreams "isn/<host>", "ports/<host>", "ip/<host>".
//
// The host wires the layers; the rules live below it (ip/route, ip/forward, ip/icmp,
// link/arp/arp_cache, tcp/). Its parts, one file each in stack/host/:
//   host.cpp               construction, interfaces, host timer events, World::add_host/connect
//   ethernet_arp.cpp       Ethernet input/output, ARP requests/replies, the ARP wait queue
//   ipv4.cpp               routes, IPv4 output (fragmentation, loopback, broadcast), input,
//                          reassembly timer, forwarding
//   icmp.cpp               ICMP echo and errors, and what an ICMP error does to a connection
//   tcp_demux.cpp          the 4-tuple table, TCP input/output, input-batch ACK holding,
//                          record lifetime (kill, reap, release), active opens
//   listener.cpp           listener policy: SYN and accept queues, SYN cookies, TIME_WAIT reuse
//                          hand-off, passive opens
//   port_leases.cpp        bind() conflicts, ephemeral ports for bind() and connect()
//   connection_record.*    ConnectionRecord and ConnectionOwner
//   host_internal.hpp      what those files share (not for other code)
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"
#include "link/base/time.hpp"
#include "ip/reassembly.hpp"
#include "ip/route.hpp"
#include "link/arp/arp_cache.hpp"
#include "stack/host/connection_record.hpp"
#include "stack/sim/event_queue.hpp"
#include "stack/sim/world.hpp"
#include "tcp/config.hpp"
#include "tcp/connection.hpp"
#include "tcp/types.hpp"

namespace tcpsim::tcp {
class IsnGenerator;
class SynCookies;
struct Segment;
}
namespace tcpsim::ip {
struct Ipv4Packet;
}

namespace tcpsim::stack {

class Sockets;
class Host;

struct InterfaceConfig {
    std::string name = "eth0";
    MacAddr mac;
    Ipv4Prefix address;       // our address and the on-link prefix, e.g. 192.0.2.1/24
    std::uint32_t mtu = 1500;  // IPv4 MTU (68..65535)
};

enum class SyncookieMode : std::uint8_t { Off, Overflow, Always };  // net.ipv4.tcp_syncookies 0/1/2

// Host-wide knobs (Linux sysctl equivalents). Change them before the traffic they affect.
struct HostConfig {
    // Defaults for new sockets (net.ipv4.tcp_*). `mss` is not used: each connection advertises
    // its route's MTU - 40, like Linux (TCP_MAXSEG lowers it per socket), or `advmss`.
    tcp::Config tcp;
    // Linux route metric advmss (`ip route ... advmss N`) for every route: the MSS advertised
    // instead of MTU - 40. 0 = unset.
    std::uint16_t advmss = 0;
    link::ArpConfig arp;                    // net.ipv4.neigh.default.*
    bool forwarding = false;          // net.ipv4.ip_forward
    std::uint8_t ttl = 64;            // net.ipv4.ip_default_ttl
    std::uint16_t ephemeral_low = 32768;   // net.ipv4.ip_local_port_range
    std::uint16_t ephemeral_high = 60999;
    int somaxconn = 4096;             // net.core.somaxconn (Linux >= 5.4): caps listen() backlog
    bool icmp_echo_ignore_broadcasts = true;
    // ICMP destination unreachable in SYN_SENT/SYN_RECV. Linux (tcp_v4_err) aborts the attempt
    // on every code (connect() fails with EHOSTUNREACH, ECONNREFUSED, ...). With this set, only
    // protocol/port unreachable are hard (RFC 1122 §4.2.3.9) and the rest are soft errors.
    bool rfc1122_icmp_errors = false;
    // net.ipv4.tcp_syncookies: when a listener's SYN queue is full (Overflow, Linux's 1, the
    // default) or always (Always, 2), a SYN is answered with a SYN cookie and no state is kept;
    // the peer's final ACK then creates the connection directly in ESTABLISHED. Off (0): SYNs
    // beyond the backlog are dropped.
    SyncookieMode syncookies = SyncookieMode::Overflow;
    // net.core.rmem_max / wmem_max: SO_RCVBUF/SO_SNDBUF requests are capped here before doubling.
    std::uint32_t rmem_max = 212992;
    std::uint32_t wmem_max = 212992;
    // BSD personality knobs, where the seeds name a difference from Linux (all false = Linux):
    bool bsd_reuseaddr = false;          // SO_REUSEADDR needed only on the later socket (FreeBSD)
    bool accept_inherits_nonblock = false;  // accept() copies O_NONBLOCK (TLPI 61.11 "other UNIXes")
    bool shut_rd_discards = false;       // SHUT_RD: reads return 0 for good, data is not delivered
};

class Host final : public EventTarget {
public:
    Host(World& world, std::string name);
    ~Host();
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    const std::string& name() const { return name_; }
    World& world() { return world_; }
    Time now() const { return world_.now(); }
    HostConfig& config() { return config_; }
    const HostConfig& config() const { return config_; }
    Sockets& sockets() { return *sockets_; }

    // ---- interfaces ----
    // Adds an interface; returns its index. Throws std::invalid_argument on a duplicate name, a
    // bad MTU, or a prefix length of 0/32 mismatch. Adds the on-link route for its prefix.
    std::size_t add_interface(InterfaceConfig cfg);
    std::size_t interface_count() const { return interfaces_.size(); }
    const InterfaceConfig& interface(std::size_t ifindex) const;
    std::optional<std::size_t> find_interface(std::string_view name) const;
    // Where interface `ifindex` sends its frames (a Wire attachment, a TAP device, a test sink).
    void attach(std::size_t ifindex, FrameSink& out);
    // Where frames for interface `ifindex` arrive; same as receive_frame(ifindex, frame).
    FrameSink& input(std::size_t ifindex);
    void receive_frame(std::size_t ifindex, Bytes frame);

    // ---- input batches (live mode) ----
    // Frames read together from a device form a batch, as Linux's GRO merges what one NAPI poll
    // brings. While a batch is open, a pure cumulative ACK (no data, no SACK, acknowledging new
    // data) is held per connection and replaced by later ones; end_input_batch() sends what is
    // held, so a burst of N segments draws one ACK instead of N/2 (Linux: one ACK per GRO
    // aggregate). A held ACK goes out at once when it would cover 64 KiB (GRO's aggregate
    // limit) or half of the window the peer last saw (so the peer never stalls on a full window
    // waiting for the batch to end), and any other segment of the connection supersedes it. Duplicate ACKs, SACKs,
    // window updates for an unchanged ACK number, data, SYN, FIN and RST are never held, and
    // nothing changes for the delayed-ACK timer. Simulation delivers frames one event at a
    // time and never opens a batch. Batches nest; only the outermost end flushes.
    void begin_input_batch() { ++batch_depth_; }
    void end_input_batch();

    // ---- routing ----
    // Longest prefix wins; among equal prefixes the first added. gateway any() = on-link.
    void add_route(Ipv4Prefix dest, Ipv4Addr gateway);
    void set_default_gateway(Ipv4Addr gateway) { add_route(Ipv4Prefix{Ipv4Addr::any(), 0}, gateway); }
    bool is_local_address(Ipv4Addr a) const;
    // The source address this host uses towards `dst` (the outgoing interface's), if routable.
    std::optional<Ipv4Addr> source_address_for(Ipv4Addr dst) const;

    // ---- ARP ----
    link::ArpCache& arp() { return arp_; }

    // ---- TCP policy ----
    // Replaces the ISN generator (default: RFC 6528 keyed by the world's "isn/<host>" stream).
    void set_isn_generator(std::unique_ptr<tcp::IsnGenerator> gen);

    // ---- ICMP ----
    // Sends an echo request; echo replies are reported as NoteEvents and counted in stats().
    bool ping(Ipv4Addr dst, std::uint16_t id, std::uint16_t seq, Bytes data = {});

    // ---- introspection ----
    struct ConnectionSnapshot {
        tcp::FourTuple tuple;
        tcp::State state;
        std::size_t recv_q = 0;  // netstat Recv-Q (listener: accept queue length)
        std::size_t send_q = 0;  // netstat Send-Q (listener: backlog)
        bool orphan = false;     // closed by the user, finishing in the background
    };
    // Every connection and listener, sorted by (local, remote) for stable output.
    std::vector<ConnectionSnapshot> connections() const;
    struct Stats {
        std::uint64_t frames_in = 0, frames_out = 0;
        std::uint64_t ip_in = 0, ip_out = 0, ip_forwarded = 0;
        std::uint64_t tcp_in = 0, tcp_out = 0, tcp_resets_sent = 0;
        std::uint64_t drops = 0;
        std::uint64_t arp_requests_sent = 0, arp_replies_sent = 0;
        std::uint64_t icmp_in = 0, icmp_out = 0, echo_replies_received = 0;
        std::uint64_t listen_drops = 0;  // Linux: ListenDrops / ListenOverflows
        // Linux TcpExtSyncookiesSent / SyncookiesRecv / SyncookiesFailed.
        std::uint64_t syncookies_sent = 0, syncookies_recv = 0, syncookies_failed = 0;
        std::uint64_t acks_coalesced = 0;  // pure ACKs superseded inside an input batch (never sent)
    };
    const Stats& stats() const { return stats_; }

    // ---- for stack/sockets (the socket layer of this host) ----
    // Port leases: what bind()/connect()/listen() hold so EADDRINUSE can be decided (Linux
    // inet_csk_bind_conflict without SO_REUSEPORT). Lease ids are never 0.
    // bind(): `port` 0 picks an ephemeral port (Linux prefers odd ports for bind()). Returns the
    // lease id or an errno (EADDRINUSE; EADDRNOTAVAIL for a foreign address).
    struct Lease {
        std::uint64_t id = 0;
        tcp::Endpoint local;
        int err = 0;
    };
    // `reuse_port` (SO_REUSEPORT, Linux >= 3.9): sockets that all set it may share the address,
    // listeners included; incoming connections are spread over such listeners by a hash of the
    // peer's address and port (Linux reuseport_select_sock()).
    Lease bind_port(tcp::Endpoint local, bool reuse_addr, bool reuse_port = false);
    void release_port(std::uint64_t lease);
    void set_lease_reuse(std::uint64_t lease, bool reuse_addr);
    // Active open. `lease` (0 if the socket is unbound) becomes the connection's; the source
    // address/port are completed from the route and ephemeral range when unset. Returns the
    // record or an errno: ENETUNREACH (no route), EADDRNOTAVAIL (no free port / tuple taken).
    struct Opened {
        ConnectionRecord* record = nullptr;
        int err = 0;
    };
    // `user_mss` is TCP_MAXSEG (0 = none), applied before the SYN; a listener passes it on to
    // its children (Linux copies user_mss into the child).
    Opened open_active(tcp::Endpoint local, std::uint64_t lease, tcp::Endpoint remote, const tcp::Config& cfg,
                       ConnectionOwner* owner, std::uint16_t user_mss = 0);
    void set_listener_user_mss(ConnectionRecord& listener, std::uint16_t user_mss) { listener.user_mss_ = user_mss; }
    // Passive open on a leased (bound) endpoint; backlog already clamped by the caller.
    Opened open_passive(std::uint64_t lease, int backlog, const tcp::Config& cfg, ConnectionOwner* owner);
    void set_backlog(ConnectionRecord& listener, int backlog);
    // The socket lets go of a record (close()). A listener aborts its children (RST to those
    // established, silence for SYN_RECV, like Linux inet_csk_listen_stop) and goes away; a
    // connection finishes in the background and is destroyed once CLOSED.
    void release(ConnectionRecord& record);

private:
    friend class ConnectionRecord;
    struct Interface;
    struct PortUser {
        std::uint64_t lease;
        Ipv4Addr addr;
        bool reuse_addr;
        bool explicit_bind;           // bind() (vs connect()'s autobind, which may be shared)
        const ConnectionRecord* rec;  // set once a connection/listener holds the lease
        bool reuse_port = false;      // SO_REUSEPORT
    };
    class TxBuffer;

    // EventTarget: ARP probes and deferred reaping.
    void on_event(Time now, std::uint64_t tag) override;

    // Input.
    void input_arp(std::size_t ifindex, Bytes payload);
    void input_ipv4(std::size_t ifindex, Bytes payload, bool link_broadcast);
    void deliver_local(const ip::Ipv4Packet& pkt, Bytes datagram, bool link_broadcast);
    void input_icmp(const ip::Ipv4Packet& pkt, Bytes datagram, bool link_broadcast);
    void input_tcp(const ip::Ipv4Packet& pkt, Bytes datagram);
    void input_listener(ConnectionRecord& listener, const tcp::FourTuple& tuple, const tcp::Segment& seg,
                        Bytes datagram, std::optional<tcp::SeqNum> reuse_iss);
    void send_reset_for(const tcp::FourTuple& tuple, const tcp::Segment& seg);
    void forward(std::size_t in_ifindex, const ip::Ipv4Packet& pkt, Bytes datagram);

    // Output.
    std::optional<ip::NextHop> route(Ipv4Addr dst) const;
    // Sends a complete IPv4 datagram that starts at offset 14 of `frame` (the first 14 bytes are
    // reserved for the Ethernet header): resolves the next hop, queues on ARP if needed.
    bool output_ipv4(MutableBytes frame, Ipv4Addr dst, std::optional<ip::NextHop> hop = {});
    // The part after routing and fragmentation: loopback, broadcast, or a neighbour via ARP.
    void output_to_hop(MutableBytes frame, Ipv4Addr dst, const ip::NextHop& hop);
    void input_fragment(const ip::Ipv4Packet& pkt, Bytes datagram, bool link_broadcast);
    void expire_fragments();
    void arm_reassembly_timer();
    void send_frame(std::size_t ifindex, MacAddr dst, std::uint16_t ethertype, Bytes frame_with_header);
    void send_arp(std::size_t ifindex, std::uint16_t op, MacAddr dst_mac, MacAddr target_mac, Ipv4Addr target_ip);
    void send_icmp_error(const ip::Ipv4Packet& original, Bytes original_bytes, std::uint8_t type, std::uint8_t code,
                         std::uint16_t mtu = 0, bool link_broadcast = false);
    void send_icmp(Ipv4Addr src, Ipv4Addr dst, std::uint8_t tos, std::uint8_t type, std::uint8_t code,
                   std::uint32_t rest, Bytes body);
    void send_tcp(ConnectionRecord* rec, const tcp::FourTuple& tuple, const tcp::Segment& seg);
    void send_tcp_now(ConnectionRecord* rec, const tcp::FourTuple& tuple, const tcp::Segment& seg);
    bool hold_ack(ConnectionRecord& rec, const tcp::Segment& seg);
    void arp_resolve(link::ArpEntry& e, Bytes datagram);
    void arp_probe(Ipv4Addr ip);
    void arp_failed(Ipv4Addr ip);
    void flush_arp_queue(link::ArpEntry& e);

    // TCP.
    void apply_icmp_error(const tcp::FourTuple& tuple, std::uint8_t type, std::uint8_t code);
    void kill(ConnectionRecord& r, std::error_code err, std::string_view cause);
    ConnectionRecord* find_listener(Ipv4Addr addr, std::uint16_t port, const tcp::Endpoint& from = {});
    ConnectionRecord* new_record(const tcp::Config& cfg);
    tcp::Config with_route_mss(tcp::Config cfg, Ipv4Addr remote) const;
    void table_insert(ConnectionRecord& r);
    void table_erase(ConnectionRecord& r);
    void schedule_reap(ConnectionRecord& r);
    void closed_port(ConnectionRecord& r);
    void reap();
    void destroy(ConnectionRecord* r);
    ConnectionRecord* new_child(ConnectionRecord& listener, const tcp::FourTuple& tuple);
    void send_syncookie(ConnectionRecord& listener, const tcp::FourTuple& tuple, const tcp::Segment& syn);
    // The final ACK of a cookie handshake: true when it was handled (connection made or dropped
    // for a full accept queue), false when the cookie is not valid.
    bool accept_syncookie(ConnectionRecord& listener, const tcp::FourTuple& tuple, const tcp::Segment& ack, Bytes datagram);
    void child_established(ConnectionRecord& child);
    void child_gone(ConnectionRecord& child);
    tcp::SeqNum next_iss(const tcp::FourTuple& t);
    bool port_conflicts(std::uint16_t port, Ipv4Addr addr, bool reuse, std::uint64_t except, bool reuse_port = false) const;
    std::uint64_t add_lease(std::uint16_t port, Ipv4Addr addr, bool reuse, bool explicit_bind);
    PortUser* find_lease(std::uint64_t lease);
    std::uint16_t pick_connect_port(const tcp::Endpoint& local, const tcp::Endpoint& remote);
    void drop(DropReason reason, std::string_view detail, Bytes data = {});
    void note(std::string_view text);

    World& world_;
    std::string name_;
    HostConfig config_;
    std::vector<std::unique_ptr<Interface>> interfaces_;
    ip::RoutingTable routes_;
    link::ArpCache arp_;
    std::unordered_map<Ipv4Addr, TimerHandle> arp_probe_timers_;  // the next probe per unresolved neighbour
    std::unique_ptr<tcp::IsnGenerator> isn_;
    std::unique_ptr<tcp::SynCookies> cookies_;
    Rng port_rng_;
    Rng ip_rng_;
    std::array<std::uint16_t, 256> port_perturb_{};
    std::uint64_t port_secret_ = 0;
    std::uint16_t icmp_ip_id_ = 0;
    std::unordered_map<tcp::FourTuple, ConnectionRecord*> table_;
    std::unordered_map<std::uint16_t, std::vector<ConnectionRecord*>> listeners_;
    std::unordered_map<ConnectionRecord*, std::unique_ptr<ConnectionRecord>> records_;
    std::unordered_map<std::uint16_t, std::vector<PortUser>> ports_;
    std::unordered_map<std::uint64_t, std::uint16_t> lease_port_;  // lease id -> port
    std::uint64_t next_lease_ = 1;
    ip::Reassembler reassembler_;
    TimerHandle reassembly_timer_;
    std::vector<ConnectionRecord*> reap_list_;
    bool reap_scheduled_ = false;
    int batch_depth_ = 0;
    std::vector<ConnectionRecord*> held_acks_;  // records holding an ACK in the open batch
    std::deque<ByteVector> tx_pool_;  // deque: buffers stay put while nested sends add more
    std::size_t tx_depth_ = 0;
    Stats stats_;
    std::unique_ptr<Sockets> sockets_;
};

}  // namespace tcpsim::stack
