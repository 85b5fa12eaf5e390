#include "assist/pipeline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <condition_variable>
#include <mutex>

#include "core/sim_clock.hpp"
#include "core/text.hpp"
#include "fm/simulated_bedrock.hpp"

namespace ma::assist {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using core::Duration;

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = catalog::Catalog::open({std::string(MA_SOURCE_DIR) + "/data", ":memory:"});
    ASSERT_TRUE(c.ok()) << c.error().message;
    catalog_ = std::move(c).value().release();
  }
  static void TearDownTestSuite() { delete catalog_; }

  PipelineTest() {
    PipelineConfig cfg;
    cfg.stagger_max = 2s;
    pipeline_ = std::make_unique<Pipeline>(
        Pipeline::Deps{clock_, *catalog_, {sonnet_, haiku_}, cache_, flags_, &budget_}, cfg, 99);
  }

  Reply ask(std::string message, std::optional<catalog::User> user = std::nullopt,
            std::string session = "s-1") {
    std::optional<Reply> out;
    const auto start = clock_.now();
    // A named closure: the coroutine reads its captures, so it must outlive the run.
    auto task = [&]() -> asio::awaitable<void> {
      ChatRequest req{std::move(message), session, user, "1-abc-def"};
      out = co_await pipeline_->handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    EXPECT_TRUE(out.has_value());
    // Every reply arrives within its 3 s deadline (virtual time).
    EXPECT_LE(clock_.now() - start, 3s) << out->text;
    return out.value_or(Reply{});
  }

  static catalog::User user(std::string id) {
    return catalog::User{std::move(id), "t", catalog::UserTier::kRegistered};
  }

  static void expect_helpful_degraded(const Reply& r) {
    EXPECT_TRUE(r.degraded);
    EXPECT_EQ(r.tier, Tier::kDegraded);
    std::string lower = core::nfkc_casefold(r.text);
    for (auto banned : kBannedPhrases) {
      EXPECT_EQ(lower.find(banned), std::string::npos) << "banned phrase in: " << r.text;
    }
    EXPECT_FALSE(r.actions.empty());
    EXPECT_GT(r.retry_after_s, 0);
  }

  static catalog::Catalog* catalog_;
  asio::io_context io_;
  // 2026-11-26T12:00:00Z: the Winter Jump sale is on, the ONE PIECE weekend sale is over.
  core::SimClock clock_{io_, core::TimePoint{24h},
                        core::WallTime{std::chrono::seconds(1795694400)}};
  fm::SimulatedBedrock sonnet_{
      {.name = "sonnet", .latency_median = 900ms, .latency_p99 = 1800ms}, clock_, 1};
  fm::SimulatedBedrock haiku_{
      {.name = "haiku", .latency_median = 400ms, .latency_p99 = 900ms}, clock_, 2};
  cache::ResponseCache cache_;
  RuntimeFlags flags_;
  resilience::CappedRetryBudget budget_{100};
  std::unique_ptr<Pipeline> pipeline_;
};
catalog::Catalog* PipelineTest::catalog_ = nullptr;

TEST_F(PipelineTest, PrimaryAnswersAKanjiPricingQuestionWithTheCatalogPrice) {
  const Reply r = ask("ONE PIECEの105巻はいくら？");
  EXPECT_EQ(r.tier, Tier::kPrimary);
  EXPECT_EQ(r.intent, Intent::kPricing);
  EXPECT_EQ(r.lang, fm::Language::kJa);
  EXPECT_NE(r.text.find("528円"), std::string::npos) << r.text;
  EXPECT_FALSE(r.degraded);
  EXPECT_EQ(r.model, "sonnet");
  ASSERT_FALSE(r.actions.empty());
  EXPECT_EQ(r.actions.front().url, "/series/mg-0004");
}

TEST_F(PipelineTest, EnglishQuestionGetsAnEnglishAnswer) {
  const Reply r = ask("How much is One Piece volume 105?");
  EXPECT_EQ(r.lang, fm::Language::kEn);
  EXPECT_NE(r.text.find("¥528"), std::string::npos) << r.text;
}

