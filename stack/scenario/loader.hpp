// YAML scenario loader: text -> validated Scenario, or ScenarioError listing every problem with
// its line:column. The language is described in docs/scenarios.md and docs/scenario.schema.json.
#pragma once

#include <string>
#include <string_view>

#include "stack/scenario/error.hpp"
#include "stack/scenario/model.hpp"

namespace tcpsim::stack::scenario {

// `file` names the text in messages. Throws ScenarioError.
Scenario parse_scenario(std::string_view text, const std::string& file);
// Reads and parses a file; an unreadable file is a ScenarioError without line:column.
Scenario load_scenario(const std::string& path);

// Value syntaxes shared with the CLI (`--netstat 1.5s`); nullopt + message on error.
std::optional<Duration> parse_duration(std::string_view text, std::string* error = nullptr);
std::string format_duration(Duration d);  // "1.5s", "200ms", "0s"

}  // namespace tcpsim::stack::scenario
