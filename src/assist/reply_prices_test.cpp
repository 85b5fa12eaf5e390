// What a reply's log line says it quoted (Reply::prices, the request log's "prices"): every
// price the customer was finally shown, with its product and the catalog's price at that
// moment -- from every tier, streamed or not, after the guard corrected, disclaimed or evicted,
// with the guard off (the replay of incident 3), and on a dedupe replay. On virtual time.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>

#include "assist/catalog_fixture.hpp"
#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "core/sim_clock.hpp"
#include "fm/simulated_bedrock.hpp"
#include "observe/stale_price_report.hpp"

namespace ma::assist {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A model that states a made-up price, streamed in pieces when someone listens.
class LyingModel final : public fm::ModelProvider {
 public:
  explicit LyingModel(std::string text) : text_(std::move(text)) {}
  asio::awaitable<fm::ModelResult> invoke(const fm::ModelRequest&,
                                          const fm::ChunkSink& on_chunk) override {
    if (on_chunk) {
      for (std::size_t at = 0; at < text_.size(); at += 5) on_chunk(text_.substr(at, 5));
    }
    fm::ModelReply r;
    r.text = text_;
    r.model_id = "liar";
    co_return r;
  }
  std::string_view name() const override { return "liar"; }

 private:
  std::string text_;
};

constexpr int kPricing = static_cast<int>(Intent::kPricing);

class ReplyPricesTest : public CatalogTest {
 protected:
  ReplyPricesTest() {
    sonnet_.set_faults({});
    haiku_.set_faults({});
  }
  ~ReplyPricesTest() override {
    // The suite shares its catalog: prices changed here go back.
    for (const auto& [id, price] : restore_)
      (void)catalog_->update_product(id, price, std::nullopt);
  }

  std::unique_ptr<Pipeline> make_pipeline(PipelineConfig cfg,
                                          fm::ModelProvider* primary = nullptr) {
    return std::make_unique<Pipeline>(
        Pipeline::Deps{
            clock_, *catalog_, {primary ? *primary : sonnet_, haiku_}, cache_, flags_, nullptr},
        std::move(cfg), 5);
  }

