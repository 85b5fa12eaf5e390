#pragma once
// What the server reads from a request's headers and target: the bearer token, a cookie, a
// query parameter, and the anonymous-session cookie it sets. Pure functions over the
// request; no state, no I/O; thread-safe.

#include <boost/beast/http.hpp>
#include <string>
#include <string_view>

namespace ma::server {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// "Bearer <token>" (the scheme in any case, RFC 9110) -> token; empty when absent or
// malformed. The view points into `req`.
std::string_view bearer(const Request& req);

// The value of cookie `name`, or empty. The view points into `req`.
std::string_view cookie(const Request& req, std::string_view name);

// The query parameter `name` of a target ("/v1/ws?token=...&x=1"), undecoded: the values the
// server reads there (tokens) use no characters that need escaping.
std::string_view query_param(std::string_view target, std::string_view name);

// The cookie that carries an anonymous visitor's session (server/identity.hpp).
inline constexpr std::string_view kSessionCookie = "ma_session";

// The Set-Cookie value that hands `session` to the browser.
std::string session_cookie(std::string_view session);

// The cookie that keeps a signed-in visitor's user token (POST /v1/signin): HttpOnly, so the
// page never holds the token after signing in and no URL ever carries it.
inline constexpr std::string_view kUserCookie = "ma_user";
// Set-Cookie values that hand `token` to the browser (for the browser's session only) and
// that remove it.
// `secure`: the page that signed in was served over https (the cookie then never travels
// over plain http).
std::string user_cookie(std::string_view token, bool secure);
std::string clear_user_cookie();

// Where a request's user token is, in order: the bearer token, then (`query`: for a WebSocket
// handshake and the pages, which a link or `new WebSocket` cannot give a header) `?token=`,
// then the ma_user cookie. `from_cookie` tells which: a stale cookie is not an error.
struct UserToken {
  std::string_view token;
  bool from_cookie = false;
};
UserToken user_token(const Request& req, bool query);

}  // namespace ma::server
