#pragma once
// Recent turns per conversation, so a model sees what was just said ("and volume 2?").
// Bounded on every axis: the last `max_turns` turns of a conversation, at most
// `max_conversations` conversations (the least recently used are forgotten first), and a
// conversation idle for `idle_ttl` starts afresh. Sharded by key; thread-safe.

#include <array>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/spin_lock.hpp"
#include "core/time.hpp"
#include "fm/model_provider.hpp"

namespace ma::assist {

struct ConversationLimits {
  std::size_t max_turns = 6;  // three exchanges
  std::size_t max_chars_per_turn = 1000;
  std::size_t max_conversations = 100'000;
  core::Duration idle_ttl = std::chrono::minutes(30);
};

class ConversationMemory final {
 public:
  explicit ConversationMemory(ConversationLimits limits = {});

  // The remembered turns of `key`, oldest first (empty for an unknown or expired key).
  std::vector<fm::Turn> recent(const std::string& key, core::TimePoint now);
  // Appends one exchange: the user's message and the reply they were given.
  void remember(const std::string& key, std::string user, std::string reply, core::TimePoint now);
  std::size_t size() const;

 private:
  struct Entry {
    std::vector<fm::Turn> turns;
    core::TimePoint last{};
    std::list<std::string>::iterator lru;
  };
  struct Shard {
    mutable core::SpinLock mu;
    std::unordered_map<std::string, Entry> map;
    std::list<std::string> lru;  // most recent at the front
  };
  static constexpr std::size_t kShards = 16;
  Shard& shard(const std::string& key);

  ConversationLimits limits_;
  std::array<Shard, kShards> shards_;
};

}  // namespace ma::assist
