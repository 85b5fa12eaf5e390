#include "assist/retrieval.hpp"

#include <array>

#include "core/text.hpp"

namespace ma::assist {

using catalog::Series;
using fm::Language;

namespace {

// "¥1,320" / "1,320円", appended.
void append_yen(std::string& out, int yen, Language lang) {
  const core::Dec dec(yen);
  std::string_view digits = dec.view();
  std::array<char, 32> buf;
  std::size_t n = 0;
  if (digits.front() == '-') {
    buf[n++] = '-';
    digits.remove_prefix(1);
  }
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) buf[n++] = ',';
    buf[n++] = digits[i];
  }
  const std::string_view grouped(buf.data(), n);
  if (lang == Language::kJa) {
    core::str_append(out, grouped, "円");
  } else {
    core::str_append(out, "¥", grouped);
  }
}

std::string series_url(const Series& s) { return core::str_cat("/series/", s.id); }

std::string status_text(std::string_view status, Language lang) {
  if (lang == Language::kJa) {
    if (status == "shipped") return "発送済み";
    if (status == "processing") return "準備中";
    if (status == "delivered") return "配達済み";
    return std::string(status);
  }
  return std::string(status);
}

void price_facts(Retrieved& r, const catalog::Catalog& cat, const Series& s, int volume,
                 core::WallTime now) {
  const bool ja = r.u->lang == Language::kJa;
  auto p = cat.volume(s, volume);
  if (!p) return;
  const auto q = cat.quote(*p, now);
  r.product_ids.push_back(p->id);
  r.product = std::move(p);
  r.quote = q;
  const std::string& title = s.display_title(ja);
  std::string& line = r.facts.lines.emplace_back();
  line.reserve(160);
  if (ja) {
    core::str_append(line, title, " ", core::Dec(volume), "巻は");
    append_yen(line, q.price, r.u->lang);
    line += "（税込）です。";
    if (q.sale != nullptr) {
      core::str_append(line, "ただいま", q.sale->name_ja.empty() ? q.sale->name : q.sale->name_ja,
                       "で", core::Dec(q.sale->discount_pct), "%オフ（通常");
      append_yen(line, q.list_price, r.u->lang);
      line += "）。";
    }
  } else {
    core::str_append(line, title, " volume ", core::Dec(volume), " is ");
    append_yen(line, q.price, r.u->lang);
    line += " (tax included).";
    if (q.sale != nullptr) {
      core::str_append(line, " That is ", core::Dec(q.sale->discount_pct), "% off the usual ");
      append_yen(line, q.list_price, r.u->lang);
      core::str_append(line, " in our ", q.sale->name, ".");
    }
  }
}

void stock_fact(Retrieved& r, const catalog::Product& p, const Series& s) {
  const bool ja = r.u->lang == Language::kJa;
  const std::string& title = s.display_title(ja);
  const core::Dec volume(p.volume), stock(p.stock);
  if (ja) {
    r.facts.lines.push_back(
        p.stock > 0
            ? core::str_cat(title, " ", volume, "巻は在庫があります（残り", stock, "冊）。")
            : core::str_cat(title, " ", volume, "巻は現在在庫切れです。入荷通知を設定できます。"));
  } else {
    r.facts.lines.push_back(
        p.stock > 0 ? core::str_cat(title, " volume ", volume, " is in stock (", stock, " left).")
                    : core::str_cat(title, " volume ", volume,
                                    " is out of stock right now; you can ask to be notified "
                                    "when it is back."));
  }
}

}  // namespace

std::string format_yen(int yen, Language lang) {
  std::string out;
  append_yen(out, yen, lang);
  return out;
}

