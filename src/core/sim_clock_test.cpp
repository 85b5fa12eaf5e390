#include "core/sim_clock.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <string>
#include <vector>

#include "core/deadline.hpp"
#include "core/random.hpp"

namespace ma::core {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class SimClockTest : public ::testing::Test {
 protected:
  asio::io_context io_;
  SimClock clock_{io_};
  TimePoint t0_ = clock_.now();
};

TEST_F(SimClockTest, TimeStandsStillUntilAdvanced) {
  EXPECT_EQ(clock_.now(), t0_);
  clock_.advance_by(250ms);
  EXPECT_EQ(clock_.now(), t0_ + 250ms);
  EXPECT_EQ(clock_.wall_now() - SimClock(io_).wall_now(), 250ms);
}

TEST_F(SimClockTest, CallbacksFireInTimeOrderWithInsertionTieBreak) {
  std::vector<std::string> fired;
  clock_.call_at(t0_ + 30ms, [&] { fired.push_back("c@30"); });
  clock_.call_at(t0_ + 10ms, [&] { fired.push_back("a@10"); });
  clock_.call_at(t0_ + 30ms, [&] { fired.push_back("d@30"); });
  clock_.call_at(t0_ + 20ms, [&] { fired.push_back("b@20"); });
  clock_.advance_by(25ms);
  EXPECT_EQ(fired, (std::vector<std::string>{"a@10", "b@20"}));
  clock_.advance_by(5ms);
  EXPECT_EQ(fired, (std::vector<std::string>{"a@10", "b@20", "c@30", "d@30"}));
}

TEST_F(SimClockTest, CallbackSeesItsOwnFireTime) {
  TimePoint seen{};
  clock_.call_at(t0_ + 7ms, [&] { seen = clock_.now(); });
  clock_.advance_by(1s);
  EXPECT_EQ(seen, t0_ + 7ms);
  EXPECT_EQ(clock_.now(), t0_ + 1s);
}

TEST_F(SimClockTest, TimerArmedByATimerWithinTheAdvanceAlsoFires) {
  int count = 0;
  clock_.call_at(t0_ + 10ms, [&] {
    ++count;
    clock_.call_at(clock_.now() + 10ms, [&] { ++count; });
  });
  clock_.advance_by(20ms);
  EXPECT_EQ(count, 2);
}

TEST_F(SimClockTest, CancelledCallbackNeverFires) {
  bool fired = false;
  const auto id = clock_.call_at(t0_ + 10ms, [&] { fired = true; });
  EXPECT_TRUE(clock_.cancel(id));
  EXPECT_FALSE(clock_.cancel(id));
  clock_.advance_by(1s);
  EXPECT_FALSE(fired);
  EXPECT_EQ(clock_.pending_timers(), 0u);
}

TEST_F(SimClockTest, CancelledTimersLeaveTheHeapAndTheRestFireInOrder) {
  // Like a timeout that nearly every reply cancels: 40,000 timers, about nine in ten
  // cancelled. The heap drops them in bulk instead of carrying them until their time, and
  // the survivors still fire in (time, arming) order.
  Random rng(11);
  constexpr int kTimers = 40'000;
  std::vector<TimePoint> when(kTimers);
  std::vector<SimClock::TimerId> ids(kTimers);
  std::vector<int> alive;  // armed, in no particular order
  std::vector<int> fired;
  for (int i = 0; i < kTimers; ++i) {
    when[i] = t0_ + std::chrono::milliseconds(1 + rng.below(5'000));
    ids[i] = clock_.call_at(when[i], [&fired, i] { fired.push_back(i); });
    alive.push_back(i);
    if (rng.chance(0.9)) {
      const auto k = static_cast<std::size_t>(rng.below(alive.size()));
      ASSERT_TRUE(clock_.cancel(ids[alive[k]]));
      alive[k] = alive.back();
      alive.pop_back();
    }
    ASSERT_EQ(clock_.pending_timers(), alive.size());
    ASSERT_LE(clock_.heap_size(), 2 * alive.size() + 4'096) << i;
  }
  std::vector<int> expected = alive;
  std::sort(expected.begin(), expected.end(), [&](int a, int b) {
    return when[a] != when[b] ? when[a] < when[b] : a < b;  // arming order breaks ties
  });
  ASSERT_GT(expected.size(), 2'000u);
  clock_.advance_by(10s);
  EXPECT_EQ(fired, expected);
  EXPECT_EQ(clock_.heap_size(), 0u);
}

TEST_F(SimClockTest, CoroutineSleepsOnVirtualTime) {
  std::vector<Duration> woke;
  auto task = [&](Duration d) -> asio::awaitable<void> {
    const bool reached = co_await clock_.wait_for(d);
    EXPECT_TRUE(reached);
    woke.push_back(clock_.now() - t0_);
  };
  asio::co_spawn(io_, task(300ms), asio::detached);
  asio::co_spawn(io_, task(100ms), asio::detached);
  asio::co_spawn(io_, task(200ms), asio::detached);
  clock_.run();
  EXPECT_EQ(woke, (std::vector<Duration>{100ms, 200ms, 300ms}));
}

TEST_F(SimClockTest, SleepLosingARaceIsCancelledWithoutWaitingForItsTime) {
  using namespace asio::experimental::awaitable_operators;
  std::optional<TimePoint> finished;
  auto fast = [&]() -> asio::awaitable<int> {
    co_await clock_.wait_for(50ms);
    co_return 7;
  };
  auto task = [&]() -> asio::awaitable<void> {
    auto result = co_await (fast() || clock_.wait_for(3s));
    EXPECT_EQ(result.index(), 0u);
    finished = clock_.now();
  };
  asio::co_spawn(io_, task(), asio::detached);
  clock_.run();
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(*finished, t0_ + 50ms);
  EXPECT_EQ(clock_.pending_timers(), 0u);
}

TEST_F(SimClockTest, RunUntilStopsWhenTheConditionHolds) {
  int ticks = 0;
  for (int i = 1; i <= 10; ++i) clock_.call_at(t0_ + i * 1s, [&] { ++ticks; });
  EXPECT_TRUE(clock_.run_until([&] { return ticks == 3; }, t0_ + 1h));
  EXPECT_EQ(clock_.now(), t0_ + 3s);
  EXPECT_FALSE(clock_.run_until([&] { return ticks == 100; }, t0_ + 5500ms));
  EXPECT_EQ(ticks, 5);
  EXPECT_EQ(clock_.now(), t0_ + 5500ms);
}

TEST_F(SimClockTest, DeadlineComesFromTheInjectedClock) {
  const Deadline d = Deadline::after(clock_, 3s);
  EXPECT_EQ(d.remaining(clock_.now()), 3s);
  clock_.advance_by(2s);
  EXPECT_EQ(d.remaining(clock_.now()), 1s);
  EXPECT_FALSE(d.expired(clock_.now()));
  clock_.advance_by(1s);
  EXPECT_TRUE(d.expired(clock_.now()));
  EXPECT_EQ(d.remaining(clock_.now()), Duration::zero());
  EXPECT_TRUE(Deadline::never().is_never());
  EXPECT_EQ(d.min(Deadline::never()).at(), d.at());
}

}  // namespace
}  // namespace ma::core
