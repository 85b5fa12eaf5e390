#include "assist/ab_stats.hpp"

#include "core/text.hpp"

namespace ma::assist {

AbStats::AbStats(core::Clock& clock, AbLimits limits) : clock_(clock), limits_(limits) {
  for (std::size_t i = 0; i < stats_.size(); ++i)
    stats_[i].version = static_cast<DegradationVersion>(i);
}

void AbStats::erase(std::list<Active>::iterator it) {
  by_key_.erase(std::string_view(it->key));
  active_.erase(it);
  active_count_.store(active_.size(), std::memory_order_relaxed);
}

void AbStats::sweep(core::TimePoint now) {
  // The list is in degraded-reply order, so every window that has passed is at the front.
  while (!active_.empty() && now - active_.front().degraded_at >= limits_.abandon_after) {
    const Active& a = active_.front();
    if (a.abandon_open) ++at(a.version).abandoned;
    erase(active_.begin());
  }
}

void AbStats::on_message(std::string_view user_key) {
  // Most messages come while no user has a window open (no degradation lately).
  if (active_count_.load(std::memory_order_relaxed) == 0) return;
  const core::TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  sweep(now);
  const auto found = by_key_.find(user_key);
  if (found == by_key_.end()) return;
  Active& a = *found->second;
  if (a.retry_open && now - a.degraded_at <= limits_.retry_window) ++at(a.version).retried;
  // Both windows are resolved now: a message is neither a later retry nor abandonment.
  erase(found->second);
}

void AbStats::on_degraded_reply(std::string_view user_key, DegradationVersion v) {
  const core::TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  sweep(now);
  AbVersionStats& s = at(v);
  ++s.degraded_replies;
  shown_[static_cast<std::size_t>(v)] = true;
  const std::uint64_t seen =
      core::fnv1a(user_key, 0xcbf29ce484222325ULL ^ (static_cast<std::uint64_t>(v) + 1));
  if (!seen_.contains(seen)) {
    if (seen_.size() < limits_.max_seen_users) {
      seen_.insert(seen);
      ++s.users;
    } else {
      users_capped_ = true;
    }
  }
  if (auto found = by_key_.find(user_key); found != by_key_.end()) erase(found->second);
  if (limits_.max_active_users == 0) return;
  if (active_.size() >= limits_.max_active_users) {
    if (active_.front().abandon_open) ++untracked_;
    erase(active_.begin());
  }
  active_.push_back(Active{std::string(user_key), v, now});
  by_key_.emplace(std::string_view(active_.back().key), std::prev(active_.end()));
  active_count_.store(active_.size(), std::memory_order_relaxed);
}

void AbStats::note_left_question(std::string_view user_key) {
  const core::TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  sweep(now);
  const auto found = by_key_.find(user_key);
  if (found == by_key_.end() || !found->second->abandon_open) return;
  found->second->abandon_open = false;
  ++at(found->second->version).left_question;
}

void AbStats::on_feedback(DegradationVersion v, const Feedback& before, const Feedback& after) {
  std::lock_guard lock(mu_);
  AbVersionStats& s = at(v);
  shown_[static_cast<std::size_t>(v)] = true;
  auto move = [](std::optional<bool> was, std::optional<bool> now, std::uint64_t& yes,
                 std::uint64_t& no) {
    if (was == now) return;
    if (was) --(*was ? yes : no);
    if (now) ++(*now ? yes : no);
  };
  move(before.helpful, after.helpful, s.helpful, s.not_helpful);
  move(before.understood, after.understood, s.understood, s.not_understood);
}

std::vector<AbVersionStats> AbStats::snapshot(std::span<const DegradationVersion> always) {
  const core::TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  sweep(now);
  std::vector<AbVersionStats> out;
  for (std::size_t i = 0; i < stats_.size(); ++i) {
    bool listed = shown_[i];
    for (DegradationVersion v : always) listed |= static_cast<std::size_t>(v) == i;
    if (listed) out.push_back(stats_[i]);
  }
  return out;
}

std::uint64_t AbStats::untracked() const {
  std::lock_guard lock(mu_);
  return untracked_;
}

bool AbStats::users_capped() const {
  std::lock_guard lock(mu_);
  return users_capped_;
}

}  // namespace ma::assist
