// The simulated model on virtual time: the attempt budgets end a call exactly when they
// expire, the deterministic faults (hang, stall, cut, wrong credentials), Asio cancellation
// (a hedge's loser) and the usage billed for the part delivered, continue_from.
#include "fm/simulated_bedrock.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <optional>

#include "core/sim_clock.hpp"

namespace ma::fm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using resilience::ErrorClass;

// A model with a fixed latency of 1 s (median = p99) in four chunks: the first at 400 ms,
// then one every 200 ms (600, 800, 1000 ms).
SimModelSpec fixed_spec() {
  SimModelSpec s;
  s.name = "sonnet";
  s.latency_median = s.latency_p99 = 1s;
  s.chunks = 4;
  return s;
}

class SimulatedBedrockTest : public ::testing::Test {
 protected:
  struct Call {
    std::optional<ModelResult> result;
    core::TimePoint ended{};
    std::vector<std::string> chunks;
    std::vector<core::TimePoint> chunk_at;
    bool threw = false;
  };

  ModelRequest request(core::Duration deadline = 3s) {
    ModelRequest req;
    req.model_id = "sonnet";
    req.lang = Language::kEn;
    req.turns = {{"user", "Do you have ONE PIECE?"}};
    req.deadline = core::Deadline::after(clock_, deadline);
    return req;
  }

  // Starts a call; `on_chunk_extra` runs after each chunk is recorded. With a signal, the
  // call's co_spawn is bound to it (as the pipeline binds a hedge); `throw_if_cancelled`
  // false as the pipeline's child coroutine sets it.
  void start(Call& call, const ModelRequest& req, asio::cancellation_signal* signal = nullptr,
             bool throw_if_cancelled = false,
             std::function<void(std::size_t)> on_chunk_extra = {}) {
    // The request by value: the coroutine's frame keeps it (callers pass temporaries).
    auto task = [](SimulatedBedrock& m, core::Clock& clock, ModelRequest req, Call& call, bool tic,
                   std::function<void(std::size_t)> extra) -> asio::awaitable<void> {
      co_await asio::this_coro::throw_if_cancelled(tic);
      try {
        call.result = co_await m.invoke(req, [&](std::string_view t) {
          call.chunks.emplace_back(t);
          call.chunk_at.push_back(clock.now());
          if (extra) extra(call.chunks.size());
        });
      } catch (const boost::system::system_error&) {
        call.threw = true;
      }
      call.ended = clock.now();
    };
    auto coro = task(model_, clock_, req, call, throw_if_cancelled, std::move(on_chunk_extra));
    if (signal != nullptr) {
      asio::co_spawn(io_, std::move(coro),
                     asio::bind_cancellation_slot(signal->slot(), asio::detached));
    } else {
      asio::co_spawn(io_, std::move(coro), asio::detached);
    }
  }

  Call run(const ModelRequest& req) {
    Call call;
    start(call, req);
    clock_.run();
    EXPECT_TRUE(call.result.has_value());
    return call;
  }

  core::TimePoint t0() const { return start_; }

  asio::io_context io_;
  core::SimClock clock_{io_};
  core::TimePoint start_ = clock_.now();
  SimulatedBedrock model_{fixed_spec(), clock_, 7};
};

TEST_F(SimulatedBedrockTest, StreamsFourChunksOnScheduleAndBillsTheText) {
  const Call c = run(request());
  ASSERT_TRUE(c.result->ok());
  ASSERT_EQ(c.chunks.size(), 4u);
  EXPECT_EQ(c.chunk_at[0], t0() + 400ms);
  EXPECT_EQ(c.chunk_at[3], t0() + 1000ms);
  std::string joined;
  for (const auto& s : c.chunks) joined += s;
  EXPECT_EQ((*c.result)->text, joined);
  EXPECT_EQ((*c.result)->output_tokens, static_cast<int>(joined.size() / 3));
  EXPECT_EQ((*c.result)->input_tokens, 200);
}

