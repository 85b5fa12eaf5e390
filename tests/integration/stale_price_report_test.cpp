// The stale-price report on a request log the real server wrote during a real price change
// (seed incident 3, the runbook's "identify affected customers"): price questions answered and
// cached, prices changed through PUT /admin/catalog/products/{id}, the same questions asked
// again by other customers, over HTTP and WebSocket. With the incident's gateway (cached
// answers first, no invalidation, no guard) the cached old prices reach customers and the
// report names exactly those replies, with the quotes they showed; with the production
// defaults -- and with the guard alone -- nobody is quoted a stale price and the report is empty.
#include "observe/stale_price_report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "assist/retrieval.hpp"
#include "integration/test_server.hpp"
#include "observe/request_log.hpp"

namespace ma::server {
namespace {

using testing::http_request;
namespace json = boost::json;

constexpr const char* kAdmin = "stale-price-report-test-token";
// Two volumes on no sale in data/sales.json: their price is the list price, whatever the date.
constexpr const char* kProductA = "mg-0014-v21";
constexpr const char* kQuestionA = "How much is Bleach volume 21?";
constexpr const char* kProductB = "mg-0014-v22";
constexpr const char* kQuestionB = "How much is Bleach volume 22?";

struct Answer {
  std::string text, tier, trace_id;
};

// One CSV row of the report, split (the report quotes no field of these lines).
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  for (std::string f; std::getline(s, f, ',');) out.push_back(f);
  return out;
}

class StalePriceReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_path_ = ::testing::TempDir() + "ma_stale_price_report_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".log";
    std::remove(log_path_.c_str());
  }
  void TearDown() override { std::remove(log_path_.c_str()); }

  // `incident`: the seed's gateway -- cached answers before the models, nothing invalidated on
  // a price change, no disclaimer; `guard`: the price guard on (production: on).
  void start(bool incident, bool guard) {
    server_.emplace(kAdmin, [&](AppConfig& c) {
      c.log_file = log_path_;
      if (incident) {
        c.replay_incident3_keep_cache_on_price_change = true;
        c.pipeline.cache_price_disclaimer = false;
        auto& order = c.pipeline.tier_order[static_cast<int>(assist::Intent::kPricing)];
        order = {assist::Tier::kCache, assist::Tier::kPrimary, assist::Tier::kSecondary,
                 assist::Tier::kStatic, assist::Tier::kDegraded};
      }
      c.pipeline.price_guard = guard;
    });
    ASSERT_NO_FATAL_FAILURE(server_->create());
    ASSERT_NO_FATAL_FAILURE(server_->start());
  }
  // Shuts the server down, which writes out the request log.
  void stop() { server_.reset(); }

  std::string token(const std::string& user) {
    return server_->app().identity().issue_user_token(
        user, std::chrono::system_clock::now() + std::chrono::hours(1));
  }
  // The user's question over HTTP.
  Answer ask(const std::string& user, const std::string& question) {
    const auto r = http_request(server_->port(), "POST", "/v1/chat",
                                json::serialize(json::object{{"message", question}}),
                                {{"Authorization", "Bearer " + token(user)}});
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    const json::value v = r.json();
    return {std::string(v.at("reply").as_string()), std::string(v.at("tier").as_string()),
            std::string(v.at("trace_id").as_string())};
  }
  // The user's question over WebSocket; `streamed` gets the chunks' text.
  Answer ask_ws(const std::string& user, const std::string& question, std::string* streamed) {
    testing::WsClient ws(server_->port(), "/v1/ws", {{"Authorization", "Bearer " + token(user)}});
    ws.send(json::serialize(
        json::object{{"action", "sendMessage"}, {"message", question}, {"request_id", "q"}}));
    for (;;) {
      const json::value m = ws.receive();
      const auto type = m.at("type").as_string();
      if (type == "chunk") {
        streamed->append(m.at("text").as_string());
        continue;
      }
      if (type != "reply") continue;  // queued
      return {std::string(m.at("reply").as_string()), std::string(m.at("tier").as_string()),
              std::string(m.at("trace_id").as_string())};
    }
  }
  int price_now(const std::string& product) {
    const auto q = server_->app().catalog().quote(product, std::chrono::system_clock::now());
    EXPECT_TRUE(q.has_value()) << product;
    return q ? q->price : 0;
  }
  void set_price(const std::string& product, int yen) {
    const auto r = server_->admin("PUT", "/admin/catalog/products/" + product,
                                  json::serialize(json::object{{"price_jpy", yen}}));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json().at("price_jpy").to_number<int>(), yen);
    ASSERT_EQ(price_now(product), yen);
  }
  static std::string yen(int v) { return assist::format_yen(v, fm::Language::kEn); }

  struct Report {
    int rc = -1;
    std::string out, err;
    std::vector<std::vector<std::string>> rows;  // without the header
    std::vector<std::string> summary;            // the '#' lines
  };
  Report report(const std::optional<std::string>& since = std::nullopt,
                const std::optional<std::string>& until = std::nullopt) {
    Report r;
    std::FILE* out = std::tmpfile();
    std::FILE* err = std::tmpfile();
    r.rc = observe::report_stale_prices_main(log_path_, since, until, out, err);
    auto slurp = [](std::FILE* f) {
      std::string s;
      std::rewind(f);
      char buf[4096];
      for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) s.append(buf, n);
      std::fclose(f);
      return s;
    };
    r.out = slurp(out);
    r.err = slurp(err);
    std::stringstream s(r.out);
    std::string line;
    std::getline(s, line);
    EXPECT_EQ(line, "time,user,product_id,quoted_yen,actual_yen,delta_yen,tier,trace_id");
    while (std::getline(s, line)) {
      if (line.starts_with("#")) {
        r.summary.push_back(line);
      } else {
        r.rows.push_back(split(line));
      }
    }
    return r;
  }
  std::vector<json::value> log_lines() {
    std::vector<json::value> out;
    std::ifstream in(log_path_);
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

  std::string log_path_;
  std::optional<testing::TestServer> server_;
};

