// The subset of packetdrill's %{ python }% blocks that tcpsim can evaluate without Python:
// assertions on TCP_INFO fields, which is what the tcp scripts use them for:
//   %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%
//   %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options }%
//   %{ TCP_INFINITE_SSTHRESH = 0x7fffffff }%
// Statements: `assert EXPR[, message]` and `NAME = EXPR`, separated by newlines or ';'.
// Expressions: integers, names (tcpi_* fields, named constants, earlier assignments), True,
// False, ( ), unary - ~ not, * // % + - << >> & ^ |, comparison chains, and, or.
// Anything else (imports, calls, strings outside the message) is outside the subset.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "link/base/expected.hpp"
#include "stack/packetdrill/ast.hpp"

namespace tcpsim::stack::packetdrill {

struct PyExpr {
    enum class Kind { Int, Name, Unary, Binary, Compare };
    Kind kind = Kind::Int;
    SourceLoc loc;
    std::int64_t value = 0;            // Int
    std::string name;                  // Name; operator of Unary/Binary ("-", "~", "not", "&", "and" ...)
    std::vector<PyExpr> operands;      // Unary: 1, Binary: 2, Compare: n+1
    std::vector<std::string> compare;  // Compare: n operators ("==", "<", ...)
    std::string to_string() const;
};

struct CodeStatement {
    enum class Kind { Assert, Assign, Print };  // Print: only writes packetdrill's stdout, no effect
    Kind kind = Kind::Assert;
    SourceLoc loc;
    std::string target;  // Assign
    PyExpr expr;
    std::string text;    // the statement as written, for messages
};

struct CodeProgram {
    std::vector<CodeStatement> statements;
};

struct CodeError {
    SourceLoc loc;
    std::string message;
};

// Parses a code block; an error means "outside the subset" (it may still be valid Python).
Expected<CodeProgram, CodeError> parse_code(const CodeSpec& code);

// Looks up a tcp_info field (tcpi_snd_cwnd ...); nullopt if unknown.
using FieldLookup = std::function<std::optional<std::int64_t>(std::string_view name)>;

// Variables assigned by code blocks. packetdrill runs all blocks of a script in one Python
// session, so an assignment in one block is visible in later ones: keep one per script run.
struct CodeEnv {
    std::map<std::string, std::int64_t, std::less<>> variables;
};

// Runs the program: nullopt when every assertion holds, otherwise the first failure, e.g.
// "assertion failed: tcpi_snd_cwnd == 10 (tcpi_snd_cwnd=12)" or "unknown name 'tcpi_foo' in ...".
std::optional<std::string> run_code(const CodeProgram& program, const FieldLookup& lookup, CodeEnv& env);
std::optional<std::string> run_code(const CodeProgram& program, const FieldLookup& lookup);

}  // namespace tcpsim::stack::packetdrill
