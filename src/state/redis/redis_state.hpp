#pragma once
// Fleet state on Redis. Keys share one hash tag, ma:{<fleet>}:..., so every script touches
// one slot and the same code runs on Redis Cluster.
//
//   ma:{f}:budget    ZSET   retries spent in the last minute (score = Redis time, ms); a Lua
//                           script trims, counts and adds atomically: 100/min fleet-wide
//   ma:{f}:servers   ZSET   server id -> last heartbeat (ms); live = seen in the last 3 s
//   ma:{f}:catalog   STREAM catalog changes (product, price, stock, origin), the fleet's
//                           DynamoDB Streams; every server applies them and invalidates
//   ma:{f}:events    STREAM flag changes, sampling changes, breaker open/close signals and
//                           "an answer left for later is ready for <owner>" (redis_later.hpp)
//   ma:{f}:later:*          the questions left to be answered later (redis_later.hpp)
//   ma:{f}:flags     STRING the fleet's current runtime flags (JSON), read at start
//   ma:{f}:sampling  HASH   the fleet's latest sampling change: order (its order key) and
//                           body (JSON); read at start
//
// One thread per server heartbeats, reads both streams (XREAD BLOCK, from the last id it
// applied: a server that was down or started late catches up) and calls the handlers.
//
// When Redis is down, slow or restarted, nothing fails: the retry budget falls back to a
// local one of limit / live servers (live servers as last seen), publishing is skipped
// (and counted), the reader reconnects with backoff and jitter and resumes from its last ids.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "state/redis/redis_client.hpp"
#include "state/shared_state.hpp"

namespace ma::state {

struct RedisStateConfig {
  RedisOptions redis;
  std::string fleet = "mangaassist";
  std::string server_id;  // unique per server; empty: host-pid-random
  int retries_per_minute = 100;
  std::chrono::milliseconds heartbeat{500};
  std::chrono::milliseconds live_window{3000};
  std::size_t stream_max_len = 100'000;
};

class RedisState final : public SharedState {
 public:
  RedisState(RedisStateConfig config, core::Clock& clock);
  ~RedisState() override;

  std::string_view kind() const override { return "redis"; }
  resilience::RetryBudget& retry_budget() override { return *budget_; }
  void publish_product(const std::string& product, int price, int stock) override;
  void publish_flags(const std::string& flags_json) override;
  void publish_breaker(const std::string& model, bool open) override;
  void publish_cache_flush(const std::string& category) override;
  Delivery publish_sampling(const std::string& change_json, const std::string& order_key) override;
  int live_servers() const override { return live_.load(); }
  bool healthy() const override { return client_.up() && reader_up_.load(); }
  void start(FleetHandlers handlers) override;
  void stop() override;
  cache::SharedCacheTier* cache_tier() override { return cache_.get(); }

  std::string server_id() const override { return config_.server_id; }
  // How often this server loaded the catalog's state (at start, and after falling behind the
  // trimmed stream).
  std::uint64_t catalog_snapshots() const { return snapshots_.load(); }
  RedisClient& client() { return client_; }
  const RedisStateConfig& config() const { return config_; }
  Fallbacks fallbacks() const override { return {publish_failures_.load(), fallbacks_.load()}; }

 private:
  class Budget;
  std::string key(std::string_view what) const;
  void run();
  void heartbeat();
  void apply(const std::string& stream, const RedisReply& entry);
  void publish(const std::string& stream, std::vector<std::string> fields);
  // Applies the catalog's state when this server starts or has fallen behind the trimmed
  // stream (reader thread). False when Redis did not answer.
  bool catch_up_catalog(RedisConnection& reader);

  RedisStateConfig config_;
  core::Clock& clock_;
  RedisClient client_;
  std::unique_ptr<resilience::RetryBudget> budget_;
  std::unique_ptr<cache::SharedCacheTier> cache_;
  FleetHandlers handlers_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::atomic<bool> reader_up_{false};
  std::atomic<int> live_{1};
  std::atomic<std::uint64_t> publish_failures_{0}, fallbacks_{0};
  std::string catalog_last_ = "0";  // applied up to here (reader thread only)
  std::atomic<std::uint64_t> snapshots_{0};
  std::string events_last_ = "$";
};

}  // namespace ma::state
