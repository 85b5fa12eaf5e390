#pragma once
// The simulated user's reading of a reply that did not answer them (seed incident 5): what
// the reply says and offers decides whether they re-send, and when. Nothing here knows which
// message version was served: a v2 message that regressed to "try again" reads as one.
//
// The features (read_reply):
//  - invites_retry: the text asks the user to send again: "try again", "try asking again",
//    "please retry", "resend", "send it again", "ask again" (any case), "再度", "もう一度",
//    "再送", "やり直", "改めて";
//  - status: it points to the service's status ("status page", "service status", "ステータス"
//    or "サービス状況" in the text, or a link whose URL ends in "/status");
//  - eta: when service is expected back, stated in the text: a number followed by a unit,
//    "about 42 seconds", "3 minutes", "2 hours", "約42秒", "約3分", "2時間" (the first one);
//  - links: links offered (the reply's actions);
//  - on_topic: the text names what the user asked about (one of the question's topic words:
//    its series' title, "price"/"価格", "recommend"/"おすすめ", "shipping"/"送料" ...).
//
// The decision (resend_probability), a logistic model with the scenario's coefficients
// (sim::Behaviour, documented in docs/simulator.md):
//   logit p = resend_bias + resend_per_link * min(links, 3)
//           + (invites_retry ? resend_if_invited
//                            : resend_if_status * status + resend_if_eta * has_eta
//                              + resend_if_on_topic * on_topic)
// NOTE: an invitation to retry replaces the reassurance of a status, an ETA and a named topic
// (users do what the message tells them; an ETA then only says when), while links still
// give somewhere else to go. An additive model cannot make "try again" next to an ETA a
// storm and a bare failure a moderate one at once.
//
// Thread safety: pure functions.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "assist/retrieval.hpp"
#include "sim/scenario.hpp"

namespace ma::sim {

struct ReplyReading {
  bool invites_retry = false;
  bool status = false;
  std::optional<double> eta_s;  // seconds
  int links = 0;
  bool on_topic = false;
};

ReplyReading read_reply(std::string_view text, std::span<const assist::Action> actions,
                        std::span<const std::string> topic_words);

// In [0, 1].
double resend_probability(const ReplyReading& r, const Behaviour& b);

// The chance that a user left without an answer (who will not re-send) contacts support:
//   logit p = contact_bias + contact_per_link * min(links, 3)
//           + contact_if_status * status + contact_if_eta * has_eta
// An invitation to retry reassures nobody: it has no term. In [0, 1].
double contact_probability(const ReplyReading& r, const Behaviour& b);

}  // namespace ma::sim