TEST_F(SimulatedBedrockTest, AFirstTokenLaterThanItsBudgetEndsTheCallAtTheBudget) {
  ModelRequest req = request();
  req.first_token_timeout = 200ms;
  const Call c = run(req);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().kind, ErrorClass::kTimeout);
  EXPECT_EQ(c.result->error().code, "FirstTokenTimeout");
  EXPECT_EQ(c.ended, t0() + 200ms);  // exactly, well before the 3 s deadline
  EXPECT_TRUE(c.chunks.empty());
  EXPECT_EQ(c.result->error().output_tokens, 0);

  req.first_token_timeout = 400ms;  // the first chunk comes at 400 ms: in time
  req.deadline = core::Deadline::after(clock_, 3s);
  EXPECT_TRUE(run(req).result->ok());
}

TEST_F(SimulatedBedrockTest, TheDeadlineWinsWhenItComesFirst) {
  ModelRequest req = request(150ms);
  req.first_token_timeout = 200ms;
  const Call c = run(req);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().code, "DeadlineExceeded");
  EXPECT_EQ(c.ended, t0() + 150ms);
}

TEST_F(SimulatedBedrockTest, AGapLongerThanTheIdleBudgetIsAStallAtLastChunkPlusIdle) {
  ModelRequest req = request();
  req.idle_timeout = 150ms;  // chunks come every 200 ms
  const Call c = run(req);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().kind, ErrorClass::kTimeout);
  EXPECT_EQ(c.result->error().code, "StreamStalled");
  EXPECT_EQ(c.ended, t0() + 400ms + 150ms);
  ASSERT_EQ(c.chunks.size(), 1u);
  EXPECT_EQ(c.result->error().output_tokens, static_cast<int>(c.chunks[0].size() / 3));
  EXPECT_EQ(c.result->error().input_tokens, 200);

  req.idle_timeout = 200ms;  // a gap of exactly the budget is in time
  req.deadline = core::Deadline::after(clock_, 3s);
  EXPECT_TRUE(run(req).result->ok());
}

// A stall after N chunks ends at the last chunk + the idle budget; after every chunk, the
// answer never completes; without an idle budget, the deadline ends it.
TEST_F(SimulatedBedrockTest, AStallEndsAtTheIdleBudgetOrElseTheDeadline) {
  struct Case {
    int stall_after;
    core::Duration idle, deadline;
    const char* code;
    std::size_t chunks;
    core::Duration ends;  // after the call's start
  };
  for (const Case& c : {Case{2, 200ms, 3s, "StreamStalled", 2, 600ms + 200ms},
                        Case{10, 300ms, 3s, "StreamStalled", 4, 1000ms + 300ms},
                        Case{2, 0ms, 2s, "DeadlineExceeded", 2, 2s}}) {
    SCOPED_TRACE(c.stall_after);
    model_.set_faults({.stall_after_chunks = c.stall_after});
    const core::TimePoint at = clock_.now();
    ModelRequest req = request(c.deadline);
    req.idle_timeout = c.idle;
    const Call call = run(req);
    ASSERT_FALSE(call.result->ok());
    EXPECT_EQ(call.result->error().kind, ErrorClass::kTimeout);
    EXPECT_EQ(call.result->error().code, c.code);
    EXPECT_EQ(call.chunks.size(), c.chunks);
    EXPECT_EQ(call.ended, at + c.ends);
    EXPECT_GT(call.result->error().output_tokens, 0);
  }
}

TEST_F(SimulatedBedrockTest, ACutAfterTwoChunksIsATruncatedStreamWithItsUsage) {
  model_.set_faults({.cut_after_chunks = 2});
  const Call c = run(request());
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().kind, ErrorClass::kTransient);
  EXPECT_EQ(c.result->error().code, "StreamTruncated");
  EXPECT_EQ(c.chunks.size(), 2u);
  EXPECT_EQ(c.ended, t0() + 800ms);  // when the third chunk was due
  const int billed = static_cast<int>((c.chunks[0].size() + c.chunks[1].size()) / 3);
  EXPECT_EQ(c.result->error().output_tokens, billed);
  EXPECT_EQ(c.result->error().input_tokens, 200);
}

