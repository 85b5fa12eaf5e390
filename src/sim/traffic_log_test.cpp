// Reading recorded traffic from a request log written by the server's own observer
// (assist::RequestObserver -> observe::LogSink -> observe::to_json_line).
#include "sim/traffic_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "assist/observer.hpp"
#include "core/sim_clock.hpp"
#include "core/wall_time.hpp"
#include "observe/trace.hpp"

namespace ma::sim {
namespace {

using namespace std::chrono_literals;

// Five messages, logged when each completes (the file is in completion order, not arrival
// order), then a trace line, a blank line, a line that is not JSON and a request line with
// an unreadable time. Arrivals, in seconds after t0:
//   A 0.000  queued 200 ms, answered in 800 ms, done at 1.0   (signed-in user, ja, pricing)
//   B 0.500  refused by the per-user limit at 0.5              (anonymous session, ja)
//   C 1.195  deduplicated, 5 ms, done at 1.2                   (no session: by address, en)
//   D 0.500  answered in 2.5 s, done at 3.0                    (signed-in user, en)
//   E 1.000  waited 3 s in the queue, high-demand reply at 4.0 (anonymous session, ja)
class TrafficLogTest : public ::testing::Test {
 protected:
  TrafficLogTest()
      : clock_(io_),
        path_(::testing::TempDir() + "ma_traffic_log_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log") {
    t0_ = clock_.wall_now();
    write_log();
  }
  ~TrafficLogTest() override { std::remove(path_.c_str()); }

  void write_log() {
    std::remove(path_.c_str());
    auto sampler = observe::Sampler::from_local_json(
        R"({"version":2,"rules":[],"default":{"fixed_target":0,"rate":0}})");
    ASSERT_TRUE(sampler.ok());
    observe::MetricsRegistry metrics;
    observe::AlarmEngine alarms;
    {
      observe::LogSink log(path_, false);
      assist::RequestObserver observer(clock_, metrics, alarms, **sampler, &log, nullptr, 7);
      auto reply = [](assist::Tier tier, assist::Intent intent, fm::Language lang,
                      core::Duration latency, std::string trace_id) {
        assist::Reply r;
        r.tier = tier;
        r.intent = intent;
        r.lang = lang;
        r.latency = latency;
        r.trace_id = std::move(trace_id);
        return r;
      };
      clock_.advance_by(500ms);
      observer.on_refused("user", "Bleach 3巻はいくら？", "s:s1.session-b", "1-b");
      clock_.advance_by(500ms);
      assist::Reply a =
          reply(assist::Tier::kPrimary, assist::Intent::kPricing, fm::Language::kJa, 800ms, "1-a");
      a.price_guard = assist::GuardOutcome::kOk;
      a.price_guard_product = "onepiece-105";
      observer.on_reply(a, "ONE PIECEの105巻はいくら？", "u:u-1001",
                        {assist::AdmissionOutcome::kQueued, 200ms});
      clock_.advance_by(200ms);
      assist::Reply c =
          reply(assist::Tier::kPrimary, assist::Intent::kFaq, fm::Language::kEn, 5ms, "1-c");
      c.deduplicated = true;
      observer.on_reply(c, "How do I return an order?", "a:10.0.0.7", {});
      clock_.advance_by(1800ms);
      observer.on_reply(reply(assist::Tier::kSecondary, assist::Intent::kRecommendation,
                              fm::Language::kEn, 2500ms, "1-d"),
                        "Recommend something like Frieren", "u:u-1002", {});
      clock_.advance_by(1s);
      assist::Reply e =
          reply(assist::Tier::kDegraded, assist::Intent::kGeneral, fm::Language::kJa, 0ms, "1-e");
      e.degraded = true;
      observer.on_reply(e, "鬼滅の刃の新刊は？", "s:s1.session-e",
                        {assist::AdmissionOutcome::kQueueTimeout, 3s});
    }  // the sink flushes when it closes
    std::ofstream out(path_, std::ios::app);
    observe::Trace trace{"1-a", {{"0", "", "chat", t0_, 1s, false, {{"tier", "primary"}}}}};
    out << observe::to_json_line(trace) << "\n\n";
    out << "{\"time\":\"2026-11-26T12:00:00.000Z\",\"level\":\"INFO\",\"trace_id\n";  // cut
    out << R"({"time":"yesterday","latency_ms":12.000,"question":"?"})"
        << "\n";
  }

  // Seconds after t0 as a wall time.
  core::WallTime at(double s) const {
    return t0_ +
           std::chrono::duration_cast<core::WallTime::duration>(std::chrono::duration<double>(s));
  }