TEST_F(PipelineTest, ThrottledPrimaryFallsBackToSecondary) {
  sonnet_.set_faults({.throttle_rate = 1.0});
  const Reply r = ask("Recommend something like Jujutsu Kaisen");
  EXPECT_EQ(r.tier, Tier::kSecondary);
  EXPECT_EQ(r.model, "haiku");
  ASSERT_GE(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts.front().model, "sonnet");
  EXPECT_EQ(r.attempts.front().outcome(), "ThrottlingException");
  EXPECT_EQ(r.attempts.front().error, resilience::ErrorClass::kThrottling);
  EXPECT_EQ(r.attempts.back().model, "haiku");
  EXPECT_FALSE(r.degraded);
}

TEST_F(PipelineTest, TransientErrorsAreRetriedUpToMaxAttempts) {
  sonnet_.set_faults({.outage = true});
  const Reply r = ask("Recommend something like Jujutsu Kaisen");
  EXPECT_EQ(r.tier, Tier::kSecondary);
  int sonnet_attempts = 0;
  for (const auto& a : r.attempts) sonnet_attempts += a.model == "sonnet";
  EXPECT_EQ(sonnet_attempts, 3);  // RETRY_MAX_ATTEMPTS = 3
}

TEST_F(PipelineTest, RetryMaxAttemptsZeroMakesOneAttemptPerModel) {
  flags_.set_retry_max_attempts(0);
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  const Reply r = ask("Recommend something like Jujutsu Kaisen");
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts[0].model, "sonnet");
  EXPECT_EQ(r.attempts[1].model, "haiku");
  EXPECT_EQ(r.tier, Tier::kStatic);
  EXPECT_EQ(r.error_code, "ServiceUnavailableException");
}

TEST_F(PipelineTest, BothModelsDownFallToCacheThenStaticThenDegraded) {
  // Warm the cache with a recommendation while the models are healthy.
  const Reply warm = ask("Recommend something like Jujutsu Kaisen");
  ASSERT_EQ(warm.tier, Tier::kPrimary);
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  // Cached answer first for recommendations...
  const Reply cached = ask("Recommend something like Jujutsu Kaisen", std::nullopt, "s-2");
  EXPECT_EQ(cached.tier, Tier::kCache);
  EXPECT_EQ(cached.text, warm.text);
  EXPECT_TRUE(cached.degraded);
  // ...live data for prices (static beats cache for pricing)...
  const Reply price = ask("How much is Jujutsu Kaisen volume 3?", std::nullopt, "s-2");
  EXPECT_EQ(price.tier, Tier::kStatic);
  EXPECT_NE(price.text.find("¥422"), std::string::npos) << price.text;  // 20% sale on ¥528
  // ...and an honest, helpful message when nothing can answer.
  const Reply none = ask("Tell me a story about a cat", std::nullopt, "s-2");
  expect_helpful_degraded(none);
}

TEST_F(PipelineTest, DegradedReplyNamesTheQuestionAndGivesAnEtaFromTheBreaker) {
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  // Enough failures to open both breakers (minimum 10 calls, 50%).
  for (int i = 0; i < 6; ++i) {
    (void)ask("Where is my order #1234" + std::to_string(i) + "?", user("u-1001"));
  }
  const auto st = pipeline_->status();
  EXPECT_EQ(st.state, "down");
  ASSERT_TRUE(st.eta.has_value());
  sonnet_.clear_faults();
  // A question the static tier cannot answer.
  const Reply r = ask("What do you think about cats and manga?", user("u-1001"), "s-x");
  expect_helpful_degraded(r);
  EXPECT_NE(r.text.find("seconds"), std::string::npos) << r.text;  // the ETA
  EXPECT_LE(r.retry_after_s, 15);
}

