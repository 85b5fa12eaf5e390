// Seed scenario 3 on virtual time: a sale ends while its prices sit in the cache, then both
// models throttle for three minutes. No reply may state a sale price after the sale.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "assist/cache_maintenance.hpp"
#include "assist/catalog_fixture.hpp"
#include "assist/pipeline.hpp"
#include "assist/price_guard.hpp"
#include "core/sim_clock.hpp"
#include "fm/simulated_bedrock.hpp"

namespace ma::assist {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A model that states a price it made up.
class WrongPriceModel final : public fm::ModelProvider {
 public:
  asio::awaitable<fm::ModelResult> invoke(const fm::ModelRequest& req,
                                          const fm::ChunkSink&) override {
    fm::ModelReply r;
    r.text = req.lang == fm::Language::kJa ? "こちらは999円です。" : "That one is ¥999 today.";
    r.model_id = "liar";
    co_return r;
  }
  std::string_view name() const override { return "liar"; }
};

// A model that states a made-up price for a volume it names, whatever it was asked.
class NamedVolumeWrongPriceModel final : public fm::ModelProvider {
 public:
  asio::awaitable<fm::ModelResult> invoke(const fm::ModelRequest& req,
                                          const fm::ChunkSink&) override {
    fm::ModelReply r;
    r.text = req.lang == fm::Language::kJa ? "BLEACHの9巻は999円です。"
                                           : "By the way, Bleach volume 9 is ¥999 today.";
    r.model_id = "liar";
    co_return r;
  }
  std::string_view name() const override { return "liar"; }
};

class PriceIntegrityTest : public CatalogTest {
 protected:
  // Starts during the ONE PIECE / Attack on Titan weekend sale (30% off, ends 2026-11-16).
  PriceIntegrityTest() {
    sonnet_.set_faults({});
    haiku_.set_faults({});
  }

  std::unique_ptr<Pipeline> make_pipeline(PipelineConfig cfg,
                                          fm::ModelProvider* primary = nullptr) {
    return std::make_unique<Pipeline>(
        Pipeline::Deps{
            clock_, *catalog_, {primary ? *primary : sonnet_, haiku_}, cache_, flags_, nullptr},
        std::move(cfg), 11);
  }

