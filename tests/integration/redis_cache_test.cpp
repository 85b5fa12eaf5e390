// The fleet's shared response cache (state::RedisCacheTier) against a real redis-server:
// answers round-trip with the time they have left, invalidating a product or flushing a
// category drops exactly the answers that carry it, even those still queued for writing,
// and what the cache leaves in Redis is bounded by its live answers, not by how many were
// ever written.
//
// Where a test needs a write held in flight, Redis is paused (CLIENT PAUSE WRITE) until the
// test releases it (CLIENT UNPAUSE), and the test waits for the event itself -- Redis holding
// the writer's call (INFO clients: blocked_clients) -- with a bounded wait, never for a
// fixed time.
#include "state/redis/redis_cache.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "integration/redis_server.hpp"
#include "state/redis/redis_client.hpp"

namespace ma::state {
namespace {

using namespace std::chrono_literals;

cache::CachedReply answer(std::string text, std::string category,
                          std::vector<std::string> products = {}) {
  cache::CachedReply r;
  r.text = std::move(text);
  r.category = std::move(category);
  r.product_ids = std::move(products);
  r.actions = {{"Open", "/series/one-piece"}};
  for (const auto& p : r.product_ids) r.stated_prices.emplace_back(p, 528);
  r.model = "sonnet";
  return r;
}

class RedisCacheTest : public ::testing::Test {
 protected:
  RedisOptions options() {
    RedisOptions o;
    o.url = RedisUrl::parse(redis_.url()).value();
    // A loaded CI host: a miss here would be a false failure. Longer than kPauseBound, so a
    // call Redis holds is released by the test, not cut by the client.
    o.command_timeout = 30s;
    return o;
  }
  void TearDown() override { (void)client_.command({"CLIENT", "UNPAUSE"}); }
  // Once this server's queued writes have reached Redis.
  bool hit(const std::string& key) {
    tier_.sync();
    return tier_.get(key).has_value();
  }
  // Redis holds every write (and script) until resume_writes(): the writer's call in flight
  // waits. Bounded (kPauseBound) only so that a test that fails midway cannot leave Redis
  // paused; the tests release it themselves.
  static constexpr auto kPauseBound = 20s;
  void pause_writes() {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(kPauseBound).count();
    ASSERT_TRUE(client_.command({"CLIENT", "PAUSE", std::to_string(ms), "WRITE"}).ok());
  }
  void resume_writes() { ASSERT_TRUE(client_.command({"CLIENT", "UNPAUSE"}).ok()); }
  // Waits (at most `limit`) until Redis holds `n` clients' calls: under the pause, the
  // writer's call is in flight and stays there.
  bool wait_for_held_calls(long long n, std::chrono::milliseconds limit = 10s) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto info = client_.command({"INFO", "clients"});
      if (info.ok()) {
        const auto at = info->str.find("blocked_clients:");
        if (at != std::string::npos && std::stoll(info->str.substr(at + 16)) >= n) return true;
      }
      if (std::chrono::steady_clock::now() >= give_up) return false;
      std::this_thread::sleep_for(1ms);
    }
  }
  // Waits (at most `limit`) until the thread `tid` of this process sleeps in the kernel
  // (state S): a thread that only waits for a mutex is then waiting for it.
  static bool wait_until_blocked(pid_t tid, std::chrono::milliseconds limit = 10s) {
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string stat = ss.str();
      const auto paren = stat.rfind(')');  // "pid (comm) S ..."
      if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S')
        return true;
      if (std::chrono::steady_clock::now() >= give_up) return false;
      std::this_thread::sleep_for(1ms);
    }
  }

  // Every key in Redis, by name, with its type and size (a collection's member count).
  std::map<std::string, std::pair<std::string, long long>> keys() {
    std::map<std::string, std::pair<std::string, long long>> out;
    std::string cursor = "0";
    do {
      auto r = client_.command({"SCAN", cursor, "COUNT", "1000"});
      EXPECT_TRUE(r.ok());
      if (!r.ok()) break;
      cursor = r->elements.at(0).str;
      for (const auto& k : r->elements.at(1).elements) {
        const std::string type = client_.command({"TYPE", k.str}).value().str;
        long long size = 1;
        if (type == "set") size = client_.command({"SCARD", k.str}).value().integer;
        if (type == "zset") size = client_.command({"ZCARD", k.str}).value().integer;
        if (type == "list") size = client_.command({"LLEN", k.str}).value().integer;
        out[k.str] = {type, size};
      }
    } while (cursor != "0");
    return out;
  }
  // What is left once every answer is gone: the members of every key, summed.
  long long residue() {
    long long n = 0;
    for (const auto& [name, v] : keys()) n += v.second;
    return n;
  }

  testing::RedisServer redis_;
  RedisClient client_{options()};
  RedisCacheTier tier_{client_, "t"};
};

