#include "assist/degradation.hpp"

#include <cmath>

namespace ma::assist {

using fm::Language;

namespace {

// The seed's original message, reproduced for v1 replays only. It is the cause of
// incident 5 and must never be the default.
// clang-format off
constexpr std::string_view kV1MessageEn = "I'm having trouble right now. Please try again in a few moments.";
constexpr std::string_view kV1MessageJa = "現在問題が発生しています。しばらくしてからもう一度お試しください。";
// clang-format on

std::string topic(const Retrieved& r) {
  const bool ja = r.u->lang == Language::kJa;
  const auto* s = r.u->series;
  switch (r.u->intent) {
    case Intent::kOrderStatus:
      if (r.u->order_id)
        return ja ? "ご注文 #" + *r.u->order_id + " について"
                  : "your question about order #" + *r.u->order_id;
      return ja ? "ご注文について" : "your question about your order";
    case Intent::kPricing:
      if (s)
        return ja ? "『" + s->display_title(true) + "』の価格について"
                  : "your question about the price of " + s->display_title(false);
      return ja ? "価格について" : "your question about prices";
    case Intent::kAvailability:
      if (s)
        return ja ? "『" + s->display_title(true) + "』の在庫について"
                  : "your question about " + s->display_title(false) + " stock";
      return ja ? "在庫について" : "your question about stock";
    case Intent::kRecommendation:
      return ja ? "おすすめについて" : "your request for recommendations";
    case Intent::kFaq:
      return ja ? "ご質問について" : "your question";
    case Intent::kGeneral:
      break;
  }
  return ja ? "ご質問について" : "your question";
}

std::string eta_text(std::optional<core::Duration> eta, Language lang) {
  if (!eta) {
    return lang == Language::kJa
               ? "復旧時刻はまだわかりません。状況はステータスページでお知らせします。"
               : "We don't have a recovery time yet; the status page has updates.";
  }
  const auto s = std::max<long long>(1, std::llround(core::to_seconds(*eta)));
  if (lang == Language::kJa) {
    return s < 90 ? "約" + std::to_string(s) + "秒で復旧する見込みです。"
                  : "約" + std::to_string((s + 59) / 60) + "分で復旧する見込みです。";
  }
  return s < 90 ? "We expect it back in about " + std::to_string(s) + " seconds."
                : "We expect it back in about " + std::to_string((s + 59) / 60) + " minutes.";
}

}  // namespace

namespace {

// v3's ETA: shorter, status-first.
std::string eta_text_v3(std::optional<core::Duration> eta, Language lang) {
  if (!eta) {
    return lang == Language::kJa ? "復旧時刻は未定です。状況はステータスページでお知らせします。"
                                 : "No recovery time yet; the status page has updates.";
  }
  const auto s = std::max<long long>(1, std::llround(core::to_seconds(*eta)));
  if (lang == Language::kJa) {
    return s < 90 ? "約" + std::to_string(s) + "秒で復旧の見込みです。"
                  : "約" + std::to_string((s + 59) / 60) + "分で復旧の見込みです。";
  }
  return s < 90 ? "Expected back in about " + std::to_string(s) + " seconds."
                : "Expected back in about " + std::to_string((s + 59) / 60) + " minutes.";
}

// The links that help without the assistant, by intent, into `d.actions`; returns the
// sentence that points at them (v2's, or v3's shorter one).
std::string intent_links(const Retrieved& r, bool short_form, Degraded& d) {
  const bool ja = r.u->lang == Language::kJa;
  std::string hint;
  d.actions = r.actions;
  switch (r.u->intent) {
    case Intent::kOrderStatus:
      if (!r.order && r.u->order_id) {
        d.actions.insert(d.actions.begin(),
                         {ja ? "注文履歴で確認する" : "Check your orders", "/orders"});
      }
      if (short_form) {
        hint = ja ? " 配送状況は注文履歴ページでご確認いただけます。"
                  : " Your order page shows the live delivery status.";
      } else {
        hint = ja ? " 注文履歴ページでは配送状況をいつでも確認できます。"
                  : " Your order page always shows the live delivery status.";
      }
      break;
    case Intent::kPricing:
    case Intent::kAvailability:
      if (short_form) {
        hint = ja ? " 価格と在庫は商品ページでご確認いただけます。"
                  : " The store page shows prices and stock.";
      } else {
        hint = ja ? " 最新の価格と在庫は商品ページでご確認いただけます。"
                  : " The store page shows current prices and stock.";
      }
      if (r.u->series == nullptr)
        d.actions.push_back({ja ? "ストアを見る" : "Browse the store", "/store"});
      break;
    case Intent::kRecommendation:
      d.actions.push_back({ja ? "人気ランキング" : "Best sellers", "/ranking"});
      break;
    default:
      d.actions.push_back({ja ? "ヘルプセンター" : "Help center", "/help"});
      break;
  }
  d.actions.push_back({ja ? "サポートに連絡" : "Contact support", "/support"});
  d.actions.push_back({ja ? "サービス状況" : "Service status", "/status"});
  return hint;
}

}  // namespace

std::string_view to_string(DegradationVersion v) {
  switch (v) {
    case DegradationVersion::kV1:
      return "v1";
    case DegradationVersion::kV2:
      return "v2";
    case DegradationVersion::kV3:
      return "v3";
  }
  return "v2";
}

std::optional<DegradationVersion> parse_degradation_version(std::string_view s) {
  if (s == "v1") return DegradationVersion::kV1;
  if (s == "v2") return DegradationVersion::kV2;
  if (s == "v3") return DegradationVersion::kV3;
  return std::nullopt;
}

DegradationVersion shown_version(DegradationVersion flag,
                                 std::optional<DegradationVersion> assigned) {
  if (flag == DegradationVersion::kV1) return flag;  // an incident replay wins
  return assigned.value_or(flag);
}

Degraded degraded_reply(const Retrieved& r, std::optional<core::Duration> eta,
                        DegradationVersion version) {
  const bool ja = r.u->lang == Language::kJa;
  Degraded d;
  d.retry_after_s = eta ? static_cast<int>(std::ceil(core::to_seconds(*eta))) : 30;
  if (version == DegradationVersion::kV1) {
    d.text = std::string(ja ? kV1MessageJa : kV1MessageEn);
    return d;
  }
  if (version == DegradationVersion::kV3) {
    // Status first, then the ETA, then where to go meanwhile.
    if (ja) {
      d.text = "アシスタントは機能制限中のため、" + topic(r) + "は今すぐにはお答えできません。" +
               eta_text_v3(eta, r.u->lang);
    } else {
      d.text = "Our assistant is running in a limited mode, so it can't answer " + topic(r) +
               " right now. " + eta_text_v3(eta, r.u->lang);
    }
    d.text += intent_links(r, true, d);
    return d;
  }
  if (ja) {
    d.text = topic(r) +
             "、アシスタントは現在一部の機能が制限されているため、すぐにはお答えできません。" +
             eta_text(eta, r.u->lang);
  } else {
    std::string t = topic(r);
    t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
    d.text = t +
             " needs our assistant, which is running in a limited mode right now, so I "
             "can't answer it fully at the moment. " +
             eta_text(eta, r.u->lang);
  }
  d.text += intent_links(r, false, d);
  return d;
}

Degraded high_demand_reply(Language lang, std::optional<core::Duration> eta) {
  Degraded d;
  d.retry_after_s = eta ? static_cast<int>(std::ceil(core::to_seconds(*eta))) : 60;
  if (lang == Language::kJa) {
    d.text =
        "ただいまアクセスが集中しており、アシスタントの応答を待つ時間が上限に達しました。"
        "ご質問は受け付けましたが、回答を作成できませんでした。" +
        eta_text(eta, lang) +
        " ストアの検索、注文履歴、ヘルプセンターは通常どおりご利用いただけます。";
  } else {
    d.text =
        "We are seeing very high demand right now, and your question waited longer than "
        "we allow without getting an answer. " +
        eta_text(eta, lang) + " Store search, your order page and the help center work as usual.";
  }
  const bool ja = lang == Language::kJa;
  d.actions = {{ja ? "ストアを検索" : "Search the store", "/store"},
               {ja ? "注文履歴" : "Your orders", "/orders"},
               {ja ? "ヘルプセンター" : "Help center", "/help"},
               {ja ? "サービス状況" : "Service status", "/status"}};
  return d;
}

}  // namespace ma::assist
