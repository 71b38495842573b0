// Writes the frames of one link (or of every link) to a pcap file: a trace-bus subscriber on
// FrameEvents, using link/pcap's writer. Wireshark, tshark and tcpdump -r read the result.
//
//   PcapSink pcap("l1.pcap", {.link = "l1"});
//   world.trace().subscribe(pcap);   ... run ...   world.trace().unsubscribe(pcap);
//
// By default a frame is recorded when it is SENT onto the link (a capture on the wire at the
// sender: frames the link later loses are in it). Choose Delivered + an endpoint to capture what
// one attachment receives instead (like tcpdump on the receiving interface).
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "link/capture/pcap.hpp"
#include "stack/trace/trace.hpp"

namespace tcpsim::stack {

struct PcapFilter {
    std::string link;      // empty: every link
    FrameAction action = FrameAction::Sent;
    std::string endpoint;  // empty: any attachment ("host/ifname" otherwise)
};

class PcapSink final : public TraceSubscriber {
public:
    PcapSink(const std::string& path, PcapFilter filter = {});
    PcapSink(std::ostream& out, PcapFilter filter = {});
    unsigned interests() const override { return trace_bit(TraceKind::Frame); }
    void on_frame(const FrameEvent& e) override;

    bool ok() const { return writer_.ok(); }
    std::size_t records() const { return writer_.records(); }
    void flush() { writer_.flush(); }

private:
    PcapFilter filter_;
    link::PcapWriter writer_;
};

}  // namespace tcpsim::stack
