#include "stack/trace/pcap_sink.hpp"

namespace tcpsim::stack {

PcapSink::PcapSink(const std::string& path, PcapFilter filter) : filter_(std::move(filter)), writer_(path) {}
PcapSink::PcapSink(std::ostream& out, PcapFilter filter) : filter_(std::move(filter)), writer_(out) {}

void PcapSink::on_frame(const FrameEvent& e) {
    if (e.action != filter_.action) return;
    if (!filter_.link.empty() && e.link != filter_.link) return;
    if (!filter_.endpoint.empty() && e.endpoint != filter_.endpoint) return;
    writer_.write(e.at, e.frame);
}

}  // namespace tcpsim::stack
