#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/clock.hpp"

namespace ma::core {

// Virtual time for the simulator and for tests.
//
// Timers (coroutine sleeps and plain callbacks) live in reusable slots, ordered by a heap of
// (time, arming order): equal times fire in the order they were armed, so a run is
// deterministic. The io_context given at construction is the ready queue: a due timer's
// coroutine (or callback) is posted to it, and `advance_to`/`run_until` poll it until idle
// before moving time again. (Resuming inline from the loop was measured slower: coroutines
// resumed outside the io_context post what they would otherwise dispatch.) A cancelled sleep
// is resumed through the io_context too, never inside the code that cancelled it.
//
// Thread safety: none. One thread drives a SimClock and its io_context.
class SimClock final : public Clock {
 public:
  using TimerId = std::uint64_t;

  explicit SimClock(boost::asio::io_context& io,
                    TimePoint start = TimePoint{std::chrono::hours(24)},
                    WallTime wall_start = WallTime{std::chrono::seconds(1'798'761'600)});
  SimClock(const SimClock&) = delete;
  SimClock& operator=(const SimClock&) = delete;
  ~SimClock() override;

  TimePoint now() const override { return now_; }
  WallTime wall_now() const override;
  boost::asio::awaitable<bool> sleep_until(TimePoint t) override;

  // Arms a plain callback, run on the io_context when virtual time reaches `t`.
  TimerId call_at(TimePoint t, std::function<void()> fn);
  // Returns false when the timer already fired or was cancelled.
  bool cancel(TimerId id);

  // Runs ready work, then fires every timer due at or before `t` in order (polling the
  // io_context after each, so work they start runs before time moves on), and leaves
  // now() == t. REQUIRES: t >= now().
  void advance_to(TimePoint t);
  void advance_by(Duration d) { advance_to(now_ + d); }

  // Like advance_to, but stops as soon as `done()` holds after some work ran; time stays at
  // the last fired timer. Returns done(). Used to run a scenario "until the reply arrives".
  bool run_until(const std::function<bool()>& done, TimePoint limit);

  // Runs until there is neither ready work nor any armed timer.
  void run();

  std::size_t pending_timers() const { return armed_; }
  // Time of the earliest armed timer, or TimePoint::max() when none.
  TimePoint next_timer_at();
  // Entries in the timer heap, cancelled ones not yet dropped included (never more than
  // about twice the armed timers, or 4,096 more).
  std::size_t heap_size() const { return heap_.size(); }

 private:
  // The completion handler of a coroutine suspended in sleep_until (its concrete type: no
  // type-erased copy on the heap per sleep). Called with true when the time was reached.
  using SleepHandler =
      boost::asio::async_result<boost::asio::use_awaitable_t<>, void(bool)>::handler_type;
  // Timers live in reusable slots; a TimerId is (arming number << 32 | slot), so a stale id
  // (a timer that fired or was cancelled, its slot since reused) is recognised without a map.
  struct Entry {
    std::uint32_t seq = 0;  // the arming number of the timer in this slot
    bool armed = false;
    // Only ever move-constructed (optional::emplace), never assigned.
    std::optional<SleepHandler> sleeper;  // either a suspended coroutine...
    std::function<void()> callback;       // ...or a plain callback
    boost::asio::cancellation_slot slot;
  };
  // 16 bytes: four children share a cache line or two in the 4-ary heap.
  struct HeapItem {
    TimePoint when;
    std::uint32_t seq;  // arming order, the tie-break between equal times (wraps: compared
                        // as a difference, valid while equal times are < 2^31 armings apart)
    std::uint32_t slot;
    bool before(const HeapItem& o) const {
      return when != o.when ? when < o.when : static_cast<std::int32_t>(seq - o.seq) < 0;
    }
  };

  template <class Handler>
  TimerId arm(TimePoint t, Handler* sleeper, std::function<void()> callback);
  Entry* find(TimerId id);
  // Disarms the timer and runs (aborted: posts) its sleeper or callback.
  void fire(TimerId id, bool aborted);
  // Drops fired and cancelled timers from the heap top.
  void prune();
  // A 4-ary min-heap of armed (and some stale) timers in heap_: half the depth of a binary
  // heap, and a node's children are adjacent.
  void heap_push(HeapItem item);
  void heap_pop();
  void sift_down(std::size_t i);
  // Rebuilds the heap without its cancelled timers.
  void compact();
  bool stale(const HeapItem& item) const {
    const Entry& e = slots_[item.slot];
    return !e.armed || e.seq != item.seq;
  }
  // Fires the earliest timer if it is due at or before `limit`, then polls. False if none.
  bool step(TimePoint limit);
  void poll();

  boost::asio::io_context& io_;
  TimePoint now_;
  TimePoint start_;
  WallTime wall_start_;
  std::uint32_t next_seq_ = 0;
  std::size_t armed_ = 0;
  std::vector<Entry> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<HeapItem> heap_;
  std::size_t stale_ = 0;  // cancelled timers still in heap_
};

}  // namespace ma::core
