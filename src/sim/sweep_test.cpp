#include "sim/sweep.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/toml.hpp"
#include "sim/report.hpp"

namespace ma::sim {
namespace {

using ::testing::HasSubstr;

const std::string kScenarios = std::string(MA_SOURCE_DIR) + "/scenarios/";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A small fleet whose Sonnet loses most of its capacity from 10 s to 30 s of a 40 s run; no
// variant table (every variant setting is this project's default until a sweep sets one).
constexpr const char* kSmall = R"(name = "sweep-small"
duration_s = 40
incident_start_s = 10
incident_end_s = 30
tasks = 4
seed = 7

[traffic]
rate = 20.0
users = 5000

[models.sonnet]
capacity_rps = 40
[[models.sonnet.fault]]
start_s = 10
end_s = 30
kind = "capacity"
value = 2

[models.haiku]
capacity_rps = 10
)";

SweepAxis axis(std::string_view arg) {
  auto a = parse_sweep_arg(arg);
  EXPECT_TRUE(a.ok()) << arg << ": " << (a.ok() ? "" : a.error().message);
  return a.ok() ? std::move(a).value() : SweepAxis{};
}

std::vector<SweepValue> values(std::string_view arg) { return axis(arg).values; }

// The message of a refused --sweep argument ("" when it is taken).
std::string refusal(std::string_view arg) {
  auto a = parse_sweep_arg(arg);
  if (a.ok()) return "";
  EXPECT_EQ(a.error().code, "invalid_sweep");
  return a.error().message;
}

// The message of a refused plan ("" when it is made).
std::string plan_refusal(std::string_view toml, const std::vector<std::string>& variants,
                         const std::vector<std::string>& args) {
  std::vector<SweepAxis> axes;
  for (const auto& a : args) axes.push_back(axis(a));
  auto p = plan_sweep(toml, "t.toml", variants, axes);
  return p.ok() ? "" : p.error().message;
}

RunOptions short_run(double duration_s) {
  RunOptions o;
  o.data_dir = std::string(MA_SOURCE_DIR) + "/data";
  o.duration_s = duration_s;
  return o;
}

using V = std::vector<SweepValue>;

// The variant's retry attempts, as the scenario file names them.
std::string attempts_key() { return "retry.max_attempts"; }

TEST(SweepArgTest, WholeRangesStepOne) {
  EXPECT_EQ(axis("max_attempts=1..5").key, "max_attempts");
  EXPECT_EQ(values("max_attempts=1..5"), (V{1L, 2L, 3L, 4L, 5L}));
  EXPECT_EQ(values("x=-2..1"), (V{-2L, -1L, 0L, 1L}));
  EXPECT_EQ(values("x=3..3"), (V{3L}));
  EXPECT_EQ(values("x = 1 .. 2"), (V{1L, 2L}));
}

TEST(SweepArgTest, StepsOfWholeNumbersStayWholeOthersAreNumbers) {
  EXPECT_EQ(values("x=10..50:10"), (V{10L, 20L, 30L, 40L, 50L}));
  EXPECT_EQ(values("x=1..10:4"), (V{1L, 5L, 9L}));  // 10 is not reached
  EXPECT_EQ(values("x=0.5..2:0.5"), (V{0.5, 1.0, 1.5, 2.0}));
  // b is included within rounding, and each value is the one its text says.
  EXPECT_EQ(values("x=0.1..0.3:0.1"), (V{0.1, 0.2, 0.3}));
  EXPECT_EQ(values("x=0..1:0.1").size(), 11u);
  EXPECT_EQ(values("x=1..2:0.5"), (V{1.0, 1.5, 2.0}));
  EXPECT_EQ(values("x=0..1:0.3"), (V{0.0, 0.3, 0.6, 0.9}));
}

TEST(SweepArgTest, ListItemsAreTyped) {
  EXPECT_EQ(values("jitter=none,full,decorrelated"),
            (V{std::string("none"), std::string("full"), std::string("decorrelated")}));
  EXPECT_EQ(values("v=1, 2.5 ,true,false,abc,\"3\",-4,1e3"),
            (V{1L, 2.5, true, false, std::string("abc"), std::string("3"), -4L, 1000.0}));
  EXPECT_EQ(values("tasks=8"), (V{8L}));
  EXPECT_EQ(values("name=\"a,b\""), (V{std::string("a,b")}));
  EXPECT_EQ(axis("models.sonnet.capacity_rps=5").key, "models.sonnet.capacity_rps");
}

TEST(SweepArgTest, ValuesAreWrittenAsTheyWouldBeTyped) {
  EXPECT_EQ(sweep_value_text(SweepValue{3L}), "3");
  EXPECT_EQ(sweep_value_text(SweepValue{2.0}), "2.0");
  EXPECT_EQ(sweep_value_text(SweepValue{0.3}), "0.3");
  EXPECT_EQ(sweep_value_text(SweepValue{false}), "false");
  EXPECT_EQ(sweep_value_text(SweepValue{std::string("full")}), "full");
  EXPECT_EQ(sweep_value_text(SweepValue{std::string("3")}), "\"3\"");
  EXPECT_EQ(sweep_value_text(SweepValue{std::string("true")}), "\"true\"");
}

TEST(SweepArgTest, MistakesAreRefusedWithTheArgument) {
  EXPECT_THAT(refusal("max_attempts"), HasSubstr("give key=values"));
  EXPECT_THAT(refusal("=1,2"), HasSubstr("no key"));
  EXPECT_THAT(refusal("x="), HasSubstr("no values"));
  EXPECT_THAT(refusal("x=1,,2"), HasSubstr("an empty value"));
  EXPECT_THAT(refusal("x=1,"), HasSubstr("an empty value"));
  EXPECT_THAT(refusal("x=5..1"), HasSubstr("reversed"));
  EXPECT_THAT(refusal("x=2..1:0.5"), HasSubstr("reversed"));
  EXPECT_THAT(refusal("x=1..5:0"), HasSubstr("step must be above 0"));
  EXPECT_THAT(refusal("x=1..5:-1"), HasSubstr("step must be above 0"));
  EXPECT_THAT(refusal("x=0.5..2:0"), HasSubstr("step must be above 0"));
  EXPECT_THAT(refusal("x=0.5..2"), HasSubstr("a range without a step is of whole numbers"));
  EXPECT_THAT(refusal("x=a..b"), HasSubstr("a range is a..b or a..b:step"));
  EXPECT_THAT(refusal("x=1..2:fast"), HasSubstr("a range is a..b or a..b:step"));
  EXPECT_THAT(refusal("x=0..10000"), HasSubstr("10001 values; at most 10000"));
  EXPECT_THAT(refusal("x=0..1:0.00001"), HasSubstr("more than 10000 values"));
  EXPECT_THAT(refusal("x=1..3,5"), HasSubstr("a list does not hold ranges"));
  EXPECT_THAT(refusal("traffic..rate=1"), HasSubstr("an empty segment"));
  EXPECT_THAT(refusal("traffic rate=1"), HasSubstr("a key is dotted names"));
  EXPECT_EQ(refusal("x=1..5:-1"), "--sweep x=1..5:-1: the step must be above 0");
  EXPECT_EQ(refusal("x=0..9999"), "");
}

// The scenario text a sweep writes back out reads as the file does, for every seed scenario.
TEST(SweepPlanTest, TheScenarioFilesSurviveTheRoundTripThroughToml) {
  for (const auto& f : std::filesystem::directory_iterator(kScenarios)) {
    if (f.path().extension() != ".toml") continue;
    const toml::table t = toml::parse(read(f.path().string()));
    std::ostringstream out;
    out << toml::toml_formatter{t};
    EXPECT_EQ(toml::parse(out.str()), t) << f.path();
    // With no axis the one point is the file as it is, refused the same way if it is.
    auto p = plan_sweep(read(f.path().string()), f.path().string(), {"fixed"}, {});
    auto direct = load_scenario(f.path().string());
    ASSERT_EQ(p.ok(), direct.ok()) << (p.ok() ? direct.error().message : p.error().message);
    if (p.ok()) {
      EXPECT_EQ(p->size(), 1u);
      EXPECT_EQ(p->front().scenario.name, direct->name);
    } else {
      EXPECT_EQ(p.error().message, direct.error().message);
    }
  }
}

TEST(SweepPlanTest, TheGridIsEveryCombinationLastAxisFastest) {
  auto p = plan_sweep(kSmall, "t.toml", {"fixed"},
                      {axis("traffic.rate=10,20,30"), axis("tasks=4,8"), axis("seed=1..2")});
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->size(), 12u);
  std::vector<std::string> order;
  for (const auto& pt : *p) {
    EXPECT_EQ(pt.variant, "fixed");
    ASSERT_EQ(pt.settings.size(), 3u);
    EXPECT_EQ(pt.settings[0].path, "traffic.rate");
    EXPECT_EQ(pt.settings[1].path, "tasks");
    EXPECT_EQ(pt.scenario.traffic.rate,
              static_cast<double>(std::get<std::int64_t>(pt.settings[0].value)));
    EXPECT_EQ(pt.scenario.tasks, std::get<std::int64_t>(pt.settings[1].value));
    EXPECT_EQ(pt.scenario.seed,
              static_cast<std::uint64_t>(std::get<std::int64_t>(pt.settings[2].value)));
    order.push_back(std::to_string(pt.scenario.traffic.rate).substr(0, 2) + "/" +
                    std::to_string(pt.scenario.tasks) + "/" + std::to_string(pt.scenario.seed));
    // What the sweep does not set stays as the file has it.
    EXPECT_EQ(pt.scenario.traffic.users, 5000);
    EXPECT_EQ(pt.scenario.sonnet.faults.size(), 1u);
  }
  EXPECT_EQ(order,
            (std::vector<std::string>{"10/4/1", "10/4/2", "10/8/1", "10/8/2", "20/4/1", "20/4/2",
                                      "20/8/1", "20/8/2", "30/4/1", "30/4/2", "30/8/1", "30/8/2"}));
}

