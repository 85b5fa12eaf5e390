#pragma once
// A chat message as a client sends it (POST /v1/chat body, or a WebSocket text frame),
// validated: the one place the server's input rules for a message live. Pure: no I/O, no
// state; fuzzed by tests/fuzz/chat_request_fuzz.cpp.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace ma::server {

struct ParsedChat {
  std::string message;
  std::string session_id;
  std::string request_id;
};

// Validates a chat body (`websocket`: a WebSocket frame, which also carries "action" and
// "request_id"); on failure returns {code, message} for a 400 / an error frame. The message
// must be valid UTF-8, not blank, at most `max_chars` code points.
core::Result<ParsedChat> parse_chat(std::string_view body, std::size_t max_chars, bool websocket);

// A WebSocket frame: {"action":"sendMessage",...} (parse_chat's rules) or
// {"action":"answerLater","ticket":"...","request_id":"...","session_id":"..."} (a ticket of at
// most 16 KiB; request_id and session_id optional, as for sendMessage).
struct ParsedLater {
  std::string ticket;
  std::string session_id;
  std::string request_id;
};
struct WsMessage {
  enum class Action { kSendMessage, kAnswerLater };
  Action action = Action::kSendMessage;
  ParsedChat chat;    // kSendMessage
  ParsedLater later;  // kAnswerLater
};
core::Result<WsMessage> parse_ws_message(std::string_view body, std::size_t max_chars);
// POST /v1/feedback's body: {"trace_id": "...", "helpful": true|false, "understood":
// true|false}, "session_id" optional (as /v1/chat takes it). Exact: the trace id a string of
// 1 to 64 bytes of [0-9A-Za-z-]; each answer a boolean; at least one of them; no other field.
// Errors name the field: missing_field, invalid_field, unknown_field, invalid_json,
// invalid_utf8.
struct ParsedFeedback {
  std::string trace_id;
  std::string session_id;
  std::optional<bool> helpful;
  std::optional<bool> understood;
};
core::Result<ParsedFeedback> parse_feedback(std::string_view body);

}  // namespace ma::server
