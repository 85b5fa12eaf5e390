#include "assist/conversation.hpp"

#include <functional>

#include "core/text.hpp"

namespace ma::assist {

ConversationMemory::ConversationMemory(ConversationLimits limits) : limits_(limits) {}

ConversationMemory::Shard& ConversationMemory::shard(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

std::vector<fm::Turn> ConversationMemory::recent(const std::string& key, core::TimePoint now) {
  if (limits_.max_turns == 0) return {};
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) return {};
  if (now - it->second.last > limits_.idle_ttl) {
    s.lru.erase(it->second.lru);
    s.map.erase(it);
    return {};
  }
  return it->second.turns;
}

void ConversationMemory::remember(const std::string& key, std::string user, std::string reply,
                                  core::TimePoint now) {
  if (key.empty() || limits_.max_turns == 0) return;
  auto clip = [this](std::string& t) {
    if (t.size() > limits_.max_chars_per_turn)
      t = core::truncate_utf8(t, limits_.max_chars_per_turn);
  };
  clip(user);
  clip(reply);
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto [it, inserted] = s.map.try_emplace(key);
  Entry& e = it->second;
  if (inserted) {
    s.lru.push_front(key);
    e.lru = s.lru.begin();
  } else {
    s.lru.splice(s.lru.begin(), s.lru, e.lru);
    if (now - e.last > limits_.idle_ttl) e.turns.clear();
  }
  e.last = now;
  e.turns.push_back({"user", std::move(user)});
  e.turns.push_back({"assistant", std::move(reply)});
  while (e.turns.size() > limits_.max_turns) e.turns.erase(e.turns.begin(), e.turns.begin() + 2);
  const std::size_t per_shard = std::max<std::size_t>(1, limits_.max_conversations / kShards);
  while (s.map.size() > per_shard) {
    s.map.erase(s.lru.back());
    s.lru.pop_back();
  }
}

std::size_t ConversationMemory::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace ma::assist