TEST(SweepPlanTest, BothVariantsRunTheGridEachInTurn) {
  auto p = plan_sweep(kSmall, "t.toml", {"incident", "fixed"}, {axis("tasks=2,3")});
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->size(), 4u);
  EXPECT_EQ((*p)[0].variant, "incident");
  EXPECT_EQ((*p)[1].variant, "incident");
  EXPECT_EQ((*p)[2].variant, "fixed");
  EXPECT_EQ((*p)[3].scenario.tasks, 3);
}

TEST(SweepPlanTest, KeysTheScenarioHasNotSetAreFoundAtTheTopLevelOrInTheVariant) {
  // behaviour is a top-level table the file does not have; the parser takes it there.
  auto p = plan_sweep(kSmall, "t.toml", {"fixed"},
                      {axis("behaviour.resend_bias=-1.5"), axis("models.haiku.quota_rps=7")});
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ((*p)[0].settings[0].path, "behaviour.resend_bias");
  EXPECT_EQ((*p)[0].scenario.behaviour.resend_bias, -1.5);
  EXPECT_EQ((*p)[0].scenario.haiku.quota_rps, 7.0);
  EXPECT_EQ((*p)[0].scenario.haiku.capacity_rps, 10.0);
}

TEST(SweepPlanTest, AVariantSettingIsSetUnderTheSweptVariantOnly) {
  const std::string key = attempts_key();
  auto p = plan_sweep(kSmall, "t.toml", {"incident", "fixed"}, {axis(key + "=2")});
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].settings[0].key, key);
  EXPECT_EQ((*p)[0].settings[0].path, "variant.incident." + key);
  EXPECT_EQ((*p)[0].scenario.variants.at("incident").max_attempts, 2);
  EXPECT_FALSE((*p)[0].scenario.variants.at("fixed").max_attempts.has_value());
  EXPECT_EQ((*p)[1].settings[0].path, "variant.fixed." + key);
  EXPECT_EQ((*p)[1].scenario.variants.at("fixed").max_attempts, 2);
  EXPECT_FALSE((*p)[1].scenario.variants.at("incident").max_attempts.has_value());
}

