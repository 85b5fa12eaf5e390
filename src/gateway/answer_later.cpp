#include "gateway/answer_later.hpp"

#include <charconv>

#include "core/base64url.hpp"
#include "core/text.hpp"

namespace ma::gateway {

namespace {

constexpr std::string_view kPrefix = "lt1.";
// A question is at most 2,000 characters (8,000 bytes of UTF-8): its base64url, the expiry
// and the MAC stay well under this.
constexpr std::size_t kMaxTicketBytes = 12 * 1024;

std::int64_t unix_seconds(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string LaterTickets::mac(std::string_view payload, std::string_view owner) const {
  // The owner is signed, not written: the ticket names nobody, and verifies for its owner only.
  std::string msg;
  core::str_append(msg, payload, "\n", owner);
  return sign_(msg);
}

std::int64_t LaterTickets::ttl_s() const {
  return std::chrono::duration_cast<std::chrono::seconds>(ttl_).count();
}

std::string LaterTickets::issue(std::string_view owner, std::string_view question,
                                core::WallTime wall) const {
  std::string payload = core::str_cat(kPrefix, core::Dec(unix_seconds(wall) + ttl_s()), ".",
                                      core::base64url(question));
  std::string sig = mac(payload, owner);
  core::str_append(payload, ".", sig);
  return payload;
}

std::optional<LaterTickets::Verified> LaterTickets::verify(std::string_view owner,
                                                           std::string_view ticket,
                                                           core::WallTime wall) const {
  if (owner.empty() || ticket.size() > kMaxTicketBytes || !ticket.starts_with(kPrefix)) {
    return std::nullopt;
  }
  const auto last = ticket.rfind('.');
  const std::string_view payload = ticket.substr(0, last);
  const std::string_view sig = ticket.substr(last + 1);
  if (!core::constant_time_equals(sig, mac(payload, owner))) return std::nullopt;
  // Signed by us for this owner: well formed unless the secret leaked.
  const std::string_view rest = payload.substr(kPrefix.size());
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view exp_text = rest.substr(0, dot);
  std::int64_t exp = 0;
  const auto r = std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (r.ec != std::errc() || r.ptr != exp_text.data() + exp_text.size()) return std::nullopt;
  if (exp <= unix_seconds(wall)) return std::nullopt;
  auto question = core::base64url_decode(rest.substr(dot + 1));
  if (!question || question->empty()) return std::nullopt;
  return Verified{std::move(*question), std::string(sig)};
}

AnswerLater::AnswerLater(AnswerLaterConfig config, TicketSigner sign)
    : cfg_(config), tickets_(config.ticket_ttl, std::move(sign)) {}

std::optional<std::string> AnswerLater::offer(std::string_view owner, std::string_view question,
                                              core::WallTime wall) const {
  if (!cfg_.enabled || owner.empty() || question.empty()) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    if (total_ >= cfg_.max_total) return std::nullopt;
    auto it = owners_.find(std::string(owner));
    if (it != owners_.end() && it->second.waiting() >= cfg_.max_per_owner) return std::nullopt;
  }
  return tickets_.issue(owner, question, wall);
}

core::Result<std::size_t> AnswerLater::leave(std::string_view owner, std::string_view ticket,
                                             core::WallTime wall, core::TimePoint now) {
  auto refuse = [this](std::string_view code, std::string message) {
    std::lock_guard lock(mu_);
    (code == kLaterInvalid ? stats_.refused_invalid
     : code == kLaterFull  ? stats_.refused_full
                           : stats_.refused_disabled)++;
    return core::fail(std::string(code), std::move(message));
  };
  if (!cfg_.enabled) return refuse(kLaterDisabled, "answering later is turned off on this server");
  auto verified = tickets_.verify(owner, ticket, wall);
  if (!verified) return refuse(kLaterInvalid, "this ticket is not valid for you (or has expired)");
  auto& question = verified->question;
  const std::string& sig = verified->mac;

  std::lock_guard lock(mu_);
  expire(now);
  auto it = owners_.try_emplace(std::string(owner)).first;
  Owner& o = it->second;
  // The same ticket again (a double click, a resend after a reconnect): held once. (The MAC
  // covers the owner: the same MAC is the same owner's same ticket.)
  if (by_mac_.contains(sig)) return o.waiting();
  if (o.waiting() >= cfg_.max_per_owner || total_ >= cfg_.max_total) {
    const bool per_owner = o.waiting() >= cfg_.max_per_owner;
    if (o.waiting() == 0) owners_.erase(it);
    ++stats_.refused_full;
    return core::fail(std::string(kLaterFull),
                      per_owner
                          ? core::str_cat("you already have ",
                                          core::Dec(static_cast<long long>(cfg_.max_per_owner)),
                                          " questions waiting for an answer")
                          : std::string("too many questions are waiting for an answer"));
  }
  by_mac_.emplace(sig, next_id_);
  questions_.emplace(next_id_++,
                     Question{std::string(owner), std::move(question), sig, now, false});
  ++o.held;
  ++total_;
  ++stats_.left;
  return o.waiting();
}

void AnswerLater::expire(core::TimePoint now) {
  // Questions are in the order they were left: the expired ones are at the front. One being
  // tried stays until its attempt settles (not_answered drops it then if it is too old).
  while (!questions_.empty()) {
    auto q = questions_.begin();
    if (now - q->second.left < cfg_.max_wait || q->second.trying) break;
    auto o = owners_.find(q->second.owner);
    --o->second.held;
    --total_;
    ++stats_.expired_questions;
    by_mac_.erase(q->second.ticket_mac);
    questions_.erase(q);
    drop_owner_if_empty(o);
  }
  // Undelivered answers: a pass over the owners with answers, at most once a minute.
  if (ready_total_ == 0 || now - oldest_ready_check_ < std::chrono::minutes(1)) return;
  oldest_ready_check_ = now;
  for (auto it = owners_.begin(); it != owners_.end();) {
    auto& ready = it->second.ready;
    const auto before = ready.size();
    std::erase_if(ready, [&](const Answer& a) { return now - a.ready >= cfg_.max_wait; });
    const auto gone = before - ready.size();
    stats_.expired_answers += gone;
    total_ -= gone;
    ready_total_ -= gone;
    auto next = std::next(it);
    drop_owner_if_empty(it);
    it = next;
  }
}

void AnswerLater::drop_owner_if_empty(std::unordered_map<std::string, Owner>::iterator it) {
  if (it != owners_.end() && it->second.waiting() == 0) owners_.erase(it);
}

std::optional<AnswerLater::Held> AnswerLater::next(core::TimePoint now) {
  std::lock_guard lock(mu_);
  expire(now);
  // Round robin from the question after the last one tried, oldest first: a question that
  // keeps coming back degraded (a price the guard never passes, an intent the models never
  // answer) must not hold up every question left after it.
  auto pick = [&](auto from, auto to) -> std::optional<Held> {
    for (auto it = from; it != to; ++it) {
      Question& q = it->second;
      if (q.trying) continue;
      q.trying = true;
      ++stats_.attempts;
      last_tried_ = it->first;
      return Held{it->first, q.owner, q.question};
    }
    return std::nullopt;
  };
  const auto after = questions_.upper_bound(last_tried_);
  if (auto h = pick(after, questions_.end())) return h;
  return pick(questions_.begin(), after);
}

bool AnswerLater::answered(std::uint64_t id, std::string answer, core::TimePoint now) {
  std::lock_guard lock(mu_);
  auto q = questions_.find(id);
  if (q == questions_.end()) return false;
  Owner& o = owners_.at(q->second.owner);
  --o.held;
  o.ready.push_back({std::move(answer), now});  // the owner's count (held + ready) is unchanged
  ++ready_total_;
  ++stats_.answered;
  by_mac_.erase(q->second.ticket_mac);
  questions_.erase(q);
  return true;
}

void AnswerLater::not_answered(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto q = questions_.find(id);
  if (q != questions_.end()) q->second.trying = false;
}

std::vector<std::string> AnswerLater::take(std::string_view owner) {
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  auto it = owners_.find(std::string(owner));
  if (it == owners_.end() || it->second.ready.empty()) return out;
  out.reserve(it->second.ready.size());
  for (Answer& a : it->second.ready) out.push_back(std::move(a.frame));
  total_ -= out.size();
  ready_total_ -= out.size();
  stats_.delivered += out.size();
  it->second.ready.clear();
  drop_owner_if_empty(it);
  return out;
}

std::size_t AnswerLater::waiting(std::string_view owner) const {
  std::lock_guard lock(mu_);
  auto it = owners_.find(std::string(owner));
  return it == owners_.end() ? 0 : it->second.waiting();
}

AnswerLater::Counts AnswerLater::counts() const {
  std::lock_guard lock(mu_);
  Counts c = stats_;
  c.held = questions_.size();
  c.ready = ready_total_;
  return c;
}

}  // namespace ma::gateway
