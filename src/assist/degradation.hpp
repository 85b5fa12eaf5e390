#pragma once
// Degradation messages: what a user reads when no tier could answer.
//
// v2 (the default) names the user's question, says plainly that the assistant is limited
// right now, gives an ETA when one is known (from the breakers), and offers intent-specific
// links. It never invites the user to resend (seed incident 5: the v1 message, banned now,
// caused a retry storm and 2,100 tickets). v1 reproduces the seed's original text, for incident
// replays only.

#include <optional>
#include <string>
#include <string_view>

#include "assist/retrieval.hpp"
#include "core/time.hpp"

namespace ma::assist {

enum class DegradationVersion : std::uint8_t { kV1, kV2 };

struct Degraded {
  std::string text;
  std::vector<Action> actions;
  int retry_after_s = 0;
};

// `eta`: when the models are expected back (nullopt: unknown).
Degraded degraded_reply(const Retrieved& r, std::optional<core::Duration> eta,
                        DegradationVersion version);

// The reply to a message that waited in the admission queue past its maximum wait.
Degraded high_demand_reply(fm::Language lang, std::optional<core::Duration> eta);

// Phrases no v2 message may contain (checked by tests).
// clang-format off
inline constexpr std::string_view kBannedPhrases[] = {"try again", "try asking again", "i'm still here", "もう一度", "再度お試し"};
// clang-format on

}  // namespace ma::assist
