// The cascade against models that misbehave the way real ones do (issue 20): a primary that
// hangs (hedged to the secondary, the loser cancelled), a healthy pair (no hedge beyond a few
// percent), a stream cut or stalled half way (the next lane answers in time), wrong
// credentials (the lane marked misconfigured, no further calls, taken back after a good
// probe), a throttle at low traffic (the limiter's floor, skips counted), and the stagger
// (only after capacity errors). All on virtual time, against scripted models.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "assist/catalog_fixture.hpp"
#include "assist/pipeline.hpp"
#include "core/sim_clock.hpp"

namespace ma::assist {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using core::Duration;
using resilience::ErrorClass;

// A model whose behaviour a test sets: answer (first token after `first_token`, then a chunk
// every `gap`), hang, fail every call with a given error, or stream `after_chunks` chunks and
// then stall or cut. It honours the attempt's budgets and cancellation like the providers.
class ScriptedModel final : public fm::ModelProvider {
 public:
  enum class Mode { kAnswer, kHang, kFail, kStall, kCut };
  ScriptedModel(core::SimClock& clock, std::string name) : clock_(clock), name_(std::move(name)) {}

  Mode mode = Mode::kAnswer;
  Duration first_token = 100ms;
  Duration jitter{};  // added to first_token: the n-th call waits (n * 37 % 100)% of it
  Duration gap = 20ms;
  int after_chunks = 1;
  fm::ModelError failure;
  int calls = 0, cancelled = 0, answered = 0;
  std::vector<Duration> first_token_budgets;  // as each call was given
  std::vector<std::string> continued;         // each call's continue_from

  asio::awaitable<fm::ModelResult> invoke(const fm::ModelRequest& req,
                                          const fm::ChunkSink& on_chunk) override {
    const int n = calls++;
    first_token_budgets.push_back(req.first_token_timeout);
    const core::TimePoint start = clock_.now();
    std::string text = req.facts != nullptr && !req.facts->draft.empty()
                           ? req.facts->draft
                           : std::string("Hello from ") + name_ + ". Ask me about manga.";
    continued.emplace_back(req.continue_from);
    if (!req.continue_from.empty() && text.starts_with(req.continue_from))
      text.erase(0, req.continue_from.size());
    if (mode == Mode::kFail) {
      co_await clock_.wait_for(5ms);
      co_return core::fail(failure);
    }
    // Waits until `t`, bounded by the attempt's budget and the deadline.
    core::TimePoint limit = req.deadline.at();
    std::string why = "DeadlineExceeded";
    auto wait_until = [&](core::TimePoint t) -> asio::awaitable<std::optional<fm::ModelError>> {
      if (t > limit) t = limit;
      if (!co_await clock_.sleep_until(t)) {
        ++cancelled;
        co_return error(ErrorClass::kTransient, "Cancelled");
      }
      if (t == limit) co_return error(ErrorClass::kTimeout, why);
      co_return std::nullopt;
    };
    if (req.first_token_timeout > Duration::zero() && start + req.first_token_timeout < limit) {
      limit = start + req.first_token_timeout;
      why = "FirstTokenTimeout";
    }
    const core::TimePoint first = mode == Mode::kHang
                                      ? core::TimePoint::max()
                                      : start + first_token + jitter * (n * 37 % 100) / 100;
    if (auto e = co_await wait_until(first)) co_return core::fail(std::move(*e));
    limit = req.deadline.at();
    why = "DeadlineExceeded";
    const std::size_t step = std::max<std::size_t>(1, text.size() / 4);
    int sent = 0;
    for (std::size_t at = 0; at < text.size(); at += step) {
      if ((mode == Mode::kStall || mode == Mode::kCut) && sent == after_chunks) {
        fm::ModelError e;
        if (mode == Mode::kCut) {
          e = error(ErrorClass::kTransient, "StreamTruncated");
        } else {
          if (req.idle_timeout > Duration::zero() && clock_.now() + req.idle_timeout < limit) {
            limit = clock_.now() + req.idle_timeout;
            why = "StreamStalled";
          }
          e = (co_await wait_until(core::TimePoint::max())).value();
        }
        e.input_tokens = 100;
        e.output_tokens = 10 * sent;
        co_return core::fail(std::move(e));
      }
      if (sent > 0) {
        if (auto e = co_await wait_until(clock_.now() + gap)) co_return core::fail(std::move(*e));
      }
      if (on_chunk) on_chunk(std::string_view(text).substr(at, step));
      ++sent;
    }
    ++answered;
    co_return fm::ModelReply{text, name_, 100, 40};
  }
  std::string_view name() const override { return name_; }