  Reply ask(Pipeline& p, std::string message, std::string session) {
    std::optional<Reply> out;
    auto task = [&]() -> asio::awaitable<void> {
      ChatRequest req{std::move(message), std::move(session), std::nullopt, "t"};
      out = co_await p.handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    return out.value();
  }

  asio::io_context io_;
  core::SimClock clock_{io_, core::TimePoint{24h},
                        *catalog::parse_rfc3339_utc("2026-11-15T10:00:00Z")};
  fm::SimulatedBedrock sonnet_{
      {.name = "sonnet", .latency_median = 800ms, .latency_p99 = 1500ms}, clock_, 1};
  fm::SimulatedBedrock haiku_{
      {.name = "haiku", .latency_median = 400ms, .latency_p99 = 900ms}, clock_, 2};
  cache::ResponseCache cache_;
  RuntimeFlags flags_;
};

TEST_F(PriceIntegrityTest, GuardCorrectsAModelThatStatesAWrongPrice) {
  WrongPriceModel liar;
  auto p = make_pipeline({}, &liar);
  const Reply r = ask(*p, "How much is Bleach volume 9?", "s1");
  EXPECT_EQ(r.tier, Tier::kPrimary);
  EXPECT_EQ(r.price_guard, GuardOutcome::kCorrected);
  EXPECT_EQ(r.price_guard_product, "mg-0014-v9");
  EXPECT_EQ(r.wrong_prices, std::vector<int>{999});
  EXPECT_EQ(r.text.find("999"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("¥528"), std::string::npos) << r.text;
  EXPECT_EQ(p->stats().price_mismatches.load(), 1u);
  EXPECT_EQ(cache_.size(), 0u);  // a corrected answer is not cached
}

// A question live data cannot answer (nothing to rewrite the reply from), a model answer
// that names a volume with a wrong price: the guard cannot correct it, so the reply says its
// prices may be wrong -- and such a reply is not cached.
TEST_F(PriceIntegrityTest, GuardDisclaimsAWrongPriceItCannotRewrite) {
  NamedVolumeWrongPriceModel liar;
  auto p = make_pipeline({}, &liar);
  const Reply r = ask(*p, "Tell me something fun", "s1");
  EXPECT_EQ(r.tier, Tier::kPrimary);
  EXPECT_EQ(r.intent, Intent::kGeneral);
  EXPECT_EQ(r.price_guard, GuardOutcome::kDisclaimer);
  EXPECT_TRUE(r.disclaimer);
  EXPECT_EQ(r.wrong_prices, std::vector<int>{999});
  EXPECT_EQ(r.text, "By the way, Bleach volume 9 is ¥999 today. " +
                        std::string(stale_price_disclaimer(fm::Language::kEn)));
  EXPECT_EQ(p->stats().price_mismatches.load(), 1u);
  EXPECT_EQ(cache_.size(), 0u);

  const Reply ja = ask(*p, "こんにちは、何か面白い話をして", "s2");
  EXPECT_EQ(ja.lang, fm::Language::kJa);
  EXPECT_EQ(ja.price_guard, GuardOutcome::kDisclaimer);
  EXPECT_TRUE(ja.disclaimer);
  EXPECT_EQ(ja.text,
            "BLEACHの9巻は999円です。" + std::string(stale_price_disclaimer(fm::Language::kJa)));
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(PriceIntegrityTest, StaleCachedPriceIsEvictedNotServed) {
  PipelineConfig cfg;  // the incident's order: cache before live data
  cfg.tier_order[static_cast<int>(Intent::kPricing)] = {
      Tier::kPrimary, Tier::kSecondary, Tier::kCache, Tier::kStatic, Tier::kDegraded};
  auto p = make_pipeline(cfg);
  ASSERT_EQ(ask(*p, "How much is Bleach volume 12?", "s1").tier, Tier::kPrimary);
  ASSERT_EQ(cache_.size(), 1u);
  // The price changes behind the cache's back (no invalidation event in this test).
  ASSERT_TRUE(catalog_->update_product("mg-0014-v12", 600, std::nullopt).ok());
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  const Reply r = ask(*p, "How much is Bleach volume 12?", "s2");
  EXPECT_EQ(r.tier, Tier::kStatic);
  EXPECT_NE(r.text.find("¥600"), std::string::npos) << r.text;
  EXPECT_EQ(r.price_guard, GuardOutcome::kEvicted);
  EXPECT_EQ(cache_.size(), 0u);
  ASSERT_TRUE(catalog_->update_product("mg-0014-v12", 528, std::nullopt).ok());
}

TEST_F(PriceIntegrityTest, ValidationJobEvictsWrongPricesOnItsSchedule) {
  CacheMaintenance m(clock_, *catalog_, cache_, {.validate_every = 1h, .validate_sample = 100});
  auto p = make_pipeline({});
  ASSERT_EQ(ask(*p, "How much is Bleach volume 13?", "s1").tier, Tier::kPrimary);
  ASSERT_EQ(ask(*p, "How much is Bleach volume 14?", "s1").tier, Tier::kPrimary);
  ASSERT_TRUE(catalog_->update_product("mg-0014-v13", 700, std::nullopt).ok());
  asio::co_spawn(io_, m.run_validation(), asio::detached);
  clock_.advance_by(59min);
  EXPECT_EQ(cache_.size(), 2u);
  clock_.advance_by(2min);
  EXPECT_EQ(m.evicted_by_validation(), 1u);
  EXPECT_EQ(cache_.size(), 1u);
  ASSERT_TRUE(catalog_->update_product("mg-0014-v13", 528, std::nullopt).ok());
}

class SaleEndScenario : public PriceIntegrityTest, public ::testing::WithParamInterface<bool> {};

// The whole incident: answers cached during the sale, the sale ends, both models throttle for
// three minutes while customers keep asking. With the incident's tier order (cache before
// live data) and with ours (live data first).
TEST_P(SaleEndScenario, NoReplyStatesASalePriceAfterTheSaleEnds) {
  const bool incident_order = GetParam();
  PipelineConfig cfg;
  if (incident_order) {
    cfg.tier_order[static_cast<int>(Intent::kPricing)] = {
        Tier::kPrimary, Tier::kSecondary, Tier::kCache, Tier::kStatic, Tier::kDegraded};
  }
  auto p = make_pipeline(cfg);
  CacheMaintenance m(clock_, *catalog_, cache_);
  asio::co_spawn(io_, m.run_sale_watcher(), asio::detached);

  const std::vector<std::string> questions = {
      "How much is One Piece volume 105?", "ONE PIECEの104巻はいくら？",
      "How much is Attack on Titan volume 34?", "進撃の巨人の1巻の値段は？",
      "What does One Piece volume 1 cost?"};
  // During the sale: answered by the model at 30% off, and cached.
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const Reply r = ask(*p, questions[i], "before-" + std::to_string(i));
    ASSERT_EQ(r.tier, Tier::kPrimary);
    EXPECT_NE(r.text.find("369"), std::string::npos) << r.text;  // 528 x 0.7
  }
  ASSERT_EQ(cache_.size(), questions.size());

  // The sale ends at midnight; the watcher drops the sale's answers within the second.
  clock_.advance_to(clock_.now() +
                    (*catalog::parse_rfc3339_utc("2026-11-16T00:00:00Z") - clock_.wall_now()) + 1s);
  EXPECT_EQ(cache_.size(), 0u);
  EXPECT_EQ(m.evicted_by_sales(), questions.size());

  // Re-cache a couple of answers after the sale (regular price), then both models throttle
  // for three minutes and 300 customers ask.
  (void)ask(*p, questions[0], "after-0");
  sonnet_.set_faults({.throttle_rate = 1.0, .until = clock_.now() + 3min});
  haiku_.set_faults({.throttle_rate = 1.0, .until = clock_.now() + 3min});
  int sale_price_replies = 0, cached_pricing = 0, cached_without_disclaimer = 0;
  for (int i = 0; i < 300; ++i) {
    const Reply r = ask(*p, questions[static_cast<std::size_t>(i) % questions.size()],
                        "c-" + std::to_string(i));
    for (int yen : extract_yen(r.text)) sale_price_replies += yen == 369;
    if (r.tier == Tier::kCache && r.intent == Intent::kPricing) {
      ++cached_pricing;
      cached_without_disclaimer += !r.disclaimer;
    }
    clock_.advance_by(500ms);
  }
  EXPECT_EQ(sale_price_replies, 0);
  EXPECT_EQ(cached_without_disclaimer, 0);
  if (incident_order) {
    EXPECT_GT(cached_pricing, 0);  // the fallback did serve cached pricing answers...
  } else {
    EXPECT_EQ(cached_pricing, 0);  // live data first: the cache is not needed
  }
}

INSTANTIATE_TEST_SUITE_P(TierOrders, SaleEndScenario, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? "IncidentOrder" : "LiveDataFirst";
                         });

}  // namespace
}  // namespace ma::assist

