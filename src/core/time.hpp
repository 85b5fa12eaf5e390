#pragma once
// Time vocabulary shared by every layer. Durations are std::chrono types, never bare integers.

#include <chrono>

namespace ma::core {

using Duration = std::chrono::nanoseconds;
// A point on the monotonic clock. Under SimClock it is virtual time.
using TimePoint = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Seconds as a double, for rates and formulas taken from papers and SDKs.
inline constexpr double to_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline constexpr Duration from_seconds(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}
inline constexpr double to_millis(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace ma::core
