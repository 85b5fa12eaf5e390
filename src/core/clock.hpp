#pragma once
// The Clock seam: the only way pipeline code learns the time or waits.
//
// RealClock reads the system clocks and arms Asio steady timers; SimClock keeps virtual time
// and fires timers in order. Code written against Clock runs unchanged in the server and in
// the incident simulator ("one engine, two drivers", docs/architecture.md).

#include <boost/asio/awaitable.hpp>

#include "core/time.hpp"

namespace ma::core {

class Clock {
 public:
  virtual ~Clock() = default;

  // Monotonic now. Thread-safe.
  virtual TimePoint now() const = 0;

  // Calendar time, for log lines and calendars (events, sales) only; never for durations.
  virtual WallTime wall_now() const = 0;

  // Suspends the calling coroutine until `now() >= t`. Returns true when the time was
  // reached and false when the wait was cancelled (Asio per-operation cancellation, e.g. by
  // `||` of awaitable operators). Never throws for cancellation. A time in the past
  // completes at once (still asynchronously).
  virtual boost::asio::awaitable<bool> sleep_until(TimePoint t) = 0;

  boost::asio::awaitable<bool> wait_for(Duration d) { return sleep_until(now() + d); }
};

}  // namespace ma::core
