// Scenario errors: every problem in a scenario file is reported as `file:line:column: message`
// (DESIGN.md principle 7: exceptions only for configuration errors, carrying the location).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "stack/scenario/model.hpp"

namespace tcpsim::stack::scenario {

struct Diagnostic {
    std::string file;
    Mark mark;
    std::string message;
    // "file:line:column: message" (line/column omitted when unknown).
    std::string to_string() const;
};

// Thrown by the loader with every error it found (in file order).
class ScenarioError : public std::runtime_error {
public:
    explicit ScenarioError(std::vector<Diagnostic> diagnostics);
    const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

private:
    std::vector<Diagnostic> diagnostics_;
};

// Edit distance for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The closest candidate when it is plausibly a typo of `word`; empty otherwise.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace tcpsim::stack::scenario
