#pragma once
// What the servers of a fleet share. Two implementations: MemoryState (the embedded
// default: one process is the whole fleet, nothing leaves it) and RedisState (many servers,
// one Redis; see redis_state.hpp). Both give the pipeline a resilience::RetryBudget, so the
// code that spends retries does not know which one it has.
//
// Remote changes arrive through FleetHandlers, called from the state's own thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/response_cache.hpp"
#include "core/clock.hpp"
#include "resilience/retry_budget.hpp"

namespace ma::state {

// What became of a change meant for the other servers of the fleet.
enum class Delivery : std::uint8_t {
  kLocal,         // there are none (memory): the change is in force everywhere it can be
  kPublished,     // written to the shared store: every server applies it
  kNotPublished,  // the shared store did not answer: in force on this server only
};
inline std::string_view to_string(Delivery d) {
  switch (d) {
    case Delivery::kLocal:
      return "local";
    case Delivery::kPublished:
      return "published";
    case Delivery::kNotPublished:
      return "not_published";
  }
  return "unknown";
}

struct FleetHandlers {
  // A product's price and stock changed on another server (absolute values).
  std::function<void(const std::string& product, int price, int stock)> on_product;
  // Runtime flags changed on another server (a JSON object, as PATCH /admin/flags takes).
  std::function<void(const std::string& flags_json)> on_flags;
  // The response cache was flushed on another server (one category; empty: everything).
  std::function<void(const std::string& category)> on_cache_flush;
  // The trace sampling rules changed on another server, or (at start) the fleet's latest
  // change: an observe::SamplingSwitch change as to_fleet_json writes it. In Redis, a
  // server's own changes come back too, and changes may arrive in any order: each carries its
  // place in the fleet's order, and the switch ignores one that is not after the last it
  // applied.
  std::function<void(const std::string& change_json)> on_sampling;
  // A model's breaker opened or closed on another server.
  std::function<void(const std::string& server, const std::string& model, bool open)> on_breaker;
  // An answer to a question left to be answered later is ready for `owner` (redis_later.hpp):
  // from any server, this one included (its own answers come back too).
  std::function<void(const std::string& owner)> on_later_ready;
  // About twice a second, from the state's thread: the live servers (this one included).
  std::function<void(int live_servers)> on_tick;
};

class SharedState {
 public:
  virtual ~SharedState() = default;
  virtual std::string_view kind() const = 0;  // "memory" | "redis"
  // The fleet's retry budget (the seed's fix: 100 retries/min across all tasks).
  virtual resilience::RetryBudget& retry_budget() = 0;
  // Tell the other servers; no-ops in memory (there are none).
  virtual void publish_product(const std::string& product, int price, int stock) = 0;
  virtual void publish_flags(const std::string& flags_json) = 0;
  virtual void publish_breaker(const std::string& model, bool open) = 0;
  virtual void publish_cache_flush(const std::string& category) = 0;
  // A change of the sampling rules (observe::SamplingSwitch::to_fleet_json) for every
  // server; also kept as the fleet's latest change, for servers that start later, when
  // `order_key` (SamplingChange::order_key) sorts after the one kept. A failure is counted in
  // fallbacks().publish_failures too.
  [[nodiscard]] virtual Delivery publish_sampling(const std::string& change_json,
                                                  const std::string& order_key) = 0;
  // This server's name in the fleet ("" in memory).
  virtual std::string server_id() const { return {}; }
  virtual int live_servers() const = 0;
  // False while the backing store is unreachable (the servers run on local fallbacks).
  virtual bool healthy() const = 0;
  virtual void start(FleetHandlers handlers) = 0;
  virtual void stop() = 0;
  // Work done locally because the shared store did not answer.
  struct Fallbacks {
    std::uint64_t publish_failures = 0;  // changes not sent to the other servers
    std::uint64_t budget_fallbacks = 0;  // retry decisions made on the local share
  };
  virtual Fallbacks fallbacks() const { return {}; }
  // The fleet's shared response cache (the in-process cache's L2), or null.
  virtual cache::SharedCacheTier* cache_tier() { return nullptr; }
};

// The embedded default.
class MemoryState final : public SharedState {
 public:
  explicit MemoryState(int retries_per_minute);
  std::string_view kind() const override { return "memory"; }
  resilience::RetryBudget& retry_budget() override { return *budget_; }
  void publish_product(const std::string&, int, int) override {}
  void publish_flags(const std::string&) override {}
  void publish_breaker(const std::string&, bool) override {}
  void publish_cache_flush(const std::string&) override {}
  Delivery publish_sampling(const std::string&, const std::string&) override {
    return Delivery::kLocal;
  }
  int live_servers() const override { return 1; }
  bool healthy() const override { return true; }
  void start(FleetHandlers) override {}
  void stop() override {}

 private:
  std::unique_ptr<resilience::RetryBudget> budget_;
};

}  // namespace ma::state
