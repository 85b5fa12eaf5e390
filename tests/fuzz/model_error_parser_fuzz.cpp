// Fuzz target: how a model provider's error becomes a class (ma::resilience::parse_error,
// normalise_code, classify) and its retry hint (ma::fm::retry_after): what the gateway reads
// from a Bedrock or OpenAI-compatible error response, an OpenAI stream's error event (status
// 200) and a Bedrock stream's exception event (status 0).
//
// Input: two bytes of HTTP status (big-endian, modulo 1000; 0: no response), then the
// x-amzn-ErrorType header value up to the first '\n' (also tried as Retry-After and
// retry-after-ms), then the body. Beyond "no crash": the documented bounds (raw code at most
// 128 bytes, message at most 256, no control characters, UTF-8 kept valid), the code is the
// normalised raw code, the class is classify()'s, and a retry hint is in [0, 2 min].

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/text.hpp"
#include "fm/provider_util.hpp"
#include "fuzz_check.hpp"
#include "resilience/error_class.hpp"

namespace {

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using ma::resilience::ErrorClass;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  int status = 0;
  if (in.size() >= 2) {
    status = ((static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1])) % 1000;
    in.remove_prefix(2);
  }
  std::string_view header;
  std::string_view body = in;
  if (const auto nl = in.find('\n'); nl != std::string_view::npos) {
    header = in.substr(0, nl);
    body = in.substr(nl + 1);
  }

  const auto p = ma::resilience::parse_error(status, header, body);
  MA_FUZZ_CHECK(p.raw_code.size() <= 128);
  MA_FUZZ_CHECK(p.message.size() <= 256);
  MA_FUZZ_CHECK(!has_control(p.raw_code) && !has_control(p.code) && !has_control(p.message));
  MA_FUZZ_CHECK(p.code == ma::resilience::normalise_code(p.raw_code));
  MA_FUZZ_CHECK(ma::resilience::normalise_code(p.code) == p.code);  // idempotent
  const ErrorClass by_code = ma::resilience::classify(status, p.code);
  MA_FUZZ_CHECK(p.kind == by_code || (!p.recognised_format && by_code == ErrorClass::kClient &&
                                      p.kind == ErrorClass::kUnknown));
  MA_FUZZ_CHECK(!ma::resilience::to_string(p.kind).empty());
  if (ma::core::is_valid_utf8(header) && ma::core::is_valid_utf8(body)) {
    MA_FUZZ_CHECK(ma::core::is_valid_utf8(p.raw_code));
    MA_FUZZ_CHECK(ma::core::is_valid_utf8(p.message));
  }
  // The header alone, as a Bedrock stream's exception event names it.
  (void)ma::resilience::classify(status, ma::resilience::normalise_code(header));

  for (const char* name : {"retry-after", "retry-after-ms"}) {
    const std::map<std::string, std::string> headers{{name, std::string(header)}};
    if (const auto d = ma::fm::retry_after(headers)) {
      MA_FUZZ_CHECK(d->count() >= 0 && *d <= std::chrono::minutes(2));
    }
  }
  return 0;
}
