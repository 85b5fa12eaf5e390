#pragma once
// Runtime flags (the runbook's levers), read from the environment at start and changed at
// runtime through PATCH /admin/flags:
//   RETRY_MAX_ATTEMPTS           attempts per model call, first included (0 = storm brake)
//   PRIMARY_MODEL                the name of a model lane (sonnet | haiku by default): tier 1
//   FM_MODE                      normal | cache_only | static_only
//   DEGRADATION_MESSAGE_VERSION  v1 | v2 | v3 (v1: the seed's banned text, incident replays
//                                only; it also wins over a [degradation] ab experiment)
// Thread safety: every field is an atomic; readers never lock.

#include <atomic>
#include <boost/json/value.hpp>
#include <span>
#include <string>
#include <vector>

#include "assist/degradation.hpp"
#include "core/env.hpp"
#include "core/result.hpp"

namespace ma::assist {

enum class FmMode : std::uint8_t { kNormal, kCacheOnly, kStaticOnly };
std::string_view to_string(FmMode m);

class RuntimeFlags final {
 public:
  RuntimeFlags() = default;
  RuntimeFlags(const RuntimeFlags&) = delete;
  RuntimeFlags& operator=(const RuntimeFlags&) = delete;

  // The model lanes' names, in cascade order (default: sonnet, haiku); PRIMARY_MODEL names
  // one of them, and resets to the first. REQUIRES: called before the flags are shared
  // between threads (the gateway's builder does it), with at least one name.
  void set_models(std::vector<std::string> names);
  const std::vector<std::string>& models() const { return models_; }

  int retry_max_attempts() const { return retry_max_attempts_.load(std::memory_order_relaxed); }
  // The lane PRIMARY_MODEL names: an index into models().
  std::size_t primary_model() const { return primary_.load(std::memory_order_relaxed); }
  std::string_view primary_model_name() const { return models_[primary_model()]; }
  FmMode fm_mode() const { return fm_mode_.load(std::memory_order_relaxed); }
  DegradationVersion degradation_version() const {
    return version_.load(std::memory_order_relaxed);
  }

  void set_retry_max_attempts(int n) { retry_max_attempts_.store(n); }

  // The flags `env` sets (those named above, set and not empty) as an object for patch(),
  // each value as the environment spells it ("3", "haiku"). An error names the first bad
  // value ("invalid_flag"). server::resolve_environment keeps it in AppConfig.
  // `models`: the lane names PRIMARY_MODEL may take (empty: the default two).
  static core::Result<boost::json::object> from_env(const core::EnvLookup& env,
                                                    std::span<const std::string> models = {});
  // Applies every flag present in `env`, all or nothing. Returns an error naming a bad value.
  core::Status load_env(const core::EnvLookup& env = core::process_env());
  // Applies a JSON object of flags, all or nothing. Unknown keys and bad values are errors.
  core::Status patch(const boost::json::value& body);
  boost::json::object to_json() const;

 private:
  core::Status apply(std::string_view name, const boost::json::value& v, bool commit);

  std::atomic<int> retry_max_attempts_{3};
  std::vector<std::string> models_{"sonnet", "haiku"};
  std::atomic<std::size_t> primary_{0};
  std::atomic<FmMode> fm_mode_{FmMode::kNormal};
  std::atomic<DegradationVersion> version_{DegradationVersion::kV2};
};

}  // namespace ma::assist
