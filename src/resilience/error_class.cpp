#include "resilience/error_class.hpp"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace ma::resilience {

std::string_view to_string(ErrorClass c) {
  switch (c) {
    case ErrorClass::kThrottling:
      return "throttling";
    case ErrorClass::kTransient:
      return "transient";
    case ErrorClass::kTimeout:
      return "timeout";
    case ErrorClass::kClient:
      return "client";
    case ErrorClass::kUnknown:
      return "unknown";
  }
  return "unknown";
}

namespace {

// botocore standard.py _THROTTLED_ERROR_CODES, plus Bedrock's own throttling names.
constexpr std::array<std::string_view, 17> kThrottlingCodes = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "ServiceQuotaExceededException",
    "rate_limit_exceeded",
    "ModelNotReadyException"};

// botocore _TRANSIENT_ERROR_CODES and exception names, plus Bedrock's.
// ModelErrorException (424) and ModelStreamErrorException: the model failed while
// answering; Bedrock's troubleshooting guide says to retry them.
constexpr std::array<std::string_view, 12> kTransientCodes = {
    "ModelErrorException",     "ModelStreamErrorException", "RequestTimeout",
    "RequestTimeoutException", "PriorRequestNotComplete",   "ConnectionError",
    "HTTPClientError",         "InternalServerException",   "ServiceUnavailableException",
    "InternalFailure",         "ServiceUnavailable",        "server_error"};

constexpr std::array<std::string_view, 7> kTimeoutCodes = {
    "ReadTimeoutError", "ConnectTimeoutError", "ModelTimeoutException", "DeadlineExceeded",
    "Timeout",          "FirstTokenTimeout",   "StreamStalled"};

// Errors no message can cause or fix: the lane's credentials, permissions or model id are
// wrong (Bedrock, botocore's auth errors, OpenAI-compatible servers).
constexpr std::array<std::string_view, 12> kConfigurationCodes = {
    "AccessDeniedException",     "UnrecognizedClientException",
    "InvalidSignatureException", "ExpiredTokenException",
    "IncompleteSignature",       "MissingAuthenticationToken",
    "ResourceNotFoundException", "authentication_error",
    "permission_error",          "not_found_error",
    "invalid_api_key",           "model_not_found"};

constexpr std::array<std::string_view, 12> kClientCodes = {
    "ValidationException",         "AccessDeniedException",      "ResourceNotFoundException",
    "UnrecognizedClientException", "InvalidSignatureException",  "ExpiredTokenException",
    "IncompleteSignature",         "MissingAuthenticationToken", "invalid_request_error",
    "authentication_error",        "permission_error",           "not_found_error"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& a, std::string_view s) {
  return std::find(a.begin(), a.end(), s) != a.end();
}

std::string sanitise(std::string_view s, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char c : s) {
    if (out.size() >= max) break;
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  // Do not leave half of a UTF-8 sequence at the end: find the last lead byte and drop its
  // sequence only when it is incomplete (it used to drop the last character always).
  std::size_t lead = out.size();
  while (lead > 0 && (static_cast<unsigned char>(out[lead - 1]) & 0xC0) == 0x80) --lead;
  if (lead > 0 && (static_cast<unsigned char>(out[lead - 1]) & 0xC0) == 0xC0) {
    const auto b = static_cast<unsigned char>(out[lead - 1]);
    const std::size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    if (out.size() - (lead - 1) < need) out.resize(lead - 1);
  } else if (lead == 0 || lead < out.size()) {
    out.resize(lead);  // continuation bytes without a lead
  }
  return out;
}

std::string_view string_at(const boost::json::object& o, std::string_view key) {
  if (auto it = o.find(key); it != o.end() && it->value().is_string()) {
    return it->value().get_string();
  }
  return {};
}

}  // namespace

bool is_throttling_code(std::string_view code) { return contains(kThrottlingCodes, code); }

// Client errors caused by the message itself (Bedrock, OpenAI-compatible servers).
constexpr std::array<std::string_view, 5> kPerMessageCodes = {
    "ValidationException", "content_filter", "context_length_exceeded", "invalid_request_error",
    "ContentFiltered"};

