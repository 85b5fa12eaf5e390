#include "server/views.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ma::server {
namespace {

using namespace std::chrono_literals;

// reply_json writes the status by hand (no DOM, on every reply); /status builds it with
// status_json. Both must say the same.
TEST(ViewsTest, TheStatusEveryReplyCarriesIsTheStatusOfStatus) {
  assist::Reply r;
  r.text = "ok";
  r.trace_id = "1-abc-def";
  for (const bool with_eta : {true, false}) {
    assist::ServiceStatus st;
    st.state = with_eta ? "degraded" : "normal";
    if (with_eta) st.eta = 1500ms;
    for (const auto& [name, breaker] :
         {std::pair{"sonnet", resilience::BreakerState::kOpen},
          std::pair{"haiku", resilience::BreakerState::kHalfOpen},
          std::pair{"nova \"3\"", resilience::BreakerState::kClosed}}) {
      assist::ModelStatus m;
      m.name = name;
      m.breaker = breaker;
      st.models.push_back(m);
    }
    const auto reply = boost::json::parse(reply_json(r, st, "", "", ""));
    EXPECT_EQ(reply.at("status"), boost::json::value(status_json(st))) << reply;
    EXPECT_EQ(reply.at("status").at("eta_s"), with_eta ? boost::json::value(2) : nullptr);
    EXPECT_EQ(reply.at("status").at("models").as_object().size(), 3u);
  }
}

}  // namespace
}  // namespace ma::server

