#pragma once
// AbStats: what users did after a degradation message, per message version -- the A/B
// comparison of the [degradation] ab experiment (GET /admin/ab, docs/api.md). Seed incident 5:
// a message that said "try again" made 45% of users resend (+40% load, 2,100 tickets); this
// is how a new version is judged on real users before it becomes the default.
//
// Per version:
//   users               distinct users shown that version at least once (exact up to
//                       AbLimits::max_seen_users distinct users; beyond, new users are not
//                       counted and users_capped() says so)
//   degraded_replies    degradation messages shown
//   retried             degraded replies after which the same user sent another chat message
//                       within retry_window (60 s); counted once per degraded reply
//   abandoned           degraded replies after which the user sent nothing for abandon_after
//                       (600 s), counted when that window has passed, and not left the
//                       question (note_left_question) meanwhile
//   left_question       degraded replies whose user left the question to be answered later
//   feedback            helpful / not helpful, understood / not understood (latest per reply:
//                       a replaced answer moves its count, on_feedback)
//
// Windows are open per user, not per reply: a user's next degraded reply closes the one
// before (a message sent in between resolved it already; without one, the earlier reply is
// neither retried nor abandoned -- the user is still waiting on an earlier message).
// Bounded memory: at most max_active_users users with an open window (the oldest is dropped,
// counted in untracked()) and max_seen_users remembered for the users count.
//
// Thread safety: every method may be called from any thread (one mutex). on_message, called
// for every chat message, takes no lock while no user has an open window.

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "assist/degradation.hpp"
#include "core/clock.hpp"

namespace ma::assist {

struct AbLimits {
  core::Duration retry_window = std::chrono::seconds(60);
  core::Duration abandon_after = std::chrono::seconds(600);
  std::size_t max_active_users = 100'000;
  std::size_t max_seen_users = 200'000;
};

// One reply's feedback: each answer given, or not (nullopt).
struct Feedback {
  std::optional<bool> helpful;
  std::optional<bool> understood;
  bool operator==(const Feedback&) const = default;
};

struct AbVersionStats {
  DegradationVersion version = DegradationVersion::kV2;
  std::uint64_t users = 0;
  std::uint64_t degraded_replies = 0;
  std::uint64_t retried = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t left_question = 0;
  std::uint64_t helpful = 0, not_helpful = 0;
  std::uint64_t understood = 0, not_understood = 0;
};

class AbStats final {
 public:
  // REQUIRES: `clock` outlives this.
  explicit AbStats(core::Clock& clock, AbLimits limits = {});
  AbStats(const AbStats&) = delete;
  AbStats& operator=(const AbStats&) = delete;

  const AbLimits& limits() const { return limits_; }

  // A chat message from `user_key` arrived (every message, answered or refused): a retry when
  // within retry_window of the user's last degraded reply; not abandoned either way.
  void on_message(std::string_view user_key);
  // `user_key` was shown the degradation message of version `v`.
  void on_degraded_reply(std::string_view user_key, DegradationVersion v);
  // `user_key` left their question to be answered when the models are back: their last
  // degraded reply (if its abandonment window is open) counts as left_question, not abandoned.
  void note_left_question(std::string_view user_key);
  // Feedback on a reply that showed version `v` changed from `before` to `after` (the first
  // feedback: `before` is empty).
  void on_feedback(DegradationVersion v, const Feedback& before, const Feedback& after);

  // Closes the abandonment windows that have passed, then returns every version that was
  // shown or has feedback, and every version in `always` (zeros if never shown), in version
  // order.
  std::vector<AbVersionStats> snapshot(std::span<const DegradationVersion> always = {});
  // Users dropped with an abandonment window still open (max_active_users reached).
  std::uint64_t untracked() const;
  bool users_capped() const;

 private:
  struct Active {
    std::string key;
    DegradationVersion version;
    core::TimePoint degraded_at;
    bool retry_open = true;
    bool abandon_open = true;
  };
  // REQUIRES: mu_ held.
  void sweep(core::TimePoint now);
  void erase(std::list<Active>::iterator it);
  AbVersionStats& at(DegradationVersion v) { return stats_[static_cast<std::size_t>(v)]; }

  core::Clock& clock_;
  const AbLimits limits_;
  mutable std::mutex mu_;
  // Users with an open window, oldest degraded reply first (a new degraded reply moves its
  // user to the back), and the index into it (views of Active::key: list nodes do not move).
  std::list<Active> active_;
  std::unordered_map<std::string_view, std::list<Active>::iterator> by_key_;
  std::atomic<std::size_t> active_count_{0};  // active_.size(), read without the lock
  // Hashes of (version, user key) already counted in `users`.
  std::unordered_set<std::uint64_t> seen_;
  bool users_capped_ = false;
  std::uint64_t untracked_ = 0;
  std::array<AbVersionStats, kDegradationVersionCount> stats_{};
  std::array<bool, kDegradationVersionCount> shown_{};
};

}  // namespace ma::assist