  static fm::ModelError error(ErrorClass kind, std::string code, int status = 0) {
    fm::ModelError e;
    e.kind = kind;
    e.code = e.raw_code = std::move(code);
    e.http_status = status;
    return e;
  }

 private:
  core::SimClock& clock_;
  std::string name_;
};

class CascadeTest : public CatalogTest {
 protected:
  void make(PipelineConfig cfg = {}, bool continue_on_fallback = false) {
    cfg.lanes = {LanePolicy{.continue_on_fallback = continue_on_fallback,
                            .input_usd_per_mtok = 3,
                            .output_usd_per_mtok = 15},
                 LanePolicy{.input_usd_per_mtok = 0.25, .output_usd_per_mtok = 1.25}};
    pipeline_ = std::make_unique<Pipeline>(
        Pipeline::Deps{clock_, *catalog_, {sonnet_, haiku_}, cache_, flags_, &budget_}, cfg, 7);
  }

  struct Shown {
    Tier tier;
    int attempt;
    std::string text;
    std::string model;
  };

  // Asks and runs virtual time until the reply; `shown` collects the streamed chunks.
  Reply ask(std::string message, std::string session, std::vector<Shown>* shown = nullptr) {
    std::optional<Reply> out;
    auto task = [&]() -> asio::awaitable<void> {
      ChatRequest req{std::move(message), std::move(session), std::nullopt, "1-abc-def"};
      TierChunkSink sink;
      if (shown != nullptr) {
        sink = [shown](const StreamChunk& c) {
          shown->push_back({c.tier, c.attempt, std::string(c.text), std::string(c.model)});
        };
      }
      out = co_await pipeline_->handle(std::move(req), sink, core::Deadline::after(clock_, 3s));
    };
    asio::co_spawn(io_, task(), asio::detached);
    clock_.run_until([&] { return out.has_value(); }, clock_.now() + 1h);
    EXPECT_TRUE(out.has_value());
    return out.value_or(Reply{});
  }

  // One message, its reply into `out` (parameters live in the coroutine's frame).
  asio::awaitable<void> send(std::string session, std::optional<Reply>& out) {
    ChatRequest req{"Recommend something like Jujutsu Kaisen", std::move(session), std::nullopt,
                    "1-abc-def"};
    out = co_await pipeline_->handle(std::move(req), nullptr, core::Deadline::after(clock_, 3s));
  }

  static std::uint64_t total_calls(const std::vector<LaneCounters>& c) {
    std::uint64_t n = 0;
    for (const auto& l : c) n += l.calls;
    return n;
  }

