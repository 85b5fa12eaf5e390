#include "admission/spike_detector.hpp"

#include <cmath>

namespace ma::admission {

SpikeDetector::SpikeDetector(SpikeConfig config) : config_(config) {
  for (int i = 0; i < config_.window_s; ++i) buckets_.push_back(std::make_unique<Bucket>());
}

SpikeDetector::Bucket& SpikeDetector::bucket_for(core::TimePoint now) {
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  Bucket& b = *buckets_[static_cast<std::size_t>(sec % config_.window_s)];
  if (b.second != sec) {
    b.second = sec;
    b.requests = 0;
    b.users.reset();
    b.sources.reset();
    b.questions.reset();
  }
  return b;
}

void SpikeDetector::record(core::TimePoint now, std::uint64_t user_hash, std::uint64_t source_hash,
                           std::uint64_t question_hash) {
  Bucket& b = bucket_for(now);
  ++b.requests;
  b.users.set(user_hash % kBits);
  b.sources.set(source_hash % kBits);
  b.questions.set(question_hash % kBits);
}

double SpikeDetector::estimate(const std::bitset<kBits>& merged) {
  const double zeros = static_cast<double>(kBits - merged.count());
  if (zeros <= 0) return static_cast<double>(kBits) * std::log(static_cast<double>(kBits));
  return -static_cast<double>(kBits) * std::log(zeros / static_cast<double>(kBits));
}

TrafficSnapshot SpikeDetector::snapshot(core::TimePoint now) {
  const std::int64_t sec =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  TrafficSnapshot s;
  std::bitset<kBits> users, sources, questions;
  int seconds = 0;
  for (const auto& b : buckets_) {
    // Only complete seconds of the window count: the current one is still filling.
    if (b->second >= sec || b->second < sec - config_.window_s) continue;
    ++seconds;
    s.requests += b->requests;
    users |= b->users;
    sources |= b->sources;
    questions |= b->questions;
  }
  if (seconds == 0) return s;
  s.rate = s.requests / seconds;
  s.distinct_users = estimate(users);
  s.distinct_sources = estimate(sources);
  s.distinct_questions = estimate(questions);
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
