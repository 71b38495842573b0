// Named constants of packetdrill scripts (SOCK_STREAM, SO_LINGER, POLLIN, EAGAIN, TCP_CA_Open...)
// with their Linux x86-64 values, as packetdrill's symbols_linux.c resolves them, so scripts mean
// exactly what they mean on Linux.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "link/base/expected.hpp"
#include "stack/packetdrill/ast.hpp"

namespace tcpsim::stack::packetdrill {

// The value of a named constant, or nullopt if the table does not know it.
std::optional<std::int64_t> symbol_value(std::string_view name);
// errno number for "EAGAIN", "EINPROGRESS", ... (nullopt for other names).
std::optional<int> errno_number(std::string_view name);

// Evaluates an integer-valued expression: a number, a known constant, or `A|B|...` of those.
// Errors say what could not be evaluated ("unknown constant 'FOO'").
Expected<std::int64_t, std::string> evaluate_integer(const Expr& e);

}  // namespace tcpsim::stack::packetdrill
