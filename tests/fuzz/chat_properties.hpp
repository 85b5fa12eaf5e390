#pragma once
// The properties every accepted chat message has, whichever surface it came in by (the HTTP
// body, a WebSocket frame): checked by the http_request, websocket_message and chat_request
// targets on each input ma::server::parse_chat accepts.

#include <string_view>

#include "core/text.hpp"
#include "fuzz_check.hpp"
#include "server/chat_request.hpp"

namespace ma::fuzz {

inline constexpr std::size_t kMaxChars = 2000;  // the server's limit

inline bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Parses `body` as the server does and checks what an accepted message promises.
inline core::Result<server::ParsedChat> parse_and_check(std::string_view body, bool websocket) {
  auto r = server::parse_chat(body, kMaxChars, websocket);
  if (!r.ok()) {
    MA_FUZZ_CHECK(!r.error().code.empty());
    return r;
  }
  MA_FUZZ_CHECK(core::is_valid_utf8(body));
  MA_FUZZ_CHECK(core::is_valid_utf8(r->message));
  MA_FUZZ_CHECK(!is_blank(r->message));
  const std::size_t chars = core::utf8_length(r->message);
  MA_FUZZ_CHECK(chars >= 1 && chars <= kMaxChars);
  MA_FUZZ_CHECK(r->session_id.size() <= 128);
  MA_FUZZ_CHECK(r->request_id.size() <= 128);
  if (!websocket) MA_FUZZ_CHECK(r->request_id.empty());
  // The limit is exact: one character less and the same body is refused for its length.
  auto shorter = server::parse_chat(body, chars - 1, websocket);
  MA_FUZZ_CHECK(!shorter.ok() && shorter.error().code == "message_too_long");
  return r;
}

}  // namespace ma::fuzz
