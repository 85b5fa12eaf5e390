#pragma once
// DegradationSplit: the A/B experiment of degradation messages ([degradation] ab in the config,
// e.g. `ab = { v2 = 50, v3 = 50 }`). Each user is assigned one version for good: the version
// is drawn from a stable hash of the user key admission uses ("u:<user id>", else
// "s:<session>", else "a:<source>"), so the same user always reads the same message, on every
// server of a fleet and across restarts. An empty split is no experiment: the
// DEGRADATION_MESSAGE_VERSION flag decides (and the flag set to v1 wins over any experiment,
// for incident replays: assist::shown_version).
//
// Only safe versions take part: v1 (the seed's banned text) is refused by make().
//
// Thread safety: immutable once made; assign() may be called from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "assist/degradation.hpp"
#include "core/result.hpp"

namespace ma::assist {

class DegradationSplit final {
 public:
  // No experiment.
  DegradationSplit() = default;

  // `weights`: version name -> weight, as the config spells them. Errors (code
  // "invalid_config", the message naming `where`, e.g. "degradation.ab"): an unknown version,
  // v1, a weight below 0 or above 1,000,000, a version named twice, or weights that add up
  // to 0. An empty list is no experiment.
  static core::Result<DegradationSplit> make(
      const std::vector<std::pair<std::string, std::int64_t>>& weights,
      std::string_view where = "degradation.ab");

  bool empty() const { return total_ == 0; }
  // The version `user_key` is assigned; nullopt without an experiment. A version of weight 0
  // is never assigned.
  std::optional<DegradationVersion> assign(std::string_view user_key) const;
  // The versions in the experiment with their weights, in version order (weight-0 ones too).
  const std::vector<std::pair<DegradationVersion, std::int64_t>>& weights() const {
    return weights_;
  }

  // The hash a user key is assigned by (stable: FNV-1a 64 then a mixing finalizer; exposed
  // for tests and for tools that replay an assignment).
  static std::uint64_t user_hash(std::string_view user_key);

 private:
  std::vector<std::pair<DegradationVersion, std::int64_t>> weights_;
  std::int64_t total_ = 0;
};

}  // namespace ma::assist