bool is_per_message_error(std::string_view code) { return contains(kPerMessageCodes, code); }

bool is_configuration_error(int http_status, std::string_view code) {
  return contains(kConfigurationCodes, code) || http_status == 401 || http_status == 403 ||
         http_status == 404;
}
bool is_transient_code(std::string_view code) { return contains(kTransientCodes, code); }

ErrorClass classify(int http_status, std::string_view code) {
  if (!code.empty()) {
    if (is_throttling_code(code)) return ErrorClass::kThrottling;
    if (contains(kTimeoutCodes, code)) return ErrorClass::kTimeout;
    if (is_transient_code(code)) return ErrorClass::kTransient;
    if (contains(kClientCodes, code)) return ErrorClass::kClient;
  }
  if (http_status == 429) return ErrorClass::kThrottling;
  if (http_status == 408) return ErrorClass::kTimeout;
  if (http_status >= 500 && http_status <= 599) {
    // 500/502/503/504 are transient by status (botocore); other 5xx are unusual.
    return (http_status <= 504) ? ErrorClass::kTransient : ErrorClass::kUnknown;
  }
  if (http_status >= 400 && http_status <= 499 && !code.empty()) return ErrorClass::kClient;
  return ErrorClass::kUnknown;
}

std::string_view normalise_code(std::string_view code) {
  if (auto colon = code.find(':'); colon != std::string_view::npos) code = code.substr(0, colon);
  if (auto hash = code.rfind('#'); hash != std::string_view::npos) code = code.substr(hash + 1);
  while (!code.empty() && (code.front() == ' ' || code.front() == '\t')) code.remove_prefix(1);
  while (!code.empty() && (code.back() == ' ' || code.back() == '\t')) code.remove_suffix(1);
  return code;
}

ParsedError parse_error(int http_status, std::string_view error_type_header,
                        std::string_view body) {
  ParsedError out;
  std::string_view code;
  std::string_view message;
  bool shape_known = false;

  boost::system::error_code ec;
  boost::json::value doc;
  if (!body.empty() && body.size() <= 64 * 1024) doc = boost::json::parse(body, ec);
  if (!ec && doc.is_object()) {
    const auto& o = doc.get_object();
    if (auto t = string_at(o, "__type"); !t.empty()) {
      code = t;
      shape_known = true;
    } else if (auto c = string_at(o, "code"); !c.empty()) {
      code = c;
      shape_known = true;
    } else if (auto c2 = string_at(o, "Code"); !c2.empty()) {
      code = c2;
      shape_known = true;
    }
    if (auto it = o.find("error"); it != o.end()) {
      if (it->value().is_object()) {
        const auto& e = it->value().get_object();
        if (auto c = string_at(e, "code"); !c.empty()) {
          code = c;
          shape_known = true;
        } else if (auto t = string_at(e, "type"); !t.empty()) {
          code = t;
          shape_known = true;
        }
        message = string_at(e, "message");
      } else if (it->value().is_string() && code.empty()) {
        message = it->value().get_string();
      }
    }
    if (message.empty()) message = string_at(o, "message");
    if (message.empty()) message = string_at(o, "Message");
  } else if (!body.empty()) {
    message = body;
  }

  // The header, when present, is authoritative for AWS services.
  if (auto h = normalise_code(error_type_header); !h.empty()) {
    code = error_type_header;
    shape_known = true;
  }

  out.raw_code = sanitise(code, 128);
  out.code = std::string(normalise_code(out.raw_code));
  out.message = sanitise(message, 256);
  out.recognised_format = shape_known;
  out.kind = classify(http_status, out.code);
  // A well-formed error with an unknown code on a 4xx is a client error; but an unknown
  // shape on a 4xx (or a 2xx/3xx carrying an error) is something we have not seen before.
  if (!shape_known && out.kind == ErrorClass::kClient) out.kind = ErrorClass::kUnknown;
  return out;
}

}  // namespace ma::resilience
