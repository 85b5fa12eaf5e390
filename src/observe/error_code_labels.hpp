#pragma once
// Error codes as metric labels and alarm subjects, bounded. Every distinct label value is a
// series (and an alarm ring) for the life of the process, and error codes come from outside
// (a provider's response body): unbounded, 18 junk codes made 36 series. So:
//
//   - a known code keeps its name: the classifier's (resilience::classify recognises the
//     code alone: ThrottlingException, ValidationException, ...) and the gateway's own
//     (timeout, deadline, StreamTruncated, breaker_open, HTTP429, ...; see is_known_error_code);
//   - the first `max_novel` other codes that are label-safe keep their names too, so a new
//     error format is named at once in /metrics and /admin/alarms (seed incident 4);
//   - everything else is "other". The raw code is never lost: it stays in the log line.
//
// The number of distinct labels is therefore at most (known codes) + max_novel + 1.
//
// Thread safety: label() may be called from any thread (one mutex, taken only for codes that
// are not known).

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "core/spin_lock.hpp"

namespace ma::observe {

inline constexpr std::string_view kOtherErrorCode = "other";

// The classifier's codes and the gateway's own. Pure.
bool is_known_error_code(std::string_view code);
// 1 to 64 characters of [A-Za-z0-9_.:-]: safe as a label value and in an alarm message.
bool is_label_safe(std::string_view code);
// `code` cut to 64 bytes with every character outside [A-Za-z0-9_.:-] replaced by '?': for
// naming a raw code in a message (an alarm's) without trusting it.
std::string printable_code(std::string_view code);

class ErrorCodeLabels final {
 public:
  static constexpr std::size_t kDefaultMaxNovel = 8;
  explicit ErrorCodeLabels(std::size_t max_novel = kDefaultMaxNovel) : max_novel_(max_novel) {}
  ErrorCodeLabels(const ErrorCodeLabels&) = delete;
  ErrorCodeLabels& operator=(const ErrorCodeLabels&) = delete;

  // The label for `code`: the code itself when known or admitted as one of the first
  // `max_novel` label-safe unknown codes; otherwise kOtherErrorCode. An empty code is "other".
  std::string label(std::string_view code);
  // How many unknown codes were admitted under their own name (at most max_novel).
  std::size_t novel_count() const;

 private:
  const std::size_t max_novel_;
  mutable core::SpinLock mu_;
  std::set<std::string, std::less<>> novel_;
};

}  // namespace ma::observe