TEST(SweepPlanTest, AnElementOfAListOfTablesIsNamedByItsIndex) {
  auto p = plan_sweep(kSmall, "t.toml", {"fixed"}, {axis("models.sonnet.fault.0.value=3,4")});
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ((*p)[1].scenario.sonnet.faults.at(0).value, 4.0);
  EXPECT_EQ((*p)[1].scenario.sonnet.faults.at(0).start_s, 10.0);
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"models.sonnet.fault.value=3"}),
              HasSubstr("models.sonnet.fault is a list of 1 entries; name one by its index"));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"models.sonnet.fault.1.value=3"}),
              HasSubstr("models.sonnet.fault is a list of 1 entries"));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"traffic.rate.x=3"}),
              HasSubstr("--sweep traffic.rate.x: traffic.rate is a value, not a table"));
}

TEST(SweepPlanTest, BadKeysAndValuesAreRefusedWithTheScenariosMessage) {
  // Not a top-level key, so a variant setting, which the variant does not have.
  EXPECT_EQ(plan_refusal(kSmall, {"fixed"}, {"no_such_knob=1"}),
            "unknown key variant.fixed.no_such_knob (at the sweep's point variant fixed, "
            "no_such_knob=1)");
  EXPECT_THAT(plan_refusal(kSmall, {"incident"}, {"nested.knob=1"}),
              HasSubstr("unknown key variant.incident.nested"));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"traffic.rte=3"}),
              HasSubstr("unknown key traffic.rte"));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"traffic.rate=10,fast"}),
              HasSubstr("traffic.rate must be a number, not a string (at the sweep's point "
                        "variant fixed, traffic.rate=fast)"));
  // A top-level key refused for its value is still named as the top-level key.
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"tasks=4,0"}),
              HasSubstr("t.toml: tasks must be within 1..1024"));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"variant.fixed.max_attempts=2"}),
              HasSubstr("without variant.<name>."));
  EXPECT_THAT(plan_refusal(kSmall, {"both"}, {"tasks=4"}), HasSubstr("no variant \"both\""));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"tasks=4", "tasks=5"}),
              HasSubstr("--sweep tasks is given twice"));
  EXPECT_THAT(plan_refusal(kSmall, {"fixed"}, {"tasks=1..100", "seed=1..101"}),
              HasSubstr("more than 10000 points (100 x 101)"));
  EXPECT_EQ(plan_refusal(kSmall, {"fixed"}, {"tasks=1..100", "seed=1..100"}), "");
  EXPECT_THAT(plan_refusal("name = 3\n", {"fixed"}, {"tasks=4"}),
              HasSubstr("name must be a string"));
}

