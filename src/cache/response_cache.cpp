#include "cache/response_cache.hpp"

namespace ma::cache {

std::string ResponseCache::key(std::string_view intent, std::string_view lang,
                               std::string_view normalized, std::string_view user_id) {
  std::string k;
  k.reserve(intent.size() + lang.size() + normalized.size() + user_id.size() + 3);
  k.append(intent).push_back('|');
  k.append(lang).push_back('|');
  k.append(user_id).push_back('|');
  k.append(normalized);
  return k;
}

std::optional<CachedReply> ResponseCache::get(const std::string& key, TimePoint now) {
  if (auto hit = get_local(key, now)) return hit;
  return get_shared(key, now);
}

std::optional<CachedReply> ResponseCache::get_shared(const std::string& key, TimePoint now) {
  if (shared_ == nullptr) return std::nullopt;
  auto remote = shared_->get(key);
  if (!remote || remote->second <= Duration::zero()) return std::nullopt;
  put_local(key, remote->first, remote->second, now);  // kept for what it has left
  remote->first.created = now;
  remote->first.expires = now + remote->second;
  return std::move(remote->first);
}

void ResponseCache::put(const std::string& key, CachedReply reply, Duration ttl, TimePoint now) {
  if (ttl <= Duration::zero()) return;
  // The same answer again: keep the entry, extend its life; no copy, no shared-tier write.
  if (refresh(key, reply.text, ttl, now)) return;
  if (shared_ != nullptr) shared_->put(key, reply, ttl);
  put_local(key, std::move(reply), ttl, now);
}

bool ResponseCache::refresh(const std::string& key, std::string_view text, Duration ttl,
                            TimePoint now) {
  if (ttl <= Duration::zero()) return false;
  std::lock_guard lock(mu_);
  List::iterator* it = find_locked(key);
  if (it == nullptr || (*it)->reply.expires <= now || (*it)->reply.text != text) return false;
  (*it)->reply.expires = now + ttl;
  touch_locked(*it);
  return true;
}

ResponseCache::List::iterator* ResponseCache::find_locked(const std::string& key) {
  List::iterator* it = index_.find(key_hash(key));
  return it != nullptr && (*it)->key == key ? it : nullptr;
}

std::optional<CachedReply> ResponseCache::get_local(const std::string& key, TimePoint now) {
  std::lock_guard lock(mu_);
  List::iterator* found = find_locked(key);
  if (found == nullptr) return std::nullopt;
  const List::iterator it = *found;
  if (it->reply.expires <= now) {
    erase_locked(it);
    return std::nullopt;
  }
  touch_locked(it);
  return it->reply;
}

void ResponseCache::put_local(const std::string& key, CachedReply reply, Duration ttl,
                              TimePoint now) {
  reply.created = now;
  reply.expires = now + ttl;
  const std::size_t bytes = key.size() + reply.text.size() + 64;
  std::lock_guard lock(mu_);
  const std::uint64_t h = key_hash(key);
  // The same key, or (once in 2^64) another with its hash: replaced either way.
  if (List::iterator* old = index_.find(h)) erase_locked(*old);
  lru_.push_front(Node{key, std::move(reply), bytes, ++uses_});
  const Node* node = &lru_.front();
  for (const auto& p : node->reply.product_ids) by_product_[p].insert(node);
  index_.find_or_insert(h, [&] { return lru_.begin(); });
  bytes_ += bytes;
  evict_locked();
}

void ResponseCache::touch_locked(List::iterator it) {
  ++uses_;
  if (uses_ - it->moved <= lru_.size() / 16) return;
  it->moved = uses_;
  lru_.splice(lru_.begin(), lru_, it);
}

void ResponseCache::erase_locked(List::iterator it) {
  for (const auto& p : it->reply.product_ids) {
    if (auto bp = by_product_.find(p); bp != by_product_.end()) {
      bp->second.erase(&*it);
      if (bp->second.empty()) by_product_.erase(bp);
    }
  }
  bytes_ -= it->bytes;
  index_.erase(key_hash(it->key));
  lru_.erase(it);
}

void ResponseCache::evict_locked() {
  while (!lru_.empty() && (index_.size() > limits_.max_entries || bytes_ > limits_.max_bytes)) {
    erase_locked(std::prev(lru_.end()));
  }
}

std::size_t ResponseCache::invalidate_product(const std::string& product_id) {
  if (shared_ != nullptr) shared_->invalidate_product(product_id);
  std::lock_guard lock(mu_);
  auto bp = by_product_.find(product_id);
  if (bp == by_product_.end()) return 0;
  std::vector<List::iterator> doomed;
  doomed.reserve(bp->second.size());
  for (const Node* n : bp->second) doomed.push_back(*index_.find(key_hash(n->key)));
  for (auto it : doomed) erase_locked(it);
  return doomed.size();
}

std::size_t ResponseCache::flush(std::string_view category, bool local_only) {
  if (shared_ != nullptr && !local_only) shared_->flush(category);
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if (category.empty() || it->reply.category == category) {
      erase_locked(it);
      ++n;
    }
    it = next;
  }
  return n;
}

bool ResponseCache::erase(const std::string& key) {
  if (shared_ != nullptr) shared_->erase(key);
  std::lock_guard lock(mu_);
  List::iterator* it = find_locked(key);
  if (it == nullptr) return false;
  erase_locked(*it);
  return true;
}

std::size_t ResponseCache::size() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

std::size_t ResponseCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::vector<std::pair<std::string, CachedReply>> ResponseCache::sample(std::string_view category,
                                                                       std::size_t n) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, CachedReply>> out;
  // Least recently used first: the entries most likely to have gone stale.
  for (auto it = lru_.rbegin(); it != lru_.rend() && out.size() < n; ++it) {
    if (category.empty() || it->reply.category == category) out.emplace_back(it->key, it->reply);
  }
  return out;
}

}  // namespace ma::cache