  // `streamed` collects the text streamed to the client (a sink is then given).
  Reply ask(Pipeline& p, std::string message, std::string session,
            std::string* streamed = nullptr) {
    std::optional<Reply> out;
    auto task = [&]() -> asio::awaitable<void> {
      ChatRequest req{std::move(message), std::move(session), std::nullopt, "t"};
      TierChunkSink sink;
      if (streamed != nullptr) {
        sink = [streamed](const StreamChunk& c) { streamed->append(c.text); };
      }
      out = co_await p.handle(std::move(req), sink, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    return out.value();
  }

  void set_price(const std::string& id, int yen) {
    const auto p = catalog_->product(id);
    ASSERT_TRUE(p.has_value()) << id;
    restore_.emplace_back(id, p->price_jpy);
    ASSERT_TRUE(catalog_->update_product(id, yen, std::nullopt).ok());
  }
  void models_down() {
    sonnet_.set_faults({.outage = true});
    haiku_.set_faults({.outage = true});
  }

  asio::io_context io_;
  // During the ONE PIECE / Attack on Titan weekend sale (30% off, 2026-11-14 to 16). Bleach
  // (mg-0014) is on no sale.
  core::SimClock clock_{io_, core::TimePoint{24h},
                        *catalog::parse_rfc3339_utc("2026-11-15T10:00:00Z")};
  fm::SimulatedBedrock sonnet_{
      {.name = "sonnet", .latency_median = 300ms, .latency_p99 = 600ms}, clock_, 1};
  fm::SimulatedBedrock haiku_{
      {.name = "haiku", .latency_median = 200ms, .latency_p99 = 400ms}, clock_, 2};
  cache::ResponseCache cache_;
  RuntimeFlags flags_;
  std::vector<std::pair<std::string, int>> restore_;
};

using Prices = std::vector<QuotedPrice>;

TEST_F(ReplyPricesTest, TheGuardsCheckSaysWhichProductEachAmountWasCheckedAgainst) {
  const core::WallTime now = clock_.wall_now();
  auto quoted = [&](std::string_view text, std::string_view context) {
    Prices out;
    (void)check_reply_prices(text, context, *catalog_, now, nullptr, &out);
    return out;
  };
  const catalog::Series* bleach = catalog_->series("mg-0014");
  ASSERT_NE(bleach, nullptr);
  const std::string latest = "mg-0014-v" + std::to_string(bleach->volumes);
  // A named volume, with the sale's price and list price (the list price is right).
  EXPECT_EQ(quoted("ONE PIECE 105巻は528円です。", "mg-0004-v105"),
            (Prices{{"mg-0004-v105", 528, 369, 528}}));
  // A series without a volume: the volume whose price it is...
  EXPECT_EQ(quoted("Bleach volumes cost ¥528.", ""), (Prices{{"mg-0014-v1", 528, 528, 528}}));
  // ...else the product asked about when it is of that series, else the latest volume.
  EXPECT_EQ(quoted("Bleach volumes cost ¥999.", "mg-0014-v5"),
            (Prices{{"mg-0014-v5", 999, 528, 528}}));
  EXPECT_EQ(quoted("Bleach volumes cost ¥999.", ""), (Prices{{latest, 999, 528, 528}}));
  // No product to check against: not given. The same statement twice: given once.
  EXPECT_EQ(quoted("Shipping is 300円.", ""), Prices{});
  EXPECT_EQ(quoted("Bleach volume 9 is ¥528. Yes, ¥528!", "mg-0014-v9"),
            (Prices{{"mg-0014-v9", 528, 528, 528}}));
}

TEST_F(ReplyPricesTest, AModelAnswerLogsThePricesItStates) {
  auto p = make_pipeline({});
  const Reply r = ask(*p, "How much is Bleach volume 9?", "s1");
  ASSERT_EQ(r.tier, Tier::kPrimary);
  ASSERT_NE(r.text.find("¥528"), std::string::npos) << r.text;
  EXPECT_EQ(r.prices, (Prices{{"mg-0014-v9", 528, 528, 528}}));
  // A reply that states no price logs none.
  EXPECT_TRUE(ask(*p, "What is your returns policy?", "s1").prices.empty());
}

TEST_F(ReplyPricesTest, AStreamedAnswerLogsWhatTheFinalReplyShows) {
  auto p = make_pipeline({});
  std::string streamed;
  const Reply r = ask(*p, "How much is Bleach volume 10?", "s1", &streamed);
  ASSERT_EQ(r.tier, Tier::kPrimary);
  ASSERT_NE(streamed.find("¥528"), std::string::npos) << streamed;
  EXPECT_EQ(r.prices, (Prices{{"mg-0014-v10", 528, 528, 528}}));

  // A streamed wrong price is withheld and the final reply corrected: the log says what the
  // customer saw last, the live price, not the model's.
  LyingModel liar("Bleach volume 10 is ¥999 today. Enjoy!");
  auto lying = make_pipeline({}, &liar);
  streamed.clear();
  const Reply c = ask(*lying, "How much is Bleach volume 10?", "s2", &streamed);
  ASSERT_EQ(c.price_guard, GuardOutcome::kCorrected);
  EXPECT_EQ(streamed.find("999"), std::string::npos) << streamed;
  EXPECT_EQ(c.prices, (Prices{{"mg-0014-v10", 528, 528, 528}}));
}

TEST_F(ReplyPricesTest, ADisclaimedPriceIsLoggedAsShown) {
  LyingModel liar("By the way, Bleach volume 9 is ¥999 today.");
  auto p = make_pipeline({}, &liar);
  const Reply r = ask(*p, "Tell me something fun", "s1");
  ASSERT_EQ(r.price_guard, GuardOutcome::kDisclaimer);
  ASSERT_NE(r.text.find("¥999"), std::string::npos) << r.text;
  EXPECT_EQ(r.prices, (Prices{{"mg-0014-v9", 999, 528, 528}}));
}

TEST_F(ReplyPricesTest, AnEvictedCachedAnswerIsNotLoggedTheLiveAnswerIs) {
  PipelineConfig cfg;  // cache before live data: the guard must evict
  cfg.tier_order[kPricing] = {Tier::kPrimary, Tier::kSecondary, Tier::kCache, Tier::kStatic,
                              Tier::kDegraded};
  auto p = make_pipeline(cfg);
  ASSERT_EQ(ask(*p, "How much is Bleach volume 12?", "s1").tier, Tier::kPrimary);
  set_price("mg-0014-v12", 600);  // behind the cache's back: no invalidation here
  models_down();
  const Reply r = ask(*p, "How much is Bleach volume 12?", "s2");
  ASSERT_EQ(r.price_guard, GuardOutcome::kEvicted);
  ASSERT_EQ(r.tier, Tier::kStatic);
  EXPECT_EQ(r.prices, (Prices{{"mg-0014-v12", 600, 600, 600}}));
}

TEST_F(ReplyPricesTest, AStaticAnswerDuringASaleLogsThePriceAndTheListPriceBesideIt) {
  models_down();
  auto p = make_pipeline({});
  const Reply r = ask(*p, "How much is One Piece volume 4?", "s1");
  ASSERT_EQ(r.tier, Tier::kStatic);
  ASSERT_NE(r.text.find("¥369"), std::string::npos) << r.text;
  ASSERT_NE(r.text.find("¥528"), std::string::npos) << r.text;
  EXPECT_EQ(r.prices, (Prices{{"mg-0004-v4", 369, 369, 528}, {"mg-0004-v4", 528, 369, 528}}));
}

TEST_F(ReplyPricesTest, WithTheGuardOffAStaleCachedPriceIsServedAndLoggedAgainstTheCatalog) {
  // The incident's gateway: the cache first, no guard, no disclaimer.
  PipelineConfig cfg;
  cfg.price_guard = false;
  cfg.cache_price_disclaimer = false;
  cfg.tier_order[kPricing] = {Tier::kCache, Tier::kPrimary, Tier::kSecondary, Tier::kStatic,
                              Tier::kDegraded};
  auto p = make_pipeline(cfg);
  const Reply first = ask(*p, "How much is Bleach volume 13?", "s1");
  ASSERT_EQ(first.tier, Tier::kPrimary);
  EXPECT_EQ(first.prices, (Prices{{"mg-0014-v13", 528, 528, 528}}));
  set_price("mg-0014-v13", 700);
  const Reply stale = ask(*p, "How much is Bleach volume 13?", "s2");
  ASSERT_EQ(stale.tier, Tier::kCache);
  EXPECT_EQ(stale.price_guard, GuardOutcome::kNotChecked);  // nothing acted on it
  EXPECT_EQ(p->stats().price_mismatches.load(), 0u);
  EXPECT_EQ(stale.prices, (Prices{{"mg-0014-v13", 528, 700, 700}}));

  // Through the observer into a log file, and the report finds it.
  const std::string path =
      ::testing::TempDir() + "ma_reply_prices_" + std::to_string(::getpid()) + ".log";
  {
    observe::MetricsRegistry metrics;
    observe::AlarmEngine alarms;
    observe::Sampler sampler;
    observe::LogSink log(path, false);
    RequestObserver observer(clock_, metrics, alarms, sampler, &log, nullptr, 1);
    observer.on_reply(first, "How much is Bleach volume 13?", "s1", {});
    observer.on_reply(stale, "How much is Bleach volume 13?", "s2", {});
  }
  observe::StalePriceReport report;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) report.add_line(line);
  std::remove(path.c_str());
  ASSERT_EQ(report.rows().size(), 1u);
  EXPECT_EQ(report.rows()[0].product_id, "mg-0014-v13");
  EXPECT_EQ(report.rows()[0].quoted_yen, 528);
  EXPECT_EQ(report.rows()[0].actual_yen, 700);
  EXPECT_EQ(report.rows()[0].tier, "cache");
  EXPECT_EQ(report.rows()[0].user, observe::hash_user("s2"));
  EXPECT_EQ(report.summary().judged, 2u);
}

TEST_F(ReplyPricesTest, ADedupeReplayLogsItsPricesAgainstTheCatalogNow) {
  models_down();
  auto p = make_pipeline({});
  const Reply r = ask(*p, "How much is Bleach volume 14?", "s1");
  ASSERT_EQ(r.tier, Tier::kStatic);  // degraded: remembered for the dedupe window
  set_price("mg-0014-v14", 640);
  const Reply again = ask(*p, "How much is Bleach volume 14?", "s1");
  ASSERT_TRUE(again.deduplicated);
  // The replay repeats the text it gave (a known gap: a replay is not checked again); the log
  // says so, against the catalog as it is now.
  EXPECT_NE(again.text.find("¥528"), std::string::npos) << again.text;
  EXPECT_EQ(again.prices, (Prices{{"mg-0014-v14", 528, 640, 640}}));
}

}  // namespace
}  // namespace ma::assist
