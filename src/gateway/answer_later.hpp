#pragma once
// "We'll answer when we're back" (issue 22, seed incident 5): the questions users left when
// the assistant could only give a degraded reply, and the answers waiting to be delivered.
//
// The degraded reply carries a *ticket*; nothing is stored until the user leaves the
// question with it. A ticket is
//     "lt1.<expiry, unix seconds>.<base64url(question)>.<mac>"
// where mac = signer("lt1.<expiry>.<base64url(question)>\n<owner>") -- the server's signer is
// HMAC-SHA256 under the Identity's secret in its own domain (server/identity.hpp). The
// owner ("u:<user id>" or "s:<session>") is covered by the MAC but not written in the
// ticket: a ticket shows nothing of the session it belongs to, and presented by anyone else
// (another session, another user) it does not verify. A ticket tampered with, signed by
// another secret, presented by another owner or past its expiry is refused ("later_invalid").
// Any server with the same secret verifies it (a fleet shares the secret).
//
// Bounds: at most `max_per_owner` questions per owner and `max_total` in all, counting both
// the questions waiting for an answer and the answers waiting to be delivered ("later_full"
// past either). A held question or an undelivered answer older than `max_wait` is dropped
// (counted as expired). Leaving the same ticket twice holds the question once.
//
// Answering is the caller's (server/later.hpp): next() hands out the questions not being
// tried in turn, oldest first, round robin from the one after the last tried (one that keeps
// failing does not hold up the rest), then exactly one of answered() / not_answered() settles it.
// Delivery: take() removes and returns an owner's answers -- each answer is returned by exactly one
// take(), whoever calls it first.
//
// Thread safety: every member may be called from any thread (one mutex, never held across
// I/O; leave/answered/take are O(log n) plus one owner's answers; next() skips the one
// question being tried; a pass over the owners drops old answers at most once a minute).
// Time: `now` is the caller's monotonic clock (core::Clock::now), `wall` its wall clock (the
// ticket's expiry, readable by every server of a fleet).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace ma::gateway {

struct AnswerLaterConfig {
  bool enabled = true;
  std::size_t max_per_owner = 3;
  std::size_t max_total = 10'000;
  // How long a degraded reply's ticket may be used to leave the question.
  core::Duration ticket_ttl = std::chrono::seconds(600);
  // How long a left question waits for an answer, and an answer for its owner to come back.
  core::Duration max_wait = std::chrono::hours(24);
  // Between two attempts while the replies keep coming back degraded (per server).
  core::Duration retry_interval = std::chrono::seconds(1);
};

// MAC of a payload; the server's is HMAC-SHA256 under its secret (Identity::sign_later).
using TicketSigner = std::function<std::string(std::string_view payload)>;

// The refusals of leave(), as error codes: "later_invalid", "later_full", "later_disabled",
// and in fleet mode "later_unavailable" (Redis did not answer: nothing was taken).
inline constexpr std::string_view kLaterInvalid = "later_invalid";
inline constexpr std::string_view kLaterFull = "later_full";
inline constexpr std::string_view kLaterDisabled = "later_disabled";
inline constexpr std::string_view kLaterUnavailable = "later_unavailable";

// Issues and verifies tickets (the format above). Pure: no state but the signer; thread-safe
// when the signer is.
class LaterTickets final {
 public:
  LaterTickets(core::Duration ttl, TicketSigner sign) : ttl_(ttl), sign_(std::move(sign)) {}
  // A ticket for `owner`'s `question`, valid until wall + ttl.
  std::string issue(std::string_view owner, std::string_view question, core::WallTime wall) const;
  struct Verified {
    std::string question;
    std::string mac;  // the ticket's MAC: the same ticket of the same owner, held once
  };
  // The question a ticket carries, when it verifies for `owner` and has not expired; nullopt
  // for anything else (tampered, another secret, another owner, expired, malformed).
  std::optional<Verified> verify(std::string_view owner, std::string_view ticket,
                                 core::WallTime wall) const;
  std::int64_t ttl_s() const;

 private:
  std::string mac(std::string_view payload, std::string_view owner) const;
  core::Duration ttl_;
  TicketSigner sign_;
};

// Where left questions and their answers are kept: AnswerLater (this process's memory), or in
// fleet mode Redis (server/fleet_later.hpp), shared by every server. The contract below is
// AnswerLater's; the fleet store keeps it across servers. Every member may be called from any
// thread.
class LaterStore {
 public:
  struct Held {
    std::uint64_t id = 0;
    std::string owner;
    std::string question;
  };
  struct Counts {
    std::size_t held = 0;   // questions waiting for an answer
    std::size_t ready = 0;  // answers waiting for their owner
    std::uint64_t left = 0, answered = 0, delivered = 0, attempts = 0;
    std::uint64_t expired_questions = 0, expired_answers = 0;
    std::uint64_t refused_invalid = 0, refused_full = 0, refused_disabled = 0;
    std::uint64_t refused_unavailable = 0;  // fleet mode: Redis did not answer
  };
  virtual ~LaterStore() = default;

