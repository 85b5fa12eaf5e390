#include "assist/degradation_split.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace ma::assist {

core::Result<DegradationSplit> DegradationSplit::make(
    const std::vector<std::pair<std::string, std::int64_t>>& weights, std::string_view where) {
  constexpr std::int64_t kMaxWeight = 1'000'000;
  DegradationSplit s;
  const std::string at(where);
  for (const auto& [name, weight] : weights) {
    const auto v = parse_degradation_version(name);
    if (!v) {
      return core::fail("invalid_config", at + ": unknown degradation message version \"" + name +
                                              "\" (the experiment takes v2 and v3)");
    }
    if (*v == DegradationVersion::kV1) {
      return core::fail("invalid_config",
                        at + ": v1 is the seed's banned message (incident 5's retry storm) and "
                             "may not take part in an experiment; use v2 and v3");
    }
    if (weight < 0 || weight > kMaxWeight) {
      return core::fail("invalid_config", at + "." + name + " must be a weight from 0 to " +
                                              std::to_string(kMaxWeight));
    }
    for (const auto& [seen, w] : s.weights_) {
      if (seen == *v) return core::fail("invalid_config", at + ": " + name + " is named twice");
    }
    s.weights_.emplace_back(*v, weight);
    s.total_ += weight;
  }
  if (!weights.empty() && s.total_ == 0) {
    return core::fail("invalid_config",
                      at +
                          ": the weights add up to 0; give at least one version a weight above "
                          "0, or leave " +
                          at + " empty for no experiment");
  }
  std::sort(s.weights_.begin(), s.weights_.end());
  return s;
}

std::uint64_t DegradationSplit::user_hash(std::string_view user_key) {
  // FNV-1a alone puts keys that differ in their last byte close together; the finalizer of
  // splitmix64 spreads them over the whole range before the modulo.
  std::uint64_t z = core::fnv1a(user_key, core::fnv1a("degradation.ab:"));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::optional<DegradationVersion> DegradationSplit::assign(std::string_view user_key) const {
  if (total_ == 0) return std::nullopt;
  auto point = static_cast<std::int64_t>(user_hash(user_key) % static_cast<std::uint64_t>(total_));
  for (const auto& [v, w] : weights_) {
    if (point < w) return v;
    point -= w;
  }
  return weights_.back().first;  // not reached: the weights add up to total_
}

}  // namespace ma::assist
