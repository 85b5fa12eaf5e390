#include "core/sim_clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>

namespace ma::core {

namespace asio = boost::asio;

SimClock::SimClock(asio::io_context& io, TimePoint start, WallTime wall_start)
    : io_(io), now_(start), start_(start), wall_start_(wall_start) {}

SimClock::~SimClock() {
  // Suspended coroutines are destroyed with the io_context; just disconnect cancellation.
  for (auto& [id, e] : entries_) {
    if (e.slot.is_connected()) e.slot.clear();
  }
}

WallTime SimClock::wall_now() const {
  return wall_start_ + std::chrono::duration_cast<WallTime::duration>(now_ - start_);
}

SimClock::TimerId SimClock::arm(TimePoint t, Entry e) {
  const TimerId id = next_id_++;
  e.when = t;
  entries_.emplace(id, std::move(e));
  heap_.push(HeapItem{t, id});
  return id;
}

asio::awaitable<bool> SimClock::sleep_until(TimePoint t) {
  auto initiate = [this, t](auto handler) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    // NOTE: Boost 1.81's any_completion_handler move-assignment recurses forever; the
    // handler is only ever move-constructed here.
    const TimerId id = arm(t, Entry{t, SleepHandler(std::move(handler)), {}, slot});
    if (slot.is_connected()) {
      slot.assign([this, id](asio::cancellation_type) { fire(id, /*aborted=*/true); });
    }
  };
  auto token = asio::as_tuple(asio::use_awaitable);
  auto [ec] = co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(
      initiate, token);
  co_return !ec;
}

SimClock::TimerId SimClock::call_at(TimePoint t, std::function<void()> fn) {
  return arm(t, Entry{t, SleepHandler(), std::move(fn), {}});
}

bool SimClock::cancel(TimerId id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  if (it->second.sleeper) {
    fire(id, /*aborted=*/true);
  } else {
    entries_.erase(it);
  }
  return true;
}

void SimClock::fire(TimerId id, bool aborted) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry e = std::move(it->second);
  entries_.erase(it);
  if (e.slot.is_connected()) e.slot.clear();
  if (e.sleeper) {
    const auto ec = aborted ? asio::error::operation_aborted : boost::system::error_code{};
    // Every simulated coroutine runs on io_, so resuming from a job posted there is
    // resuming on the coroutine's own executor.
    asio::post(io_, [h = std::move(e.sleeper), ec]() mutable { std::move(h)(ec); });
  } else if (e.callback && !aborted) {
    asio::post(io_, std::move(e.callback));
  }
}

void SimClock::prune() {
  while (!heap_.empty() && !entries_.contains(heap_.top().id)) heap_.pop();
}

TimePoint SimClock::next_timer_at() {
  prune();
  return heap_.empty() ? TimePoint::max() : heap_.top().when;
}

bool SimClock::step(TimePoint limit) {
  const TimePoint next = next_timer_at();
  if (next == TimePoint::max() || next > limit) return false;
  if (next > now_) now_ = next;
  const TimerId id = heap_.top().id;
  heap_.pop();
  fire(id, /*aborted=*/false);
  io_.restart();
  io_.poll();
  return true;
}

void SimClock::advance_to(TimePoint t) {
  assert(t >= now_);
  io_.restart();
  io_.poll();
  while (step(t)) {
  }
  now_ = t;
}

bool SimClock::run_until(const std::function<bool()>& done, TimePoint limit) {
  io_.restart();
  io_.poll();
  while (!done()) {
    if (!step(limit)) {
      if (limit != TimePoint::max() && limit > now_) now_ = limit;
      return done();
    }
  }
  return true;
}

void SimClock::run() {
  run_until([] { return false; }, TimePoint::max());
}

}  // namespace ma::core
