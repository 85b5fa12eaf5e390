#include "core/supervised.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <stdexcept>
#include <vector>

#include "core/sim_clock.hpp"

namespace ma::core {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs once per call: records when it started, throws on its first `failing` runs.
asio::awaitable<void> flaky(Clock& clock, std::vector<TimePoint>& starts, int failing) {
  starts.push_back(clock.now());
  if (static_cast<int>(starts.size()) <= failing) throw std::runtime_error("boom");
  co_await clock.wait_for(1ms);  // a task that does some waiting, then ends
}

class SupervisedTest : public ::testing::Test {
 protected:
  asio::io_context io_;
  SimClock clock_{io_};
  TimePoint t0_ = clock_.now();
  TaskFailures failures_;
  std::vector<TimePoint> starts_;
};

TEST_F(SupervisedTest, ATaskThatThrowsTwiceIsRestartedTwiceAfterItsBackoffAndCounted) {
  spawn_supervised(io_.get_executor(), clock_, [this] { return flaky(clock_, starts_, 2); },
                   {.task = "flaky",
                    .policy = SupervisePolicy::restart(100ms, 10s),
                    .on_stop = {},
                    .failures = &failures_});
  clock_.run();
  ASSERT_EQ(starts_.size(), 3u);
  EXPECT_EQ(starts_[0], t0_);
  EXPECT_EQ(starts_[1], t0_ + 100ms);  // first backoff
  EXPECT_EQ(starts_[2], t0_ + 300ms);  // doubled
  EXPECT_EQ(failures_.failures("flaky"), 2u);
  EXPECT_EQ(clock_.pending_timers(), 0u);  // the third run ended normally: not restarted
}

TEST_F(SupervisedTest, TheBackoffDoublesUpToItsBound) {
  spawn_supervised(io_.get_executor(), clock_, [this] { return flaky(clock_, starts_, 1000); },
                   {.task = "always",
                    .policy = SupervisePolicy::restart(100ms, 400ms),
                    .on_stop = {},
                    .failures = &failures_});
  clock_.advance_by(1500ms);
  const std::vector<TimePoint> want = {t0_,         t0_ + 100ms,  t0_ + 300ms,
                                       t0_ + 700ms, t0_ + 1100ms, t0_ + 1500ms};
  EXPECT_EQ(starts_, want);
  EXPECT_EQ(failures_.failures("always"), 6u);
}

TEST_F(SupervisedTest, AStopPolicyTaskCallsTheStopHandlerAndIsNotRestarted) {
  int stops = 0;
  spawn_supervised(io_.get_executor(), clock_, [this] { return flaky(clock_, starts_, 1); },
                   {.task = "listener",
                    .policy = SupervisePolicy::stop(),
                    .on_stop = [&] { ++stops; },
                    .failures = &failures_});
  clock_.run();
  EXPECT_EQ(stops, 1);
  EXPECT_EQ(starts_.size(), 1u);
  EXPECT_EQ(failures_.failures("listener"), 1u);
}

TEST_F(SupervisedTest, ATaskThatEndsNormallyIsDoneAndKnownWithNoFailures) {
  spawn_supervised(io_.get_executor(), clock_, [this] { return flaky(clock_, starts_, 0); },
                   {.task = "quiet",
                    .policy = SupervisePolicy::restart(),
                    .on_stop = {},
                    .failures = &failures_});
  clock_.run();
  EXPECT_EQ(starts_.size(), 1u);
  const auto all = failures_.snapshot();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], (std::pair<std::string, std::uint64_t>{"quiet", 0}));
}

TEST_F(SupervisedTest, AOneShotCoroutinesExceptionIsCountedNotSwallowed) {
  ReportFailures report{"session", &failures_};
  asio::co_spawn(io_, flaky(clock_, starts_, 1), report);
  clock_.run();
  EXPECT_EQ(failures_.failures("session"), 1u);
}

}  // namespace
}  // namespace ma::core
