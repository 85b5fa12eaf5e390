#pragma once
// The response cache: answers keyed by normalized question + intent + language (+ user, for
// answers about a user's own orders, which are never shared). Each entry records its
// category, the products it mentions and when it was made, so that it can expire per
// category and be invalidated when a product changes.
//
// Bounded: at most `max_entries` entries and `max_bytes` of text; least recently used go
// first. Thread safety: every method takes the cache's spin lock (a lookup is ~100 ns).

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/flat_table.hpp"
#include "core/spin_lock.hpp"
#include "core/time.hpp"

namespace ma::cache {

using core::Duration;
using core::TimePoint;

struct CachedReply {
  std::string text;
  std::vector<std::pair<std::string, std::string>> actions;  // label, url
  std::string category;                                      // the intent
  std::vector<std::string> product_ids;
  std::vector<std::pair<std::string, int>> stated_prices;  // product id, yen
  std::string model;                                       // which model wrote it
  TimePoint created{};
  TimePoint expires{};
};

// A second level shared by a fleet (Redis in fleet mode, src/state). The in-process cache
// is then its L1: a miss asks the shared tier, a put writes both, an invalidation clears
// both. Called outside the L1 lock; an unavailable tier behaves as a miss.
class SharedCacheTier {
 public:
  virtual ~SharedCacheTier() = default;
  // The entry and the time it has left to live.
  virtual std::optional<std::pair<CachedReply, Duration>> get(const std::string& key) = 0;
  virtual void put(const std::string& key, const CachedReply& reply, Duration ttl) = 0;
  virtual void erase(const std::string& key) = 0;
  virtual void invalidate_product(const std::string& product_id) = 0;
  virtual void flush(std::string_view category) = 0;  // empty: everything
  // A tier may write in the background: sync() returns once no write is queued or in flight
  // (applied, failed or dropped; for tests and tools). Writes dropped because too many were
  // waiting are counted.
  virtual void sync() {}
  virtual std::uint64_t dropped_writes() const { return 0; }
};

struct CacheLimits {
  std::size_t max_entries = 100'000;
  std::size_t max_bytes = 256 * 1024 * 1024;
};

class ResponseCache final {
 public:
  explicit ResponseCache(CacheLimits limits = {}) : limits_(limits) {}
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  static std::string key(std::string_view intent, std::string_view lang,
                         std::string_view normalized, std::string_view user_id);

  // The entry if present and not expired (an expired entry is removed): get_local(), then
  // get_shared().
  std::optional<CachedReply> get(const std::string& key, TimePoint now);
  // The in-process entry only.
  std::optional<CachedReply> get_local(const std::string& key, TimePoint now);
  // The shared tier's entry, kept in process for the time it has left. May block (a network
  // call); none without a shared tier.
  std::optional<CachedReply> get_shared(const std::string& key, TimePoint now);
  bool has_shared() const { return shared_ != nullptr; }
  // When the entry holds this same text (a popular question answered once more), extends
  // its life and returns true: the caller need not build a CachedReply for put().
  bool refresh(const std::string& key, std::string_view text, Duration ttl, TimePoint now);
  // Inserts or replaces. `ttl` zero or negative: not stored.
  void put(const std::string& key, CachedReply reply, Duration ttl, TimePoint now);

  // Removes every entry mentioning the product. Returns how many.
  std::size_t invalidate_product(const std::string& product_id);
  // Removes every entry of a category, or all entries when `category` is empty; from the
  // shared tier too unless `local_only` (a flush another server already made there).
  std::size_t flush(std::string_view category, bool local_only = false);

  std::size_t size() const;
  std::size_t bytes() const;
  // Up to `n` entries of a category, least recently used first (for validation jobs).
  std::vector<std::pair<std::string, CachedReply>> sample(std::string_view category,
                                                          std::size_t n) const;
  bool erase(const std::string& key);

  // Adds a shared second level (not owned; must outlive the cache). Set before use.
  void set_shared_tier(SharedCacheTier* tier) { shared_ = tier; }

 private:
  void put_local(const std::string& key, CachedReply reply, Duration ttl, TimePoint now);
  struct Node {
    std::string key;
    CachedReply reply;
    std::size_t bytes;
    std::uint64_t moved = 0;  // uses_ when it last went to the front
  };
  using List = std::list<Node>;
  // Marks a use: to the front of the LRU list, unless it went there within the last
  // size/16 uses (it is then among the first size/16 entries, far from eviction). Popular
  // entries are used thousands of times a second; a splice each time costs cache misses.
  void touch_locked(List::iterator it);
  void erase_locked(List::iterator it);
  // The entry for `key`, or null. The index is keyed by a 64-bit hash of the key and every
  // hit is checked against the node's key (two keys with one hash: the later put replaces
  // the earlier entry).
  List::iterator* find_locked(const std::string& key);
  static std::uint64_t key_hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  void evict_locked();

  CacheLimits limits_;
  mutable core::SpinLock mu_;
  List lru_;  // front = most recently used; nodes never move, so views into them stay valid
  // Flat (no node per entry, no chain to chase): every answer from a model looks its
  // question up here to refresh it.
  core::FlatTable<List::iterator> index_;
  std::unordered_map<std::string, std::unordered_set<const Node*>> by_product_;
  std::size_t bytes_ = 0;
  std::uint64_t uses_ = 0;
  SharedCacheTier* shared_ = nullptr;
};

}  // namespace ma::cache
