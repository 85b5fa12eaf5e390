#include "gateway/gateway.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <map>

#include "core/sim_clock.hpp"
#include "fm/simulated_bedrock.hpp"

namespace ma::gateway {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

std::unique_ptr<catalog::Catalog> open_catalog() {
  return catalog::Catalog::open({std::string(MA_SOURCE_DIR) + "/data", ":memory:"}).value();
}

// Simulated lanes named by `names`; records the seed each lane was given.
struct Lanes {
  std::vector<std::string> names = {"sonnet", "haiku"};
  std::map<std::size_t, std::uint64_t> seeds;
  ProviderFactory factory(core::Clock& clock) {
    return [this, &clock](std::size_t lane,
                          std::uint64_t seed) -> core::Result<std::unique_ptr<fm::ModelProvider>> {
      seeds[lane] = seed;
      fm::SimModelSpec spec{names.at(lane), 5ms, 20ms, 1000, 1};
      return std::unique_ptr<fm::ModelProvider>(
          std::make_unique<fm::SimulatedBedrock>(spec, clock, seed));
    };
  }
};

cache::CachedReply cached_about(const std::string& product_id) {
  cache::CachedReply r;
  r.text = "It costs 528 yen.";
  r.category = "pricing";
  r.product_ids = {product_id};
  r.stated_prices = {{product_id, 528}};
  return r;
}

class GatewayTest : public ::testing::Test {
 protected:
  asio::io_context io_;
  core::SimClock clock_{io_};
  Lanes lanes_;

  std::unique_ptr<Gateway> build(GatewayConfig c) {
    GatewayDeps deps{.clock = clock_, .catalog = open_catalog()};
    deps.providers = lanes_.factory(clock_);
    auto g = Gateway::build(std::move(c), std::move(deps));
    EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.error().message);
    return std::move(g).value();
  }
};

TEST_F(GatewayTest, APriceChangeDropsTheCachedAnswersAboutTheProductUnlessTurnedOff) {
  for (const bool invalidate : {true, false}) {
    GatewayConfig c;
    c.seed = 1;
    c.invalidate_on_change = invalidate;
    auto g = build(c);
    const std::string pid = g->catalog().volume(g->catalog().all_series().front(), 1)->id;
    g->cache().put("k", cached_about(pid), 1h, clock_.now());
    ASSERT_TRUE(g->cache().get("k", clock_.now()).has_value());
    ASSERT_TRUE(g->catalog().update_product(pid, 600, std::nullopt).ok());
    EXPECT_EQ(g->cache().get("k", clock_.now()).has_value(), !invalidate) << invalidate;
  }
}

TEST_F(GatewayTest, EverySeedDerivesFromTheGatewaysOwn) {
  GatewayConfig c;
  c.seed = 0x1234;
  c.tasks = 3;
  auto g = build(c);
  EXPECT_EQ(g->seed(), 0x1234u);
  EXPECT_EQ(lanes_.seeds[0], 0x1234u ^ 0x50);
  EXPECT_EQ(lanes_.seeds[1], 0x1234u ^ 0x48);
  EXPECT_EQ(g->tasks(), 3u);
  EXPECT_NE(&g->pipeline(0), &g->pipeline(2));
  EXPECT_EQ(&g->flow(1).pipeline, &g->pipeline(1));
  EXPECT_EQ(&g->flow(1).admission, &g->admission());

  GatewayConfig drawn;  // seed 0: drawn, then fixed for the gateway's life
  EXPECT_NE(build(drawn)->seed(), 0u);
}

asio::awaitable<void> answer_one(ChatFlow& flow, ChatInput in, ChatOutcome& out, bool& done) {
  out = co_await flow.answer(std::move(in));
  done = true;
}

TEST_F(GatewayTest, AUserOverTheirDailyTokenBudgetIsToldSoAndAnotherPlanIsNot) {
  GatewayConfig c;
  c.seed = 7;
  c.admission.plans[1] = {100, 1000, 0, 2000};  // registered: 2,000 model tokens a day
  c.admission.plans[2] = {100, 1000, 0, 0};     // premium: no budget
  c.admission.per_source = {1000, 100000, 0};
  c.admission.token_estimate = 800;
  auto g = build(c);
  auto ask = [&](const catalog::User& u, int i) {
    ChatOutcome out;
    bool done = false;
    ChatInput in{"Can you recommend a manga similar to series number " + std::to_string(i) + "?",
                 "", u, "203.0.113.5", "1-5759e988-bd862e3fe1be46a994272793"};
    asio::co_spawn(io_, answer_one(g->flow(), std::move(in), out, done), asio::detached);
    clock_.run_until([&] { return done; }, clock_.now() + 30s);
    EXPECT_TRUE(done);
    return out;
  };
  const catalog::User ann{"ann", "Ann", catalog::UserTier::kRegistered};
  std::int64_t billed = 0;
  std::optional<admission::AdmissionResult> refused;
  for (int i = 0; i < 20 && !refused; ++i) {
    ChatOutcome out = ask(ann, i);
    if (out.refused) {
      refused = out.refused;
    } else {
      billed += out.reply.input_tokens + out.reply.output_tokens;
    }
  }
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->scope, "tokens");
  EXPECT_GT(refused->retry_after, core::Duration(23h));  // the day began a few seconds ago
  EXPECT_GT(billed, 0);
  // Every admitted message settled exactly once, with what its reply billed.
  const auto usage = g->admission().token_usage("u:ann");
  EXPECT_EQ(usage.used, billed);
  EXPECT_EQ(usage.reserved, 0);
  EXPECT_GT(billed + 800, 2000);  // refused only when the next estimate would not fit

  const catalog::User vip{"vip", "Vip", catalog::UserTier::kPremium};
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(ask(vip, i).refused.has_value()) << i;
  EXPECT_EQ(g->admission().token_usage("u:vip").used, 0);  // no budget: nothing tracked
}