  asio::io_context io_;
  core::SimClock clock_{io_};
  ScriptedModel sonnet_{clock_, "sonnet"};
  ScriptedModel haiku_{clock_, "haiku"};
  cache::ResponseCache cache_;
  RuntimeFlags flags_;
  resilience::CappedRetryBudget budget_{100};
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(CascadeTest, AHungPrimaryIsHedgedAndTheSecondaryAnswersWellInsideTheDeadline) {
  make();
  sonnet_.mode = ScriptedModel::Mode::kHang;
  std::vector<Shown> shown;
  const auto start = clock_.now();
  const Reply r = ask("Recommend something like Jujutsu Kaisen", "s-1", &shown);
  EXPECT_EQ(r.tier, Tier::kSecondary);
  EXPECT_EQ(r.model, "haiku");
  EXPECT_TRUE(r.hedged);
  // The hedge went out after the configured 1.2 s (no latency seen yet), the answer 100 ms
  // and three chunks later: not the 2.85 s a hung primary used to cost.
  EXPECT_LT(clock_.now() - start, 1500ms);
  EXPECT_GE(clock_.now() - start, 1200ms);
  // The loser was cancelled, not left running to its deadline.
  EXPECT_EQ(sonnet_.cancelled, 1);
  ASSERT_EQ(r.attempts.size(), 2u);
  const auto& lost = r.attempts[0].model == "sonnet" ? r.attempts[0] : r.attempts[1];
  EXPECT_TRUE(lost.cancelled);
  const auto& won = r.attempts[0].model == "haiku" ? r.attempts[0] : r.attempts[1];
  EXPECT_TRUE(won.hedge);
  EXPECT_TRUE(won.ok());
  // Every chunk the client saw is the winner's.
  ASSERT_FALSE(shown.empty());
  for (const auto& s : shown) {
    EXPECT_EQ(s.model, "haiku");
    EXPECT_EQ(s.tier, Tier::kSecondary);
  }
  const auto lanes = pipeline_->lane_counters();
  EXPECT_EQ(lanes[1].hedges, 1u);
  EXPECT_EQ(lanes[1].hedge_wins, 1u);
}

TEST_F(CascadeTest, AHealthyPairHedgesAtMostFivePercent) {
  make();
  sonnet_.first_token = 80ms;
  sonnet_.jitter = 120ms;  // first tokens spread over 80..200 ms
  const int n = 400;
  for (int i = 0; i < n; ++i) {
    const Reply r = ask("Recommend something like Jujutsu Kaisen", "s-" + std::to_string(i));
    ASSERT_FALSE(r.degraded);
  }
  const auto lanes = pipeline_->lane_counters();
  const double per_message = static_cast<double>(total_calls(lanes)) / n;
  RecordProperty("calls_per_message", std::to_string(per_message));
  EXPECT_LE(per_message, 1.05);
  EXPECT_LE(lanes[1].hedges, static_cast<std::uint64_t>(n * 5 / 100));
  // The primary's recent p95 to first token is known and the budget follows it.
  const auto st = pipeline_->status();
  EXPECT_GT(st.models[0].ttft_p95, 150ms);
  EXPECT_LE(st.models[0].ttft_p95, 200ms);
  EXPECT_EQ(st.models[0].first_token_budget, 3 * st.models[0].ttft_p95);
  // The races it lost (no first token before the secondary's answer) are a few: its breaker
  // stays closed.
  EXPECT_EQ(st.models[0].breaker, resilience::BreakerState::kClosed);
}

TEST_F(CascadeTest, APrimaryThatLosesEveryRaceOpensItsBreakerAndIsNoLongerHedged) {
  // Seed scenario 1's fixed fleet: a primary that has turned slow loses every hedge race
  // without a first token. Each loss counts against its breaker, so within its 10 s window
  // it opens, and messages go to the secondary alone: one call each instead of two.
  make();
  sonnet_.mode = ScriptedModel::Mode::kHang;
  int raced = 0;
  for (int i = 0; i < 8; ++i) {
    const Reply r = ask("Recommend something like Jujutsu Kaisen", "h-" + std::to_string(i));
    EXPECT_EQ(r.model, "haiku");
    if (r.attempts.size() == 2) ++raced;
  }
  EXPECT_GE(raced, 5);  // the breaker judges from 5 calls
  EXPECT_LT(raced, 8);
  EXPECT_EQ(pipeline_->status().models[0].breaker, resilience::BreakerState::kOpen);
  const int cancelled = sonnet_.cancelled;
  const Reply r = ask("Recommend something like Jujutsu Kaisen", "h-last");
  EXPECT_EQ(r.model, "haiku");
  EXPECT_FALSE(r.hedged);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(sonnet_.cancelled, cancelled);  // Sonnet was not called at all
}

TEST_F(CascadeTest, WithHedgingOffAHungPrimaryEndsAtItsFirstTokenBudget) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  make(cfg);
  sonnet_.mode = ScriptedModel::Mode::kHang;
  const auto start = clock_.now();
  const Reply r = ask("Recommend something like Jujutsu Kaisen", "s-1");
  EXPECT_EQ(r.model, "haiku");
  ASSERT_FALSE(sonnet_.first_token_budgets.empty());
  EXPECT_EQ(sonnet_.first_token_budgets.front(), 2s);  // nothing observed yet
  // Not retried on the lane that could not start: the next lane is the better bet.
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts.front().code, "FirstTokenTimeout");
  EXPECT_LT(clock_.now() - start, 3s);
}

