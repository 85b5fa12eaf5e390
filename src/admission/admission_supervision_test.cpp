// The admission dispatcher is a supervised task (core/supervised.hpp): an exception in it is
// counted and the dispatcher restarted, so queued messages are still admitted -- a
// dispatcher that died silently would leave them to time out.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "admission/admission.hpp"
#include "core/sim_clock.hpp"
#include "core/supervised.hpp"

namespace ma::admission {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class AdmissionSupervisionTest : public ::testing::Test {
 protected:
  asio::io_context io_;
  core::SimClock clock_{io_};
};

asio::awaitable<void> admit_into(Admission& a, AdmissionRequest req,
                                 std::optional<AdmissionResult>& out) {
  out = co_await a.admit(std::move(req));
}

TEST_F(AdmissionSupervisionTest, AThrowingDispatcherIsRestartedAndTheQueueStillDrains) {
  AdmissionConfig cfg;
  cfg.global_rate = 1;
  cfg.global_burst = 1;
  cfg.dynamic = true;  // the dispatcher asks the capacity when it retunes (once a second)
  cfg.max_wait = 30s;
  bool fail_next = false;
  Admission a(clock_, cfg, [&] {
    if (fail_next) {
      fail_next = false;
      throw std::runtime_error("capacity feed failed");
    }
    return 100.0;
  });
  const auto before = core::task_failures().failures("admission_dispatcher");
  std::optional<AdmissionResult> first, second;
  asio::co_spawn(io_, admit_into(a, {"u1", "", Priority::kRegistered, 0}, first), asio::detached);
  clock_.advance_by(1ms);
  ASSERT_TRUE(first && first->outcome == Outcome::kAdmitted);
  // The global bucket is empty: the second waits in the queue, and the dispatcher's next
  // retune (the next second) throws.
  fail_next = true;
  asio::co_spawn(io_, admit_into(a, {"u2", "", Priority::kRegistered, 0}, second), asio::detached);
  clock_.advance_by(5s);
  EXPECT_FALSE(fail_next) << "the dispatcher never asked the capacity";
  EXPECT_EQ(core::task_failures().failures("admission_dispatcher"), before + 1);
  ASSERT_TRUE(second.has_value()) << "the queued message was never answered";
  EXPECT_EQ(second->outcome, Outcome::kAdmitted);
  EXPECT_TRUE(second->queued);
  EXPECT_LT(second->waited, 2s);
  EXPECT_EQ(a.queue_depth(), 0u);
}

}  // namespace
}  // namespace ma::admission
