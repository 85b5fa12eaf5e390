#pragma once
// Who is asking: identity is established once, at the edge, and every per-visitor memory
// (rate-limit buckets, remembered replies, conversation turns, orders) is keyed by it.
//
// - Signed-in users present a bearer token the server signed:
//     "mat1.<base64url(user id)>.<expiry, unix seconds>.<base64url(HMAC-SHA256)>"
//   `mangaassist token USER_ID [--ttl D]` issues one. An invalid or expired token is a 401.
// - Anonymous visitors get a session the server issued ("s1.<128 random bits>.<HMAC>", kept
//   by the chat page in the `ma_session` cookie, or sent back as "session_id"). A session id
//   the server did not sign names nothing: it is ignored and never keys any state.
//
// The secret (>= 16 bytes) signs both, under different domains. Thread safety: the
// const members are safe to call from any thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"
#include "core/spin_lock.hpp"
#include "core/time.hpp"
#include "resilience/token_bucket.hpp"

namespace ma::server {

class Identity final {
 public:
  // REQUIRES: secret.size() >= 16.
  explicit Identity(std::string secret);

  std::string issue_user_token(std::string_view user_id, core::WallTime expires) const;
  // The user id the token names. Errors: "invalid_token" (malformed or a bad signature),
  // "token_expired".
  core::Result<std::string> verify_user_token(std::string_view token, core::WallTime now) const;

  // A new anonymous session id (random, signed).
  std::string issue_session() const;
  // True for a session id this server (or another with the same secret) issued.
  bool verify_session(std::string_view session) const;

  // The MAC of an answer-later ticket's payload (gateway/answer_later.hpp), in a domain of
  // its own: no ticket verifies as a token or a session, nor the reverse.
  std::string sign_later(std::string_view payload) const { return sign("later-ticket", payload); }

 private:
  std::string sign(std::string_view domain, std::string_view payload) const;
  std::string secret_;
};

// The signing secret: `configured` (server.auth_secret, which MANGAASSIST_AUTH_SECRET sets
// through resolve_environment), else the contents of `file` -- created with 32 random bytes, mode
// 0600, when missing, so that `make run` and `mangaassist token` agree out of the box. A
// fleet shares the secret through the environment or the config.
core::Result<std::string> resolve_auth_secret(const std::string& configured,
                                              const std::string& file);

// How many new anonymous sessions one source (address, IPv6 /64) may be issued: a client
// that throws its session away to get a fresh per-visitor bucket is bounded by this, and
// past it its messages share the source's one anonymous bucket. A NAT's first-time
// visitors are never refused for it: they are only not given a session yet.
// Thread safety: internally locked (only messages without a session reach it).
class SessionIssuer final {
 public:
  SessionIssuer(resilience::BucketSpec per_source, std::size_t max_sources);
  [[nodiscard]] bool try_issue(const std::string& source, core::TimePoint now);

 private:
  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> n{0};
    return ++n;
  }
  const std::uint64_t id_ = next_id();  // names this issuer in the threads' refusal memos
  core::SpinLock mu_;
  resilience::BucketSpec spec_;
  std::size_t max_sources_;
  std::unordered_map<std::string, resilience::BucketState> buckets_;
};

}  // namespace ma::server
