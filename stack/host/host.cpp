// Host: construction, interfaces, the host's own timer events, trace helpers, introspection,
// and the World functions that create and attach hosts.
#include "stack/host/host_internal.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "stack/sockets/sockets.hpp"
#include "tcp/isn.hpp"

namespace tcpsim::stack {

using namespace host_detail;

Host::Host(World& world, std::string name)
    : world_(world), name_(std::move(name)), arp_(config_.arp),
      isn_(std::make_unique<tcp::Rfc6528IsnGenerator>(world.rng("isn/" + name_).next_u64())),
      cookies_(std::make_unique<tcp::SynCookies>(world.rng("syncookie/" + name_).next_u64())),
      port_rng_(world.rng("ports/" + name_)), ip_rng_(world.rng("ip/" + name_)) {
    port_secret_ = port_rng_.next_u64();
    icmp_ip_id_ = static_cast<std::uint16_t>(ip_rng_.next_u32());
    sockets_ = std::make_unique<Sockets>(*this);
}

Host::~Host() {
    world_.cancel(reassembly_timer_);
    sockets_.reset();
    for (auto& [p, r] : records_) world_.cancel(r->timer_);
    records_.clear();
}

std::size_t Host::add_interface(InterfaceConfig cfg) {
    if (cfg.name.empty()) throw std::invalid_argument(name_ + ": interface name must not be empty");
    if (find_interface(cfg.name)) throw std::invalid_argument(name_ + ": duplicate interface '" + cfg.name + "'");
    if (cfg.mtu < 68 || cfg.mtu > 65535)
        throw std::invalid_argument(name_ + "/" + cfg.name + ": MTU " + std::to_string(cfg.mtu) + " outside 68..65535");
    if (cfg.address.length < 0 || cfg.address.length > 32)
        throw std::invalid_argument(name_ + "/" + cfg.name + ": bad prefix length");
    if (cfg.mac.is_multicast()) throw std::invalid_argument(name_ + "/" + cfg.name + ": MAC must be unicast");
    const std::size_t i = interfaces_.size();
    interfaces_.push_back(std::make_unique<Interface>(this, i, std::move(cfg)));
    const auto& a = interfaces_.back()->cfg.address;
    if (!a.addr.is_any()) routes_.add(a, Ipv4Addr::any(), i);
    return i;
}

const InterfaceConfig& Host::interface(std::size_t ifindex) const {
    if (ifindex >= interfaces_.size()) throw std::out_of_range(name_ + ": no interface " + std::to_string(ifindex));
    return interfaces_[ifindex]->cfg;
}

std::optional<std::size_t> Host::find_interface(std::string_view n) const {
    for (const auto& i : interfaces_)
        if (i->cfg.name == n) return i->index;
    return std::nullopt;
}

void Host::attach(std::size_t ifindex, FrameSink& out) {
    interface(ifindex);  // range check
    interfaces_[ifindex]->out = &out;
}

FrameSink& Host::input(std::size_t ifindex) {
    interface(ifindex);
    return *interfaces_[ifindex];
}

void Host::set_isn_generator(std::unique_ptr<tcp::IsnGenerator> gen) {
    if (gen) isn_ = std::move(gen);
}

tcp::SeqNum Host::next_iss(const tcp::FourTuple& t) { return isn_->generate(now(), t); }

void Host::drop(DropReason reason, std::string_view detail, Bytes data) {
    ++stats_.drops;
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Drop)) bus.emit(DropEvent{now(), name_, reason, detail, data});
}

void Host::note(std::string_view text) {
    TraceBus& bus = world_.trace();
    if (bus.wants(TraceKind::Note)) bus.emit(NoteEvent{now(), name_, text});
}

void Host::on_event(Time, std::uint64_t tag) {
    switch (tag & kTagKindMask) {
        case kTagArpProbe: return arp_probe(Ipv4Addr{static_cast<std::uint32_t>(tag)});
        case kTagReap: return reap();
        case kTagReassembly:
            reassembly_timer_ = {};
            return expire_fragments();
        default: return;
    }
}

std::vector<Host::ConnectionSnapshot> Host::connections() const {
    std::vector<ConnectionSnapshot> out;
    out.reserve(records_.size());
    for (const auto& [p, r] : records_) {
        if (r->reaping_) continue;
        ConnectionSnapshot s;
        s.tuple = r->tuple_;
        s.state = r->state();
        s.orphan = r->owner == nullptr && !r->is_listener() && r->parent_ == nullptr;
        if (r->is_listener()) {
            s.recv_q = r->accept_queue_.size();
            s.send_q = static_cast<std::size_t>(r->listener_backlog_);
        } else if (!r->dead_) {
            s.recv_q = r->conn().readable_bytes();
            s.send_q = r->conn().send_queue_bytes();
        }
        out.push_back(s);
    }
    std::sort(out.begin(), out.end(), [](const ConnectionSnapshot& a, const ConnectionSnapshot& b) { return a.tuple < b.tuple; });
    return out;
}

// ---------------------------------------------------------------------------------------------
// World's host functions (here so that the scheduler alone links without the TCP engine).

Host& World::add_host(std::string name) {
    if (name.empty()) throw std::invalid_argument("host name must not be empty");
    if (find_host(name) != nullptr) throw std::invalid_argument("duplicate host name '" + name + "'");
    hosts_.push_back(std::make_shared<Host>(*this, std::move(name)));
    return *hosts_.back();
}

Host* World::find_host(std::string_view name) {
    for (auto& h : hosts_)
        if (h->name() == name) return h.get();
    return nullptr;
}

void World::connect(Host& host, std::size_t ifindex, Wire& wire) {
    FrameSink& out = wire.attach(host.name() + "/" + host.interface(ifindex).name, host.input(ifindex));
    host.attach(ifindex, out);
}

}  // namespace tcpsim::stack
