#pragma once
// The fleet's shared response cache on Redis: the L2 behind every server's in-process cache.
//
//   ma:{f}:cache:e2:<key>     HASH    v = the answer (JSON); one field per tag it carries
//                                     ("all", "c:<category>", "p:<product>") = the tag's
//                                     generation when written; PX = the answer's TTL
//   ma:{f}:cache:g:<tag>      STRING  the tag's generation
//   ma:{f}:cache:gen          STRING  the counter generations are drawn from
//
// Invalidating a product or flushing a category (or everything) gives the tag a new
// generation, O(1): an answer whose tags are not all at their current generation is stale,
// and a read deletes it. Nothing is kept per answer outside the answer itself, so what the
// cache holds in Redis is bounded by its TTLs. (Until 2026-11-27 every answer's key was also
// added to tag sets that only a flush emptied: "all" grew with every answer ever written,
// and flushing it walked all of them in one script, blocking Redis.)
//
// Writes, reads and invalidations are Lua scripts (atomic; every key in the fleet's hash
// slot). An unavailable Redis is a miss and a skipped write: the L1 still answers.
//
// Writes leave the request path: put() queues the answer for a writer thread and returns
// (a full queue drops the write and counts it; the L1 has the answer anyway). A round trip
// costs ~100 us on loopback, and a slow Redis (just under the 50 ms timeout) would otherwise
// hold the io thread that serves the request for the whole call, every new answer.
// An erase (one answer found stale) is queued too, after the writes of that key.
// Invalidations stay synchronous and ordered after the writes: they wait for the write in
// flight, drop the queued writes they make stale, then give the tag its new generation. When
// invalidate_product() returns, no answer this server wrote before it can come back.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "cache/response_cache.hpp"
#include "state/redis/redis_client.hpp"

namespace ma::state {

class RedisCacheTier final : public cache::SharedCacheTier {
 public:
  static constexpr std::size_t kMaxPendingWrites = 4096;
  RedisCacheTier(RedisClient& client, std::string fleet,
                 std::size_t max_pending_writes = kMaxPendingWrites);
  ~RedisCacheTier() override;  // after the write in flight; what is still queued is dropped
  RedisCacheTier(const RedisCacheTier&) = delete;
  RedisCacheTier& operator=(const RedisCacheTier&) = delete;

  std::optional<std::pair<cache::CachedReply, core::Duration>> get(const std::string& key) override;
  void put(const std::string& key, const cache::CachedReply& reply, core::Duration ttl) override;
  void erase(const std::string& key) override;
  void invalidate_product(const std::string& product_id) override;
  void flush(std::string_view category) override;
  void sync() override;
  std::uint64_t dropped_writes() const override;

  static std::string encode(const cache::CachedReply& r);
  static std::optional<cache::CachedReply> decode(std::string_view json);

 private:
  // The tags an answer carries: "all", "c:<category>" and "p:<product>" for each product.
  static std::vector<std::string> tags(const cache::CachedReply& r);
  struct Write {
    const char* script;             // kPut, or kDel for an erase
    std::vector<std::string> tags;  // a put's (an invalidation drops the puts carrying its tag)
    std::vector<std::string> keys, args;  // the script's
  };
  // Queues `w`; a put is dropped (and counted) when max_pending_ are waiting, an erase never.
  void enqueue(Write w);
  void writer_loop();
  // Gives `tag` a new generation, after the write in flight and without the queued writes
  // that carry it.
  void invalidate(const std::string& tag);

  RedisClient& client_;
  std::string prefix_;
  std::size_t max_pending_;
  std::mutex exec_mu_;     // held while the writer or an invalidation talks to Redis; before mu_
  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable wake_, idle_;
  std::deque<Write> queue_;
  bool writing_ = false;
  bool stop_ = false;
  std::uint64_t dropped_ = 0;
  std::thread writer_;
};

}  // namespace ma::state