// After an outage the primary recovers and answers; the secondary, never needed again, keeps
// its open breaker until a call probes it. Its wait over, it no longer counts as out while the
// primary answers: the service is "normal" again (the visitors' banner comes down) rather than
// "degraded" until some call happens to reach the secondary. While no lane answers, a lane
// past its wait still counts: "down" does not flicker to "normal" between probes.
TEST_F(PipelineTest, ABreakerPastItsWaitCountsAsOutOnlyWhileNoOtherLaneAnswers) {
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  for (int i = 0; i < 6; ++i) {
    (void)ask("Where is my order #1234" + std::to_string(i) + "?", user("u-1001"));
  }
  auto st = pipeline_->status();
  ASSERT_EQ(st.state, "down");
  ASSERT_TRUE(st.eta.has_value());
  clock_.advance_by(*st.eta + std::chrono::seconds(60));
  st = pipeline_->status();
  EXPECT_EQ(st.state, "down") << "both past their wait, neither probed";
  EXPECT_TRUE(st.eta.has_value());
  // The primary is back and a question probes it; the secondary is never called.
  sonnet_.clear_faults();
  const Reply r = ask("What do you think about cats and manga?", user("u-1001"), "s-y");
  ASSERT_EQ(r.tier, Tier::kPrimary) << r.text;
  st = pipeline_->status();
  EXPECT_NE(st.models[0].breaker, resilience::BreakerState::kOpen);
  EXPECT_EQ(st.models[1].breaker, resilience::BreakerState::kOpen) << "not probed";
  EXPECT_EQ(st.state, "normal");
  EXPECT_FALSE(st.eta.has_value());
}

// The other way round: the primary is out and the secondary answers. The primary past its
// wait, not yet probed, still counts: "degraded" does not flicker to "normal" until a call
// probes it.
TEST_F(PipelineTest, APrimaryPastItsWaitStillCountsWhileOnlyTheFallbackAnswers) {
  sonnet_.set_faults({.outage = true});
  for (int i = 0; i < 6; ++i) {
    (void)ask("Where is my order #5678" + std::to_string(i) + "?", user("u-1001"));
  }
  auto st = pipeline_->status();
  ASSERT_EQ(st.state, "degraded");
  ASSERT_TRUE(st.eta.has_value());
  clock_.advance_by(*st.eta + std::chrono::seconds(60));
  st = pipeline_->status();
  EXPECT_EQ(st.models[0].breaker, resilience::BreakerState::kOpen) << "not probed yet";
  EXPECT_EQ(st.state, "degraded");
}

TEST_F(PipelineTest, OrderAnswersOnlyForTheirOwner) {
  const Reply mine = ask("Where is my order #12345?", user("u-1001"));
  EXPECT_EQ(mine.intent, Intent::kOrderStatus);
  EXPECT_NE(mine.text.find("Yamato"), std::string::npos) << mine.text;
  const Reply theirs = ask("Where is my order #12345?", user("u-1003"));
  EXPECT_EQ(theirs.text.find("Yamato"), std::string::npos) << theirs.text;
  EXPECT_EQ(theirs.text.find("4512"), std::string::npos) << theirs.text;
  const Reply anon = ask("Where is my order #12345?");
  EXPECT_EQ(anon.text.find("Yamato"), std::string::npos) << anon.text;
}

TEST_F(PipelineTest, CacheOnlyModeNeverCallsTheModels) {
  flags_.patch(boost::json::parse(R"({"FM_MODE":"cache_only"})")).value();
  const Reply r = ask("ONE PIECEの105巻はいくら？");
  EXPECT_TRUE(r.attempts.empty());
  EXPECT_EQ(r.tier, Tier::kStatic);  // nothing cached yet: live data
  const Reply g = ask("hello there", std::nullopt, "s-9");
  EXPECT_TRUE(g.attempts.empty());
  EXPECT_EQ(g.tier, Tier::kDegraded);
}