TEST_F(RedisCacheTest, AnAnswerComesBackWholeWithTheTimeItHasLeft) {
  const cache::CachedReply in = answer("ONE PIECE 105巻は528円です。", "pricing", {"op-v105"});
  tier_.put("pricing|ja||one piece 105", in, 60s);
  tier_.sync();
  auto out = tier_.get("pricing|ja||one piece 105");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->first.text, in.text);
  EXPECT_EQ(out->first.category, "pricing");
  EXPECT_EQ(out->first.product_ids, in.product_ids);
  EXPECT_EQ(out->first.stated_prices, in.stated_prices);
  EXPECT_EQ(out->first.actions, in.actions);
  EXPECT_EQ(out->first.model, "sonnet");
  EXPECT_GT(out->second, 50s);
  EXPECT_LE(out->second, 60s);
  EXPECT_FALSE(hit("pricing|ja||never asked"));
}

TEST_F(RedisCacheTest, InvalidatingAProductDropsOnlyTheAnswersThatMentionIt) {
  tier_.put("a", answer("Volume 105 is 528 yen.", "pricing", {"op-v105"}), 60s);
  tier_.put("b", answer("Volume 1 is 484 yen.", "pricing", {"op-v1"}), 60s);
  tier_.put("c", answer("Both: 528 and 484 yen.", "pricing", {"op-v1", "op-v105"}), 60s);
  tier_.put("d", answer("Shipping is free over 2,000 yen.", "faq"), 60s);

  tier_.invalidate_product("op-v105");
  EXPECT_FALSE(hit("a"));
  EXPECT_TRUE(hit("b"));
  EXPECT_FALSE(hit("c"));
  EXPECT_TRUE(hit("d"));
  // A stale answer that is read is gone from Redis, not only hidden.
  EXPECT_EQ(client_.command({"EXISTS", "ma:{t}:cache:e2:a"}).value().integer, 0);

  // An answer written after the change is current.
  tier_.put("a", answer("Volume 105 is 400 yen.", "pricing", {"op-v105"}), 60s);
  ASSERT_TRUE(hit("a"));
  EXPECT_EQ(tier_.get("a")->first.text, "Volume 105 is 400 yen.");
}

TEST_F(RedisCacheTest, FlushingACategoryOrEverythingDropsExactlyThose) {
  tier_.put("faq1", answer("Shipping is free over 2,000 yen.", "faq"), 60s);
  tier_.put("faq2", answer("We accept cards.", "faq"), 60s);
  tier_.put("rec1", answer("Try Dandadan.", "recommendation"), 60s);

  tier_.flush("faq");
  EXPECT_FALSE(hit("faq1"));
  EXPECT_FALSE(hit("faq2"));
  EXPECT_TRUE(hit("rec1"));

  tier_.put("faq1", answer("Shipping is free over 3,000 yen.", "faq"), 60s);
  EXPECT_TRUE(hit("faq1"));
  tier_.flush("");
  EXPECT_FALSE(hit("faq1"));
  EXPECT_FALSE(hit("rec1"));
  tier_.erase("faq1");
  tier_.put("rec1", answer("Try Frieren.", "recommendation"), 60s);
  EXPECT_TRUE(hit("rec1"));
  tier_.erase("rec1");
  EXPECT_FALSE(hit("rec1"));
}