TEST_F(CascadeTest, AStreamCutHalfWayFallsThroughToTheNextLaneInTime) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  make(cfg);
  sonnet_.mode = ScriptedModel::Mode::kCut;
  sonnet_.after_chunks = 2;
  std::vector<Shown> shown;
  const Reply r = ask("Recommend something like Jujutsu Kaisen", "s-1", &shown);
  EXPECT_EQ(r.tier, Tier::kSecondary);
  EXPECT_EQ(r.model, "haiku");
  // No retry on the lane that failed mid-answer, and no stagger after a non-capacity error.
  EXPECT_EQ(sonnet_.calls, 1);
  EXPECT_LT(r.latency, 500ms);
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts[0].code, "StreamTruncated");
  // The tokens billed for the cut stream are recorded with the winner's.
  EXPECT_EQ(r.attempts[0].output_tokens, 20);
  EXPECT_EQ(r.input_tokens, 200);
  EXPECT_EQ(r.output_tokens, 60);
  EXPECT_DOUBLE_EQ(r.cost_usd, (100 * 3 + 20 * 15 + 100 * 0.25 + 40 * 1.25) / 1e6);
  // The client saw attempt 1 (sonnet) and then attempt 2 (haiku): told to discard the first.
  ASSERT_GE(shown.size(), 2u);
  EXPECT_EQ(shown.front().attempt, 1);
  EXPECT_EQ(shown.front().model, "sonnet");
  EXPECT_EQ(shown.back().attempt, 2);
  EXPECT_EQ(shown.back().model, "haiku");
}

TEST_F(CascadeTest, WithContinueOnFallbackTheNextLaneContinuesTheBrokenOffAnswer) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  make(cfg, /*continue_on_fallback=*/true);
  sonnet_.mode = ScriptedModel::Mode::kCut;
  sonnet_.after_chunks = 2;
  std::vector<Shown> shown;
  const Reply r = ask("Recommend something like Jujutsu Kaisen", "s-1", &shown);
  EXPECT_EQ(r.model, "haiku");
  ASSERT_EQ(haiku_.continued.size(), 1u);
  ASSERT_FALSE(haiku_.continued[0].empty());
  // The reply is the whole answer: sonnet's beginning, haiku's rest.
  EXPECT_TRUE(r.text.starts_with(haiku_.continued[0])) << r.text;
  EXPECT_GT(r.text.size(), haiku_.continued[0].size());
  // The client was never told to discard: one attempt, one tier, the text in order.
  std::string all;
  for (const auto& s : shown) {
    EXPECT_EQ(s.attempt, 1);
    EXPECT_EQ(s.tier, Tier::kPrimary);
    all += s.text;
  }
  EXPECT_EQ(all, r.text);
}

TEST_F(CascadeTest, AStreamStalledHalfWayEndsAtTheIdleBudgetAndTheNextLaneAnswers) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  make(cfg);
  sonnet_.mode = ScriptedModel::Mode::kStall;
  sonnet_.after_chunks = 1;
  const Reply r = ask("Recommend something like Jujutsu Kaisen", "s-1");
  EXPECT_EQ(r.model, "haiku");
  ASSERT_EQ(r.attempts.size(), 2u);
  EXPECT_EQ(r.attempts[0].code, "StreamStalled");
  // 100 ms to the first token, 1 s of silence (the default idle budget), then haiku.
  EXPECT_GE(r.latency, 1100ms);
  EXPECT_LT(r.latency, 1500ms);
}