  boost::asio::io_context io_;
  core::SimClock clock_;
  core::WallTime t0_;
  std::string path_;
};

std::vector<double> arrivals(const TrafficLog& log) {
  std::vector<double> out;
  for (const auto& m : log.messages) out.push_back(m.at_s);
  return out;
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << "at " << i;
}

TEST_F(TrafficLogTest, ArrivalIsCompletionMinusLatencyAndQueueWaitInArrivalOrder) {
  auto log = read_traffic_log(path_, {});
  ASSERT_TRUE(log.ok()) << log.error().message;
  // A, B, D (B before D: the same instant, B's line first), E, C.
  expect_near_all(arrivals(*log), {0.0, 0.5, 0.5, 1.0, 1.195});
  std::vector<std::string> questions;
  for (const auto& m : log->messages) questions.push_back(m.question);
  EXPECT_EQ(questions,
            (std::vector<std::string>{"ONE PIECEの105巻はいくら？", "Bleach 3巻はいくら？",
                                      "Recommend something like Frieren", "鬼滅の刃の新刊は？",
                                      "How do I return an order?"}));
  // No `since`: the window starts at the first arrival, which is A's, not the first line's.
  EXPECT_EQ(log->start, t0_);
  EXPECT_NEAR(log->span_s, 1.195, 1e-6);
}

TEST_F(TrafficLogTest, TheLoggedFieldsAreKept) {
  auto log = read_traffic_log(path_, {});
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->messages.size(), 5u);
  const LoggedMessage& a = log->messages[0];
  EXPECT_EQ(a.user, observe::hash_user("u:u-1001"));
  EXPECT_EQ(a.intent, "pricing");
  EXPECT_EQ(a.language, "ja");
  EXPECT_EQ(a.product_id, "onepiece-105");
  // A refused message was sent all the same: kept, with the hashed session, but it was never
  // classified.
  const LoggedMessage& b = log->messages[1];
  EXPECT_EQ(b.user, observe::hash_user("s:s1.session-b"));
  EXPECT_EQ(b.intent, "");
  EXPECT_EQ(b.language, "");
  EXPECT_EQ(b.product_id, "");
  const LoggedMessage& d = log->messages[2];
  EXPECT_EQ(d.intent, "recommendation");
  EXPECT_EQ(d.language, "en");
  const LoggedMessage& c = log->messages[4];  // deduplicated: still an arrival
  EXPECT_EQ(c.user, observe::hash_user("a:10.0.0.7"));
  EXPECT_EQ(c.intent, "faq");
  std::set<std::string> users;
  for (const auto& m : log->messages) {
    EXPECT_TRUE(m.user.starts_with("u_") && m.user.size() == 14) << m.user;
    users.insert(m.user);
  }
  EXPECT_EQ(users.size(), 5u);
}

TEST_F(TrafficLogTest, LinesThatAreNotRequestsAreSkippedAndCounted) {
  auto log = read_traffic_log(path_, {});
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_EQ(log->lines, 8u);         // five requests, a trace, two bad lines (the blank one: none)
  EXPECT_EQ(log->not_requests, 1u);  // the trace line
  EXPECT_EQ(log->malformed, 2u);     // the cut line, and "time":"yesterday"
  EXPECT_EQ(log->skipped(), 3u);
  EXPECT_EQ(log->outside_window, 0u);
}

TEST_F(TrafficLogTest, TheWindowFiltersOnTheArrivalAndIsHalfOpen) {
  LogWindow w;
  w.since = at(0.25);
  w.until = at(1.0);  // E arrived at exactly 1.0: out
  auto log = read_traffic_log(path_, w);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->messages.size(), 2u);  // B and D; A (completed at 1.0) arrived before
  expect_near_all(arrivals(*log), {0.25, 0.25});
  EXPECT_EQ(log->start, at(0.25));
  EXPECT_EQ(log->outside_window, 3u);

  w.since = at(1.0);
  w.until.reset();
  log = read_traffic_log(path_, w);
  ASSERT_TRUE(log.ok()) << log.error().message;
  expect_near_all(arrivals(*log), {0.0, 0.195});  // E, C
}

TEST_F(TrafficLogTest, TheSpeedUpDividesTheTimeline) {
  LogWindow w;
  w.speedup = 10;
  auto log = read_traffic_log(path_, w);
  ASSERT_TRUE(log.ok()) << log.error().message;
  expect_near_all(arrivals(*log), {0.0, 0.05, 0.05, 0.1, 0.1195});
  EXPECT_NEAR(log->span_s, 0.1195, 1e-6);

  w.speedup = 0.5;  // slowed down
  w.since = at(-1);
  log = read_traffic_log(path_, w);
  ASSERT_TRUE(log.ok()) << log.error().message;
  expect_near_all(arrivals(*log), {2.0, 3.0, 3.0, 4.0, 4.39});
}

TEST_F(TrafficLogTest, TheWindowCanBeGivenAsTheScenarioFileWritesIt) {
  // t0 in Tokyo time: the window [t0 + 0.5 s, t0 + 1.5 s).
  const auto tokyo = [&](double s) {
    const std::string utc = core::format_rfc3339(at(s) + 9h);
    return utc.substr(0, utc.size() - 1) + "+09:00";
  };
  auto w = LogWindow::parse(tokyo(0.5), tokyo(1.5), 2);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->since, at(0.5));
  EXPECT_EQ(w->until, at(1.5));
  auto log = read_traffic_log(path_, *w);
  ASSERT_TRUE(log.ok()) << log.error().message;
  expect_near_all(arrivals(*log), {0.0, 0.0, 0.25, 0.3475});  // B, D, E, C

  auto open = LogWindow::parse("", "", 1);
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(open->since);
  EXPECT_FALSE(open->until);
}

