// Fleet state on a real redis-server: catalog changes reach a server that starts after the
// change stream was trimmed.
#include "state/redis/redis_state.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "core/real_clock.hpp"
#include "integration/redis_server.hpp"

namespace ma::state {
namespace {

using namespace std::chrono_literals;

TEST(RedisStateTest, AServerStartedAfterTheStreamWasTrimmedStillLearnsEveryChange) {
  testing::RedisServer redis;
  core::RealClock clock;
  RedisStateConfig c;
  c.redis.url = RedisUrl::parse(redis.url()).value();
  c.redis.command_timeout = 2s;  // a loaded CI host must not turn a publish into a failure
  c.fleet = "t";
  c.server_id = "a";
  c.stream_max_len = 100;
  RedisState a(c, clock);
  // One change to a product, then many to another: the stream keeps only the last ones.
  a.publish_product("op-v105", 777, 5);
  for (int i = 0; i < 500; ++i) a.publish_product("op-v1", 400 + i % 2, 10);
  auto first = a.client().command({"XRANGE", "ma:{t}:catalog", "-", "+", "COUNT", "1"});
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->elements.empty());
  const auto& fields = first->elements[0].elements.at(1).elements;
  ASSERT_NE(std::find_if(fields.begin(), fields.end(),
                         [](const RedisReply& f) { return f.str == "op-v1"; }),
            fields.end())
      << "the first change is still on the stream: nothing to test";

  // A server that starts now has every product at its latest price and stock.
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::pair<int, int>> seen;
  FleetHandlers h;
  h.on_product = [&](const std::string& product, int price, int stock) {
    {
      std::lock_guard lock(mu);
      seen[product] = {price, stock};
    }
    cv.notify_all();
  };
  c.server_id = "late";
  RedisState late(c, clock);
  late.start(h);
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 5s, [&] {
      return seen.contains("op-v105") && seen.contains("op-v1") && seen["op-v1"].first == 401;
    }));
    EXPECT_EQ(seen["op-v105"], std::make_pair(777, 5));
    EXPECT_EQ(seen["op-v1"], std::make_pair(401, 10));
  }
  EXPECT_EQ(late.catalog_snapshots(), 1u);

  // Changes after it started arrive by the stream, as before.
  a.publish_product("op-v105", 640, 4);
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, 5s, [&] { return seen["op-v105"].first == 640; }));
  lock.unlock();
  late.stop();
}

}  // namespace
}  // namespace ma::state
