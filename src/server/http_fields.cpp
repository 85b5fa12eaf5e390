#include "server/http_fields.hpp"

#include "core/text.hpp"

namespace ma::server {

namespace beast = boost::beast;
namespace http = beast::http;

std::string_view bearer(const Request& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  if (v.size() < 7 || !beast::iequals(v.substr(0, 7), "bearer ")) return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v;
}

std::string_view cookie(const Request& req, std::string_view name) {
  for (auto [it, end] = req.equal_range(http::field::cookie); it != end; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      const auto semi = v.find(';');
      std::string_view pair = v.substr(0, semi);
      v = semi == std::string_view::npos ? std::string_view() : v.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
          pair[name.size()] == '=')
        return pair.substr(name.size() + 1);
    }
  }
  return {};
}

std::string_view query_param(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
  }
  return {};
}

std::string session_cookie(std::string_view session) {
  // HttpOnly: the page never reads it; SameSite=Lax: not sent by other sites' requests.
  return core::str_cat(kSessionCookie, "=", session,
                       "; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax");
}

std::string user_cookie(std::string_view token, bool secure) {
  // No Max-Age: gone when the browser closes; the token's own expiry still holds.
  return core::str_cat(kUserCookie, "=", token, "; Path=/; HttpOnly; SameSite=Lax",
                       secure ? "; Secure" : "");
}

std::string clear_user_cookie() {
  return core::str_cat(kUserCookie, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

UserToken user_token(const Request& req, bool query) {
  if (auto b = bearer(req); !b.empty()) return {b, false};
  if (query) {
    if (auto q = query_param(req.target(), "token"); !q.empty()) return {q, false};
  }
  return {cookie(req, kUserCookie), true};
}

}  // namespace ma::server
