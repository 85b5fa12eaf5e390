#include "observe/error_code_labels.hpp"

#include <algorithm>
#include <array>

#include "resilience/error_class.hpp"

namespace ma::observe {

namespace {
// What the gateway itself reports as an attempt's outcome or a reply's error code: the
// transport (fm/http_client, fm/provider_util), the stream parsers (fm/openai_compatible,
// fm/bedrock_runtime), the cascade lanes (assist/pipeline) and the retry policy. A status
// without a code becomes "HTTP<status>": the usual ones are named, the rest are "other".
constexpr std::array<std::string_view, 35> kGatewayCodes = {"timeout",
                                                            "deadline",
                                                            "connect_failed",
                                                            "tls_failed",
                                                            "connection_reset",
                                                            "io_error",
                                                            "StreamError",
                                                            "StreamException",
                                                            "StreamTruncated",
                                                            "StreamEventTooLarge",
                                                            "MalformedStreamEvent",
                                                            "CorruptEventStream",
                                                            "EmptyResponse",
                                                            "UnrecognisedResponse",
                                                            "ResponseTooLarge",
                                                            "EmptyCompletion",
                                                            "breaker_open",
                                                            "over_quota",
                                                            "client_rate_limited",
                                                            "HTTP400",
                                                            "HTTP401",
                                                            "HTTP403",
                                                            "HTTP404",
                                                            "HTTP408",
                                                            "HTTP409",
                                                            "HTTP413",
                                                            "HTTP422",
                                                            "HTTP424",
                                                            "HTTP429",
                                                            "HTTP500",
                                                            "HTTP501",
                                                            "HTTP502",
                                                            "HTTP503",
                                                            "HTTP504",
                                                            "HTTP529"};

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}
constexpr std::size_t kMaxLabelBytes = 64;
}  // namespace

bool is_known_error_code(std::string_view code) {
  if (code.empty()) return false;
  // classify() with no status falls to kUnknown unless one of its code lists has the code.
  if (resilience::classify(0, code) != resilience::ErrorClass::kUnknown) return true;
  return std::find(kGatewayCodes.begin(), kGatewayCodes.end(), code) != kGatewayCodes.end();
}

bool is_label_safe(std::string_view code) {
  return !code.empty() && code.size() <= kMaxLabelBytes &&
         std::all_of(code.begin(), code.end(), label_char);
}

std::string printable_code(std::string_view code) {
  std::string out(code.substr(0, kMaxLabelBytes));
  for (char& c : out) {
    if (!label_char(c)) c = '?';
  }
  return out;
}

std::string ErrorCodeLabels::label(std::string_view code) {
  if (is_known_error_code(code)) return std::string(code);
  if (!is_label_safe(code)) return std::string(kOtherErrorCode);
  std::lock_guard lock(mu_);
  if (novel_.contains(code)) return std::string(code);
  if (novel_.size() < max_novel_ && code != kOtherErrorCode) {
    novel_.emplace(code);
    return std::string(code);
  }
  return std::string(kOtherErrorCode);
}

std::size_t ErrorCodeLabels::novel_count() const {
  std::lock_guard lock(mu_);
  return novel_.size();
}

}  // namespace ma::observe