namespace ma::assist {
namespace {

TEST(CacheTtlTest, DefaultsPerCategory) {
  const auto t = PipelineConfig::default_cache_ttl();
  EXPECT_EQ(t[static_cast<int>(Intent::kPricing)], 15min);
  EXPECT_EQ(t[static_cast<int>(Intent::kAvailability)], 5min);
  EXPECT_EQ(t[static_cast<int>(Intent::kRecommendation)], 4h);
  EXPECT_EQ(t[static_cast<int>(Intent::kFaq)], 7 * 24h);
  EXPECT_EQ(t[static_cast<int>(Intent::kGeneral)], 1h);
  EXPECT_EQ(t[static_cast<int>(Intent::kOrderStatus)], 0s);
}

TEST_F(PriceIntegrityTest, EachCategoryExpiresOnItsOwnTtl) {
  auto p = make_pipeline({});
  (void)ask(*p, "How much is Bleach volume 20?", "s1");    // pricing, 15 min
  (void)ask(*p, "Is Bleach volume 21 in stock?", "s1");    // availability, 5 min
  (void)ask(*p, "Recommend something like Bleach", "s1");  // recommendation, 4 h
  ASSERT_EQ(cache_.size(), 3u);
  auto alive = [&](std::string_view category) {
    return !cache_.sample(category, 10).empty() &&
           cache_.get(cache_.sample(category, 1)[0].first, clock_.now()).has_value();
  };
  clock_.advance_by(5min + 1s);
  EXPECT_FALSE(alive("availability"));
  EXPECT_TRUE(alive("pricing"));
  clock_.advance_by(10min);
  EXPECT_FALSE(alive("pricing"));
  EXPECT_TRUE(alive("recommendation"));
  clock_.advance_by(4h);
  EXPECT_FALSE(alive("recommendation"));
}

TEST_F(PriceIntegrityTest, OrderAnswersAreNeverSharedBetweenUsers) {
  PipelineConfig cfg;
  cfg.cache_ttl[static_cast<int>(Intent::kOrderStatus)] = 1h;  // even when cached at all
  cfg.tier_order[static_cast<int>(Intent::kOrderStatus)] = {Tier::kPrimary, Tier::kCache,
                                                            Tier::kDegraded};
  auto p = make_pipeline(cfg);
  auto ask_as = [&](std::string user) {
    std::optional<Reply> out;
    auto task = [&]() -> asio::awaitable<void> {
      ChatRequest req{"Where is my order #12345?", user,
                      catalog::User{user, "x", catalog::UserTier::kRegistered}, "t"};
      out = co_await p->handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    return *out;
  };
  const Reply owner = ask_as("u-1001");
  ASSERT_NE(owner.text.find("Yamato"), std::string::npos);
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  const Reply other = ask_as("u-1003");
  EXPECT_EQ(other.text.find("Yamato"), std::string::npos) << other.text;
  EXPECT_NE(other.tier, Tier::kCache);
  const Reply owner_again = ask_as("u-1001");
  EXPECT_EQ(owner_again.tier, Tier::kCache);
}

}  // namespace
}  // namespace ma::assist