TEST_F(GatewayTest, AdmissionIsFedWhatTheModelsCanTakeSharedOverTheTasks) {
  // Four tasks each feed a quarter of 40 + 20 messages/s while no limiter is engaged.
  GatewayConfig c;
  c.seed = 5;
  c.tasks = 4;
  c.lanes = {{.feed_rps = 40}, {.feed_rps = 20}};
  auto g = build(c);
  EXPECT_DOUBLE_EQ(g->model_capacity(), 60);
}

TEST_F(GatewayTest, AThirdModelIsOneMoreLane) {
  lanes_.names = {"sonnet", "haiku", "nova"};
  GatewayConfig c;
  c.seed = 9;
  c.lanes = {{.feed_rps = 40}, {.feed_rps = 20}, {.feed_rps = 10}};
  auto g = build(c);
  ASSERT_EQ(g->lane_count(), 3u);
  EXPECT_EQ(g->provider(2).name(), "nova");
  EXPECT_NE(lanes_.seeds[2], lanes_.seeds[0]);
  EXPECT_NE(lanes_.seeds[2], lanes_.seeds[1]);
  EXPECT_DOUBLE_EQ(g->model_capacity(), 70);
  // PRIMARY_MODEL may name it, and nothing else.
  EXPECT_EQ(g->flags().models(), lanes_.names);
  ASSERT_TRUE(g->flags().patch(boost::json::object{{"PRIMARY_MODEL", "nova"}}).ok());
  EXPECT_EQ(g->flags().primary_model(), 2u);
  const auto bad = g->flags().patch(boost::json::object{{"PRIMARY_MODEL", "opus"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "PRIMARY_MODEL must be sonnet, haiku or nova");
  EXPECT_EQ(g->pipeline().status().models.size(), 3u);
}

TEST_F(GatewayTest, TwoLanesWithOneNameAreRefused) {
  lanes_.names = {"sonnet", "sonnet"};
  GatewayDeps deps{.clock = clock_, .catalog = open_catalog()};
  deps.providers = lanes_.factory(clock_);
  GatewayConfig c;
  c.seed = 3;
  auto g = Gateway::build(std::move(c), std::move(deps));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message, "two model lanes are named sonnet");
}

}  // namespace
}  // namespace ma::gateway

