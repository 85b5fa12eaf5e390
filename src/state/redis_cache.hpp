#pragma once
// The fleet's shared response cache on Redis: the L2 behind every server's in-process cache.
//
//   ma:{f}:cache:e:<key>       STRING  the answer (JSON), PX = its TTL
//   ma:{f}:cache:p:<product>   SET     keys of the answers that mention the product
//   ma:{f}:cache:c:<category>  SET     keys by category; ma:{f}:cache:all: every key
//
// Writes and invalidations are Lua scripts (atomic; all keys in the fleet's hash slot). An
// unavailable Redis is a miss and a skipped write: the L1 still answers.

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

 private:
  void drop_tag(const std::string& tag);
  RedisClient& client_;
  std::string prefix_;
};

}  // namespace ma::state
