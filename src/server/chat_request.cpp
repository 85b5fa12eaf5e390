#include "server/chat_request.hpp"

#include <algorithm>

#include "core/json_util.hpp"
#include "core/text.hpp"

namespace ma::server {

namespace {

core::Result<boost::json::value> parse_object(std::string_view body) {
  if (!core::is_valid_utf8(body)) return core::fail("invalid_utf8", "the body is not valid UTF-8");
  auto v = core::parse_json(body);
  if (!v.ok())
    return core::fail("invalid_json", "the body is not valid JSON: " + v.error().message);
  if (!v->is_object()) return core::fail("invalid_json", "the body must be a JSON object");
  return v;
}

core::Status read_request_id(const boost::json::value& v, std::string& out) {
  if (const auto* rid = v.get_object().if_contains("request_id")) {
    if (!rid->is_string() || rid->get_string().size() > 128) {
      return core::fail("invalid_request_id", "request_id must be a string of at most 128 bytes");
    }
    out = std::string(rid->get_string());
  }
  return core::Ok{};
}

core::Status read_session_id(const boost::json::value& v, std::string& out) {
  if (const auto* sid = v.get_object().if_contains("session_id")) {
    if (!sid->is_string() || sid->get_string().size() > 128) {
      return core::fail("invalid_field", "\"session_id\" must be a string of at most 128 bytes");
    }
    out = std::string(sid->get_string());
  }
  return core::Ok{};
}

// A chat message's fields, from a JSON object.
core::Result<ParsedChat> chat_from(const boost::json::value& v, std::size_t max_chars,
                                   bool websocket) {
  ParsedChat p;
  if (websocket) {
    if (auto st = read_request_id(v, p.request_id); !st.ok()) return core::fail(st.error());
  }
  const auto* m = v.get_object().if_contains("message");
  if (m == nullptr) return core::fail("missing_field", "\"message\" is required");
  if (!m->is_string()) return core::fail("invalid_field", "\"message\" must be a string");
  p.message = std::string(m->get_string());
  if (!core::is_valid_utf8(p.message))
    return core::fail("invalid_utf8", "\"message\" is not valid UTF-8");
  bool blank = true;
  for (char c : p.message) blank &= (c == ' ' || c == '\t' || c == '\n' || c == '\r');
  if (blank) return core::fail("empty_message", "\"message\" must not be empty");
  if (core::utf8_length(p.message) > max_chars) {
    return core::fail("message_too_long",
                      "\"message\" is longer than " + std::to_string(max_chars) + " characters");
  }
  if (auto st = read_session_id(v, p.session_id); !st.ok()) return core::fail(st.error());
  return p;
}

}  // namespace

// Validates a chat body; on failure returns {code, message}.
core::Result<ParsedChat> parse_chat(std::string_view body, std::size_t max_chars, bool websocket) {
  auto v = parse_object(body);
  if (!v.ok()) return core::fail(std::move(v).error());
  if (websocket) {
    const auto action = core::get_string(*v, "action");
    if (!action || *action != "sendMessage") {
      return core::fail("invalid_action", "expected \"action\": \"sendMessage\"");
    }
  }
  return chat_from(*v, max_chars, websocket);
}

core::Result<WsMessage> parse_ws_message(std::string_view body, std::size_t max_chars) {
  auto v = parse_object(body);
  if (!v.ok()) return core::fail(std::move(v).error());
  const auto action = core::get_string(*v, "action");
  WsMessage m;
  if (action && *action == "sendMessage") {
    auto chat = chat_from(*v, max_chars, true);
    if (!chat.ok()) return core::fail(std::move(chat).error());
    m.chat = std::move(chat).value();
    return m;
  }
  if (!action || *action != "answerLater") {
    return core::fail("invalid_action", "expected \"action\": \"sendMessage\" or \"answerLater\"");
  }
  m.action = WsMessage::Action::kAnswerLater;
  if (auto st = read_request_id(*v, m.later.request_id); !st.ok()) return core::fail(st.error());
  if (auto st = read_session_id(*v, m.later.session_id); !st.ok()) return core::fail(st.error());
  const auto* t = v->get_object().if_contains("ticket");
  if (t == nullptr) return core::fail("missing_field", "\"ticket\" is required");
  if (!t->is_string() || t->get_string().size() > 16 * 1024) {
    return core::fail("invalid_field", "\"ticket\" must be a string of at most 16 KiB");
  }
  m.later.ticket = std::string(t->get_string());
  return m;
}

core::Result<ParsedFeedback> parse_feedback(std::string_view body) {
  if (!core::is_valid_utf8(body)) return core::fail("invalid_utf8", "the body is not valid UTF-8");
  auto v = core::parse_json(body);
  if (!v.ok())
    return core::fail("invalid_json", "the body is not valid JSON: " + v.error().message);
  if (!v->is_object()) return core::fail("invalid_json", "the body must be a JSON object");
  ParsedFeedback p;
  for (const auto& [key, value] : v->get_object()) {
    if (key == "trace_id") {
      const bool ok = value.is_string() && !value.get_string().empty() &&
                      value.get_string().size() <= 64 &&
                      std::all_of(value.get_string().begin(), value.get_string().end(), [](char c) {
                        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                               (c >= 'A' && c <= 'Z') || c == '-';
                      });
      if (!ok) {
        return core::fail("invalid_field",
                          "\"trace_id\" must be a reply's trace id (a string of 1 to 64 letters, "
                          "digits and dashes)");
      }
      p.trace_id = std::string(value.get_string());
    } else if (key == "helpful" || key == "understood") {
      if (!value.is_bool()) {
        return core::fail("invalid_field", "\"" + std::string(key) + "\" must be true or false");
      }
      (key == "helpful" ? p.helpful : p.understood) = value.get_bool();
    } else if (key == "session_id") {
      if (!value.is_string() || value.get_string().size() > 128) {
        return core::fail("invalid_field", "\"session_id\" must be a string of at most 128 bytes");
      }
      p.session_id = std::string(value.get_string());
    } else {
      // Cut at a code point (the error body is JSON, which escapes it).
      const std::string name = core::truncate_utf8(key, 40);
      return core::fail("unknown_field", "unknown field \"" + name +
                                             "\" (feedback takes trace_id, helpful, understood "
                                             "and session_id)");
    }
  }
  if (p.trace_id.empty()) return core::fail("missing_field", "\"trace_id\" is required");
  if (!p.helpful && !p.understood) {
    return core::fail("missing_field", "\"helpful\" or \"understood\" is required");
  }
  return p;
}

}  // namespace ma::server
