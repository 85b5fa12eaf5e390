#pragma once
// RecentReplies: which trace ids this server answered, for whom, lately -- so that feedback
// on a reply (POST /v1/feedback) is accepted only from the user who got it, and is counted
// against the degradation message version that reply showed. A trace that is unknown,
// expired or another user's reads the same to the caller (no oracle).
//
// Bounded: at most `max_entries` replies (the oldest dropped first) for at most `ttl` each.
// Keyed by a 64-bit hash of the trace id, the id itself kept and compared (a collision never
// lets one user's feedback land on another's reply).
//
// Thread safety: every method may be called from any thread (one mutex; remember() is one
// map insert and, now and then, dropping what is old).

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "assist/ab_stats.hpp"
#include "assist/degradation.hpp"
#include "core/clock.hpp"

namespace ma::assist {

class RecentReplies final {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 100'000;
  static constexpr core::Duration kDefaultTtl = std::chrono::hours(1);

  // REQUIRES: `clock` outlives this.
  explicit RecentReplies(core::Clock& clock, std::size_t max_entries = kDefaultMaxEntries,
                         core::Duration ttl = kDefaultTtl);
  RecentReplies(const RecentReplies&) = delete;
  RecentReplies& operator=(const RecentReplies&) = delete;

  // `trace_id` was answered to `user_key` (the user key admission uses), degraded or not,
  // showing degradation message `version` (nullopt: none).
  void remember(std::string_view trace_id, std::string_view user_key,
                std::optional<DegradationVersion> version, bool degraded);

  struct Change {
    std::optional<DegradationVersion> version;  // of the reply
    bool degraded = false;
    Feedback before;  // what the reply had (empty: the first feedback)
    Feedback after;   // what it has now
  };
  // Records `feedback` on `trace_id`: each answer it gives replaces the earlier one; an answer
  // it leaves out keeps the earlier one. nullopt (and nothing recorded) when the trace is not
  // one of `user_key`'s replies within the ttl.
  std::optional<Change> give_feedback(std::string_view trace_id, std::string_view user_key,
                                      const Feedback& feedback);

  std::size_t size() const;

 private:
  struct Entry {
    std::string trace_id;
    std::string user_key;
    std::optional<DegradationVersion> version;
    bool degraded = false;
    core::TimePoint at;
    Feedback feedback;
  };
  // REQUIRES: mu_ held.
  void expire(core::TimePoint now);

  core::Clock& clock_;
  const std::size_t max_entries_;
  const core::Duration ttl_;
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, Entry> by_trace_;
  // Insertion order (hash, time): what to drop first. An entry replaced under the same hash
  // leaves a stale pair here, recognised by its time.
  std::deque<std::pair<std::uint64_t, core::TimePoint>> order_;
};

}  // namespace ma::assist
