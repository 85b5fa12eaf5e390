#pragma once
// What a simulator run shows: the seed-style impact table (normal / during / recovery, both
// variants side by side), one JSON object per variant, the per-bin timeline as CSV, and an
// HTML report with timeline charts (inline SVG, no script, opens from disk).

#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace ma::sim {

std::string impact_table(const std::vector<RunResult>& runs);
// One line; `with_wall` adds wall_s (the only field that differs between identical runs);
// `with_cost` adds what the models billed: cost_usd, input_tokens, output_tokens (the run's
// and each phase's) and `lanes` (each lane's calls, hedges, skips, tokens and cost).
std::string to_json(const RunResult& r, bool with_wall = true, bool with_cost = true);
std::string timeline_csv(const RunResult& r);
std::string html_report(const Scenario& s, const std::vector<RunResult>& runs);

}  // namespace ma::sim
