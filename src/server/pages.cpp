#include "server/pages.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/text.hpp"
#include "server/server_context.hpp"

namespace ma::server {

namespace http = boost::beast::http;
using fm::Language;

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ieq_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && boost::beast::iequals(s.substr(0, prefix.size()), prefix);
}

// "ja", "ja-JP", "en-US" -> the language; nullopt for any other.
std::optional<Language> language_tag(std::string_view tag) {
  for (auto [name, lang] : {std::pair{"ja", Language::kJa}, std::pair{"en", Language::kEn}}) {
    const std::string_view n = name;
    if (ieq_prefix(tag, n) && (tag.size() == n.size() || tag[n.size()] == '-')) return lang;
  }
  return std::nullopt;
}

std::string_view lang_code(Language l) { return l == Language::kJa ? "ja" : "en"; }

}  // namespace

Language page_language(const Request& req) {
  const std::string_view q = query_param(req.target(), "lang");
  if (q == "ja") return Language::kJa;
  if (q == "en") return Language::kEn;
  auto it = req.find(http::field::accept_language);
  if (it == req.end()) return Language::kEn;
  std::optional<Language> best;
  double best_q = 0;
  std::string_view rest = it->value();
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto semi = item.find(';');
    const std::string_view tag = trim(item.substr(0, semi));
    double weight = 1.0;
    if (semi != std::string_view::npos) {
      const std::string_view param = trim(item.substr(semi + 1));
      if (param.starts_with("q="))
        weight = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
    }
    const auto lang = language_tag(tag);
    if (lang && weight > best_q) {
      best = lang;
      best_q = weight;
    }
  }
  return best.value_or(Language::kEn);
}

std::string action_link(std::string_view url, Language lang, std::string_view store_base_url) {
  if (url.starts_with("https://") || url.starts_with("http://")) return std::string(url);
  // Only a path of this site goes on: "//host" and "/\host" lead a browser to another site,
  // and "javascript:" would run on the chat page. Whatever else a reply carried is dropped.
  if (url.size() < 2 ? url != "/" : url.front() != '/' || url[1] == '/' || url[1] == '\\') {
    return std::string();
  }
  std::string_view base = store_base_url;
  while (base.ends_with('/')) base.remove_suffix(1);
  const auto hash = url.find('#');
  const std::string_view path_query = url.substr(0, hash);
  const std::string_view fragment =
      hash == std::string_view::npos ? std::string_view() : url.substr(hash);
  std::string out = core::str_cat(base, path_query);
  if (query_param(path_query, "lang").empty()) {
    core::str_append(out, path_query.find('?') == std::string_view::npos ? "?" : "&",
                     "lang=", lang_code(lang));
  }
  out += fragment;
  return out;
}

void rewrite_actions(std::vector<assist::Action>& actions, Language lang,
                     std::string_view store_base_url) {
  for (auto& a : actions) a.url = action_link(a.url, lang, store_base_url);
  std::erase_if(actions, [](const assist::Action& a) { return a.url.empty(); });
}

