#pragma once
// The pages behind the links of a reply (issue 22): server-rendered HTML, in Japanese or
// English, from the same catalog, accounts and status the assistant uses.
//
//   GET /series/{id}     the series: title, credits, every volume's live price and stock
//   GET /orders          the signed-in user's orders (nobody else's)
//   GET /orders/{id}     one of them (404 for an order that is not the user's own)
//   GET /help[/{topic}]  the help center (the FAQ), or one entry of it
//   GET /support         the help center, opened at "contact support"
//   GET /store, /ranking the series in popularity order
//   GET /status          the public status page, for a browser (content negotiation: see
//                        wants_status_page)
//   GET /pages.css       their stylesheet (web/pages.css)
//
// Language: `?lang=ja|en` on the link (the server adds it to every action of a reply: see
// action_link), else the Accept-Language header's preferred of ja and en, else English.
// Identity (/orders only): the bearer token of POST /v1/chat, or -- browsers following a link
// cannot set headers -- the same signed token as `?token=` (as for /v1/ws). Nothing else in
// the request names a user: a user id in the query string selects nothing.
//
// Every value from the catalog or the request is HTML-escaped. The pages make no request to
// any other site (Content-Security-Policy: default-src 'none', the stylesheet from 'self').
// Thread safety: the renderers are pure; page_response is safe from any worker thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "assist/retrieval.hpp"
#include "fm/model_provider.hpp"
#include "server/http_fields.hpp"

namespace ma::server {

class ServerContext;

// `s` with & < > " ' escaped for HTML text and attribute values.
std::string html_escape(std::string_view s);

// The page language: ?lang=ja|en, else the Accept-Language header's preference between ja
// and en (q-values honoured, the first listed on a tie), else English.
fm::Language page_language(const Request& req);

// The URL a reply's action shows: a site-relative `url` ("/series/mg-0004") gets
// `lang=ja|en` added to its query and, when `store_base_url` is set, goes under it
// ("https://store.example.jp/series/mg-0004?lang=ja"). An http(s) URL is returned as it is;
// anything else ("//host", "/\\host", "javascript:...") is "": rewrite_actions drops it.
std::string action_link(std::string_view url, fm::Language lang, std::string_view store_base_url);
void rewrite_actions(std::vector<assist::Action>& actions, fm::Language lang,
                     std::string_view store_base_url);

// GET /status answers the public page rather than the operators' JSON when the request comes
// to the main port without any Authorization header and its Accept header names text/html
// but not application/json (a browser following the "Service status" link). Everything else
// -- curl, Prometheus, fetch(), any request with a token, the admin port -- gets /status as
// it always was, token rules included.
// NOTE: negotiation rather than a second URL, so that the link every reply has carried since
// v1 ("/status") opens a page, and the operators' URL and its tests stay exactly as they are.
bool wants_status_page(const Request& req, bool admin_listener);

// The public status page's words for a state (normal | degraded | down | limited): its label
// and a one-line note ("" for normal), in `lang`. Shared by the page and the WebSocket's
// status frame (later.hpp), so both say the same.
struct StatusWords {
  std::string_view label;
  std::string_view note;
};
StatusWords public_status_words(std::string_view state, fm::Language lang);

// The page for `path` (the target without its query), or nullopt when `path` is not a page.
std::optional<Response> page_response(ServerContext& ctx, const Request& req,
                                      std::string_view path);

}  // namespace ma::server
