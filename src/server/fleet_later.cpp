#include "server/fleet_later.hpp"

#include <cstdio>

#include "core/text.hpp"

namespace ma::server {

FleetLater::FleetLater(gateway::AnswerLaterConfig config, gateway::TicketSigner sign,
                       state::RedisClient& client, const std::string& fleet, std::string origin,
                       core::Duration lease)
    : cfg_(config),
      tickets_(config.ticket_ttl, std::move(sign)),
      redis_(client, fleet, origin),
      origin_(std::move(origin)),
      lease_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(lease).count()),
      max_wait_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(config.max_wait).count()) {
}

std::optional<std::string> FleetLater::offer(std::string_view owner, std::string_view question,
                                             core::WallTime wall) const {
  if (!cfg_.enabled || owner.empty() || question.empty()) return std::nullopt;
  // No ticket while Redis cannot take the question (it would be refused), nor past a bound.
  auto room = redis_.room(std::string(owner));
  if (!room.ok() || room->owner >= cfg_.max_per_owner || room->total >= cfg_.max_total) {
    return std::nullopt;
  }
  return tickets_.issue(owner, question, wall);
}

core::Result<std::size_t> FleetLater::leave(std::string_view owner, std::string_view ticket,
                                            core::WallTime wall, core::TimePoint) {
  auto refuse = [this](std::uint64_t Counts::*count, std::string_view code, std::string message) {
    std::lock_guard lock(mu_);
    ++(stats_.*count);
    return core::fail(std::string(code), std::move(message));
  };
  if (!cfg_.enabled) {
    return refuse(&Counts::refused_disabled, gateway::kLaterDisabled,
                  "answering later is turned off on this server");
  }
  auto verified = tickets_.verify(owner, ticket, wall);
  if (!verified) {
    return refuse(&Counts::refused_invalid, gateway::kLaterInvalid,
                  "this ticket is not valid for you (or has expired)");
  }
  auto r = redis_.leave(std::string(owner), verified->question, verified->mac, cfg_.max_per_owner,
                        cfg_.max_total);
  if (!r.ok()) {
    // Not held here instead: a question only this server knows is lost with it, and answered
    // on no other. The ticket stays valid: the client may leave it again.
    return refuse(&Counts::refused_unavailable, gateway::kLaterUnavailable,
                  "questions cannot be left while the shared store is unreachable; the reply's "
                  "links work meanwhile");
  }
  switch (r->left) {
    case state::RedisLater::Left::kHeld: {
      std::lock_guard lock(mu_);
      ++stats_.left;
      return r->waiting;
    }
    case state::RedisLater::Left::kAlreadyHeld:
      return r->waiting;
    case state::RedisLater::Left::kOwnerFull:
      return refuse(
          &Counts::refused_full, gateway::kLaterFull,
          core::str_cat("you already have ", core::Dec(static_cast<long long>(cfg_.max_per_owner)),
                        " questions waiting for an answer"));
    case state::RedisLater::Left::kTotalFull:
      break;
  }
  return refuse(&Counts::refused_full, gateway::kLaterFull,
                "too many questions are waiting for an answer");
}

void FleetLater::flush_pending() {
  std::vector<Pending> todo;
  {
    std::lock_guard lock(mu_);
    if (pending_.empty()) return;
    todo.swap(pending_);
  }
  std::vector<Pending> keep;
  std::uint64_t written = 0;
  for (auto& p : todo) {
    if (!keep.empty()) {  // Redis failed on an earlier one: keep the order, write later
      keep.push_back(std::move(p));
      continue;
    }
    auto r = redis_.answered(p.id, p.frame);
    if (!r.ok()) {
      keep.push_back(std::move(p));
    } else if (*r) {
      ++written;  // its owner's servers hear of it from the stream
    }             // else: answered elsewhere meanwhile (its lease ran out), or expired: dropped
  }
  std::lock_guard lock(mu_);
  stats_.answered += written;
  // Answers made since go after the older ones.
  for (auto& p : pending_) keep.push_back(std::move(p));
  pending_ = std::move(keep);
}

std::optional<FleetLater::Held> FleetLater::next(core::TimePoint) {
  flush_pending();
  std::string token;
  {
    std::lock_guard lock(mu_);
    token = core::str_cat(origin_, ":", core::Dec(static_cast<long long>(++next_token_)));
  }
  auto r = redis_.claim(token, lease_ms_, max_wait_ms_);
  if (!r.ok()) return std::nullopt;  // nothing to try until Redis answers
  std::lock_guard lock(mu_);
  stats_.expired_questions += r->expired_questions;
  stats_.expired_answers += r->expired_answers;
  if (!r->claimed) return std::nullopt;
  ++stats_.attempts;
  claims_[r->claimed->id] = std::move(token);
  return Held{r->claimed->id, std::move(r->claimed->owner), std::move(r->claimed->question)};
}

bool FleetLater::answered(std::uint64_t id, std::string answer, core::TimePoint) {
  {
    std::lock_guard lock(mu_);
    claims_.erase(id);
  }
  auto r = redis_.answered(id, answer);
  std::lock_guard lock(mu_);
  if (r.ok()) {
    if (*r) ++stats_.answered;
    return *r;
  }
  // Kept here and written by a later next(); not lost with Redis, only with this server.
  if (pending_.size() >= kMaxPending) {
    pending_.erase(pending_.begin());
    ++stats_.expired_answers;
    std::fprintf(stderr, "mangaassist: an answer left for later was dropped (Redis down)\n");
  }
  pending_.push_back({id, std::move(answer)});
  return false;
}

void FleetLater::not_answered(std::uint64_t id) {
  std::string token;
  {
    std::lock_guard lock(mu_);
    auto it = claims_.find(id);
    if (it == claims_.end()) return;
    token = std::move(it->second);
    claims_.erase(it);
  }
  (void)redis_.release(id, token);  // Redis down: the lease ends by itself
}

std::vector<std::string> FleetLater::take(std::string_view owner) {
  if (owner.empty()) return {};
  auto r = redis_.take(std::string(owner));
  if (!r.ok()) return {};  // still in Redis: the next event, visit or GET takes them
  std::lock_guard lock(mu_);
  stats_.delivered += r->size();
  return std::move(r).value();
}

std::size_t FleetLater::waiting(std::string_view owner) const {
  auto r = redis_.room(std::string(owner));
  return r.ok() ? r->owner : 0;
}

FleetLater::Counts FleetLater::counts() const {
  Counts c;
  {
    std::lock_guard lock(mu_);
    c = stats_;
  }
  if (auto s = redis_.sizes(); s.ok()) {
    c.held = s->held;
    c.ready = s->ready;
  }
  return c;
}

std::size_t FleetLater::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace ma::server
