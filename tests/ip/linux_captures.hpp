// Datagrams captured from Linux 6.x, shared by the ip/ codec tests: two network namespaces joined
// by a veth pair (MTU 1500), 192.0.2.1/24 and 192.0.2.2/24; `ping -c 1 192.0.2.2`,
// `ping -c 1 -s 2000 192.0.2.2` (fragmented) and `echo hi | nc -u 192.0.2.2 9` (nothing
// listening, so 192.0.2.2 answers port unreachable), captured with `tcpdump -i vA -w` in the
// first namespace. Whole IPv4 datagrams unless said otherwise.
#pragma once

#include <cstddef>

#include "link/base/addr.hpp"
#include "link/base/bytes.hpp"

namespace tcpsim::testing::captures {

inline const char* const kEchoRequest =
    "450000547c71400040013a34c0000201c0000202"
    "080091b41fdc00014bd4016b000000002d5c0d0000000000"
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
inline const char* const kEchoReply =
    "45000054705e000040018647c0000202c0000201"
    "000099b41fdc00014bd4016b000000002d5c0d0000000000"
    "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";

inline const Ipv4Addr kA{192, 0, 2, 1};
inline const Ipv4Addr kB{192, 0, 2, 2};

}  // namespace tcpsim::testing::captures
