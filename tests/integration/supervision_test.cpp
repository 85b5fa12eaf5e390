// Supervised tasks on the real server (core/supervised.hpp): the server's background tasks
// are known to /metrics from the start (mangaassist_task_failures_total{task} 0), and a
// task's failure shows there as soon as it is reported.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "core/sim_clock.hpp"
#include "core/supervised.hpp"
#include "integration/test_server.hpp"

namespace ma::server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr const char* kAdmin = "supervision-test-token";

class SupervisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(ts_.create());
    ASSERT_NO_FATAL_FAILURE(ts_.start());
  }
  std::string metrics() { return ts_.admin("GET", "/metrics").body; }

  testing::TestServer ts_{kAdmin};
};

asio::awaitable<void> fails_once(int& runs) {
  if (++runs == 1) throw std::runtime_error("injected failure");
  co_return;
}

TEST_F(SupervisionTest, TheServersTasksAreKnownAndAFailureShowsOnMetrics) {
  const std::string before = metrics();
  for (const char* task : {"accept_loop", "sale_watcher", "cache_validation", "log_flusher"}) {
    EXPECT_NE(before.find(std::string("mangaassist_task_failures_total{task=\"") + task + "\"}"),
              std::string::npos)
        << task << " is not supervised:\n"
        << before;
  }
  // A supervised task that throws once, counted where the server's tasks are.
  asio::io_context io;
  core::SimClock sim(io);
  int runs = 0;
  core::spawn_supervised(
      io.get_executor(), sim, [&runs] { return fails_once(runs); },
      {.task = "supervision_test_task", .policy = core::SupervisePolicy::restart(), .on_stop = {}});
  sim.run();
  EXPECT_EQ(runs, 2);  // restarted once
  EXPECT_NE(metrics().find("mangaassist_task_failures_total{task=\"supervision_test_task\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace ma::server
