// Fuzz target: a WebSocket text frame on /v1/ws, as the server validates it
// (ma::server::parse_chat with websocket = true: "action": "sendMessage", an optional
// "request_id"). Input: the frame's payload. The frame itself (masking, fragmentation) is
// Boost.Beast's and not fuzzed here.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chat_properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  const auto r = ma::fuzz::parse_and_check(frame, true);
  if (r.ok())
    MA_FUZZ_CHECK(frame.find("sendMessage") != std::string_view::npos ||
                  frame.find('\\') != std::string_view::npos);  // maybe escaped
  return 0;
}
