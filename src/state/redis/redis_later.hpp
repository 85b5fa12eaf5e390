#pragma once
// The fleet's questions left to be answered later, and their answers waiting for delivery
// (issue 22), in Redis: every server may take a question and answer it, and every server may
// hand an answer to its owner. Each operation is one Lua script, atomic in Redis; the clock is
// Redis's (TIME), so the servers' clocks do not matter. Keys (one hash tag with the rest of
// the fleet's state, redis_state.hpp):
//
//   ma:{f}:later:seq       STRING  the last question id given (INCR)
//   ma:{f}:later:queue     ZSET    question id -> its id while free to try (the order left),
//                                  or the end of its claim's lease (Redis ms) while tried
//   ma:{f}:later:q         HASH    question id -> {"o":owner,"q":question,"m":mac,"t":left ms}
//   ma:{f}:later:claim     HASH    question id -> the token of the claim in force
//   ma:{f}:later:mac       HASH    ticket MAC -> question id (a ticket left twice: held once)
//   ma:{f}:later:owners    HASH    owner -> questions held + answers ready (the per-owner bound)
//   ma:{f}:later:total     STRING  questions held + answers ready, every owner (the total bound)
//   ma:{f}:later:ready     HASH    owner -> [[ready ms, frame], ...] oldest first (at most the
//                                  per-owner bound: read and rewritten whole)
//   ma:{f}:later:ready_at  ZSET    owner -> ready ms of their oldest answer (the expiry sweep)
//   ma:{f}:events          STREAM  {type: later_ready, owner} when an answer is ready
//
// A claim is a lease: a server that dies mid-attempt loses nothing, the question is free
// again once the lease ends (its score, a time, falls behind Redis's clock). The first
// answer written wins; a second (a server whose lease ran out while it answered) finds the
// question gone and is dropped. take() hands the owner's answers to exactly one caller.
// Expiry (max_wait) is a sweep inside claim(): questions left before it, answers ready before
// it; no key TTLs, so the counts stay exact.
//
// Thread safety: as RedisClient -- every member may be called from any thread; each call is
// one blocking round trip (bounded by the client's command timeout). Errors: "redis_io",
// "redis_error" (RedisClient's).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "state/redis/redis_client.hpp"

namespace ma::state {

class RedisLater final {
 public:
  // REQUIRES: `client` outlives this. `fleet`: RedisStateConfig::fleet; `origin` this server.
  RedisLater(RedisClient& client, const std::string& fleet, std::string origin,
             std::size_t stream_max_len = 100'000);

  enum class Left : std::uint8_t { kHeld, kAlreadyHeld, kOwnerFull, kTotalFull };
  struct LeaveResult {
    Left left = Left::kHeld;
    std::size_t waiting = 0;  // the owner's questions held + answers ready, after
  };
  core::Result<LeaveResult> leave(const std::string& owner, const std::string& question,
                                  const std::string& mac, std::size_t max_per_owner,
                                  std::size_t max_total);

  struct Claimed {
    std::uint64_t id = 0;
    std::string owner, question;
  };
  struct ClaimResult {
    std::optional<Claimed> claimed;                            // nullopt: nothing free to try
    std::uint64_t expired_questions = 0, expired_answers = 0;  // swept on the way
  };
  // Sweeps what waited past max_wait, then claims the oldest free question for `lease_ms`
  // under `token` (unique per attempt).
  core::Result<ClaimResult> claim(const std::string& token, std::int64_t lease_ms,
                                  std::int64_t max_wait_ms);
  // The claim ends: the question is free again, at the back of the queue (only while `token`
  // holds it), so one that keeps failing does not hold up the rest.
  core::Result<bool> release(std::uint64_t id, const std::string& token);
  // The question's answer, ready for its owner (and the event on the stream). False: the
  // question is no longer held (answered elsewhere, or expired).
  core::Result<bool> answered(std::uint64_t id, const std::string& frame);
  // The owner's answers, oldest first, removed (each returned once, ever).
  core::Result<std::vector<std::string>> take(const std::string& owner);
  // The owner's questions held + answers ready, and the fleet's.
  struct Room {
    std::size_t owner = 0, total = 0;
  };
  core::Result<Room> room(const std::string& owner);
  struct Sizes {
    std::size_t held = 0, ready = 0;
  };
  core::Result<Sizes> sizes();

  std::string key(std::string_view what) const;

 private:
  RedisClient& client_;
  std::string prefix_;
  std::string origin_;
  std::size_t stream_max_len_;
};

}  // namespace ma::state
