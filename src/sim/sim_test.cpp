// The simulator replays each seed incident: the incident variant shows the seed's failure,
// the fixed variant meets the project's targets. Short runs of the real scenario files.
#include <gtest/gtest.h>

#include "sim/engine.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"

namespace ma::sim {
namespace {

const std::string kDir = std::string(MA_SOURCE_DIR) + "/scenarios/";

Scenario load(const std::string& name) {
  auto s = load_scenario(kDir + name + ".toml");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? std::move(s).value() : Scenario{};
}

RunResult run_variant(const Scenario& s, const std::string& variant, std::uint64_t seed = 0) {
  RunOptions o;
  o.data_dir = std::string(MA_SOURCE_DIR) + "/data";
  o.seed = seed;
  auto r = run(s, variant, o);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : RunResult{};
}

TEST(ScenarioTest, TheFiveSeedScenariosLoadWithBothVariants) {
  for (const char* name : {"s1-backoff-storm", "s2-organic-spike", "s3-stale-prices",
                           "s4-sampling-gap", "s5-confusing-degradation"}) {
    const Scenario s = load(name);
    EXPECT_EQ(s.name, name);
    EXPECT_EQ(s.variants.size(), 2u);
    EXPECT_LT(s.incident_start_s, s.incident_end_s) << name;
  }
}

TEST(ScenarioTest, MistakesAreNamed) {
  auto typo = parse_scenario("name = \"x\"\n[traffic]\nrte = 3\n", "t.toml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("traffic.rte"), std::string::npos);
  auto jitter = parse_scenario("name = \"x\"\n[variant.incident]\njitter = \"lots\"\n", "t.toml");
  ASSERT_FALSE(jitter.ok());
  EXPECT_NE(jitter.error().message.find("jitter"), std::string::npos);
  EXPECT_FALSE(parse_scenario("title = \"no name\"\n", "t.toml").ok());
  EXPECT_FALSE(parse_scenario("name = \"x\"\nduration_s = 10\nincident_end_s = 20\n", "t").ok());
  EXPECT_FALSE(load_scenario(kDir + "missing.toml").ok());
}

TEST(SimulatorTest, S1NoJitterStormsHaikuTheFixedFleetDoesNot) {
  const Scenario s = load("s1-backoff-storm");
  const RunResult inc = run_variant(s, "incident");
  const RunResult fix = run_variant(s, "fixed");
  const Summary& i = inc.phases[1];
  const Summary& f = fix.phases[1];
  EXPECT_GT(i.secondary_throttle_rate, 0.10);  // the stampede on the fallback model
  EXPECT_LT(f.secondary_throttle_rate, 0.02);
  EXPECT_GT(i.retry_amplification, f.retry_amplification + 0.1);
  EXPECT_LT(fix.total.user_error_rate, 0.01);
  EXPECT_LT(fix.total.p99_latency_s, 3.0);
}

TEST(SimulatorTest, S2StaticLimitRefusesHalfTheSpikeTheFixedLimitQueues) {
  // A tenth of the seed's traffic keeps the test short; the limit scales with it.
  Scenario s = load("s2-organic-spike");
  s.traffic.rate /= 10;
  s.traffic.spike_peak /= 10;
  s.traffic.users /= 10;
  *s.variants["incident"].static_global_rate /= 10;
  for (ModelModel* m : {&s.sonnet, &s.haiku}) m->capacity_rps = m->quota_rps = m->capacity_rps / 10;
  const RunResult inc = run_variant(s, "incident");
  const RunResult fix = run_variant(s, "fixed");
  // About half of the peak is refused, and legitimate first-time visitors read "too fast".
  const double refused = static_cast<double>(inc.phases[1].legit_too_fast) /
                         static_cast<double>(inc.phases[1].messages);
  EXPECT_GT(refused, 0.3);
  EXPECT_LT(refused, 0.7);
  EXPECT_EQ(fix.total.legit_too_fast, 0u);
  EXPECT_LT(fix.total.user_error_rate, 0.01);
  EXPECT_LT(fix.total.p99_latency_s, 3.0);
}

TEST(SimulatorTest, S3SalePricesOutliveTheSaleOnlyInTheIncidentCache) {
  const Scenario s = load("s3-stale-prices");
  const RunResult inc = run_variant(s, "incident");
  const RunResult fix = run_variant(s, "fixed");
  EXPECT_EQ(inc.phases[0].stale_price_serves, 0u);  // during the sale the price was right
  EXPECT_GT(inc.phases[1].stale_price_serves, 1000u);
  EXPECT_EQ(fix.total.stale_price_serves, 0u);
  EXPECT_LT(fix.total.user_error_rate, 0.01);
}

TEST(SimulatorTest, S4UniformSamplingKeepsAHandfulOfErrorTracesTailSamplingKeepsAll) {
  const Scenario s = load("s4-sampling-gap");
  const RunResult inc = run_variant(s, "incident");
  const RunResult fix = run_variant(s, "fixed");
  EXPECT_GT(inc.phases[1].error_requests, 500u);
  EXPECT_LT(inc.phases[1].error_traces_kept_ratio, 0.15);
  EXPECT_EQ(fix.total.error_traces, fix.total.error_requests);
  EXPECT_LT(fix.total.user_error_rate, 0.01);
}

TEST(SimulatorTest, S5TryAgainMakesUsersResendTheV2MessageDoesNot) {
  const Scenario s = load("s5-confusing-degradation");
  const RunResult inc = run_variant(s, "incident");
  const RunResult fix = run_variant(s, "fixed");
  EXPECT_GT(inc.phases[1].user_retry_load, 0.2);
  EXPECT_LT(fix.phases[1].user_retry_load, 0.05);
  // Fewer messages in all: the re-sends are what the v1 wording added.
  EXPECT_GT(inc.total.messages, fix.total.messages);
}

TEST(SimulatorTest, TheSameSeedGivesTheSameRunByteForByte) {
  Scenario s = load("s1-backoff-storm");
  s.duration_s = 200;
  s.incident_end_s = 180;
  const RunResult a = run_variant(s, "incident", 42);
  const RunResult b = run_variant(s, "incident", 42);
  const RunResult c = run_variant(s, "incident", 43);
  EXPECT_EQ(timeline_csv(a), timeline_csv(b));
  EXPECT_EQ(to_json(a, false), to_json(b, false));
  EXPECT_NE(timeline_csv(a), timeline_csv(c));
  EXPECT_NE(impact_table({a}).find("s1-backoff-storm"), std::string::npos);
  const std::string html = html_report(s, {a, c});
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("secondary throttle rate"), std::string::npos);
}

TEST(LatencyHistogramTest, QuantilesAreUpperBoundsWithinFivePercent) {
  LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.add(i);  // 1..1000 ms
  EXPECT_EQ(h.total(), 1000u);
  EXPECT_GE(h.quantile_s(0.99), 0.990);
  EXPECT_LE(h.quantile_s(0.99), 0.990 * 1.05 + 1e-9);
  EXPECT_GE(h.quantile_s(0.5), 0.5);
  EXPECT_LE(h.quantile_s(0.5), 0.5 * 1.05 + 1e-9);
  EXPECT_EQ(LatencyHistogram{}.quantile_s(0.99), 0.0);
}

}  // namespace
}  // namespace ma::sim
