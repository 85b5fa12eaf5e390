// Seed scenario 4 on virtual time: a new error format hits 0.3% of requests (kanji searches)
// while successful requests are sampled at 5%. Every error keeps its trace and its log line,
// the runbook's log query names the new code, and no user sees the raw error.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <set>

#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "core/json_util.hpp"
#include "core/sim_clock.hpp"
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
  Pipeline pipeline({clock, **cat, sonnet, haiku, cache, flags, nullptr}, {}, 3);

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

}  // namespace
}  // namespace ma::assist
