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

// A request that got no HTTP answer: a timeout is kTimeout, anything else kTransient.
ModelError transport_error(const HttpError& e);

// The server's hint, when present and sane (at most 2 minutes): x-amz-retry-after (AWS,
// milliseconds), then retry-after-ms, then Retry-After (seconds). Header names lower-case.
std::optional<core::Duration> retry_after(const std::map<std::string, std::string>& headers);

}  // namespace ma::fm
