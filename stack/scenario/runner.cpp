#include "stack/scenario/runner.hpp"

#include <stdexcept>

namespace tcpsim::stack::scenario {

bool RunResult::all_held() const {
    for (const auto& e : expectations)
        if (!e.held) return false;
    return true;
}

std::string per_link_path(const std::string& path, const std::string& link) {
    auto slash = path.rfind('/');
    auto dot = path.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == (slash == std::string::npos ? 0 : slash + 1))
        return path + "-" + link;
    return path.substr(0, dot) + "-" + link + path.substr(dot);
}

RunResult run_scenario(const Scenario&, const RunOptions&) {
    throw std::runtime_error("the simulation core (stack/world) is not on main yet; 'tcpsim check' validates scenarios");
}

}  // namespace tcpsim::stack::scenario
