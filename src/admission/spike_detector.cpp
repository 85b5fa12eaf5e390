#include "admission/spike_detector.hpp"

#include <cmath>

namespace ma::admission {

SpikeDetector::SpikeDetector(SpikeConfig config) : config_(config) {
  for (int i = 0; i < config_.window_s; ++i) buckets_.push_back(std::make_unique<Bucket>());
}

void SpikeDetector::Bits::add(std::uint64_t hash) {
  const auto i = static_cast<std::uint16_t>(hash % kBits);
  if (map[i]) return;
  map[i] = true;
  set.push_back(i);
}

void SpikeDetector::Bits::clear() {
  for (const std::uint16_t i : set) map[i] = false;
  set.clear();
}

SpikeDetector::Bucket& SpikeDetector::bucket_for(core::TimePoint now) {
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  Bucket& b = *buckets_[static_cast<std::size_t>(sec % config_.window_s)];
  if (b.second != sec) {
    b.second = sec;
    b.requests = 0;
    b.users.clear();
    b.sources.clear();
    b.questions.clear();
  }
  return b;
}

void SpikeDetector::record(core::TimePoint now, std::uint64_t user_hash, std::uint64_t source_hash,
                           std::uint64_t question_hash) {
  Bucket& b = bucket_for(now);
  ++b.requests;
  b.users.add(user_hash);
  b.sources.add(source_hash);
  b.questions.add(question_hash);
}

double SpikeDetector::estimate(std::size_t set_bits) {
  const double zeros = static_cast<double>(kBits - set_bits);
  if (zeros <= 0) return static_cast<double>(kBits) * std::log(static_cast<double>(kBits));
  return -static_cast<double>(kBits) * std::log(zeros / static_cast<double>(kBits));
}

std::size_t SpikeDetector::distinct(const std::vector<const Bucket*>& window, Bits Bucket::*dim) {
  std::size_t n = 0;
  for (const Bucket* b : window) {
    for (const std::uint16_t i : (b->*dim).set) {
      if (scratch_[i]) continue;
      scratch_[i] = true;
      ++n;
    }
  }
  for (const Bucket* b : window) {
    for (const std::uint16_t i : (b->*dim).set) scratch_[i] = false;
  }
  return n;
}

TrafficSnapshot SpikeDetector::snapshot(core::TimePoint now) {
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  TrafficSnapshot s;
  std::vector<const Bucket*> window;
  for (const auto& b : buckets_) {
    // Only complete seconds of the window count: the current one is still filling.
    if (b->second >= sec || b->second < sec - config_.window_s) continue;
    window.push_back(b.get());
    s.requests += b->requests;
  }
  if (window.empty()) return s;
  s.rate = s.requests / static_cast<double>(window.size());
  s.distinct_users = estimate(distinct(window, &Bucket::users));
  s.distinct_sources = estimate(distinct(window, &Bucket::sources));
  s.distinct_questions = estimate(distinct(window, &Bucket::questions));
  return s;
}

SpikeKind SpikeDetector::classify(core::TimePoint now, double base_rate) {
  return classify(snapshot(now), base_rate);
}

SpikeKind SpikeDetector::classify(const TrafficSnapshot& s, double base_rate) const {
  if (s.rate <= base_rate * config_.spike_factor) return SpikeKind::kNone;
  const bool organic = s.user_diversity() >= config_.min_user_diversity &&
                       s.source_diversity() >= config_.min_source_diversity &&
                       s.question_diversity() >= config_.min_question_diversity;
  return organic ? SpikeKind::kOrganic : SpikeKind::kAbusive;
}

}  // namespace ma::admission
