#pragma once
// The server's edge of "we'll answer when we're back" (issue 22; the store is
// gateway/answer_later.hpp) and of the status pushed over the WebSocket:
//
//   - a degraded reply that may be left gets `"later": {"ticket", "expires_in_s"}` and ends
//     with one sentence saying so (ServerContext::answer, add_later_field);
//   - WebSocket `{"action":"answerLater","ticket","request_id"}` and HTTP POST /v1/later
//     leave the question; POST /v1/later/answers takes the answers waiting (http_route_later);
//   - one background loop per server answers the oldest question through the pipeline
//     (ServerContext::answer_held), at most one at a time and one attempt per
//     retry_interval while the replies stay degraded; a real answer (a model wrote it) is
//     kept for its owner and handed to the owner's open WebSocket connections here
//     (ServerContext::deliver_later), or waits for the next one to open;
//   - one background watcher per server pushes a `status` frame to every open WebSocket when
//     the public state or its ETA changes (StatusWatch, every 250 ms).
//
// NOTE: an answer is delivered once it is queued on a connection's outbox. A connection that
// died without the server noticing yet (no FIN, until the ping timeout) loses that answer; an
// acknowledgement from the page would close that gap, at the cost of a protocol round.
//
// Thread safety: the frame builders are pure; the loops run on the server's first worker
// and touch only thread-safe parts of the ServerContext.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "assist/pipeline.hpp"
#include "server/http_fields.hpp"

namespace ma::server {

class ServerContext;

// The sentence a degraded reply ends with when it offers to answer later.
std::string_view later_sentence(fm::Language lang);
// Appends it to the reply's text (never a retry prompt: docs/api.md).
void offer_later(assist::Reply& r);
// Adds `"later":{"ticket":...,"expires_in_s":N}` to a reply body written by reply_json (an
// object), when `ticket` is not empty.
void add_later_field(std::string& reply_body, std::string_view ticket, std::int64_t expires_in_s);

// {"type":"later_answer","question":...,<every field of a reply frame>}.
std::string later_answer_frame(std::string_view question, const assist::Reply& r,
                               const assist::ServiceStatus& st);
// {"type":"later_accepted","request_id":...,"held":N} (request_id omitted when empty).
std::string ws_later_accepted(std::string_view request_id, std::size_t held);

// An answerLater refusal: {"type":"error","error":code,"code":code,"message":...,
// "request_id":...} (ws_error's frame, with "code" too).
std::string ws_later_error(const core::Error& e, std::string_view request_id);

// What the public sees of the service status: its state and ETA in whole seconds.
struct PublicStatus {
  std::string state;  // normal | degraded | down | limited
  std::optional<std::int64_t> eta_s;
  bool operator==(const PublicStatus&) const = default;
};
PublicStatus public_status(const assist::ServiceStatus& st);
// {"type":"status","state":...,"eta_s":N|null,"note":<English>,"note_ja":<Japanese>}; the
// notes are the public status page's (pages.hpp public_status_words).
std::string ws_status(const PublicStatus& st);

// Change detection for the status push: true the first time and whenever the state or the
// ETA differs from the last status seen. Not thread-safe (one watcher).
class StatusWatch final {
 public:
  bool changed(const PublicStatus& now);

 private:
  std::optional<PublicStatus> last_;
};

// The answering loop and the status watcher; each runs until cancelled (spawned supervised
// by the server on its first worker).
boost::asio::awaitable<void> run_later_answers(ServerContext& ctx);
boost::asio::awaitable<void> run_status_push(ServerContext& ctx);

// POST /v1/later {"ticket": ...} -> 202 {"held": N}; POST /v1/later/answers -> 200 {"answers":
// [...]}. Who is asking: the bearer token or the ma_user sign-in cookie, else the body's session_id
// or the ma_session cookie. Any other method: 405.
Response http_route_later(ServerContext& ctx, const Request& req);

}  // namespace ma::server
