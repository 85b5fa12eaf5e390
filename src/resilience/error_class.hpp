#pragma once
// Provider error -> class. The class decides retry, quota cost and breaker accounting.
//
// Sources: botocore retries/standard.py (throttling and transient code lists, pinned by
// tests/data/botocore_standard_backoff_quota.json) and the Bedrock Runtime error shapes
// (docs/providers.md). Parsing is defensive: any body, header or status, however malformed,
// yields a class; what cannot be recognised is kUnknown with the raw code kept for logs
// (seed scenario 4: a new error format was silently mishandled).

#include <cstdint>
#include <string>
#include <string_view>

namespace ma::resilience {

enum class ErrorClass : std::uint8_t {
  kThrottling,  // the provider asks us to slow down: retry with backoff, feed the limiter
  kTransient,   // 5xx, connection reset: retry with backoff
  kTimeout,     // no answer in time (ours or the provider's): retry, costs more quota
  kClient,      // our request is wrong (validation, auth, not found): never retry
  kUnknown,     // unrecognised format: do not retry this model, fall to the next tier
};

std::string_view to_string(ErrorClass c);

// True for the classes a retry can fix.
constexpr bool is_retryable(ErrorClass c) {
  return c == ErrorClass::kThrottling || c == ErrorClass::kTransient || c == ErrorClass::kTimeout;
}

// Classifies from an HTTP status (0 when the request never got a response) and an error
// code or exception name (empty when none). Pure, allocation-free, never throws.
ErrorClass classify(int http_status, std::string_view code);

bool is_throttling_code(std::string_view code);

// True for errors that say the lane itself is misconfigured (credentials, permissions, an
// unknown model id; 401, 403, 404), whatever the message: every call will fail the same way.
// A validation error one message caused (too long, filtered) is not one of them.
bool is_configuration_error(int http_status, std::string_view code);

// True for client errors one message causes (too long, filtered): never a sign of a broken
// lane, however many come in a row.
bool is_per_message_error(std::string_view code);
bool is_transient_code(std::string_view code);

// What could be read from an error response. `code` is normalised (namespace prefix and
// ":uri" suffix removed, as in AWS `__type` and `x-amzn-ErrorType`); `raw_code` keeps the
// original text (truncated to 128 bytes) for logs.
struct ParsedError {
  ErrorClass kind = ErrorClass::kUnknown;
  std::string code;
  std::string raw_code;
  std::string message;  // sanitised: control characters dropped, at most 256 bytes
  bool recognised_format = false;
};

// Reads an error response defensively. Looks at the `x-amzn-ErrorType` style header value,
// then JSON bodies of the shapes {"__type"}, {"code"|"Code"}, {"error": {"code"|"type"}},
// {"error": "..."}, {"message"|"Message"}. A body that is not JSON, or JSON of another shape,
// is kUnknown unless the status alone is conclusive (throttling 429, 5xx transient).
ParsedError parse_error(int http_status, std::string_view error_type_header, std::string_view body);

// Strips "com.amazon.coral.service#" prefixes and ":http://..." suffixes.
std::string_view normalise_code(std::string_view code);

}  // namespace ma::resilience
