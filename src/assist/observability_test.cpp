// Seed scenario 4 on virtual time: a new error format hits 0.3% of requests (kanji searches)
// while successful requests are sampled at 5%. Every error keeps its trace and its log line,
// the runbook's log query names the new code, and no user sees the raw error.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "core/json_util.hpp"
#include "core/sim_clock.hpp"
#include "core/text.hpp"
#include "fm/simulated_bedrock.hpp"
#include "observe/log_query.hpp"

namespace ma::assist {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ObservabilityScenarioTest, NewErrorFormatIsSeenCompletely) {
  auto cat = catalog::Catalog::open({std::string(MA_SOURCE_DIR) + "/data", ":memory:"});
  ASSERT_TRUE(cat.ok());
  asio::io_context io;
  core::SimClock clock(io);
  fm::SimulatedBedrock sonnet({.name = "sonnet", .latency_median = 300ms, .latency_p99 = 900ms},
                              clock, 1);
  fm::SimulatedBedrock haiku({.name = "haiku", .latency_median = 200ms, .latency_p99 = 600ms},
                             clock, 2);
  // The new format hits requests with kanji: 10% of traffic, 3% of those -> 0.3%.
  sonnet.set_faults({.unknown_error_rate = 0.03});
  haiku.set_faults({.unknown_error_rate = 0.03});
  cache::ResponseCache cache;
  RuntimeFlags flags;
  Pipeline pipeline({clock, **cat, {sonnet, haiku}, cache, flags, nullptr}, {}, 3);

  const std::string base = ::testing::TempDir() + "ma_scenario4_" + std::to_string(::getpid());
  observe::MetricsRegistry metrics;
  observe::AlarmEngine alarms;
  // 5% of successful requests, no reservoir: the seed's uniform sampling.
  auto sampler = observe::Sampler::from_local_json(
      R"({"version":2,"rules":[],"default":{"fixed_target":0,"rate":0.05}})");
  ASSERT_TRUE(sampler.ok());
  {
    observe::LogSink log(base + ".log", false);
    observe::TraceSink traces(base + ".traces");
    RequestObserver observer(clock, metrics, alarms, **sampler, &log, &traces, 9);

    const std::vector<std::string> english = {
        "How much is One Piece volume 100?", "Recommend something like Naruto",
        "Is Bleach volume 3 in stock?", "What is your returns policy?"};
    const std::vector<std::string> kanji = {"鬼滅の刃の23巻はいくら？", "進撃の巨人の在庫",
                                            "呪術廻戦のおすすめ"};
    core::Random rng(77);
    constexpr int kRequests = 10'000;
    int done = 0, raw_error_replies = 0;
    auto one = [&](std::string q, std::string session) -> asio::awaitable<void> {
      ChatRequest req{q, session, std::nullopt, "1-" + session};
      Reply r = co_await pipeline.handle(std::move(req), nullptr, core::Deadline::after(clock, 3s));
      raw_error_replies += r.text.find("TOKENIZER") != std::string::npos ||
                           r.text.find("errorDetail") != std::string::npos;
      observer.on_reply(r, q, session, {});
      ++done;
    };
    for (int i = 0; i < kRequests; ++i) {
      const bool k = rng.chance(0.10);
      const auto& pool = k ? kanji : english;
      asio::co_spawn(io, one(pool[rng.below(pool.size())], "s" + std::to_string(i)),
                     asio::detached);
      clock.advance_by(10ms);  // 100 requests/s
    }
    clock.run_until([&] { return done == kRequests; }, clock.now() + 1min);
    ASSERT_EQ(done, kRequests);
    EXPECT_EQ(raw_error_replies, 0);
  }

