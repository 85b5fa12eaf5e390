#include "assist/recent_replies.hpp"

#include "core/text.hpp"

namespace ma::assist {

RecentReplies::RecentReplies(core::Clock& clock, std::size_t max_entries, core::Duration ttl)
    : clock_(clock), max_entries_(max_entries), ttl_(ttl) {}

void RecentReplies::expire(core::TimePoint now) {
  while (!order_.empty() && (now - order_.front().second >= ttl_ || order_.size() > max_entries_)) {
    const auto [hash, at] = order_.front();
    order_.pop_front();
    const auto it = by_trace_.find(hash);
    if (it != by_trace_.end() && it->second.at == at) by_trace_.erase(it);
  }
}

void RecentReplies::remember(std::string_view trace_id, std::string_view user_key,
                             std::optional<DegradationVersion> version, bool degraded) {
  if (trace_id.empty() || max_entries_ == 0) return;
  const core::TimePoint now = clock_.now();
  const std::uint64_t hash = core::fnv1a(trace_id);
  std::lock_guard lock(mu_);
  by_trace_.insert_or_assign(
      hash, Entry{std::string(trace_id), std::string(user_key), version, degraded, now, {}});
  order_.emplace_back(hash, now);
  expire(now);
}

std::optional<RecentReplies::Change> RecentReplies::give_feedback(std::string_view trace_id,
                                                                  std::string_view user_key,
                                                                  const Feedback& feedback) {
  const core::TimePoint now = clock_.now();
  std::lock_guard lock(mu_);
  expire(now);
  const auto it = by_trace_.find(core::fnv1a(trace_id));
  if (it == by_trace_.end()) return std::nullopt;
  Entry& e = it->second;
  if (e.trace_id != trace_id || e.user_key != user_key || user_key.empty()) return std::nullopt;
  Change c{e.version, e.degraded, e.feedback, e.feedback};
  if (feedback.helpful) c.after.helpful = feedback.helpful;
  if (feedback.understood) c.after.understood = feedback.understood;
  e.feedback = c.after;
  return c;
}

std::size_t RecentReplies::size() const {
  std::lock_guard lock(mu_);
  return by_trace_.size();
}

}  // namespace ma::assist