TEST_F(SimulatedBedrockTest, AHungModelSendsNothingUntilABudgetTheDeadlineOrACancel) {
  model_.set_faults({.hang = true});
  ModelRequest req = request();
  req.first_token_timeout = 250ms;
  Call c = run(req);
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().code, "FirstTokenTimeout");
  EXPECT_EQ(c.ended, t0() + 250ms);

  core::TimePoint at = clock_.now();
  c = run(request(1s));
  EXPECT_EQ(c.result->error().code, "DeadlineExceeded");
  EXPECT_EQ(c.ended, at + 1s);

  at = clock_.now();
  Call d;
  asio::cancellation_signal signal;
  start(d, request(), &signal);
  clock_.advance_by(700ms);
  EXPECT_FALSE(d.result.has_value());
  signal.emit(asio::cancellation_type::terminal);
  clock_.advance_by(0ms);
  ASSERT_TRUE(d.result.has_value());
  EXPECT_EQ(d.result->error().code, "Cancelled");
  EXPECT_EQ(d.result->error().kind, ErrorClass::kTransient);
  EXPECT_EQ(d.ended, at + 700ms);
  EXPECT_TRUE(d.chunks.empty());
}

TEST_F(SimulatedBedrockTest, WrongCredentialsFailFastWithAClientError) {
  model_.set_faults({.auth_failure = true});
  const Call c = run(request());
  ASSERT_FALSE(c.result->ok());
  EXPECT_EQ(c.result->error().kind, ErrorClass::kClient);
  EXPECT_EQ(c.result->error().code, "InvalidSignatureException");
  EXPECT_EQ(c.result->error().http_status, 403);
  EXPECT_LE(c.ended - t0(), 5ms);
  EXPECT_TRUE(c.chunks.empty());
  EXPECT_TRUE(model_.faults().any());
}

TEST_F(SimulatedBedrockTest, ACancelledStreamReturnsAtOnceWithThePartDeliveredBilled) {
  for (const bool throw_if_cancelled : {false, true}) {
    SCOPED_TRACE(throw_if_cancelled);
    const core::TimePoint at = clock_.now();
    Call c;
    asio::cancellation_signal signal;
    start(c, request(), &signal, throw_if_cancelled);
    clock_.advance_by(500ms);  // the first chunk came at 400 ms
    signal.emit(asio::cancellation_type::terminal);
    clock_.advance_by(0ms);
    ASSERT_TRUE(c.result.has_value());
    EXPECT_FALSE(c.threw);
    EXPECT_EQ(c.result->error().code, "Cancelled");
    EXPECT_EQ(c.ended, at + 500ms);
    ASSERT_EQ(c.chunks.size(), 1u);
    EXPECT_EQ(c.result->error().output_tokens, static_cast<int>(c.chunks[0].size() / 3));
    clock_.run();
    EXPECT_EQ(c.chunks.size(), 1u);  // nothing more came
  }
}

// The signal fires while the model is not waiting (from the chunk sink, as a hedge's winner
// might): the cancellation is seen before the next wait, not lost.
TEST_F(SimulatedBedrockTest, ACancellationBetweenTwoWaitsIsNotLost) {
  for (const bool throw_if_cancelled : {false, true}) {
    SCOPED_TRACE(throw_if_cancelled);
    const core::TimePoint at = clock_.now();
    Call c;
    asio::cancellation_signal signal;
    start(c, request(), &signal, throw_if_cancelled, [&](std::size_t n) {
      if (n == 2) signal.emit(asio::cancellation_type::terminal);
    });
    clock_.run();
    ASSERT_TRUE(c.result.has_value());
    EXPECT_FALSE(c.threw);
    EXPECT_EQ(c.result->error().code, "Cancelled");
    EXPECT_EQ(c.chunks.size(), 2u);
    EXPECT_EQ(c.ended, at + 600ms);
  }
}

TEST_F(SimulatedBedrockTest, ContinueFromAPrefixStreamsOnlyTheRest) {
  const std::string whole = SimulatedBedrock::compose(request(), "sonnet");
  ModelRequest req = request();
  const std::string prefix = whole.substr(0, 20);
  req.continue_from = prefix;
  const Call c = run(req);
  ASSERT_TRUE(c.result->ok());
  EXPECT_EQ((*c.result)->text, whole.substr(20));
  std::string joined;
  for (const auto& s : c.chunks) joined += s;
  EXPECT_EQ(joined, whole.substr(20));

  // Not a prefix of what this model would write: the whole answer.
  ModelRequest other = request();
  other.continue_from = "Something else entirely";
  const Call d = run(other);
  ASSERT_TRUE(d.result->ok());
  EXPECT_EQ((*d.result)->text, whole);
}

}  // namespace
}  // namespace ma::fm