// The figures of a run, every one but the wall time.
std::vector<std::string> figures(const std::vector<SweepPoint>& points) {
  std::vector<std::string> out;
  for (const auto& p : points) out.push_back(to_json(p.result, /*with_wall=*/false));
  return out;
}

TEST(SweepRunTest, APointsResultIsTheSameOnOneThreadOrTwoAndAsARunOfItsOwn) {
  const std::string s1 = read(kScenarios + "s1-backoff-storm.toml");
  const std::vector<SweepAxis> axes = {axis("traffic.rate=20,40")};
  SweepOptions o;
  o.run = short_run(30);
  o.threads = 1;
  auto one = sweep(s1, "s1.toml", {"fixed"}, axes, o);
  ASSERT_TRUE(one.ok()) << one.error().message;
  o.threads = 2;
  auto two = sweep(s1, "s1.toml", {"fixed"}, axes, o);
  ASSERT_TRUE(two.ok()) << two.error().message;
  ASSERT_EQ(one->size(), 2u);
  EXPECT_EQ(figures(*one), figures(*two));
  EXPECT_NE(figures(*one)[0], figures(*one)[1]);

  // The first point is the scenario file run with its rate set to 20.
  auto s = load_scenario(kScenarios + "s1-backoff-storm.toml");
  ASSERT_TRUE(s.ok());
  s->traffic.rate = 20;
  auto alone = run(*s, "fixed", short_run(30));
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(to_json(*alone, false), figures(*one)[0]);
}

