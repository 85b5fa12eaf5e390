#include "gateway/chat_flow.hpp"

#include "assist/degradation.hpp"
#include "core/text.hpp"
#include "gateway/source_key.hpp"

namespace ma::gateway {

namespace asio = boost::asio;

namespace {

admission::Priority priority_of(const std::optional<catalog::User>& u) {
  if (!u) return admission::Priority::kAnonymous;
  return u->tier == catalog::UserTier::kPremium ? admission::Priority::kPremium
                                                : admission::Priority::kRegistered;
}

}  // namespace

admission::AdmissionRequest admission_request(const std::optional<catalog::User>& user,
                                              const std::string& session, const std::string& remote,
                                              const std::string& message) {
  admission::AdmissionRequest a;
  // Namespaced by kind, so no string a client chooses can name another kind's state.
  a.source = source_key(remote);
  a.user_key = user               ? core::str_cat("u:", user->id)
               : !session.empty() ? core::str_cat("s:", session)
                                  : core::str_cat("a:", a.source);
  a.priority = priority_of(user);
  a.question_hash = core::fnv1a(message);
  return a;
}

std::string user_key(const std::optional<catalog::User>& user, const std::string& session,
                     const std::string& remote) {
  // The same key admission_request makes.
  if (user) return core::str_cat("u:", user->id);
  if (!session.empty()) return core::str_cat("s:", session);
  return core::str_cat("a:", source_key(remote));
}

assist::Reply high_demand(const std::string& message, std::optional<core::Duration> eta,
                          std::string trace_id) {
  const auto lang = core::looks_japanese(message) ? fm::Language::kJa : fm::Language::kEn;
  assist::Degraded d = assist::high_demand_reply(lang, eta);
  assist::Reply r;
  r.text = std::move(d.text);
  r.actions = std::move(d.actions);
  r.retry_after_s = d.retry_after_s;
  r.tier = assist::Tier::kDegraded;
  r.degraded = true;
  r.lang = lang;
  r.trace_id = std::move(trace_id);
  return r;
}

// The synchronous parts live in plain functions: a coroutine frame holds every local of the
// coroutine for its whole life, and thousands of messages are in flight at once.

std::optional<admission::AdmissionResult> ChatFlow::admit_now(const ChatInput& in, std::string& who,
                                                              admission::TokenReservation& tokens) {
  admission::AdmissionRequest areq = admission_request(in.user, in.session, in.remote, in.message);
  who = areq.user_key;
  return admission.try_admit(areq, &tokens);
}

bool ChatFlow::settle_admission(const admission::AdmissionResult& ar, ChatInput& in,
                                const std::string& who, ChatOutcome& out) {
  if (ar.outcome == admission::Outcome::kUserLimited) {
    observer.on_refused(ar.scope, in.message, who, in.trace_id);
    out.admission.outcome = ar.scope == "source" ? assist::AdmissionOutcome::kLimitedSource
                                                 : assist::AdmissionOutcome::kLimitedUser;
    out.refused = ar;
    return false;
  }
  out.admission = {
      ar.queued ? assist::AdmissionOutcome::kQueued : assist::AdmissionOutcome::kAdmitted,
      ar.waited};
  if (ar.outcome == admission::Outcome::kQueueTimeout) {
    out.admission.outcome = assist::AdmissionOutcome::kQueueTimeout;
    out.reply = high_demand(in.message, pipeline.eta(), std::move(in.trace_id));
    out.reply.started = clock.now();
    return false;
  }
  return true;
}

asio::awaitable<ChatOutcome> ChatFlow::answer(ChatInput in, admission::QueuedSink on_queued,
                                              assist::TierChunkSink on_chunk) {
  ChatOutcome out;
  co_await answer_into(in, out, std::move(on_queued), std::move(on_chunk));
  co_return out;
}

asio::awaitable<void> ChatFlow::answer_into(ChatInput& in, ChatOutcome& out,
                                            admission::QueuedSink on_queued,
                                            assist::TierChunkSink on_chunk) {
  std::string who;
  // Held until the reply says what the message used. Settled below on every path that
  // completes; if this frame is destroyed mid-answer (shutdown), its destructor settles it
  // with the estimate. A client that disconnects does not end the frame: the answer runs on
  // (the provider bills it anyway) and settles with what was billed.
  admission::TokenReservation tokens;
  // Most messages are decided at once; only a wait in the queue needs a coroutine.
  std::optional<admission::AdmissionResult> ar = admit_now(in, who, tokens);
  // Every message, refused ones too: a resend after a degraded reply is what the A/B
  // experiment measures (a 429 does not make it less of one).
  if (ab != nullptr) ab->on_message(who);
  if (!ar) {
    // Named, not a temporary in the co_await expression (g++ 12 mishandles those).
    admission::AdmissionRequest areq =
        admission_request(in.user, in.session, in.remote, in.message);
    ar = co_await admission.wait_in_queue(std::move(areq), std::move(on_queued));
  }
  // The question is kept for the log only.
  std::string question = observer.logs() ? in.message : std::string();
  if (settle_admission(*ar, in, who, out)) {
    // The deadline starts when the message leaves the admission queue.
    const auto deadline = core::Deadline::after(clock, pipeline.config().deadline);
    assist::ChatRequest creq{std::move(in.message), std::move(in.session), std::move(in.user),
                             std::move(in.trace_id)};
    if (split != nullptr) creq.degradation_version = split->assign(who);
    co_await pipeline.handle_into(creq, out.reply, std::move(on_chunk), deadline);
    tokens.settle(std::int64_t{out.reply.input_tokens} + out.reply.output_tokens);
  } else if (out.refused) {
    co_return;  // an honest 429, already recorded: there is no reply to observe
  }
  tokens.settle(0);  // answered without a model (the queue's high-demand reply): nothing used
  note_reply(who, out);
  out.trace = observer.on_reply(out.reply, question, who, out.admission);
}

void ChatFlow::note_reply(const std::string& who, const ChatOutcome& out) {
  const assist::Reply& r = out.reply;
  if (ab != nullptr && r.degradation_version) ab->on_degraded_reply(who, *r.degradation_version);
  if (recent != nullptr) recent->remember(r.trace_id, who, r.degradation_version, r.degraded);
}

}  // namespace ma::gateway