namespace ma::server {
namespace {

using namespace std::chrono_literals;

// A spent token budget is told as what it is: today's allowance is used, when it resets, where
// to go meanwhile. Never "too fast", never "try again".
TEST(ViewsTest, ASpentTokenBudgetIsToldHonestlyWithItsReset) {
  admission::AdmissionResult r;
  r.outcome = admission::Outcome::kUserLimited;
  r.scope = "tokens";
  r.retry_after = 5h + 20min;
  r.resets_at = core::WallTime{} + std::chrono::hours(24 * 20000) + 15h;
  for (const bool ja : {false, true}) {
    const auto body = boost::json::parse(rate_limited_body(r, ja)).as_object();
    EXPECT_EQ(body.at("error"), "rate_limited");
    EXPECT_EQ(body.at("scope"), "tokens");
    EXPECT_EQ(body.at("retry_after_s"), 5 * 3600 + 20 * 60);
    EXPECT_EQ(body.at("resets_at"), "2024-10-04T15:00:00Z");
    const std::string msg(body.at("message").as_string());
    if (ja) {
      EXPECT_NE(msg.find("ご利用枠を使い切りました"), std::string::npos) << msg;
      EXPECT_NE(msg.find("6時間以内"), std::string::npos) << msg;
    } else {
      EXPECT_NE(msg.find("Today's assistant allowance for this account has been used up"),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find("within 6 hours"), std::string::npos) << msg;
      for (const char* never : {"too fast", "try again", "short time"}) {
        EXPECT_EQ(msg.find(never), std::string::npos) << never;
      }
    }
    const auto& actions = body.at("actions").as_array();
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(actions[0].at("url"), ja ? "/orders?lang=ja" : "/orders?lang=en");
    EXPECT_EQ(actions[1].at("url"), ja ? "/help?lang=ja" : "/help?lang=en");
    const auto store = boost::json::parse(rate_limited_body(r, ja, "https://store.example.jp"));
    EXPECT_EQ(
        store.at("actions").as_array()[1].at("url"),
        ja ? "https://store.example.jp/help?lang=ja" : "https://store.example.jp/help?lang=en");
  }
  r.retry_after = 90s;
  const auto soon = boost::json::parse(rate_limited_body(r, false)).as_object();
  EXPECT_NE(std::string(soon.at("message").as_string()).find("in 2 minutes"), std::string::npos);
}

TEST(ViewsTest, TheReplyNamesTheModelThatWroteIt) {
  assist::Reply r;
  r.text = "ok";
  r.tier = assist::Tier::kSecondary;
  r.model = "haiku";
  const assist::ServiceStatus st;
  auto reply = boost::json::parse(reply_json(r, st, "", "", ""));
  EXPECT_EQ(reply.at("model"), "haiku");
  EXPECT_EQ(reply.at("tier"), "secondary");
  // Below the models nobody wrote it: null, not "".
  r.model.clear();
  r.tier = assist::Tier::kStatic;
  reply = boost::json::parse(reply_json(r, st, "reply", "r1", ""));
  EXPECT_TRUE(reply.at("model").is_null());
  // The status a reply carries stays small: no spend, no per-model details.
  EXPECT_FALSE(reply.at("status").as_object().contains("spend_today_usd"));
}

TEST(ViewsTest, ADegradationMessageNamesItsVersionAndNoOtherReplyDoes) {
  assist::Reply r;
  r.text = "limited";
  r.tier = assist::Tier::kDegraded;
  r.degraded = true;
  r.retry_after_s = 30;
  r.degradation_version = assist::DegradationVersion::kV3;
  const assist::ServiceStatus st;
  auto reply = boost::json::parse(reply_json(r, st, "reply", "r1", "")).as_object();
  EXPECT_EQ(reply.at("degradation_version"), "v3");
  // A degraded service that still answered (cache, static) showed no degradation message.
  r.tier = assist::Tier::kStatic;
  r.degradation_version.reset();
  reply = boost::json::parse(reply_json(r, st, "", "", "")).as_object();
  EXPECT_TRUE(reply.at("degraded").as_bool());
  EXPECT_FALSE(reply.contains("degradation_version"));
}

TEST(ViewsTest, EveryChunkNamesItsModel) {
  const assist::StreamChunk c{assist::Tier::kPrimary, 2, "ONE PIECE", "sonnet"};
  const auto v = boost::json::parse(ws_chunk("r7", c));
  EXPECT_EQ(v.at("type"), "chunk");
  EXPECT_EQ(v.at("model"), "sonnet");
  EXPECT_EQ(v.at("attempt"), 2);
  EXPECT_EQ(v.at("text"), "ONE PIECE");
}

TEST(ViewsTest, ModelDetailsShowAvailabilityLimiterSkipsAndBudgets) {
  assist::ModelStatus m;
  m.name = "sonnet";
  m.limiter_enabled = true;
  m.limiter_rate = 12.5;
  m.limiter_floor = 250;
  m.skip_rate = 0.25;
  m.first_token_budget = 1200ms;
  m.misconfigured = true;
  m.misconfigured_code = "InvalidSignatureException";
  auto v = model_details_json(m);
  EXPECT_EQ(v.at("availability"), "misconfigured");
  EXPECT_EQ(v.at("misconfigured_code"), "InvalidSignatureException");
  EXPECT_EQ(v.at("limiter_rate"), 12.5);
  EXPECT_EQ(v.at("client_limiter"), 12.5);
  EXPECT_EQ(v.at("limiter_floor"), 250.0);
  EXPECT_EQ(v.at("skip_rate"), 0.25);
  EXPECT_EQ(v.at("first_token_budget_ms"), 1200);
  EXPECT_TRUE(v.at("ttft_p95_ms").is_null());  // not measured yet
  m.misconfigured = false;
  m.limiter_enabled = false;
  m.ttft_p95 = 640ms;
  v = model_details_json(m);
  EXPECT_EQ(v.at("availability"), "available");
  EXPECT_TRUE(v.at("misconfigured_code").is_null());
  EXPECT_TRUE(v.at("client_limiter").is_null());
  EXPECT_EQ(v.at("ttft_p95_ms"), 640);
  for (const char* k : {"name", "breaker", "probe_in_ms", "retry_quota"})
    EXPECT_TRUE(v.contains(k)) << k;
}

}  // namespace
}  // namespace ma::server
