#pragma once

namespace tcpsim {
inline constexpr const char* kVersion = "0.1.0";
}