TEST_F(TrafficLogTest, ErrorsNameTheCause) {
  auto missing = read_traffic_log(path_ + ".missing", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
  EXPECT_EQ(missing.error().message, "cannot read the request log " + path_ + ".missing");

  auto dir = read_traffic_log(::testing::TempDir(), {});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code, "not_found");

  LogWindow late;
  late.since = at(60);
  late.until = at(120);
  auto empty = read_traffic_log(path_, late);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "invalid_scenario");
  EXPECT_NE(empty.error().message.find("no requests in the log"), std::string::npos);
  EXPECT_NE(empty.error().message.find(core::format_rfc3339(at(60))), std::string::npos)
      << empty.error().message;

  for (double speedup : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::infinity()}) {
    LogWindow w;
    w.speedup = speedup;
    auto r = read_traffic_log(path_, w);
    ASSERT_FALSE(r.ok()) << speedup;
    EXPECT_EQ(r.error().code, "invalid_scenario");
    EXPECT_FALSE(LogWindow::parse("", "", speedup).ok()) << speedup;
  }

  LogWindow backwards;
  backwards.since = at(2);
  backwards.until = at(1);
  auto r = read_traffic_log(path_, backwards);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_scenario");
  auto p = LogWindow::parse("2026-11-26T21:00:00+09:00", "2026-11-26T12:00:00Z", 1);
  ASSERT_FALSE(p.ok());  // the same instant: an empty window
  EXPECT_EQ(p.error().code, "invalid_scenario");

  auto bad = LogWindow::parse("last thursday", "", 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_scenario");
  EXPECT_NE(bad.error().message.find("last thursday"), std::string::npos);
}

TEST(ParseLogTimeTest, AcceptsRfc3339WithAnOffset) {
  const auto noon = core::parse_rfc3339("2026-11-26T12:00:00Z");
  ASSERT_TRUE(noon);
  for (const char* text :
       {"2026-11-26T12:00:00Z", "2026-11-26T12:00:00.000Z", "2026-11-26T21:00:00+09:00",
        "2026-11-26 21:00:00+09:00", "2026-11-26t12:00:00z", "2026-11-26T06:30:00-05:30",
        "2026-11-27T00:00:00+12:00", "2026-11-26T12:00:00+00:00"}) {
    auto t = parse_log_time(text);
    ASSERT_TRUE(t.ok()) << text;
    EXPECT_EQ(*t, *noon) << text;
  }
  auto ms = parse_log_time("2026-11-26T21:00:00.250+09:00");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(*ms - *noon, 250ms);
  // The log's own form round-trips.
  EXPECT_EQ(*parse_log_time(core::format_rfc3339(*ms)), *ms);
  for (const char* text : {"", "2026-11-26", "2026-11-26T21:00:00", "2026-11-26T21:00:00+9:00",
                           "2026-11-26T21:00:00+0900", "2026-11-26T21:00:00+24:00",
                           "2026-11-26T21:00:00 JST", "2026-13-26T21:00:00Z", "garbage"}) {
    auto t = parse_log_time(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.error().code, "invalid_scenario") << text;
  }
}

// tests/data/requests-sample.log: 200 messages recorded from a real `mangaassist serve`
// (default simulated models) over ~20 s: POST /v1/chat in JA and EN (pricing,
// recommendation, FAQ, availability, orders) from 3 signed-in demo users, 8 anonymous
// visitors keeping their session cookie and 24 one-off clients without one.
TEST(TrafficLogSampleTest, TheRecordedSampleReads) {
  const std::string path = std::string(MA_TEST_DATA_DIR) + "/requests-sample.log";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  auto log = read_traffic_log(path, {});
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_EQ(log->skipped(), 0u);
  EXPECT_EQ(log->lines, 200u);
  EXPECT_EQ(log->messages.size(), 200u);
  EXPECT_TRUE(std::is_sorted(
      log->messages.begin(), log->messages.end(),
      [](const LoggedMessage& a, const LoggedMessage& b) { return a.at_s < b.at_s; }));
  EXPECT_DOUBLE_EQ(log->messages.front().at_s, 0);
  std::set<std::string> languages, intents, users;
  int refused = 0;
  for (const auto& m : log->messages) {
    refused += m.intent.empty();
    languages.insert(m.language);
    intents.insert(m.intent);
    users.insert(m.user);
    EXPECT_FALSE(m.question.empty());
  }
  EXPECT_TRUE(languages.count("ja") && languages.count("en"));
  EXPECT_TRUE(intents.count("pricing") && intents.count("recommendation") && intents.count("faq"));
  EXPECT_EQ(refused, 2);         // two messages over an anonymous visitor's limit (429)
  EXPECT_GE(users.size(), 11u);  // 3 signed in, 8 anonymous sessions, one-off clients
  EXPECT_GT(log->span_s, 18);
  EXPECT_LT(log->span_s, 22);
}

}  // namespace
}  // namespace ma::sim
