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

#include "cache/response_cache.hpp"
#include "state/redis_client.hpp"

namespace ma::state {

class RedisCacheTier final : public cache::SharedCacheTier {
 public:
  RedisCacheTier(RedisClient& client, std::string fleet)
      : client_(client), prefix_("ma:{" + std::move(fleet) + "}:cache:") {}

  std::optional<std::pair<cache::CachedReply, core::Duration>> get(const std::string& key) override;
  void put(const std::string& key, const cache::CachedReply& reply, core::Duration ttl) override;
  void erase(const std::string& key) override;
  void invalidate_product(const std::string& product_id) override;
  void flush(std::string_view category) override;

  static std::string encode(const cache::CachedReply& r);
  static std::optional<cache::CachedReply> decode(std::string_view json);
  // The tags an answer carries: "all", "c:<category>" and "p:<product>" for each product.
  static std::vector<std::string> tags(const cache::CachedReply& r);

 private:
  void bump(const std::string& tag);  // a new generation: the tag's answers are stale
  RedisClient& client_;
  std::string prefix_;
};

}  // namespace ma::state