Retrieved retrieve(const Understanding& u, const std::optional<catalog::User>& user,
                   const catalog::Catalog& cat, core::WallTime now) {
  Retrieved r;
  r.u = &u;
  const bool ja = u.lang == Language::kJa;
  const Series* s = u.series;

  switch (u.intent) {
    case Intent::kPricing:
    case Intent::kAvailability: {
      if (s == nullptr) break;
      // Without a volume, talk about the latest one.
      const int vol = u.volume.value_or(s->volumes);
      if (u.volume && (*u.volume < 1 || *u.volume > s->volumes)) {
        r.facts.lines.push_back(ja ? s->display_title(true) + "は" + std::to_string(s->volumes) +
                                         "巻まで発売されています。"
                                   : s->display_title(false) + " has " +
                                         std::to_string(s->volumes) + " volumes so far.");
        r.answerable = true;
        break;
      }
      price_facts(r, cat, *s, vol, now);
      if (r.product) stock_fact(r, *r.product, *s);
      if (u.intent == Intent::kAvailability && r.facts.lines.size() == 2) {
        std::swap(r.facts.lines[0], r.facts.lines[1]);  // stock first
      }
      r.answerable = r.product.has_value();
      break;
    }
    case Intent::kOrderStatus: {
      if (!u.order_id) {
        r.facts.lines.push_back(
            ja ? "注文番号（例: #12345）を教えていただければ、配送状況をお調べします。"
               : "Tell me your order number (like #12345) and I will look it up.");
        r.answerable = true;
        break;
      }
      auto o = cat.order(*u.order_id);
      // An order is only shown to its owner; anyone else learns nothing about it, not even
      // whether it exists.
      if (!o || !user || o->user_id != user->id) {
        r.order_hidden = true;
        r.facts.lines.push_back(
            ja ? "注文 #" + *u.order_id +
                     " はお客様のアカウントでは見つかりませんでした。ログインしているアカウントをご"
                     "確認ください。"
               : "I couldn't find order #" + *u.order_id +
                     " on your account. Please check that you are signed in with the account "
                     "that placed it.");
        r.answerable = true;
        break;
      }
      r.order = o;
      std::string items;
      for (const auto& l : o->lines) {
        auto p = cat.product(l.product_id);
        const Series* ls = p ? cat.series(p->series_id) : nullptr;
        if (!items.empty()) items += ja ? "、" : ", ";
        items += ls ? ls->display_title(ja) + (ja ? " " + std::to_string(p->volume) + "巻"
                                                  : " vol. " + std::to_string(p->volume))
                    : l.product_id;
        if (l.qty > 1) items += " x" + std::to_string(l.qty);
      }
      std::string line;
      if (ja) {
        line =
            "ご注文 #" + o->id + "（" + items + "）は" + status_text(o->status, u.lang) + "です。";
        if (!o->carrier.empty()) line += o->carrier + "、追跡番号 " + o->tracking + "。";
        if (!o->eta.empty() && o->status != "delivered")
          line += "お届け予定日は" + o->eta + "です。";
      } else {
        line =
            "Your order #" + o->id + " (" + items + ") is " + status_text(o->status, u.lang) + ".";
        if (!o->carrier.empty())
          line += " Carrier: " + o->carrier + ", tracking " + o->tracking + ".";
        if (!o->eta.empty() && o->status != "delivered")
          line += " Expected delivery: " + o->eta + ".";
      }
      r.facts.lines.push_back(line);
      r.answerable = true;
      break;
    }
    case Intent::kRecommendation: {
      r.recommendations = s != nullptr ? cat.similar(*s, 3) : cat.popular_in_genre("", 3);
      if (r.recommendations.empty()) break;
      std::string names;
      for (const Series* x : r.recommendations) {
        if (!names.empty()) names += ja ? "、" : ", ";
        if (ja) {
          core::str_append(names, "『", x->display_title(true), "』");
        } else {
          names += x->display_title(false);
        }
      }
      if (ja) {
        r.facts.lines.push_back(s != nullptr
                                    ? core::str_cat("『", s->display_title(true),
                                                    "』がお好きなら、", names, "もおすすめです。")
                                    : core::str_cat("いま人気のシリーズは", names, "です。"));
      } else {
        r.facts.lines.push_back(s != nullptr
                                    ? core::str_cat("If you like ", s->display_title(false),
                                                    ", you may enjoy ", names, ".")
                                    : core::str_cat("Popular right now: ", names, "."));
      }
      r.answerable = true;
      break;
    }
    case Intent::kFaq:
      if (u.faq != nullptr) {
        r.facts.lines.push_back(ja ? u.faq->ja : u.faq->en);
        r.answerable = true;
      }
      break;
    case Intent::kGeneral:
      if (s != nullptr) {
        r.facts.lines.push_back(ja ? core::str_cat("『", s->display_title(true), "』は",
                                                   core::Dec(s->volumes), "巻まで発売中です。")
                                   : core::str_cat(s->display_title(false), " has ",
                                                   core::Dec(s->volumes),
                                                   " volumes in our store."));
        r.answerable = true;
      }
      break;
  }

  // Actions: where the user can go next, by intent.
  if (r.order) {
    r.actions.push_back({ja ? "配送状況を見る" : "Track your order", "/orders/" + r.order->id});
  } else if (u.intent == Intent::kOrderStatus) {
    r.actions.push_back({ja ? "注文履歴" : "Your orders", "/orders"});
  }
  if (s != nullptr) {
    r.actions.push_back({ja ? core::str_cat(s->display_title(true), "の商品ページ")
                            : core::str_cat(s->display_title(false), " in the store"),
                         series_url(*s)});
  }
  for (const Series* x : r.recommendations) {
    r.actions.push_back({x->display_title(ja), series_url(*x)});
  }
  if (u.faq != nullptr) r.actions.push_back({ja ? "ヘルプ" : "Help page", u.faq->url});

  std::size_t draft_size = r.facts.lines.size();
  for (const auto& l : r.facts.lines) draft_size += l.size();
  r.facts.draft.reserve(draft_size);
  for (const auto& l : r.facts.lines) {
    if (!r.facts.draft.empty() && !ja) r.facts.draft += ' ';
    r.facts.draft += l;
  }
  return r;
}

}  // namespace ma::assist
