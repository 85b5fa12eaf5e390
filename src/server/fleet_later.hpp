#pragma once
// "We'll answer when we're back" in fleet mode (issue 22): the questions left and their
// answers live in Redis (state/redis/redis_later.hpp), so any server of the fleet may answer
// a question left on another, a question outlives the server it was left on, and an answer
// reaches its owner on whichever server their WebSocket is open (the `later_ready` event on
// the fleet's stream: App::set_later_listener) or on their next visit, once.
//
// When Redis does not answer:
//   - leave() refuses with "later_unavailable" (503): nothing is accepted that could then be
//     lost with this server; offer() gives no ticket (a ticket that would be refused);
//   - next() gives nothing to try; a claim in flight lapses with its lease;
//   - an answer made while Redis is down waits here (at most kMaxPending) and is written by
//     a later next() -- unless its lease ran out and another server answered it meanwhile,
//     in which case it is dropped (the owner gets one answer);
//   - take() and waiting() give nothing: the answers stay in Redis for the next try.
//
// Counts: left/answered/delivered/attempts/expired/refused are this server's own (the
// fleet's are their sum); held and ready are read from Redis (two reads, not a snapshot:
// approximate while questions move).
//
// Thread safety: every member may be called from any thread (a mutex over the claims in
// flight, the answers waiting and the counts, never held across a Redis call). Each call is
// at most a few blocking Redis round trips, bounded by the client's command timeout.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/answer_later.hpp"
#include "state/redis/redis_later.hpp"

namespace ma::server {

class FleetLater final : public gateway::LaterStore {
 public:
  // Answers kept here while Redis is down, at most (then the oldest is dropped, counted as an
  // expired answer: only one claim is in flight per server, so this is not reached in use).
  static constexpr std::size_t kMaxPending = 64;

  // REQUIRES: `client` outlives this. `origin`: this server's id (claim tokens, events).
  // `lease`: how long a claim holds a question before another server may try it (above the
  // pipeline's deadline: an attempt in progress is not duplicated).
  FleetLater(gateway::AnswerLaterConfig config, gateway::TicketSigner sign,
             state::RedisClient& client, const std::string& fleet, std::string origin,
             core::Duration lease);

  const gateway::AnswerLaterConfig& config() const override { return cfg_; }
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

  // Answers made here that Redis has not taken yet.
  std::size_t pending() const;

 private:
  struct Pending {
    std::uint64_t id;
    std::string frame;
  };
  // Writes the answers waiting here (next() calls it first).
  void flush_pending();

  const gateway::AnswerLaterConfig cfg_;
  const gateway::LaterTickets tickets_;
  mutable state::RedisLater redis_;
  const std::string origin_;
  const std::int64_t lease_ms_;
  const std::int64_t max_wait_ms_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, std::string> claims_;  // question id -> claim token (in flight)
  std::vector<Pending> pending_;                 // oldest first; at most kMaxPending
  std::uint64_t next_token_ = 0;
  Counts stats_{};
};

}  // namespace ma::server