TEST_F(StalePriceReportTest, TheIncidentsGatewayQuotesCachedOldPricesAndTheReportNamesThem) {
  ASSERT_NO_FATAL_FAILURE(start(/*incident=*/true, /*guard=*/false));
  const int a_before = price_now(kProductA);
  const int b_before = price_now(kProductB);
  const int a_after = a_before + 72;  // a price rise: the stale quote is below it
  const int b_after = b_before - 48;  // a cut: the stale quote is above it

  // Answered by the model (streamed, then over HTTP) and cached.
  std::string streamed;
  const Answer first = ask_ws("u-1001", kQuestionA, &streamed);
  ASSERT_EQ(first.tier, "primary") << first.text;
  ASSERT_NE(streamed.find(yen(a_before)), std::string::npos) << streamed;
  ASSERT_EQ(ask("u-1001", kQuestionB).tier, "primary");

  // The prices change; nothing drops the cached answers.
  ASSERT_NO_FATAL_FAILURE(set_price(kProductA, a_after));
  ASSERT_NO_FATAL_FAILURE(set_price(kProductB, b_after));

  // Other customers ask: the cache answers with the old prices.
  const Answer ben_a = ask("u-1002", kQuestionA);
  ASSERT_EQ(ben_a.tier, "cache");
  ASSERT_NE(ben_a.text.find(yen(a_before)), std::string::npos) << ben_a.text;
  std::string unused;
  const Answer chika_a = ask_ws("u-1003", kQuestionA, &unused);
  ASSERT_EQ(chika_a.tier, "cache");
  ASSERT_NE(chika_a.text.find(yen(a_before)), std::string::npos) << chika_a.text;
  const Answer chika_b = ask("u-1003", kQuestionB);
  ASSERT_EQ(chika_b.tier, "cache");
  ASSERT_NE(chika_b.text.find(yen(b_before)), std::string::npos) << chika_b.text;
  // A reply without prices, for the count of lines read.
  ASSERT_EQ(ask("u-1001", "What is your returns policy?").tier, "primary");
  const std::string ben = observe::hash_user("u:u-1002");
  const std::string chika = observe::hash_user("u:u-1003");
  stop();

  // What the log says the customers were shown (lines by trace id: the server writes them in
  // batches per thread, not quite in time order).
  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 6u);
  auto prices_of = [&](const std::string& trace) {
    for (const auto& l : lines) {
      if (l.at("trace_id").as_string() == trace) return json::serialize(l.at("prices"));
    }
    return std::string("no line for ") + trace;
  };
  EXPECT_EQ(prices_of(first.trace_id), R"([{"product":"mg-0014-v21","quoted_yen":)" +
                                           std::to_string(a_before) + R"(,"catalog_yen":)" +
                                           std::to_string(a_before) + "}]");
  EXPECT_EQ(prices_of(ben_a.trace_id), R"([{"product":"mg-0014-v21","quoted_yen":)" +
                                           std::to_string(a_before) + R"(,"catalog_yen":)" +
                                           std::to_string(a_after) + "}]");

  const Report r = report();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(r.rows.size(), 3u) << r.out;
  struct Want {
    std::string user, product;
    int quoted, actual;
  };
  const std::map<std::string, Want> want = {
      {ben_a.trace_id, {ben, kProductA, a_before, a_after}},
      {chika_a.trace_id, {chika, kProductA, a_before, a_after}},
      {chika_b.trace_id, {chika, kProductB, b_before, b_after}}};
  std::set<std::string> seen;
  std::optional<core::WallTime> previous;
  for (const auto& row : r.rows) {
    ASSERT_EQ(row.size(), 8u) << r.out;
    const auto it = want.find(row[7]);
    ASSERT_NE(it, want.end()) << "a row for another reply: " << r.out;
    seen.insert(row[7]);
    const Want& w = it->second;
    const auto t = observe::parse_report_time(row[0]);
    ASSERT_TRUE(t.has_value()) << row[0];
    if (previous) {
      EXPECT_LE(*previous, *t) << r.out;  // in time order
    }
    previous = t;
    EXPECT_EQ(row[1], w.user) << row[7];
    EXPECT_EQ(row[2], w.product) << row[7];
    EXPECT_EQ(row[3], std::to_string(w.quoted)) << row[7];
    EXPECT_EQ(row[4], std::to_string(w.actual)) << row[7];
    EXPECT_EQ(row[5], std::to_string(w.quoted - w.actual)) << row[7];
    EXPECT_EQ(row[6], "cache") << row[7];
  }
  EXPECT_EQ(seen.size(), 3u) << r.out;
  ASSERT_EQ(r.summary.size(), 2u) << r.out;
  // A's old price quoted twice, B's once: under- and over-quotes also apart.
  const std::int64_t deltas[] = {a_before - a_after, a_before - a_after, b_before - b_after};
  std::int64_t under = 0, over = 0;
  for (const std::int64_t d : deltas) (d < 0 ? under : over) += d < 0 ? -d : d;
  EXPECT_EQ(r.summary[0], "# customers=2 replies=3 rows=3 total_delta_yen=" +
                              std::to_string(deltas[0] + deltas[1] + deltas[2]) +
                              " underquoted_yen=" + std::to_string(under) +
                              " overquoted_yen=" + std::to_string(over));
  EXPECT_EQ(r.summary[1],
            "# lines=6 judged=6 outside_window=0 without_prices=0 other_kinds=0 malformed=0");

  // The window applies to the server's own lines: a window that ended before them is empty.
  const Report before = report(std::nullopt, "2000-01-01");
  ASSERT_EQ(before.rc, 0) << before.err;
  EXPECT_TRUE(before.rows.empty()) << before.out;
  EXPECT_EQ(before.summary[1],
            "# lines=6 judged=0 outside_window=6 without_prices=0 other_kinds=0 malformed=0");
}

