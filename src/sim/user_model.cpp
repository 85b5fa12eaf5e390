#include "sim/user_model.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace ma::sim {

namespace {

// ASCII letters lowered; every other byte as it is (UTF-8 stays UTF-8).
std::string lower_ascii(std::string_view s) {
  std::string o(s);
  for (char& c : o) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return o;
}

bool has_any(std::string_view text, std::initializer_list<std::string_view> words) {
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return text.find(w) != std::string_view::npos; });
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The first "<number> <unit>" in the (lowered) text, in seconds.
std::optional<double> find_eta(std::string_view t) {
  struct Unit {
    std::string_view word;
    double seconds;
  };
  // Longer words first where one starts another ("minutes" before "min").
  static constexpr Unit kUnits[] = {{"seconds", 1},  {"second", 1},  {"secs", 1},  {"sec", 1},
                                    {"minutes", 60}, {"minute", 60}, {"mins", 60}, {"min", 60},
                                    {"hours", 3600}, {"hour", 3600}, {"秒", 1},    {"分", 60},
                                    {"時間", 3600}};
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!is_digit(t[i]) || (i > 0 && is_digit(t[i - 1]))) continue;
    std::size_t j = i;
    double n = 0;
    while (j < t.size() && is_digit(t[j])) n = n * 10 + (t[j++] - '0');
    while (j < t.size() && t[j] == ' ') ++j;
    const std::string_view rest = t.substr(j);
    for (const Unit& u : kUnits) {
      if (rest.starts_with(u.word)) return n * u.seconds;
    }
  }
  return std::nullopt;
}

}  // namespace

ReplyReading read_reply(std::string_view text, std::span<const assist::Action> actions,
                        std::span<const std::string> topic_words) {
  const std::string t = lower_ascii(text);
  ReplyReading r;
  r.invites_retry = has_any(t, {"try again", "try asking again", "retry", "resend", "send it again",
                                "ask again", "再度", "もう一度", "再送", "やり直", "改めて"});
  r.status = has_any(t, {"status page", "service status", "ステータス", "サービス状況"}) ||
             std::any_of(actions.begin(), actions.end(),
                         [](const assist::Action& a) { return a.url.ends_with("/status"); });
  r.eta_s = find_eta(t);
  r.links = static_cast<int>(actions.size());
  r.on_topic = std::any_of(topic_words.begin(), topic_words.end(), [&](const std::string& w) {
    return !w.empty() && t.find(lower_ascii(w)) != std::string::npos;
  });
  return r;
}

double resend_probability(const ReplyReading& r, const Behaviour& b) {
  double logit = b.resend_bias + b.resend_per_link * std::min(r.links, 3);
  if (r.invites_retry) {
    logit += b.resend_if_invited;
  } else {
    logit += (r.status ? b.resend_if_status : 0) + (r.eta_s ? b.resend_if_eta : 0) +
             (r.on_topic ? b.resend_if_on_topic : 0);
  }
  return 1 / (1 + std::exp(-logit));
}

double contact_probability(const ReplyReading& r, const Behaviour& b) {
  const double logit = b.contact_bias + b.contact_per_link * std::min(r.links, 3) +
                       (r.status ? b.contact_if_status : 0) + (r.eta_s ? b.contact_if_eta : 0);
  return 1 / (1 + std::exp(-logit));
}

}  // namespace ma::sim