bool wants_status_page(const Request& req, bool admin_listener) {
  if (admin_listener || req.find(http::field::authorization) != req.end()) return false;
  auto it = req.find(http::field::accept);
  if (it == req.end()) return false;
  std::string accept(it->value());
  std::transform(accept.begin(), accept.end(), accept.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return accept.find("text/html") != std::string::npos &&
         accept.find("application/json") == std::string::npos;
}

namespace {

// The words of the pages, in both languages.
struct Words {
  bool ja;
  std::string_view operator()(std::string_view en, std::string_view jp) const {
    return ja ? jp : en;
  }
};

// One page: the shared head, a header with the store's links (in this language) and a
// switch to the other language, then `main`.
std::string page(Language lang, std::string_view title, std::string_view path,
                 std::string_view main) {
  const Words w{lang == Language::kJa};
  const std::string_view code = lang_code(lang);
  const std::string_view other = lang == Language::kJa ? "en" : "ja";
  std::string out;
  out.reserve(main.size() + 1536);
  core::str_append(
      out, "<!doctype html>\n<html lang=\"", code,
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>",
      html_escape(title), " | MangaAssist</title>\n",
      "<link rel=\"stylesheet\" href=\"/pages.css\">\n</head>\n<body>\n"
      "<header><a class=\"brand\" href=\"/?lang=",
      code, "\">MangaAssist</a>\n<nav><a href=\"/store?lang=", code, "\">", w("Store", "ストア"),
      "</a> <a href=\"/orders?lang=", code, "\">", w("Your orders", "注文履歴"),
      "</a> <a href=\"/help?lang=", code, "\">", w("Help", "ヘルプ"),
      "</a> <a href=\"/status?lang=", code, "\">", w("Status", "サービス状況"), "</a> <a lang=\"",
      other, "\" href=\"", html_escape(path), "?lang=", other, "\">",
      lang == Language::kJa ? "English" : "日本語", "</a></nav></header>\n<main>\n<h1>",
      html_escape(title), "</h1>\n", main, "</main>\n</body>\n</html>\n");
  return out;
}

Response html_response(http::status status, std::string body) {
  Response res{status, 11};
  res.set(http::field::server, "mangaassist");
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // Live prices, stock and orders: never kept by a cache.
  res.set(http::field::cache_control, "no-store");
  // Nothing but this server's stylesheet: no scripts, no other site, never framed.
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
          "frame-ancestors 'none'; base-uri 'none'");
  res.set("X-Frame-Options", "DENY");
  // The orders page may carry a token in its URL: never send it on.
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::vary, "Accept-Language");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// The page does not echo the path asked for (docs/security.md: error bodies never do), so
// "not yours" and "does not exist" read the same byte for byte; its language switch leads to
// the help center.
Response not_found_page(Language lang, std::string_view /*path*/, std::string_view message) {
  const Words w{lang == Language::kJa};
  std::string main =
      core::str_cat("<p>", html_escape(message), "</p>\n<p><a href=\"/help?lang=", lang_code(lang),
                    "\">", w("Visit the help center", "ヘルプセンターへ"), "</a></p>\n");
  return html_response(http::status::not_found,
                       page(lang, w("Page not found", "ページが見つかりません"), "/help", main));
}

std::string yen(int v, Language lang) { return html_escape(assist::format_yen(v, lang)); }

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

Response series_page(ServerContext& ctx, Language lang, std::string_view path,
                     std::string_view id) {
  const Words w{lang == Language::kJa};
  const bool ja = lang == Language::kJa;
  const catalog::Catalog& cat = ctx.app.catalog();
  const catalog::Series* s = cat.series(id);
  if (s == nullptr) {
    return not_found_page(lang, path,
                          w("We have no series with this id in our store.",
                            "このIDのシリーズはストアにありません。"));
  }
  const auto now = ctx.app.clock().wall_now();
  std::string main;
  main.reserve(4096 + 160 * static_cast<std::size_t>(s->volumes));
  const std::string& other_title = ja ? s->title_en : s->title_ja;
  if (!other_title.empty() && other_title != s->display_title(ja))
    core::str_append(main, "<p class=\"subtitle\">", html_escape(other_title), "</p>\n");
  main += "<dl class=\"facts\">\n";
  if (!s->authors.empty())
    core::str_append(main, "<dt>", w("Author", "作者"), "</dt><dd>",
                     html_escape(join(s->authors, ja ? "、" : ", ")), "</dd>\n");
  if (!s->genres.empty())
    core::str_append(main, "<dt>", w("Genres", "ジャンル"), "</dt><dd>",
                     html_escape(join(s->genres, ", ")), "</dd>\n");
  if (s->year > 0)
    core::str_append(main, "<dt>", w("Since", "連載開始"), "</dt><dd>", core::Dec(s->year),
                     "</dd>\n");
  core::str_append(main, "<dt>", w("Volumes", "巻数"), "</dt><dd>", core::Dec(s->volumes),
                   "</dd>\n</dl>\n");
  if (const catalog::Sale* sale = cat.active_sale(s->id, now)) {
    core::str_append(main, "<p class=\"sale\">",
                     html_escape(ja && !sale->name_ja.empty() ? sale->name_ja : sale->name), ": ",
                     core::Dec(sale->discount_pct), w("% off", "%オフ"), "</p>\n");
  }
  core::str_append(main, "<table class=\"volumes\">\n<thead><tr><th>", w("Volume", "巻"),
                   "</th><th>", w("Price", "価格"), "</th><th>", w("Stock", "在庫"),
                   "</th></tr></thead>\n<tbody>\n");
  for (int v = 1; v <= s->volumes; ++v) {
    auto p = cat.volume(*s, v);
    if (!p) continue;
    const catalog::Quote q = cat.quote(*p, now);
    core::str_append(main, "<tr id=\"", html_escape(p->id), "\"><td>",
                     ja ? core::str_cat(core::Dec(v), "巻") : core::str_cat("Vol. ", core::Dec(v)),
                     "</td><td class=\"price\">");
    if (q.sale != nullptr && q.price != q.list_price) {
      core::str_append(main, "<strong>", yen(q.price, lang), "</strong> <s>",
                       yen(q.list_price, lang), "</s>");
    } else {
      core::str_append(main, yen(q.price, lang));
    }
    main += "</td><td>";
    if (p->stock > 0) {
      core::str_append(main, ja ? core::str_cat("在庫あり（", core::Dec(p->stock), "点）")
                                : core::str_cat("In stock (", core::Dec(p->stock), ")"));
    } else {
      core::str_append(main, "<span class=\"out\">", w("Out of stock", "在庫切れ"), "</span>");
    }
    main += "</td></tr>\n";
  }
  main += "</tbody>\n</table>\n";
  return html_response(http::status::ok, page(lang, s->display_title(ja), path, main));
}

std::string order_status_text(std::string_view status, Language lang) {
  if (lang == Language::kJa) {
    if (status == "shipped") return "発送済み";
    if (status == "processing") return "準備中";
    if (status == "delivered") return "配達済み";
  }
  return std::string(status);
}

void append_order(std::string& main, const catalog::Catalog& cat, const catalog::Order& o,
                  Language lang) {
  const Words w{lang == Language::kJa};
  const bool ja = lang == Language::kJa;
  core::str_append(main, "<section class=\"order\" id=\"order-", html_escape(o.id), "\">\n<h2>",
                   w("Order #", "注文番号 "), html_escape(o.id),
                   "</h2>\n<dl class=\"facts\">\n<dt>", w("Status", "状況"), "</dt><dd>",
                   html_escape(order_status_text(o.status, lang)), "</dd>\n<dt>",
                   w("Placed", "注文日"), "</dt><dd>", html_escape(o.placed), "</dd>\n");
  if (!o.eta.empty())
    core::str_append(main, "<dt>", w("Delivery", "お届け予定"), "</dt><dd>", html_escape(o.eta),
                     "</dd>\n");
  if (!o.carrier.empty())
    core::str_append(main, "<dt>", w("Carrier", "配送業者"), "</dt><dd>", html_escape(o.carrier),
                     "</dd>\n");
  if (!o.tracking.empty())
    core::str_append(main, "<dt>", w("Tracking", "お問い合わせ番号"), "</dt><dd>",
                     html_escape(o.tracking), "</dd>\n");
  main += "</dl>\n<ul>\n";
  for (const auto& line : o.lines) {
    std::string name = line.product_id;
    std::string href;
    if (auto p = cat.product(line.product_id)) {
      if (const catalog::Series* s = cat.series(p->series_id)) {
        name = ja ? core::str_cat(s->display_title(true), " ", core::Dec(p->volume), "巻")
                  : core::str_cat(s->display_title(false), " vol. ", core::Dec(p->volume));
        href = core::str_cat("/series/", s->id, "?lang=", lang_code(lang));
      }
    }
    main += "<li>";
    if (!href.empty()) {
      core::str_append(main, "<a href=\"", html_escape(href), "\">", html_escape(name), "</a>");
    } else {
      main += html_escape(name);
    }
    core::str_append(main, " × ", core::Dec(line.qty), "</li>\n");
  }
  main += "</ul>\n</section>\n";
}

Response orders_page(ServerContext& ctx, const Request& req, Language lang, std::string_view path,
                     std::string_view order_id) {
  const Words w{lang == Language::kJa};
  const std::string_view title = w("Your orders", "注文履歴");
  // Who is asking: a verified token only (header, ?token= from a link, or the ma_user cookie
  // the chat page's sign-in set). Any other query parameter (?user=..., ?user_id=...) names
  // nobody.
  auto user = ctx.user_of(req, true);
  if (!user.ok()) {
    auto res = html_response(
        http::status::unauthorized,
        page(lang, title, path,
             core::str_cat("<p class=\"signin\">",
                           w("Your sign-in has expired or is not valid. Please sign in again to "
                             "see your orders.",
                             "ログインの有効期限が切れたか、無効です。注文履歴を見るにはもう一度"
                             "ログインしてください。"),
                           "</p>\n")));
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  if (!*user) {
    return html_response(http::status::ok,
                         page(lang, title, path,
                              core::str_cat("<p class=\"signin\">",
                                            w("Please sign in to see your orders.",
                                              "注文履歴を見るにはログインしてください。"),
                                            "</p>\n")));
  }
  const catalog::Catalog& cat = ctx.app.catalog();
  std::string main = core::str_cat("<p>", w("Signed in as ", "ログイン中: "),
                                   html_escape((*user)->name), "</p>\n");
  if (!order_id.empty()) {
    auto o = cat.order(order_id);
    // Someone else's order reads exactly like one that does not exist.
    if (!o || o->user_id != (*user)->id) {
      return not_found_page(lang, path,
                            w("There is no order with this number in your account.",
                              "この番号の注文はお客様のアカウントにありません。"));
    }
    append_order(main, cat, *o, lang);
    core::str_append(main, "<p><a href=\"/orders?lang=", lang_code(lang), "\">",
                     w("All your orders", "すべての注文"), "</a></p>\n");
    return html_response(http::status::ok, page(lang, title, path, main));
  }
  const auto orders = cat.accounts().orders_of((*user)->id);
  if (orders.empty()) {
    core::str_append(main, "<p>", w("You have no orders yet.", "注文はまだありません。"), "</p>\n");
  }
  for (const auto& o : orders) append_order(main, cat, o, lang);
  return html_response(http::status::ok, page(lang, title, path, main));
}

std::string faq_heading(const catalog::FaqEntry& e, Language lang) {
  struct Name {
    std::string_view id, en, ja;
  };
  static constexpr Name kNames[] = {{"shipping", "Shipping", "送料・配送"},
                                    {"returns", "Returns", "返品"},
                                    {"payment", "Payment", "お支払い"},
                                    {"cancel", "Cancelling an order", "注文のキャンセル"},
                                    {"preorder", "Pre-orders", "予約注文"}};
  for (const auto& n : kNames) {
    if (n.id == e.id) return std::string(lang == Language::kJa ? n.ja : n.en);
  }
  return e.id;
}

void append_faq(std::string& main, const catalog::FaqEntry& e, Language lang) {
  core::str_append(main, "<section class=\"faq\" id=\"", html_escape(e.id), "\">\n<h2>",
                   html_escape(faq_heading(e, lang)), "</h2>\n<p>",
                   html_escape(lang == Language::kJa ? e.ja : e.en), "</p>\n</section>\n");
}

Response help_page(ServerContext& ctx, Language lang, std::string_view path,
                   std::string_view topic_path, bool support) {
  const Words w{lang == Language::kJa};
  const auto& faq = ctx.app.catalog().faq();
  std::string main;
  if (!topic_path.empty()) {
    auto it = std::find_if(faq.begin(), faq.end(),
                           [&](const catalog::FaqEntry& e) { return e.url == topic_path; });
    if (it == faq.end()) {
      return not_found_page(
          lang, path,
          w("The help center has no such topic.", "ヘルプセンターにこのトピックはありません。"));
    }
    append_faq(main, *it, lang);
    core::str_append(main, "<p><a href=\"/help?lang=", lang_code(lang), "\">",
                     w("All help topics", "ヘルプのトピック一覧"), "</a></p>\n");
    return html_response(http::status::ok,
                         page(lang, w("Help center", "ヘルプセンター"), path, main));
  }
  main += "<nav class=\"topics\"><ul>\n";
  for (const auto& e : faq) {
    core::str_append(main, "<li><a href=\"#", html_escape(e.id), "\">",
                     html_escape(faq_heading(e, lang)), "</a></li>\n");
  }
  main += "</ul></nav>\n";
  for (const auto& e : faq) append_faq(main, e, lang);
  core::str_append(main, "<section id=\"support\">\n<h2>", w("Contact support", "サポートに連絡"),
                   "</h2>\n<p>",
                   w("If your question is not answered here, our support team can help. Have "
                     "your order number ready.",
                     "ここで解決しない場合は、サポートチームがお手伝いします。注文番号をご用意"
                     "ください。"),
                   "</p>\n</section>\n");
  return html_response(http::status::ok, page(lang,
                                              support ? w("Contact support", "サポートに連絡")
                                                      : w("Help center", "ヘルプセンター"),
                                              path, main));
}

Response series_list_page(ServerContext& ctx, Language lang, std::string_view path, bool ranking) {
  const Words w{lang == Language::kJa};
  const bool ja = lang == Language::kJa;
  constexpr std::size_t kShown = 30;
  std::string main = "<ol class=\"series\">\n";
  const auto& all = ctx.app.catalog().all_series();
  for (std::size_t i = 0; i < std::min(kShown, all.size()); ++i) {
    const auto& s = all[i];
    core::str_append(main, "<li><a href=\"/series/", html_escape(s.id), "?lang=", lang_code(lang),
                     "\">", html_escape(s.display_title(ja)), "</a></li>\n");
  }
  main += "</ol>\n";
  return html_response(
      http::status::ok,
      page(lang, ranking ? w("Best sellers", "人気ランキング") : w("Store", "ストア"), path, main));
}

Response status_page(ServerContext& ctx, Language lang, std::string_view path) {
  const Words w{lang == Language::kJa};
  // Only public facts: the state, the ETA and a note. Not the models, breakers, spend,
  // flags or limits (those are /status's JSON, for operators).
  const assist::ServiceStatus st = ctx.app.pipeline().status();
  const auto [label, note] = public_status_words(st.state, lang);
  std::string main = core::str_cat("<p class=\"state state-", html_escape(st.state),
                                   "\" data-state=\"", html_escape(st.state), "\">",
                                   w("Assistant: ", "アシスタント: "), label, "</p>\n");
  if (st.eta) {
    const auto secs = static_cast<long long>(std::ceil(core::to_seconds(*st.eta)));
    const long long mins = (secs + 59) / 60;
    core::str_append(main, "<p class=\"eta\">",
                     lang == Language::kJa
                         ? core::str_cat("復旧見込み: 約", core::Dec(mins), "分後")
                         : core::str_cat("Expected back in about ", core::Dec(mins),
                                         mins == 1 ? " minute" : " minutes"),
                     "</p>\n");
  }
  if (!note.empty()) core::str_append(main, "<p class=\"note\">", note, "</p>\n");
  auto res =
      html_response(http::status::ok, page(lang, w("Service status", "サービス状況"), path, main));
  res.set(http::field::vary, "Accept, Accept-Language, Authorization");
  return res;
}

}  // namespace

StatusWords public_status_words(std::string_view state, Language lang) {
  const Words w{lang == Language::kJa};
  if (state == "normal") return {w("Normal", "通常"), {}};
  if (state == "degraded") {
    return {w("Degraded", "一部制限中"),
            w("Some answers come from our backup assistant or from saved answers. Prices and "
              "stock on the store pages are always live.",
              "一部の回答は予備のアシスタントまたは保存済みの回答からお届けしています。"
              "ストアページの価格と在庫は常に最新です。")};
  }
  if (state == "down") {
    return {w("Down", "停止中"),
            w("The assistant cannot write answers right now. The store, your orders and the "
              "help center work as usual.",
              "アシスタントは現在回答を作成できません。ストア、注文履歴、ヘルプセンターは通常どおり"
              "ご利用いただけます。")};
  }
  return {w("Limited", "機能制限中"),
          w("The assistant answers from saved answers and live store data only for now.",
            "アシスタントは現在、保存済みの回答とストアの最新データのみでお答えしています。")};
}

std::optional<Response> page_response(ServerContext& ctx, const Request& req,
                                      std::string_view path) {
  if (path == "/pages.css") {
    if (ctx.pages_css.empty()) return std::nullopt;
    Response res{http::status::ok, 11};
    res.set(http::field::server, "mangaassist");
    res.set(http::field::content_type, "text/css; charset=utf-8");
    res.set(http::field::cache_control, "max-age=300");
    res.body() = ctx.pages_css;
    res.prepare_payload();
    return res;
  }
  const Language lang = page_language(req);
  if (path.starts_with("/series/")) return series_page(ctx, lang, path, path.substr(8));
  if (path == "/orders" || path == "/orders/") return orders_page(ctx, req, lang, "/orders", {});
  if (path.starts_with("/orders/")) return orders_page(ctx, req, lang, path, path.substr(8));
  if (path == "/help" || path == "/help/") return help_page(ctx, lang, "/help", {}, false);
  if (path.starts_with("/help/")) return help_page(ctx, lang, path, path, false);
  if (path == "/support") return help_page(ctx, lang, path, {}, true);
  if (path == "/store") return series_list_page(ctx, lang, path, false);
  if (path == "/ranking") return series_list_page(ctx, lang, path, true);
  if (path == "/status") return status_page(ctx, lang, path);
  return std::nullopt;
}

}  // namespace ma::server