TEST_F(CascadeTest, WrongCredentialsMarkTheLaneMisconfiguredUntilAProbeSucceeds) {
  make();
  sonnet_.mode = ScriptedModel::Mode::kFail;
  sonnet_.failure = ScriptedModel::error(ErrorClass::kClient, "InvalidSignatureException", 403);
  int marked_at = -1;
  for (int i = 0; i < 20 && marked_at < 0; ++i) {
    ask("Recommend something like Jujutsu Kaisen", "s-" + std::to_string(i));
    if (pipeline_->status().models[0].misconfigured) marked_at = i;
  }
  ASSERT_GE(marked_at, 0) << "never marked within 20 messages";
  auto st = pipeline_->status();
  EXPECT_EQ(st.models[0].misconfigured_code, "InvalidSignatureException");
  EXPECT_NE(st.state, "normal");
  EXPECT_EQ(pipeline_->lane_counters()[0].misconfigured_marks, 1u);

  // No further calls on the request path: every message goes to haiku at once.
  const int calls = sonnet_.calls;
  for (int i = 0; i < 10; ++i) {
    const Reply r = ask("Recommend something like Jujutsu Kaisen", "t-" + std::to_string(i));
    EXPECT_EQ(r.model, "haiku");
    EXPECT_LT(r.latency, 500ms);
  }
  EXPECT_EQ(sonnet_.calls, calls);
  EXPECT_GE(pipeline_->lane_counters()[0].skips[static_cast<int>(SkipReason::kMisconfigured)], 10u);

  // A probe in the background still fails; fixed, the next probe takes the lane back.
  clock_.advance_by(6s);
  EXPECT_EQ(sonnet_.calls, calls + 1);
  EXPECT_TRUE(pipeline_->status().models[0].misconfigured);
  sonnet_.mode = ScriptedModel::Mode::kAnswer;
  clock_.advance_by(11s);  // the interval doubled to 10 s
  EXPECT_FALSE(pipeline_->status().models[0].misconfigured);
  EXPECT_EQ(pipeline_->status().state, "normal");
  EXPECT_EQ(ask("Recommend something like Jujutsu Kaisen", "u-1").model, "sonnet");
}

TEST_F(CascadeTest, AValidationErrorOneMessageCausedStaysAPerMessageError) {
  make();
  for (int i = 0; i < 30; ++i) {
    const bool bad = i % 3 == 0;  // every third message is "too long"
    sonnet_.mode = bad ? ScriptedModel::Mode::kFail : ScriptedModel::Mode::kAnswer;
    sonnet_.failure = ScriptedModel::error(ErrorClass::kClient, "ValidationException", 400);
    ask("Recommend something like Jujutsu Kaisen", "s-" + std::to_string(i));
  }
  EXPECT_FALSE(pipeline_->status().models[0].misconfigured);
  // Not even 15 in a row (one user's filtered messages at a quiet hour).
  sonnet_.mode = ScriptedModel::Mode::kFail;
  for (int i = 0; i < 15; ++i)
    ask("Recommend something like Jujutsu Kaisen", "v-" + std::to_string(i));
  EXPECT_FALSE(pipeline_->status().models[0].misconfigured);
  // The same unknown 4xx on every call is a broken lane, though.
  sonnet_.mode = ScriptedModel::Mode::kFail;
  sonnet_.failure = ScriptedModel::error(ErrorClass::kClient, "WeirdNewError", 400);
  for (int i = 0; i < 12; ++i)
    ask("Recommend something like Jujutsu Kaisen", "w-" + std::to_string(i));
  EXPECT_TRUE(pipeline_->status().models[0].misconfigured);
  EXPECT_EQ(pipeline_->status().models[0].misconfigured_code, "WeirdNewError");
}

