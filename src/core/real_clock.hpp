#pragma once

#include "core/clock.hpp"

namespace ma::core {

// The production clock: std::chrono::steady_clock and system_clock, Asio steady timers.
// The only code in the project that reads the system clocks. Thread-safe, stateless.
class RealClock final : public Clock {
 public:
  RealClock() = default;
  RealClock(const RealClock&) = delete;
  RealClock& operator=(const RealClock&) = delete;

  TimePoint now() const override;
  WallTime wall_now() const override;
  // The timer runs on the calling coroutine's executor.
  boost::asio::awaitable<bool> sleep_until(TimePoint t) override;
};

}  // namespace ma::core