// The same customers, the same questions, the same price change with the production
// defaults: the change invalidates the cached answer, live data answers prices first, the
// guard checks every price. Every reply is logged with its prices, none stale.
TEST_F(StalePriceReportTest, WithTheDefaultsNobodyIsQuotedAStalePrice) {
  ASSERT_NO_FATAL_FAILURE(start(/*incident=*/false, /*guard=*/true));
  const int before = price_now(kProductA);
  const int after = before + 72;
  ASSERT_EQ(ask("u-1001", kQuestionA).tier, "primary");
  ASSERT_NO_FATAL_FAILURE(set_price(kProductA, after));
  const Answer ben = ask("u-1002", kQuestionA);
  EXPECT_NE(ben.text.find(yen(after)), std::string::npos) << ben.text;
  std::string streamed;
  const Answer chika = ask_ws("u-1003", kQuestionA, &streamed);
  EXPECT_NE(chika.text.find(yen(after)), std::string::npos) << chika.text;
  EXPECT_EQ(streamed.find(yen(before)), std::string::npos) << streamed;
  stop();

  const auto lines = log_lines();
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& l : lines) {
    const std::string trace(l.at("trace_id").as_string());
    const bool asked_after = trace == ben.trace_id || trace == chika.trace_id;
    const int shown = asked_after ? after : before;
    EXPECT_EQ(json::serialize(l.at("prices")), R"([{"product":"mg-0014-v21","quoted_yen":)" +
                                                   std::to_string(shown) + R"(,"catalog_yen":)" +
                                                   std::to_string(shown) + "}]")
        << l;
  }
  const Report r = report();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.rows.empty()) << r.out;
  ASSERT_EQ(r.summary.size(), 2u) << r.out;
  EXPECT_EQ(r.summary[0],
            "# customers=0 replies=0 rows=0 total_delta_yen=0 underquoted_yen=0 overquoted_yen=0");
  EXPECT_EQ(r.summary[1],
            "# lines=3 judged=3 outside_window=0 without_prices=0 other_kinds=0 malformed=0");
}

// The incident's cache (first, never invalidated) with the guard on: the guard alone evicts
// the cached old price and a fresh answer is shown instead.
TEST_F(StalePriceReportTest, TheGuardAloneKeepsTheCachedOldPriceFromCustomers) {
  ASSERT_NO_FATAL_FAILURE(start(/*incident=*/true, /*guard=*/true));
  const int before = price_now(kProductA);
  const int after = before + 72;
  ASSERT_EQ(ask("u-1001", kQuestionA).tier, "primary");
  ASSERT_NO_FATAL_FAILURE(set_price(kProductA, after));
  const Answer ben = ask("u-1002", kQuestionA);
  EXPECT_EQ(ben.tier, "primary");  // the cached answer was evicted
  EXPECT_NE(ben.text.find(yen(after)), std::string::npos) << ben.text;
  stop();

  EXPECT_EQ(log_lines().size(), 2u);
  const Report r = report();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.rows.empty()) << r.out;
  EXPECT_EQ(r.summary.at(0),
            "# customers=0 replies=0 rows=0 total_delta_yen=0 underquoted_yen=0 overquoted_yen=0");
}

}  // namespace
}  // namespace ma::server