TEST_F(RedisCacheTest, AnAnswerWhoseGenerationWasLostIsStale) {
  // Redis under memory pressure may evict a tag's generation: its answers must not come back
  // as if nothing had changed.
  tier_.put("a", answer("Volume 105 is 528 yen.", "pricing", {"op-v105"}), 60s);
  ASSERT_TRUE(hit("a"));
  ASSERT_EQ(client_.command({"DEL", "ma:{t}:cache:g:p:op-v105"}).value().integer, 1);
  EXPECT_FALSE(hit("a"));
}

TEST_F(RedisCacheTest, WhatIsLeftInRedisDoesNotGrowWithTheAnswersWritten) {
  // Write n distinct answers (unique questions are the common case), then drop them all,
  // as their TTLs would. What is left must be the same for ten answers as for a thousand.
  auto write_and_drop = [&](int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      const std::string key = tag + std::to_string(i);
      tier_.put(key, answer("Answer " + key, "general", {"op-v105"}), 60s);
    }
    tier_.sync();
    for (int i = 0; i < n; ++i) tier_.erase(tag + std::to_string(i));
    tier_.sync();
  };
  write_and_drop(10, "small-");
  const long long after_ten = residue();
  write_and_drop(1000, "large-");
  EXPECT_EQ(residue(), after_ten);
  // Only the generations and their counter are left: no sets of keys.
  for (const auto& [name, v] : keys()) EXPECT_EQ(v.first, "string") << name;
  // Invalidations are O(1) and leave nothing behind either.
  for (int i = 0; i < 100; ++i) tier_.flush("general");
  EXPECT_EQ(residue(), after_ten);
}

TEST_F(RedisCacheTest, NoAnswerQueuedBeforeAnInvalidationLandsAfterIt) {
  // Redis holds writes while this server queues answers about two products; then one
  // product changes. The invalidation waits for the write in flight, drops the queued
  // answers about that product, and only then gives it a new generation.
  pause_writes();
  for (int i = 0; i < 50; ++i) {
    tier_.put("x" + std::to_string(i), answer("528 yen", "pricing", {"op-v105"}), 60s);
    tier_.put("y" + std::to_string(i), answer("484 yen", "pricing", {"op-v1"}), 60s);
  }
  ASSERT_TRUE(wait_for_held_calls(1)) << "Redis did not hold the writer's call within 10 s";
  // The product changes while a write is in flight and the others wait in the queue.
  std::atomic<pid_t> tid{0};
  std::thread change([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    tier_.invalidate_product("op-v105");
  });
  while (tid.load() == 0) std::this_thread::yield();  // set first thing by the thread
  const bool waiting = wait_until_blocked(tid.load());
  resume_writes();
  change.join();
  ASSERT_TRUE(waiting) << "the invalidation did not wait for the write in flight within 10 s";
  for (int i = 0; i < 50; ++i) {
    EXPECT_FALSE(hit("x" + std::to_string(i))) << i;
    EXPECT_TRUE(hit("y" + std::to_string(i))) << i;
  }
  EXPECT_EQ(tier_.dropped_writes(), 0u);
}

TEST_F(RedisCacheTest, AFullWriteQueueDropsAndCountsWritesInsteadOfWaiting) {
  RedisCacheTier small(client_, "small", 10);
  pause_writes();
  small.put("k0", answer("a", "general"), 60s);
  ASSERT_TRUE(wait_for_held_calls(1)) << "Redis did not hold the writer's call within 10 s";
  // 49 more answers while Redis holds k0's write: ten wait in the queue, the rest are
  // dropped at once (put never waits for Redis).
  for (int i = 1; i < 50; ++i) small.put("k" + std::to_string(i), answer("a", "general"), 60s);
  EXPECT_EQ(small.dropped_writes(), 39u);
  resume_writes();
  small.sync();
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(small.get("k" + std::to_string(i)).has_value(), i <= 10) << i;
  }
}

}  // namespace
}  // namespace ma::state