  const auto logs = read_lines(base + ".log");
  ASSERT_EQ(logs.size(), 10'000u);  // one line per request, never sampled
  std::set<std::string> error_traces, kept_traces;
  for (const auto& line : logs) {
    auto v = core::parse_json(line);
    ASSERT_TRUE(v.ok());
    if (core::get_string(*v, "error_code") == "TOKENIZER_FAULT") {
      error_traces.insert(std::string(*core::get_string(*v, "trace_id")));
    }
  }
  for (const auto& line : read_lines(base + ".traces")) {
    auto v = core::parse_json(line);
    ASSERT_TRUE(v.ok());
    kept_traces.insert(std::string(*core::get_string(*v, "trace_id")));
  }
  // About 0.3% of 10,000: every one of them kept.
  EXPECT_GT(error_traces.size(), 10u);
  EXPECT_LT(error_traces.size(), 60u);
  for (const auto& t : error_traces) EXPECT_TRUE(kept_traces.contains(t)) << t;
  // Successful requests are sampled at about 5%: far from everything is kept.
  EXPECT_LT(kept_traces.size(), 1500u);

  auto q = observe::parse_log_query(
      R"(filter error_code != "" | stats count by error_code | sort count desc)");
  ASSERT_TRUE(q.ok());
  const auto table = observe::run_log_query(*q, logs);
  ASSERT_FALSE(table.rows.empty());
  EXPECT_EQ(table.rows[0][0], "TOKENIZER_FAULT") << table.format();

  bool anomaly = false;
  for (const auto& a : alarms.evaluate(clock.now())) {
    anomaly |= a.name == "error_code_anomaly" && a.subject == "TOKENIZER_FAULT" && a.firing;
  }
  EXPECT_TRUE(anomaly);
  std::remove((base + ".log").c_str());
  std::remove((base + ".traces").c_str());
}

// The observer on its own: replies built by hand, the request log read back.
class RequestObserverTest : public ::testing::Test {
 protected:
  RequestObserverTest()
      : clock_(io_),
        sampler_(no_head_sampling()),
        path_(::testing::TempDir() + "ma_observer_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log") {
    std::remove(path_.c_str());
    log_ = std::make_unique<observe::LogSink>(path_, false);
    observer_ = std::make_unique<RequestObserver>(clock_, metrics_, alarms_, *sampler_, log_.get(),
                                                  nullptr, 5);
  }
  ~RequestObserverTest() override { std::remove(path_.c_str()); }

  static std::unique_ptr<observe::Sampler> no_head_sampling() {
    auto s = observe::Sampler::from_local_json(
        R"({"version":2,"rules":[],"default":{"fixed_target":0,"rate":0}})");
    EXPECT_TRUE(s.ok());
    return std::move(*s);
  }

  // The log lines written so far, parsed (the sink is closed first: everything flushed).
  std::vector<boost::json::value> lines() {
    observer_.reset();
    log_.reset();
    std::vector<boost::json::value> out;
    for (const auto& line : read_lines(path_)) {
      EXPECT_TRUE(core::is_valid_utf8(line)) << line;
      auto v = core::parse_json(line);
      EXPECT_TRUE(v.ok()) << line;
      if (v.ok()) out.push_back(*v);
    }
    return out;
  }

