#include "core/sim_clock.hpp"

#include <algorithm>
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
  for (auto& e : slots_) {
    if (e.armed && e.slot.is_connected()) e.slot.clear();
  }
}

WallTime SimClock::wall_now() const {
  return wall_start_ + std::chrono::duration_cast<WallTime::duration>(now_ - start_);
}

template <class Handler>
SimClock::TimerId SimClock::arm(TimePoint t, Handler* sleeper, std::function<void()> callback) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Entry& e = slots_[slot];
  e.armed = true;
  e.seq = next_seq_++;
  if (sleeper != nullptr) e.sleeper.emplace(std::move(*sleeper));
  e.callback = std::move(callback);
  ++armed_;
  heap_push(HeapItem{t, e.seq, slot});
  return (static_cast<TimerId>(e.seq) << 32) | slot;
}

void SimClock::heap_push(HeapItem item) {
  std::size_t i = heap_.size();
  heap_.push_back(item);
  while (i > 0) {
    const std::size_t parent = (i - 1) / 4;
    if (!item.before(heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = item;
}

void SimClock::heap_pop() {
  const HeapItem last = heap_.back();
  heap_.pop_back();
  if (heap_.empty()) return;
  heap_[0] = last;
  sift_down(0);
}

void SimClock::sift_down(std::size_t i) {
  const HeapItem item = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t end = std::min(first + 4, n);
    for (std::size_t c = first + 1; c < end; ++c) {
      if (heap_[c].before(heap_[best])) best = c;
    }
    if (!heap_[best].before(item)) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = item;
}

void SimClock::compact() {
  std::erase_if(heap_, [this](const HeapItem& h) { return stale(h); });
  // Floyd's heapify: sift down every parent, the last one ((n - 2) / 4) first.
  if (heap_.size() > 1) {
    for (std::size_t i = (heap_.size() - 2) / 4 + 1; i-- > 0;) sift_down(i);
  }
  stale_ = 0;
}

SimClock::Entry* SimClock::find(TimerId id) {
  const auto slot = static_cast<std::uint32_t>(id);
  if (slot >= slots_.size()) return nullptr;
  Entry& e = slots_[slot];
  return e.armed && e.seq == static_cast<std::uint32_t>(id >> 32) ? &e : nullptr;
}

asio::awaitable<bool> SimClock::sleep_until(TimePoint t) {
  // Not a coroutine of its own: the caller awaits the operation directly (one frame less
  // per sleep, and thousands of sleeps are pending in a busy scenario).
  auto initiate = [this, t](SleepHandler handler) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    const TimerId id = arm(t, &handler, {});
    if (slot.is_connected()) {
      slots_[static_cast<std::uint32_t>(id)].slot = slot;
      slot.assign([this, id](asio::cancellation_type) { fire(id, /*aborted=*/true); });
    }
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(bool)>(initiate,
                                                                          asio::use_awaitable);
}

SimClock::TimerId SimClock::call_at(TimePoint t, std::function<void()> fn) {
  return arm(t, static_cast<SleepHandler*>(nullptr), std::move(fn));
}

bool SimClock::cancel(TimerId id) {
  Entry* e = find(id);
  if (e == nullptr) return false;
  fire(id, /*aborted=*/true);
  return true;
}

void SimClock::fire(TimerId id, bool aborted) {
  Entry* e = find(id);
  if (e == nullptr) return;
  // Take what runs out of the slot first: running it may arm timers and move slots_.
  std::optional<SleepHandler> sleeper;
  if (e->sleeper) {
    sleeper.emplace(std::move(*e->sleeper));
    e->sleeper.reset();
  }
  std::function<void()> callback = std::move(e->callback);
  e->callback = nullptr;
  if (e->slot.is_connected()) e->slot.clear();
  e->slot = {};
  e->armed = false;
  --armed_;
  free_slots_.push_back(static_cast<std::uint32_t>(id));
  // A cancelled timer stays in the heap until it reaches the top. When such timers are most
  // of the heap (a timeout cancelled by every reply, say), it is rebuilt without them:
  // otherwise it grows several times larger than the armed timers, and every push and pop
  // walks it.
  if (aborted && ++stale_ > 4096 && stale_ * 2 > heap_.size()) compact();
  if (sleeper) {
    // Resumed through io_, never inside the caller (the driving loop, or code that cancels):
    // every simulated coroutine runs on io_, whose poll() runs what it posts next.
    asio::post(io_,
               [h = std::move(*sleeper), reached = !aborted]() mutable { std::move(h)(reached); });
  } else if (callback && !aborted) {
    asio::post(io_, std::move(callback));
  }
}

void SimClock::prune() {
  while (!heap_.empty() && stale(heap_.front())) {
    heap_pop();
    --stale_;
  }
}

TimePoint SimClock::next_timer_at() {
  prune();
  return heap_.empty() ? TimePoint::max() : heap_.front().when;
}

void SimClock::poll() {
  io_.restart();
  io_.poll();
}

bool SimClock::step(TimePoint limit) {
  const TimePoint next = next_timer_at();
  if (next == TimePoint::max() || next > limit) return false;
  if (next > now_) now_ = next;
  const HeapItem top = heap_.front();
  const TimerId id = (static_cast<TimerId>(top.seq) << 32) | top.slot;
  heap_pop();
  fire(id, /*aborted=*/false);
  poll();
  return true;
}

void SimClock::advance_to(TimePoint t) {
  assert(t >= now_);
  poll();
  while (step(t)) {
  }
  now_ = t;
}

bool SimClock::run_until(const std::function<bool()>& done, TimePoint limit) {
  poll();
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