TEST(SweepRunTest, FewerAttemptsMakeFewerModelCallsPerMessage) {
  SweepOptions o;
  o.run = short_run(0);  // the scenario's 40 s
  o.threads = 2;
  std::vector<std::pair<std::size_t, std::size_t>> progress;
  o.progress = [&](std::size_t done, std::size_t total) { progress.emplace_back(done, total); };
  auto r = sweep(kSmall, "t.toml", {"incident"}, {axis(attempts_key() + "=1,4")}, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const Summary& one = (*r)[0].result.phases[1];
  const Summary& four = (*r)[1].result.phases[1];
  EXPECT_GT(one.messages, 0u);
  EXPECT_LT(one.retry_amplification, four.retry_amplification);
  EXPECT_EQ(progress, (std::vector<std::pair<std::size_t, std::size_t>>{{1, 2}, {2, 2}}));
}

TEST(SweepRunTest, AFailedRunNamesTheFirstFailingPoint) {
  SweepOptions o;
  o.run = short_run(1);
  o.run.data_dir = "/nonexistent";
  o.threads = 2;
  auto r = sweep(kSmall, "t.toml", {"fixed"}, {axis("tasks=1..3")}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("(at the sweep's point variant fixed, tasks=1)"));
}

SweepPoint fake_point(std::string variant, std::vector<SweepSetting> settings, double error_rate) {
  SweepPoint p;
  p.variant = std::move(variant);
  p.settings = std::move(settings);
  p.result.scenario = "s-test";
  p.result.variant = p.variant;
  p.result.seed = 3;
  p.result.incident_start_s = 10;
  p.result.incident_end_s = 30;
  p.result.duration_s = 40;
  p.result.phases[1].user_error_rate = error_rate;
  p.result.phases[1].p99_latency_s = 2.5;
  p.result.phases[1].retry_amplification = 1.25;
  p.result.phases[1].stale_price_serves = 12;
  p.result.phases[1].cost_usd = 0.5;
  return p;
}

TEST(SweepReportTest, OneRowPerPointSettingsThenTheFiguresDuringTheIncident) {
  const std::vector<SweepPoint> points = {
      fake_point("fixed",
                 {{"tasks", "tasks", SweepValue{4L}},
                  {"jitter", "variant.fixed.jitter", SweepValue{std::string("full")}}},
                 0.125),
      fake_point("fixed",
                 {{"tasks", "tasks", SweepValue{16L}},
                  {"jitter", "variant.fixed.jitter", SweepValue{std::string("none")}}},
                 0.5)};
  const std::string t = sweep_table(points);
  EXPECT_EQ(t,
            "s-test  (seed 3, incident window 10-30 s of 40 s)\n"
            "during the incident, 2 points, variant fixed\n"
            "tasks | jitter | error rate | p99 (s) | retry amp | 2nd throttle | cache serve | "
            "retry load | stale prices | cost (USD)\n" +
                std::string(119, '-') +
                "\n"
                "4     | full   |     12.50% |    2.50 |      1.25 |        0.00% |       0.00% "
                "|     +0.00% |           12 |    $0.5000\n"
                "16    | none   |     50.00% |    2.50 |      1.25 |        0.00% |       0.00% "
                "|     +0.00% |           12 |    $0.5000\n");
  EXPECT_THAT(sweep_table({points[0], fake_point("incident", points[0].settings, 0)}),
              HasSubstr("variant  | tasks | jitter |"));
}

TEST(SweepReportTest, WhenTheScenarioStatesTargetsEachRowSaysHowManyItMeets) {
  std::vector<SweepPoint> points = {
      fake_point("fixed", {{"tasks", "tasks", SweepValue{4L}}}, 0.005),
      fake_point("fixed", {{"tasks", "tasks", SweepValue{16L}}}, 0.5)};
  for (SweepPoint& p : points) {
    p.result.targets = {SeedFigure{"user_error_rate", std::nullopt, -1e300, 0.01, ""},
                        SeedFigure{"p99_latency_s", std::nullopt, -1e300, 3.0, ""}};
  }
  const std::string t = sweep_table(points);
  EXPECT_THAT(t, HasSubstr("| in range\n"));
  EXPECT_THAT(t, HasSubstr("$0.5000 |      2/2\n"));
  EXPECT_THAT(t, HasSubstr("$0.5000 |      1/2\n"));
}

TEST(SweepReportTest, JsonKeepsTheSettingsTypedAndTheRunsFigures) {
  const SweepPoint p =
      fake_point("fixed",
                 {{"tasks", "tasks", SweepValue{4L}},
                  {"rate", "traffic.rate", SweepValue{2.5}},
                  {"hedge", "variant.fixed.hedge", SweepValue{true}},
                  {"jitter", "variant.fixed.jitter", SweepValue{std::string("full")}}},
                 0.125);
  const std::string line = sweep_json(p);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v.at("variant").as_string(), "fixed");
  EXPECT_EQ(v.at("seed").to_number<int>(), 3);
  const auto& s = v.at("settings").as_object();
  EXPECT_EQ(s.at("tasks").as_int64(), 4);
  EXPECT_EQ(s.at("rate").as_double(), 2.5);
  EXPECT_EQ(s.at("hedge").as_bool(), true);
  EXPECT_EQ(s.at("jitter").as_string(), "full");
  EXPECT_EQ(v.at("during").at("user_error_rate").as_double(), 0.125);
  EXPECT_EQ(v.at("during").at("stale_price_serves").to_number<int>(), 12);
  EXPECT_EQ(v.at("run").at("phases").at(1).at("user_error_rate").as_double(), 0.125);
  EXPECT_FALSE(v.at("run").as_object().contains("wall_s"));
}

}  // namespace
}  // namespace ma::sim