  asio::io_context io_;
  core::SimClock clock_;
  observe::MetricsRegistry metrics_;
  observe::AlarmEngine alarms_;
  std::unique_ptr<observe::Sampler> sampler_;
  std::string path_;
  std::unique_ptr<observe::LogSink> log_;
  std::unique_ptr<RequestObserver> observer_;
};

TEST_F(RequestObserverTest, TheLoggedQuestionIsRedacted) {
  Reply r;
  r.tier = Tier::kPrimary;
  r.trace_id = "1-redact";
  const std::string question =
      "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐです。電話０９０－１２３４－５６７８か +81 90 1234 5678、"
      "BEARER abc.def.ghi と bearer zzz.yyy、キー sk-abcdefghij0123456789XY で鬼滅の刃の在庫は？";
  observer_->on_reply(r, question, "u-1001", {});
  observer_->on_refused("user", "call me on 090-8765-4321 BeArEr qqq.rrr", "u-1001", "1-refused");
  const auto logged = lines();
  ASSERT_EQ(logged.size(), 2u);
  const std::string q(*core::get_string(logged[0], "question"));
  for (const char* leak : {"taro", "ｔａｒｏ", "1234", "１２３４", "abc.def", "zzz.yyy", "sk-abc"})
    EXPECT_EQ(q.find(leak), std::string::npos) << leak << " in " << q;
  EXPECT_NE(q.find("鬼滅の刃の在庫は"), std::string::npos) << q;
  EXPECT_NE(q.find("[redacted]"), std::string::npos) << q;
  const std::string refused(*core::get_string(logged[1], "question"));
  EXPECT_EQ(refused.find("8765"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("qqq"), std::string::npos) << refused;
  // The user is hashed (keyed), never logged as given.
  EXPECT_EQ(*core::get_string(logged[0], "user"), observe::hash_user("u-1001"));
  EXPECT_NE(*core::get_string(logged[0], "user"), "u-1001");
}

TEST_F(RequestObserverTest, ALongJapaneseQuestionIsCutAtACodePoint) {
  // One ASCII byte first, so that a cut at 600 bytes falls inside a character.
  std::string question = "Q";
  for (int i = 0; i < 400; ++i) question += i % 2 == 0 ? "鬼" : "滅";
  Reply r;
  r.trace_id = "1-long";
  observer_->on_reply(r, question, "u-1", {});
  observer_->on_refused("source", question, "u-1", "1-long-refused");
  const auto logged = lines();
  ASSERT_EQ(logged.size(), 2u);
  for (const auto& v : logged) {
    const std::string q(*core::get_string(v, "question"));
    EXPECT_TRUE(core::is_valid_utf8(q));
    EXPECT_LE(q.size(), observe::kMaxLoggedTextBytes);
    EXPECT_GE(q.size(), observe::kMaxLoggedTextBytes - 3);
    EXPECT_EQ(question.compare(0, q.size(), q), 0);  // a prefix, whole characters
  }
}

TEST_F(RequestObserverTest, FiftyRandomErrorCodesMakeABoundedNumberOfSeriesAndAlarms) {
  core::Random rng(2024);
  std::vector<std::string> codes;
  for (int i = 0; i < 50; ++i) {
    std::string code = "UPSTREAM_";
    for (int k = 0; k < 10; ++k) code += static_cast<char>('A' + rng.below(26));
    codes.push_back(code);
    Reply r;
    r.tier = Tier::kStatic;
    r.degraded = true;
    r.trace_id = "1-" + std::to_string(i);
    r.error_code = code;
    r.error_class = resilience::ErrorClass::kUnknown;
    r.attempts.push_back({"sonnet", code, resilience::ErrorClass::kUnknown, clock_.now(), 10ms});
    r.attempts.push_back(
        {"haiku", "ThrottlingException", resilience::ErrorClass::kThrottling, clock_.now(), 10ms});
    observer_->on_reply(r, "鬼滅の刃", "u-" + std::to_string(i), {});
  }
  observer_->on_refused("user\"}junk", "q", "u-x", "1-x");  // a scope from outside: "other"
  const std::string text = metrics_.render();
  std::set<std::string> error_series;
  std::size_t refused_series = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("mangaassist_model_errors_total{", 0) == 0) error_series.insert(line);
    if (line.rfind("mangaassist_refused_total{", 0) == 0) ++refused_series;
  }
  // sonnet: 8 codes by name and "other"; haiku: ThrottlingException. Not 51.
  EXPECT_EQ(error_series.size(), observe::ErrorCodeLabels::kDefaultMaxNovel + 2) << text;
  EXPECT_NE(text.find("mangaassist_model_errors_total{model=\"sonnet\",error_class=\"unknown\","
                      "error_code=\"other\"} " +
                      std::to_string(50 - observe::ErrorCodeLabels::kDefaultMaxNovel)),
            std::string::npos)
      << text;
  EXPECT_EQ(refused_series, 1u);
  EXPECT_NE(text.find("mangaassist_refused_total{scope=\"other\"} 1"), std::string::npos);

  std::set<std::string> subjects;
  for (const auto& a : alarms_.evaluate(clock_.now())) {
    if (a.name == "error_code_anomaly") subjects.insert(a.subject);
  }
  EXPECT_EQ(subjects.size(), observe::ErrorCodeLabels::kDefaultMaxNovel + 2);
  EXPECT_TRUE(subjects.contains("other"));
  EXPECT_TRUE(subjects.contains("ThrottlingException"));

  // The raw code is never lost: every one is in its log line.
  const auto logged = lines();
  ASSERT_EQ(logged.size(), 51u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(*core::get_string(logged[static_cast<std::size_t>(i)], "error_code"), codes[i]);
    EXPECT_NE(core::get_string(logged[static_cast<std::size_t>(i)], "models")->find(codes[i]),
              std::string::npos);
  }
}

}  // namespace
}  // namespace ma::assist