TEST_F(PipelineTest, CachedPricingAnswersCarryTheDisclaimer) {
  PipelineConfig cfg;
  cfg.tier_order[static_cast<int>(Intent::kPricing)] = {Tier::kPrimary, Tier::kCache,
                                                        Tier::kDegraded};
  Pipeline p({clock_, *catalog_, {sonnet_, haiku_}, cache_, flags_, nullptr}, cfg, 5);
  pipeline_.reset();
  auto run = [&](std::string msg) {
    std::optional<Reply> out;
    auto task = [&]() -> asio::awaitable<void> {
      // NOTE: a named request; g++ 12 double-destroys braced temporaries in co_await calls.
      ChatRequest req{msg, "s", std::nullopt, "t"};
      out = co_await p.handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    return *out;
  };
  ASSERT_EQ(run("How much is Bleach volume 3?").tier, Tier::kPrimary);
  sonnet_.set_faults({.outage = true});
  const Reply r = run("How much is Bleach volume 3?");
  EXPECT_EQ(r.tier, Tier::kCache);
  EXPECT_TRUE(r.disclaimer);
  EXPECT_NE(r.text.find("Please verify at checkout."), std::string::npos);
}

TEST_F(PipelineTest, RepeatedQuestionWhileDegradedGetsTheSameReplyWithoutTheCascade) {
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  const Reply first = ask("Tell me about your company history", user("u-1001"));
  ASSERT_TRUE(first.degraded);
  EXPECT_FALSE(first.attempts.empty());
  const Reply again = ask("tell me about your company history!", user("u-1001"));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_TRUE(again.attempts.empty());
  EXPECT_EQ(again.text, first.text);
  clock_.advance_by(61s);
  const Reply later = ask("Tell me about your company history", user("u-1001"));
  EXPECT_FALSE(later.deduplicated);
}

TEST_F(PipelineTest, ASessionNamedLikeAUserIdIsNotThatUser) {
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  const Reply aikos = ask("Where is my order #12345?", user("u-1001"), "");
  ASSERT_TRUE(aikos.degraded);
  // An anonymous visitor whose session id is Aiko's user id: neither replays the other's
  // remembered reply (keys are namespaced "u:" / "s:").
  EXPECT_FALSE(ask("Where is my order #12345?", std::nullopt, "u-1001").deduplicated);
  sonnet_.clear_faults();
  haiku_.clear_faults();
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  const Reply visitors = ask("Tell me about your company history", std::nullopt, "u-1002");
  ASSERT_TRUE(visitors.degraded);
  EXPECT_FALSE(ask("Tell me about your company history", user("u-1002"), "").deduplicated);
  EXPECT_TRUE(ask("Tell me about your company history", std::nullopt, "u-1002").deduplicated);
}

TEST_F(PipelineTest, AVisitorWithoutASessionHasNoRememberedReplies) {
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  ASSERT_TRUE(ask("Tell me about your company history", std::nullopt, "").degraded);
  EXPECT_FALSE(ask("Tell me about your company history", std::nullopt, "").deduplicated);
}

TEST_F(PipelineTest, RememberedDegradedRepliesAreBoundedAndSweptRarely) {
  // A full outage: every reply is degraded, every asker distinct, all within the window.
  PipelineConfig cfg;
  cfg.dedupe_max_entries = 1000;
  pipeline_ = std::make_unique<Pipeline>(
      Pipeline::Deps{clock_, *catalog_, {sonnet_, haiku_}, cache_, flags_, &budget_}, cfg, 5);
  flags_.patch(boost::json::parse(R"({"FM_MODE":"static_only"})")).value();
  const std::string q = "I would like some advice about manga";
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(ask(q, std::nullopt, "s-" + std::to_string(i)).degraded) << i;
  }
  const PipelineStats& st = pipeline_->stats();
  // One pass found nothing to forget; the map stayed at its bound, not at 3,000 replies, and
  // was not swept again on every store (it was, once it held 50,000, before).
  EXPECT_EQ(st.dedupe_sweeps.load(), 1u);
  EXPECT_EQ(st.dedupe_not_kept.load(), 2000u);
  EXPECT_TRUE(ask(q, std::nullopt, "s-1").deduplicated);      // remembered
  EXPECT_FALSE(ask(q, std::nullopt, "s-2500").deduplicated);  // not kept: the cascade again
  // A minute later the old replies are forgotten in one pass and new ones are kept.
  clock_.advance_by(61s);
  EXPECT_FALSE(ask(q, std::nullopt, "s-9999").deduplicated);
  EXPECT_EQ(st.dedupe_sweeps.load(), 2u);
  EXPECT_TRUE(ask(q, std::nullopt, "s-9999").deduplicated);
}

TEST_F(PipelineTest, SlowModelsNeverPushTheReplyPastTheDeadline) {
  sonnet_.set_faults({.extra_latency = 10s});
  haiku_.set_faults({.extra_latency = 10s});
  const Reply r = ask("How much is One Piece volume 105?");  // ask() asserts <= 3 s
  EXPECT_EQ(r.tier, Tier::kStatic);
  EXPECT_EQ(r.error_code, "DeadlineExceeded");
}