TEST_F(CascadeTest, TheStaggerRunsOnlyAfterACapacityError) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  cfg.client_limiter = false;       // a limiter skip is no capacity error of the model's
  cfg.breaker.minimum_calls = 100;  // nor is a breaker's skip: every message calls Sonnet
  cfg.stagger_max = 2s;
  make(cfg);
  sonnet_.mode = ScriptedModel::Mode::kFail;
  // An auth error: the secondary is asked at once.
  sonnet_.failure = ScriptedModel::error(ErrorClass::kClient, "AccessDeniedException", 403);
  for (int i = 0; i < 2; ++i) {
    const Reply r = ask("Recommend something like Jujutsu Kaisen", "a-" + std::to_string(i));
    EXPECT_EQ(r.model, "haiku");
    EXPECT_LT(r.latency, 250ms) << "staggered after an auth error";
  }
  // A throttle: the secondary is asked after a random stagger (most of 10 are > 150 ms).
  sonnet_.failure = ScriptedModel::error(ErrorClass::kThrottling, "ThrottlingException", 429);
  flags_.patch(boost::json::parse(R"({"RETRY_MAX_ATTEMPTS":1})")).value();
  int staggered = 0;
  for (int i = 0; i < 10; ++i) {
    const Reply r = ask("Recommend something like Jujutsu Kaisen", "t-" + std::to_string(i));
    if (r.latency > 250ms) ++staggered;
  }
  EXPECT_GE(staggered, 6);
}

TEST_F(CascadeTest, TheLimiterKeepsAFloorAndItsSkipsAreCounted) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  cfg.quota_rps = {100, 100};
  cfg.limiter_floor_share = 0.1;
  make(cfg);
  // One throttle at low traffic: the limiter engages, but no lower than 10% of the quota.
  sonnet_.mode = ScriptedModel::Mode::kFail;
  sonnet_.failure = ScriptedModel::error(ErrorClass::kThrottling, "ThrottlingException", 429);
  flags_.patch(boost::json::parse(R"({"RETRY_MAX_ATTEMPTS":1})")).value();
  ask("Recommend something like Jujutsu Kaisen", "x-1");
  sonnet_.mode = ScriptedModel::Mode::kAnswer;
  auto st = pipeline_->status();
  EXPECT_TRUE(st.models[0].limiter_enabled);
  EXPECT_DOUBLE_EQ(st.models[0].limiter_floor, 10.0);
  EXPECT_GE(st.models[0].limiter_rate, 10.0);
  // A burst of 12 at one instant: the floor serves those its 250 ms wait cap allows, the
  // rest skip to haiku, and every skip is counted and shown.
  std::vector<std::optional<Reply>> out(12);
  for (int i = 0; i < 12; ++i)
    asio::co_spawn(io_, send("b-" + std::to_string(i), out[i]), asio::detached);
  clock_.run_until([&] { return std::ranges::all_of(out, [](auto& o) { return o.has_value(); }); },
                   clock_.now() + 1h);
  int from_sonnet = 0;
  for (auto& o : out) {
    ASSERT_TRUE(o.has_value());
    from_sonnet += o->model == "sonnet";
  }
  EXPECT_GE(from_sonnet, 2);  // not "every message in a burst skipped"
  EXPECT_LT(from_sonnet, 12);
  const auto lanes = pipeline_->lane_counters();
  EXPECT_EQ(lanes[0].skips[static_cast<int>(SkipReason::kClientRateLimited)],
            static_cast<std::uint64_t>(12 - from_sonnet));
  EXPECT_GT(pipeline_->status().models[0].skip_rate, 0.0);
  // With no traffic for two windows the skip rate says so instead of keeping its last value.
  clock_.advance_by(25s);
  EXPECT_EQ(pipeline_->status().models[0].skip_rate, 0.0);
}

TEST_F(CascadeTest, TodaysSpendIsSummedOverLanesAndResetsAtMidnight) {
  PipelineConfig cfg;
  cfg.hedge.enabled = false;
  make(cfg);
  ask("Recommend something like Jujutsu Kaisen", "s-1");
  const double one = (100 * 3 + 40 * 15) / 1e6;
  EXPECT_NEAR(pipeline_->status().spend_today_usd, one, 1e-9);
  ask("Recommend something like Naruto", "s-2");
  EXPECT_NEAR(pipeline_->status().spend_today_usd, 2 * one, 1e-9);
  clock_.advance_by(24h);
  EXPECT_EQ(pipeline_->status().spend_today_usd, 0.0);
  const auto lanes = pipeline_->lane_counters();
  EXPECT_EQ(lanes[0].input_tokens, 200u);
  EXPECT_EQ(lanes[0].output_tokens, 80u);
  EXPECT_NEAR(lanes[0].cost_usd, 2 * one, 1e-9);
}

}  // namespace
}  // namespace ma::assist
