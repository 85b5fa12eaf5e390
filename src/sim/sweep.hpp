#pragma once
// What-if sweeps: one scenario run over a grid of settings (`mangaassist sim S.toml --sweep
// traffic.rate=10,20 --sweep max_attempts=1..5`), one row per point, so that an operator
// picks settings before an incident.
//
// The sweep knows no key. A key is a dotted TOML path: when its first segment is a key the
// scenario parser takes at the top level (other than `variant`), it is set on the scenario's
// root ("traffic.rate", "models.sonnet.capacity_rps", "tasks", "seed"); otherwise it is a
// variant setting, set under `variant.<V>.` for the swept variant V. Each point is the
// scenario file's TOML with its values set (intermediate tables created), written back out
// and read by sim::parse_scenario: a bad key or value is refused with the scenario's own
// message. An element of a list of tables is named by its index ("abuse.0.rate").
//
// Values: "a..b" (whole numbers, step 1), "a..b:step" (numbers, b included within
// rounding), or a comma list "x,y,z"; each item is a whole number, else a number, else
// true/false, else a string ("\"3\"" in double quotes is the string 3).
//
// Points run in parallel (one sim::run per thread at a time; each run is single-threaded and
// builds its own clock, io_context, catalog and gateway) and a point's result does not depend
// on the number of threads or the order they run in: each run uses the seed it would alone.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "sim/engine.hpp"
#include "sim/scenario.hpp"

namespace ma::sim {

inline constexpr std::size_t kMaxSweepPoints = 10'000;  // per variant: the axes' product

using SweepValue = std::variant<std::int64_t, double, bool, std::string>;

// As typed on the command line: 3, 0.5, true, decorrelated.
std::string sweep_value_text(const SweepValue& v);

struct SweepAxis {
  std::string key;  // dotted: "traffic.rate", "max_attempts"
  std::vector<SweepValue> values;
};

// "key=values" (one --sweep argument). Errors (code "invalid_sweep"): no '=', an empty key or
// key segment, an empty list or list item, a reversed range, a step <= 0, a range without a
// step over numbers that are not whole, more than kMaxSweepPoints values.
core::Result<SweepAxis> parse_sweep_arg(std::string_view arg);

struct SweepSetting {
  std::string key;   // as given
  std::string path;  // where it was set: "traffic.rate", "variant.fixed.max_attempts"
  SweepValue value;
};

// A point of the grid, resolved to the scenario it runs.
struct SweepPlanPoint {
  std::string variant;
  std::vector<SweepSetting> settings;  // one per axis, in the axes' order
  Scenario scenario;
};

// Every point, without running any: for each variant in `variants` (in that order), the
// cartesian product of the axes with the last axis varying fastest. Fails, before anything
// runs, when the scenario text is refused, a variant is not one of the scenario's, two axes
// name the same key, the grid is over kMaxSweepPoints, or any point is refused by
// parse_scenario (its message, with the point appended).
core::Result<std::vector<SweepPlanPoint>> plan_sweep(std::string_view scenario_toml,
                                                     const std::string& where,
                                                     const std::vector<std::string>& variants,
                                                     const std::vector<SweepAxis>& axes);

struct SweepPoint {
  std::string variant;
  std::vector<SweepSetting> settings;
  RunResult result;
};

struct SweepOptions {
  // Every run's (its `progress` is not called: see below). `edit_reply`, when set, is called
  // from several threads at once.
  RunOptions run;
  unsigned threads = 0;  // 0: std::thread::hardware_concurrency()
  // After each point, with the points done and the total; one call at a time.
  std::function<void(std::size_t done, std::size_t total)> progress;
};

// Runs the points, at most `threads` at once. The results are in the plan's order. When a
// run fails, no further point starts and the first failing point (in the plan's order) is
// reported.
core::Result<std::vector<SweepPoint>> run_sweep(const std::vector<SweepPlanPoint>& plan,
                                                const SweepOptions& options);

// plan_sweep, then run_sweep.
core::Result<std::vector<SweepPoint>> sweep(std::string_view scenario_toml,
                                            const std::string& where,
                                            const std::vector<std::string>& variants,
                                            const std::vector<SweepAxis>& axes,
                                            const SweepOptions& options);

// One row per point: the variant (when the points have more than one), each setting, then
// the figures during the incident (RunResult::phases[1]): user-visible error rate, p99
// latency, retry amplification, secondary throttle rate, cache serve rate, users' retry load,
// stale prices served, model cost.
std::string sweep_table(const std::vector<SweepPoint>& points);

// One line of JSON for a point: scenario, variant, seed, settings ({key: value}), during
// (the table's figures) and run (sim::to_json without the wall time).
std::string sweep_json(const SweepPoint& point);

}  // namespace ma::sim