TEST_F(PipelineTest, UnknownErrorFormatNeverReachesTheUser) {
  sonnet_.set_faults({.unknown_error_rate = 1.0});
  haiku_.set_faults({.unknown_error_rate = 1.0});
  const Reply r = ask("鬼滅の刃のおすすめは？");
  EXPECT_EQ(r.error_code, "TOKENIZER_FAULT");
  EXPECT_EQ(r.error_class, resilience::ErrorClass::kUnknown);
  EXPECT_EQ(r.text.find("TOKENIZER"), std::string::npos);
  EXPECT_EQ(r.text.find("errorDetail"), std::string::npos);
  // Unknown errors are not retried on the same model.
  ASSERT_EQ(r.attempts.size(), 2u);
}

TEST_F(PipelineTest, V1MessageIsOnlyUsedWhenAskedFor) {
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  flags_.patch(boost::json::parse(R"({"DEGRADATION_MESSAGE_VERSION":"v1"})")).value();
  const Reply r = ask("hello", std::nullopt, "s-v1");
  EXPECT_NE(r.text.find("try again"), std::string::npos);  // the seed's message, replayed
}

// A model that answers from the facts and remembers what it was sent.
class RecordingModel final : public fm::ModelProvider {
 public:
  asio::awaitable<fm::ModelResult> invoke(const fm::ModelRequest& req,
                                          const fm::ChunkSink&) override {
    requests.push_back(req);
    co_return fm::ModelReply{req.facts->draft, "sonnet", 0, 0};
  }
  std::string_view name() const override { return "sonnet"; }
  std::vector<fm::ModelRequest> requests;
};

TEST_F(PipelineTest, TheModelSeesTheConversationsRecentTurns) {
  RecordingModel model;
  Pipeline p(Pipeline::Deps{clock_, *catalog_, {model, haiku_}, cache_, flags_, &budget_}, {}, 5);
  auto send = [&](std::string message, std::string session) {
    std::optional<Reply> out;
    auto task = [&]() -> asio::awaitable<void> {
      ChatRequest req{std::move(message), std::move(session), std::nullopt, "1-abc-def"};
      out = co_await p.handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    return out.value_or(Reply{});
  };
  const Reply first = send("ONE PIECEの105巻はいくら？", "conv-a");
  send("NARUTOの1巻はいくら？", "conv-a");
  send("NARUTOの2巻はいくら？", "conv-b");
  ASSERT_EQ(model.requests.size(), 3u);
  EXPECT_EQ(model.requests[0].turns.size(), 1u);
  const auto& second = model.requests[1].turns;
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(second[0].text, "ONE PIECEの105巻はいくら？");
  EXPECT_EQ(second[1].role, "assistant");
  EXPECT_EQ(second[1].text, first.text);
  EXPECT_EQ(second[2].text, "NARUTOの1巻はいくら？");
  EXPECT_EQ(model.requests[2].turns.size(), 1u);  // another conversation starts empty
}

TEST(RuntimeFlagsTest, PatchIsAllOrNothing) {
  RuntimeFlags f;
  const std::string before = boost::json::serialize(f.to_json());
  EXPECT_FALSE(f.patch(boost::json::parse(R"({"RETRY_MAX_ATTEMPTS":0,"FM_MODE":"bogus"})")).ok());
  EXPECT_NE(f.retry_max_attempts(), 0);  // the valid half was not applied either
  EXPECT_EQ(boost::json::serialize(f.to_json()), before);
  EXPECT_FALSE(f.patch(boost::json::parse(R"({"NOPE":1})")).ok());
  ASSERT_TRUE(
      f.patch(boost::json::parse(R"({"RETRY_MAX_ATTEMPTS":0,"PRIMARY_MODEL":"haiku"})")).ok());
  EXPECT_EQ(f.retry_max_attempts(), 0);
  EXPECT_EQ(f.primary_model_name(), "haiku");
  EXPECT_EQ(f.to_json().at("PRIMARY_MODEL").as_string(), "haiku");
}

// A shared tier whose read waits until the thread that serves requests has run something
// else (or 5 s have passed): a blocking network call, as the Redis tier makes.
class WaitingTier final : public cache::SharedCacheTier {
 public:
  std::optional<std::pair<cache::CachedReply, Duration>> get(const std::string&) override {
    std::unique_lock lock(mu_);
    reads_ += 1;
    other_work_ran_meanwhile_ = cv_.wait_for(lock, 5s, [&] { return other_work_ran_; });
    return std::nullopt;
  }
  void put(const std::string&, const cache::CachedReply&, Duration) override {}
  void erase(const std::string&) override {}
  void invalidate_product(const std::string&) override {}
  void flush(std::string_view) override {}
  void other_work_ran() {
    {
      std::lock_guard lock(mu_);
      other_work_ran_ = true;
    }
    cv_.notify_all();
  }
  int reads() {
    std::lock_guard lock(mu_);
    return reads_;
  }
  bool other_work_ran_meanwhile() {
    std::lock_guard lock(mu_);
    return other_work_ran_meanwhile_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int reads_ = 0;
  bool other_work_ran_ = false;
  bool other_work_ran_meanwhile_ = false;
};

TEST_F(PipelineTest, ASharedCacheReadRunsOffTheThreadThatServesRequests) {
  WaitingTier tier;
  cache_.set_shared_tier(&tier);
  flags_.patch(boost::json::parse(R"({"FM_MODE":"cache_only"})")).value();
  asio::thread_pool blocking(1);
  Pipeline::Deps deps{clock_, *catalog_, {sonnet_, haiku_}, cache_, flags_, &budget_};
  deps.blocking = blocking.get_executor();
  Pipeline p(deps, {}, 7);
  std::optional<Reply> out;
  auto task = [&]() -> asio::awaitable<void> {
    ChatRequest req{"How much is shipping?", "s-1", std::nullopt, "1-abc-def"};
    out = co_await p.handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
  };
  asio::co_spawn(io_, task(), asio::detached);
  // Queued behind the request: it runs once the request waits for the shared tier, unless
  // the tier's read holds this thread.
  asio::post(io_, [&] { tier.other_work_ran(); });
  while (!out && io_.run_one() > 0) {
  }
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(tier.reads(), 1);
  EXPECT_TRUE(tier.other_work_ran_meanwhile());
  EXPECT_NE(out->tier, Tier::kCache);  // an L1 miss and an L2 miss: not from the cache
  blocking.join();
  cache_.set_shared_tier(nullptr);
}

}  // namespace
}  // namespace ma::assist

