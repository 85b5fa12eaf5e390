#include "assist/flags.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>  // strtol

#include "core/text.hpp"  // join_names

namespace ma::assist {

std::string_view to_string(FmMode m) {
  switch (m) {
    case FmMode::kNormal:
      return "normal";
    case FmMode::kCacheOnly:
      return "cache_only";
    case FmMode::kStaticOnly:
      return "static_only";
  }
  return "normal";
}

namespace {
constexpr std::string_view kNames[] = {"RETRY_MAX_ATTEMPTS", "PRIMARY_MODEL", "FM_MODE",
                                       "DEGRADATION_MESSAGE_VERSION"};
}

core::Status RuntimeFlags::apply(std::string_view name, const boost::json::value& v, bool commit) {
  if (name == "RETRY_MAX_ATTEMPTS") {
    std::int64_t n = -1;
    if (v.is_int64()) n = v.get_int64();
    if (v.is_uint64()) n = static_cast<std::int64_t>(std::min<std::uint64_t>(v.get_uint64(), 100));
    if (v.is_string()) {
      const std::string s(v.get_string());
      char* end = nullptr;
      n = std::strtol(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0') n = -1;
    }
    if (n < 0 || n > 10) return core::fail("invalid_flag", "RETRY_MAX_ATTEMPTS must be 0-10");
    if (commit) retry_max_attempts_.store(static_cast<int>(n));
    return core::Ok{};
  }
  if (!v.is_string()) return core::fail("invalid_flag", std::string(name) + " must be a string");
  const std::string_view s = v.get_string();
  if (name == "PRIMARY_MODEL") {
    const auto it = std::find(models_.begin(), models_.end(), s);
    if (it == models_.end()) {
      std::vector<std::string_view> names(models_.begin(), models_.end());
      return core::fail("invalid_flag", "PRIMARY_MODEL must be " + core::join_names(names));
    }
    if (commit) primary_.store(static_cast<std::size_t>(it - models_.begin()));
    return core::Ok{};
  }
  if (name == "FM_MODE") {
    FmMode m;
    if (s == "normal")
      m = FmMode::kNormal;
    else if (s == "cache_only")
      m = FmMode::kCacheOnly;
    else if (s == "static_only")
      m = FmMode::kStaticOnly;
    else
      return core::fail("invalid_flag", "FM_MODE must be normal, cache_only or static_only");
    if (commit) fm_mode_.store(m);
    return core::Ok{};
  }
  if (name == "DEGRADATION_MESSAGE_VERSION") {
    const auto version = parse_degradation_version(s);
    if (!version) {
      return core::fail("invalid_flag", "DEGRADATION_MESSAGE_VERSION must be v1, v2 or v3");
    }
    if (commit) version_.store(*version);
    return core::Ok{};
  }
  return core::fail("unknown_flag", "unknown flag " + std::string(name));
}

void RuntimeFlags::set_models(std::vector<std::string> names) {
  models_ = std::move(names);
  primary_.store(0);
}

core::Result<boost::json::object> RuntimeFlags::from_env(const core::EnvLookup& env,
                                                         std::span<const std::string> models) {
  boost::json::object out;
  RuntimeFlags check;  // apply() without commit only validates
  if (!models.empty()) check.set_models({models.begin(), models.end()});
  for (auto name : kNames) {
    auto v = core::env_value(env, std::string(name).c_str());
    if (!v) continue;
    boost::json::value j(*v);
    if (auto st = check.apply(name, j, false); !st.ok()) return core::fail(std::move(st).error());
    out[name] = std::move(j);
  }
  return out;
}

core::Status RuntimeFlags::load_env(const core::EnvLookup& env) {
  auto flags = from_env(env, models_);
  if (!flags.ok()) return core::fail(std::move(flags).error());
  return patch(*flags);
}

core::Status RuntimeFlags::patch(const boost::json::value& body) {
  if (!body.is_object()) return core::fail("invalid_body", "expected a JSON object of flags");
  for (const auto& [k, v] : body.get_object()) {
    auto st = apply(k, v, false);
    if (!st.ok()) return st;
  }
  for (const auto& [k, v] : body.get_object()) (void)apply(k, v, true);
  return core::Ok{};
}

boost::json::object RuntimeFlags::to_json() const {
  boost::json::object o;
  o["RETRY_MAX_ATTEMPTS"] = retry_max_attempts();
  o["PRIMARY_MODEL"] = primary_model_name();
  o["FM_MODE"] = to_string(fm_mode());
  o["DEGRADATION_MESSAGE_VERSION"] = to_string(degradation_version());
  return o;
}

}  // namespace ma::assist
