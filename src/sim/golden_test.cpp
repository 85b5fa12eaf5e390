// Golden runs: every scenario in scenarios/*.toml, both variants, on a fixed seed, rendered in
// its machine-readable forms (the JSON summary without wall_s, and the timeline CSV) and
// compared by digest with tests/data/sim_golden.txt. A change to the gateway or the engine that
// is not meant to change what the simulator computes (a restructuring, a speed-up, a lock
// replaced) must leave every line as it is. tests/data/README.md gives the file's format;
// docs/simulator.md, "Golden runs", how to regenerate it and when that is legitimate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sim/engine.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"

namespace ma::sim {
namespace {

const std::string kScenarioDir = std::string(MA_SOURCE_DIR) + "/scenarios";
const std::string kGoldenFile = std::string(MA_TEST_DATA_DIR) + "/sim_golden.txt";
const char* const kRegenerate =
    "MA_UPDATE_GOLDEN=1 <build>/src/ma_sim_test --gtest_filter='SimGoldenTest.*' "
    "(or scripts/update-sim-golden.sh [build dir])";

// Every run uses this seed, not the scenario's: the golden does not move when a scenario's
// seed is edited for its own figures.
constexpr std::uint64_t kSeed = 19;
// First sends a golden run may expect: a busier scenario is scaled down (below) to about this
// many, keeping its whole timeline (incident window, faults, catalog events). About 0.3 s of
// CPU per 20,000 messages here (RelWithDebInfo), so the ten runs stay well under 10 s.
constexpr double kMessageBudget = 50'000;

// FNV-1a 64: the test's own copy, so that the digest never depends on the code under test.
std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// First sends the scenario's traffic curve offers (re-sends and abuse not counted): the base
// rate over the run plus the spike above it (its two ramps average to half the peak).
double expected_first_sends(const Scenario& s) {
  const Traffic& t = s.traffic;
  double n = t.rate * s.duration_s;
  if (t.spike_peak > t.rate && t.spike_start_s < s.duration_s) {
    const double end = std::min(t.spike_end_s, s.duration_s);
    n += (t.spike_peak - t.rate) * std::max(0.0, end - t.spike_start_s);
  }
  return n;
}

// The scenario with its traffic, users and every rate set against traffic (model capacities
// and quotas, capacity faults, a static global limit) divided by `k`. Per-user limits, abuse
// sources, latencies and times are kept. For byte-for-byte comparison only: the figures of a
// scaled run are not the scenario's.
void scale_down(Scenario& s, int k) {
  if (k <= 1) return;
  const double f = k;
  s.traffic.rate /= f;
  s.traffic.spike_peak /= f;
  s.traffic.users = std::max(1, s.traffic.users / k);
  for (ModelModel* m : {&s.sonnet, &s.haiku}) {
    m->capacity_rps /= f;
    m->quota_rps /= f;
    for (ModelFault& fault : m->faults) {
      if (fault.kind == "capacity") fault.value /= f;
    }
  }
  for (auto& [name, v] : s.variants) {
    if (v.static_global_rate) *v.static_global_rate /= f;
  }
}

struct GoldenLine {
  std::string key;   // "<scenario> <variant>"
  std::string line;  // the whole line
};

// One run, as its golden line: key, seed, scale, two counts for a human reading a diff, and
// the digests of the JSON summary (wall_s excluded) and of the timeline CSV.
std::string golden_line(const RunResult& r, int scale) {
  // The cost is in the digest: a change in billing (prices, tokens, hedges) is a change in
  // the simulation.
  const std::string json = to_json(r, /*with_wall=*/false, /*with_cost=*/true);
  const std::string csv = timeline_csv(r);
  std::ostringstream out;
  out << r.scenario << ' ' << r.variant << " seed=" << r.seed << " scale=" << scale
      << " messages=" << r.total.messages << " events=" << r.events
      << " json=" << hex64(fnv1a64(json)) << " csv=" << hex64(fnv1a64(csv));
  return out.str();
}

std::map<std::string, std::string> read_golden(const std::string& path) {
  std::map<std::string, std::string> by_key;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string scenario, variant;
    fields >> scenario >> variant;
    by_key[scenario + " " + variant] = line;
  }
  return by_key;
}

std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(kScenarioDir)) {
    if (e.is_regular_file() && e.path().extension() == ".toml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(SimGoldenTest, EveryScenarioAndVariantMatchesItsGoldenRun) {
  const std::vector<std::string> files = scenario_files();
  ASSERT_FALSE(files.empty()) << "no scenarios in " << kScenarioDir;
  std::vector<GoldenLine> produced;
  std::map<std::string, std::string> json_of;  // key -> JSON summary, shown on a mismatch
  for (const std::string& file : files) {
    auto loaded = load_scenario(file);
    ASSERT_TRUE(loaded.ok()) << file << ": " << (loaded.ok() ? "" : loaded.error().message);
    Scenario s = std::move(loaded).value();
    const int scale =
        std::max(1, static_cast<int>(std::ceil(expected_first_sends(s) / kMessageBudget)));
    scale_down(s, scale);
    for (const char* variant : {"incident", "fixed"}) {
      RunOptions o;
      o.data_dir = std::string(MA_SOURCE_DIR) + "/data";
      o.seed = kSeed;
      auto r = run(s, variant, o);
      ASSERT_TRUE(r.ok()) << file << " " << variant << ": " << (r.ok() ? "" : r.error().message);
      const std::string key = s.name + " " + variant;
      produced.push_back({key, golden_line(*r, scale)});
      json_of[key] = to_json(*r, false, false);
    }
  }

  if (const char* update = std::getenv("MA_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream out(kGoldenFile, std::ios::trunc);
    out << "# Golden simulator runs: src/sim/golden_test.cpp; format in tests/data/README.md.\n"
        << "# Regenerate only for a change meant to change the simulation, and say so in the\n"
        << "# commit message: " << kRegenerate << "\n";
    for (const GoldenLine& g : produced) out << g.line << '\n';
    ASSERT_TRUE(out.good()) << "could not write " << kGoldenFile;
    std::printf("wrote %zu golden runs to %s\n", produced.size(), kGoldenFile.c_str());
    return;
  }

  std::map<std::string, std::string> golden = read_golden(kGoldenFile);
  ASSERT_FALSE(golden.empty()) << "no golden runs in " << kGoldenFile
                               << "; to create it: " << kRegenerate;
  std::vector<std::string> differ;
  for (const GoldenLine& g : produced) {
    auto it = golden.find(g.key);
    if (it == golden.end()) {
      ADD_FAILURE() << g.key << ": no golden run in " << kGoldenFile << "\n  actual:   " << g.line;
      differ.push_back(g.key);
    } else if (it->second != g.line) {
      ADD_FAILURE() << g.key << ": the simulation changed\n  expected: " << it->second
                    << "\n  actual:   " << g.line << "\n  actual JSON: " << json_of[g.key];
      differ.push_back(g.key);
    }
    if (it != golden.end()) golden.erase(it);
  }
  for (const auto& [key, line] : golden) {
    ADD_FAILURE() << key << ": a golden run for a scenario or variant that no longer exists";
    differ.push_back(key);
  }
  if (!differ.empty()) {
    std::string list;
    for (const std::string& k : differ) list += "\n  " + k;
    ADD_FAILURE() << differ.size() << " golden run(s) differ:" << list
                  << "\nA change that is not meant to change the simulation must not change "
                     "these. If it is meant to, regenerate with\n  "
                  << kRegenerate << "\nand say so in the commit message.";
  }
}

}  // namespace
}  // namespace ma::sim