namespace ma::assist {
namespace {

// A third model is one more lane: tier 2 tries the fallbacks in configured order, and
// PRIMARY_MODEL may put any lane first.
TEST_F(PipelineTest, AThirdLaneAnswersWhenTheFirstTwoAreDown) {
  fm::SimulatedBedrock nova{
      {.name = "nova", .latency_median = 300ms, .latency_p99 = 600ms}, clock_, 3};
  flags_.set_models({"sonnet", "haiku", "nova"});
  pipeline_ = std::make_unique<Pipeline>(
      Pipeline::Deps{clock_, *catalog_, {sonnet_, haiku_, nova}, cache_, flags_, &budget_},
      PipelineConfig{}, 99);
  sonnet_.set_faults({.outage = true});
  haiku_.set_faults({.outage = true});
  Reply r = ask("Recommend something like Jujutsu Kaisen");
  EXPECT_EQ(r.tier, Tier::kSecondary);
  EXPECT_EQ(r.model, "nova");
  ASSERT_FALSE(r.attempts.empty());
  EXPECT_EQ(r.attempts.front().model, "sonnet");  // the order: sonnet, haiku, then nova
  EXPECT_EQ(r.attempts.back().model, "nova");
  EXPECT_EQ(pipeline_->status().models.size(), 3u);
  EXPECT_EQ(pipeline_->status().state, "normal");  // no breaker open yet

  ASSERT_TRUE(flags_.patch(boost::json::object{{"PRIMARY_MODEL", "nova"}}).ok());
  r = ask("Recommend something like Naruto", std::nullopt, "s-2");
  EXPECT_EQ(r.tier, Tier::kPrimary);
  EXPECT_EQ(r.model, "nova");
  ASSERT_EQ(r.attempts.size(), 1u);  // nova first: the others are not asked
}

}  // namespace
}  // namespace ma::assist