namespace ma::gateway {
namespace {

TEST(ModelPricesTest, SonnetAndHaikuByNameOrModelIdOthersZero) {
  EXPECT_EQ(default_model_prices("sonnet").input_usd_per_mtok, 3.0);
  EXPECT_EQ(default_model_prices("sonnet").output_usd_per_mtok, 15.0);
  const ModelPrices haiku = default_model_prices("anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(haiku.input_usd_per_mtok, 0.25);
  EXPECT_EQ(haiku.output_usd_per_mtok, 1.25);
  EXPECT_EQ(default_model_prices("Claude-3-5-SONNET").output_usd_per_mtok, 15.0);
  EXPECT_EQ(default_model_prices("nova").input_usd_per_mtok, 0.0);
  EXPECT_EQ(default_model_prices("").output_usd_per_mtok, 0.0);
}

TEST_F(GatewayTest, LanesWithoutAPolicyGetTheirModelsListPrices) {
  // The simulator's case: no lane policies; a server's resolved policies are kept as given.
  lanes_.names = {"sonnet", "haiku", "nova"};
  GatewayConfig c;
  c.seed = 1;
  c.lanes = {LaneConfig{}, LaneConfig{}, LaneConfig{}};
  assist::LanePolicy own;
  own.input_usd_per_mtok = 1.5;  // configured: kept, though the lane is called "sonnet"
  c.pipeline.lanes = {own};
  auto g = build(c);
  const auto& lanes = g->pipeline().config().lanes;
  ASSERT_EQ(lanes.size(), 3u);
  EXPECT_EQ(lanes[0].input_usd_per_mtok, 1.5);
  EXPECT_EQ(lanes[0].output_usd_per_mtok, 0.0);
  EXPECT_EQ(lanes[1].input_usd_per_mtok, 0.25);
  EXPECT_EQ(lanes[1].output_usd_per_mtok, 1.25);
  EXPECT_EQ(lanes[2].input_usd_per_mtok, 0.0);
  // The counters are the lanes', in cascade order, summed over the tasks.
  const auto counters = g->lane_counters();
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[2].name, "nova");
}

TEST(UserKeyTest, IsTheKeyAdmissionLimitsBy) {
  const catalog::User ann{"ann", "Ann", catalog::UserTier::kRegistered};
  EXPECT_EQ(user_key(ann, "s1.x", "203.0.113.5"), "u:ann");
  EXPECT_EQ(user_key(std::nullopt, "s1.x", "203.0.113.5"), "s:s1.x");
  EXPECT_EQ(user_key(std::nullopt, "", "2001:db8:1:2::7"), "a:2001:db8:1:2::/64");
  for (const auto& [user, session] :
       {std::pair{std::optional<catalog::User>(ann), std::string("s1.x")},
        std::pair{std::optional<catalog::User>(), std::string("s1.x")},
        std::pair{std::optional<catalog::User>(), std::string()}}) {
    EXPECT_EQ(user_key(user, session, "2001:db8:1:2::7"),
              admission_request(user, session, "2001:db8:1:2::7", "hi").user_key);
  }
}

TEST_F(GatewayTest, EachUserReadsTheVersionTheExperimentAssignsThemUnlessTheFlagSaysV1) {
  GatewayConfig c;
  c.seed = 3;
  c.admission.per_source = {1000, 100000, 0};
  c.degradation_ab = assist::DegradationSplit::make({{"v2", 1}, {"v3", 1}}).value();
  c.track_replies = true;
  auto g = build(c);
  // Static only: a general question has no live-data answer, so every reply is degraded.
  ASSERT_TRUE(g->flags().patch(boost::json::object{{"FM_MODE", "static_only"}}).ok());
  int n = 0;
  auto ask = [&](const std::string& id, std::string question = "Tell me something fun") {
    ChatOutcome out;
    bool done = false;
    ChatInput in{std::move(question), "", catalog::User{id, id, catalog::UserTier::kRegistered},
                 "203.0.113.5", "1-5759e988-" + std::to_string(1000 + n++)};
    asio::co_spawn(io_, answer_one(g->flow(), std::move(in), out, done), asio::detached);
    clock_.run_until([&] { return done; }, clock_.now() + 30s);
    EXPECT_TRUE(done);
    return out.reply;
  };
  std::map<assist::DegradationVersion, int> seen;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "user" + std::to_string(i);
    const assist::Reply r = ask(id);
    ASSERT_EQ(r.tier, assist::Tier::kDegraded);
    ASSERT_TRUE(r.degradation_version.has_value());
    EXPECT_EQ(*r.degradation_version, *c.degradation_ab.assign("u:" + id)) << id;
    ++seen[*r.degradation_version];
    // Its user may rate it; nobody else may.
    EXPECT_TRUE(g->record_feedback(r.trace_id, "u:" + id, {true, std::nullopt}));
    EXPECT_FALSE(g->record_feedback(r.trace_id, "u:someone-else", {true, std::nullopt}));
  }
  EXPECT_EQ(seen.size(), 2u);  // both versions shown
  std::uint64_t replies = 0, helpful = 0;
  for (const auto& s : g->ab_stats()->snapshot()) {
    EXPECT_EQ(s.degraded_replies, static_cast<std::uint64_t>(seen[s.version]));
    replies += s.degraded_replies;
    helpful += s.helpful;
  }
  EXPECT_EQ(replies, 40u);
  EXPECT_EQ(helpful, 40u);

  // An incident replay: the flag's v1 wins over the experiment.
  ASSERT_TRUE(g->flags().patch(boost::json::object{{"DEGRADATION_MESSAGE_VERSION", "v1"}}).ok());
  // (Another question: the same one again would be the remembered reply, deduplicated.)
  EXPECT_EQ(ask("user0", "Tell me something else").degradation_version,
            assist::DegradationVersion::kV1);
}

TEST_F(GatewayTest, WithoutAnExperimentTheFlagDecidesAndNothingIsTrackedUnlessAsked) {
  GatewayConfig c;
  c.seed = 3;
  auto g = build(c);
  EXPECT_EQ(g->ab_stats(), nullptr);
  EXPECT_EQ(g->recent_replies(), nullptr);
  ASSERT_TRUE(g->flags()
                  .patch(boost::json::object{{"FM_MODE", "static_only"},
                                             {"DEGRADATION_MESSAGE_VERSION", "v3"}})
                  .ok());
  ChatOutcome out;
  bool done = false;
  ChatInput in{"Tell me something fun", "", std::nullopt, "203.0.113.5", "1-5759e988-1"};
  asio::co_spawn(io_, answer_one(g->flow(), std::move(in), out, done), asio::detached);
  clock_.run_until([&] { return done; }, clock_.now() + 30s);
  ASSERT_TRUE(done);
  EXPECT_EQ(out.reply.degradation_version, assist::DegradationVersion::kV3);
  EXPECT_FALSE(g->record_feedback("1-5759e988-1", "a:203.0.113.5", {true, std::nullopt}));
}

}  // namespace
}  // namespace ma::gateway