  virtual const AnswerLaterConfig& config() const = 0;
  // A ticket for `owner`'s `question`, when the reply to it may offer answering later:
  // enabled, an owner, and room for one more of this owner's and in all. nullopt otherwise.
  virtual std::optional<std::string> offer(std::string_view owner, std::string_view question,
                                           core::WallTime wall) const = 0;
  // Seconds a ticket issued now stays valid (the reply's `expires_in_s`).
  virtual std::int64_t ticket_ttl_s() const = 0;
  // Leaves the question a ticket carries. Returns how many of `owner`'s questions wait now;
  // an error with code later_invalid, later_full, later_disabled or later_unavailable (each
  // counted).
  virtual core::Result<std::size_t> leave(std::string_view owner, std::string_view ticket,
                                          core::WallTime wall, core::TimePoint now) = 0;
  // The oldest question not being tried (marked as being tried), after dropping what waited
  // past max_wait. nullopt: nothing to try.
  virtual std::optional<Held> next(core::TimePoint now) = 0;
  // Settles a question next() gave: its answer (an opaque frame, kept for its owner), or
  // back in the queue, in its place, to be tried again. answered() returns true when the
  // answer is kept for the owner now (deliver it); false when the question is no longer held
  // (dropped meanwhile, or answered elsewhere: nothing kept) -- or, in fleet mode, when Redis
  // did not answer: the answer then waits on this server and is written by a later next().
  virtual bool answered(std::uint64_t id, std::string answer, core::TimePoint now) = 0;
  virtual void not_answered(std::uint64_t id) = 0;
  // Removes and returns `owner`'s answers, oldest first (each is returned once, ever).
  virtual std::vector<std::string> take(std::string_view owner) = 0;
  // Questions of `owner` waiting (answers not yet delivered included).
  virtual std::size_t waiting(std::string_view owner) const = 0;
  virtual Counts counts() const = 0;
};

class AnswerLater final : public LaterStore {
 public:
  AnswerLater(AnswerLaterConfig config, TicketSigner sign);
  AnswerLater(const AnswerLater&) = delete;
  AnswerLater& operator=(const AnswerLater&) = delete;

  // In this process's memory (LaterStore's contract, above).
  const AnswerLaterConfig& config() const override { return cfg_; }
  std::optional<std::string> offer(std::string_view owner, std::string_view question,
                                   core::WallTime wall) const override;
  std::int64_t ticket_ttl_s() const override { return tickets_.ttl_s(); }
  core::Result<std::size_t> leave(std::string_view owner, std::string_view ticket,
                                  core::WallTime wall, core::TimePoint now) override;
  std::optional<Held> next(core::TimePoint now) override;
  bool answered(std::uint64_t id, std::string answer, core::TimePoint now) override;
  void not_answered(std::uint64_t id) override;
  std::vector<std::string> take(std::string_view owner) override;
  std::size_t waiting(std::string_view owner) const override;
  Counts counts() const override;

 private:
  struct Question {
    std::string owner;
    std::string question;
    std::string ticket_mac;  // leaving the same ticket twice holds it once
    core::TimePoint left{};
    bool trying = false;
  };
  struct Answer {
    std::string frame;
    core::TimePoint ready{};
  };
  struct Owner {
    std::size_t held = 0;
    std::vector<Answer> ready;  // oldest first; at most max_per_owner
    std::size_t waiting() const { return held + ready.size(); }
  };
  void expire(core::TimePoint now);  // REQUIRES: mu_ held
  void drop_owner_if_empty(std::unordered_map<std::string, Owner>::iterator it);

  const AnswerLaterConfig cfg_;
  const LaterTickets tickets_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, Question> questions_;  // by id: the order they were left in
  std::unordered_map<std::string, Owner> owners_;
  std::unordered_map<std::string, std::uint64_t> by_mac_;  // held questions by ticket MAC
  std::size_t total_ = 0;                                  // held + ready, over every owner
  std::size_t ready_total_ = 0;
  std::uint64_t next_id_ = 1;
  std::uint64_t last_tried_ = 0;  // next() goes round from the question after it
  core::TimePoint oldest_ready_check_{};
  Counts stats_{};
};

}  // namespace ma::gateway
