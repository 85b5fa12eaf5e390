#pragma once
// Calendar time in RFC 3339 / ISO 8601 UTC ("2026-11-26T19:22:41.123Z"), without the C
// library's locale or time-zone state (no gmtime, no printf): used by log lines, traces, the
// sale calendar and log queries.

#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace ma::core {

// "2026-11-26T19:22:41.123Z" (with_millis) or "2026-11-26T19:22:41Z".
std::string format_rfc3339(WallTime t, bool with_millis = true);

// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC only); nullopt for anything else.
std::optional<WallTime> parse_rfc3339(std::string_view s);

}  // namespace ma::core
