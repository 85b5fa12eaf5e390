#pragma once
// What the real providers share: the system prompt with the retrieved facts, and how
// transport failures and wire errors become ModelErrors.

#include <map>

#include "fm/http_client.hpp"
#include "fm/model_provider.hpp"

namespace ma::fm {

// The store assistant's instructions (req.system, in the reply language), the facts
// retrieval found, and the live-data draft as a reference answer.
std::string system_prompt(const ModelRequest& req);

ModelError model_error(resilience::ErrorClass kind, std::string code, std::string message,
                       int http_status = 0);

// A request that got no (whole) HTTP answer. The deadline: kTimeout "DeadlineExceeded"; the
// attempt's budgets: kTimeout "FirstTokenTimeout" (HttpError first_byte_timeout) and
// "StreamStalled" (stream_stalled); a cancellation: kTransient "Cancelled"; anything else
// kTransient "ConnectionError". raw_code keeps the HttpError code.
ModelError transport_error(const HttpError& e);

// A rough token count for billing estimates when a provider reported none (a stream cut
// before its usage came): about 4 bytes a token for ASCII text, one token a code point for
// anything else (CJK text is about a token a character). Never 0 for non-empty text.
int estimate_tokens(std::string_view text);

// The HttpTimeouts of a model request's attempt budgets.
inline HttpTimeouts http_timeouts(const ModelRequest& req) {
  return {req.first_token_timeout, req.idle_timeout};
}

// The server's hint, when present and sane (at most 2 minutes): x-amz-retry-after (AWS,
// milliseconds), then retry-after-ms, then Retry-After (seconds). Header names lower-case.
std::optional<core::Duration> retry_after(const std::map<std::string, std::string>& headers);

}  // namespace ma::fm
