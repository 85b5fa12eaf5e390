#pragma once
// Degradation messages: what a user reads when no tier could answer.
//
// v2 (the default) names the user's question, says plainly that the assistant is limited
// right now, gives an ETA when one is known (from the breakers), and offers intent-specific
// links. It never invites the user to resend (seed incident 5: the v1 message, banned now,
// caused a retry storm and 2,100 tickets). v3 says the same, status first and shorter: what
// is happening, the ETA when known, then the intent's links (compared with v2 on real users
// by the [degradation] ab experiment, assist/degradation_split.hpp). v1 reproduces the seed's
// original text, for incident replays only.

#include <optional>
#include <string>
#include <string_view>

#include "assist/retrieval.hpp"
#include "core/time.hpp"

namespace ma::assist {

enum class DegradationVersion : std::uint8_t { kV1, kV2, kV3 };
inline constexpr int kDegradationVersionCount = 3;
// "v1", "v2", "v3" (the flag's, the config's, the replies' and the logs' spelling).
std::string_view to_string(DegradationVersion v);
std::optional<DegradationVersion> parse_degradation_version(std::string_view s);

// The version a user is shown: the flag's when it is v1 (an incident replay wins over any
// experiment), else the experiment's assignment when there is one, else the flag's.
DegradationVersion shown_version(DegradationVersion flag,
                                 std::optional<DegradationVersion> assigned);

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

// Phrases no v2 or v3 message may contain (checked by tests).
// clang-format off
inline constexpr std::string_view kBannedPhrases[] = {"try again", "try asking again", "i'm still here", "もう一度", "再度お試し"};
// clang-format on

}  // namespace ma::assist
