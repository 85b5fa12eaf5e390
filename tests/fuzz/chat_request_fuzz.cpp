// Fuzz target: the chat request JSON (ma::server::parse_chat), both ways the server reads
// it. Input: a body as a client would send it. Beyond "no crash": an accepted message keeps
// the server's rules (chat_properties.hpp), and what a WebSocket frame may carry is a
// superset of what POST /v1/chat takes (the frame adds "action" and "request_id").

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chat_properties.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto http = ma::fuzz::parse_and_check(body, false);
  const auto ws = ma::fuzz::parse_and_check(body, true);
  if (ws.ok()) {
    MA_FUZZ_CHECK(http.ok());
    MA_FUZZ_CHECK(http->message == ws->message);
    MA_FUZZ_CHECK(http->session_id == ws->session_id);
  }
  return 0;
}
