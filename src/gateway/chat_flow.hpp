#pragma once
// The path every chat message takes, whatever brought it: admission (per-user, per-source,
// token budget, global limit and queue), then the pipeline under its deadline, then the
// observer. A message admitted under a plan with a token budget holds a reservation that is
// settled exactly once with the tokens its reply billed (0 when it timed out in the queue);
// the reservation is an RAII object in the coroutine frame, so no path leaks it. The
// HTTP and WebSocket server and the incident simulator both call ChatFlow::answer -- one
// engine, two drivers.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "admission/admission.hpp"
#include "assist/ab_stats.hpp"
#include "assist/degradation_split.hpp"
#include "assist/observer.hpp"
#include "assist/pipeline.hpp"
#include "assist/recent_replies.hpp"

namespace ma::gateway {

struct ChatInput {
  std::string message;  // valid UTF-8, already checked by the driver
  // A session the driver verified (server-issued, server/identity.hpp) or an id the
  // simulator made; empty: none -- the visitor is then known only by its source address,
  // and has no remembered replies or conversation.
  std::string session;
  std::optional<catalog::User> user;
  std::string remote;    // the client address (the per-source limit)
  std::string trace_id;  // X-Ray format, made by the driver
};

struct ChatOutcome {
  // Set when the sender is over their own limit (an honest 429); no reply then.
  std::optional<admission::AdmissionResult> refused;
  assist::Reply reply;
  assist::AdmissionNote admission;
  assist::RequestObserver::TraceDecision trace;  // what the observer kept
  // A degraded reply the user may leave to be answered later: its ticket (set by the
  // server's edge, gateway/answer_later.hpp); empty otherwise.
  std::string later_ticket;
};

struct ChatFlow {
  core::Clock& clock;
  admission::Admission& admission;
  assist::Pipeline& pipeline;
  assist::RequestObserver& observer;
  // The degradation-message experiment and what its users did (all optional: null, none).
  // `split` assigns each user's version by their user key; `ab` hears of every message and
  // every degraded reply; `recent` remembers which user got which reply (for feedback).
  const assist::DegradationSplit* split = nullptr;
  assist::AbStats* ab = nullptr;
  assist::RecentReplies* recent = nullptr;

  boost::asio::awaitable<ChatOutcome> answer(ChatInput in, admission::QueuedSink on_queued = {},
                                             assist::TierChunkSink on_chunk = {});
  // The same into `out`, which the caller owns; takes what it needs from `in` (both must
  // outlive the call). No outcome is copied between coroutine frames: the simulator keeps
  // thousands of messages in flight.
  boost::asio::awaitable<void> answer_into(ChatInput& in, ChatOutcome& out,
                                           admission::QueuedSink on_queued,
                                           assist::TierChunkSink on_chunk);

 private:
  // Admission without waiting; nullopt: the message must wait in the queue. Sets `who`, and
  // `tokens` when the sender's plan has a token budget (settled once the message is answered).
  std::optional<admission::AdmissionResult> admit_now(const ChatInput& in, std::string& who,
                                                      admission::TokenReservation& tokens);
  // Records a refusal or a queue timeout in `out`; true when the pipeline should answer.
  bool settle_admission(const admission::AdmissionResult& ar, ChatInput& in, const std::string& who,
                        ChatOutcome& out);
  // Tells the A/B tracker and the recent replies about `out`'s reply to `who`.
  void note_reply(const std::string& who, const ChatOutcome& out);
};

// The key a sender is known by everywhere per user (admission's per-user limit, the A/B
// assignment, feedback ownership): "u:<user id>", else "s:<session>", else "a:<source key
// of remote>". Namespaced by kind, so no string a client chooses can name another kind's.
std::string user_key(const std::optional<catalog::User>& user, const std::string& session,
                     const std::string& remote);

admission::AdmissionRequest admission_request(const std::optional<catalog::User>& user,
                                              const std::string& session, const std::string& remote,
                                              const std::string& message);

// The reply to a message that waited in the admission queue past its limit.
assist::Reply high_demand(const std::string& message, std::optional<core::Duration> eta,
                          std::string trace_id);

}  // namespace ma::gateway
