#pragma once
// Tells an organic spike (many distinct users and sources, varied questions) from abuse (few
// sources, repeated requests), over a sliding window of one-second buckets. Distinct users,
// sources and questions are estimated by linear counting on a bitmap per bucket (one hash and
// one bit per request; ~1% error at these sizes), so recording costs a few nanoseconds.
//
// Pure: takes `now`; thread safety: none (the admission controller holds it under its lock).

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/time.hpp"

namespace ma::admission {

struct TrafficSnapshot {
  double rate = 0;            // requests per second over the window
  double distinct_users = 0;  // estimated, over the window
  double distinct_sources = 0;
  double distinct_questions = 0;
  double requests = 0;
  // distinct_users / requests: near 1 for a crowd of one-message visitors.
  double user_diversity() const { return requests > 0 ? distinct_users / requests : 0; }
  double source_diversity() const { return requests > 0 ? distinct_sources / requests : 0; }
  double question_diversity() const { return requests > 0 ? distinct_questions / requests : 0; }
};

enum class SpikeKind : std::uint8_t { kNone, kOrganic, kAbusive };

struct SpikeConfig {
  int window_s = 10;
  double spike_factor = 1.3;  // rate above base_rate x this is a spike
  double min_user_diversity = 0.3;
  double min_source_diversity = 0.2;
  double min_question_diversity = 0.1;
};

class SpikeDetector final {
 public:
  explicit SpikeDetector(SpikeConfig config = {});
  void record(core::TimePoint now, std::uint64_t user_hash, std::uint64_t source_hash,
              std::uint64_t question_hash);
  TrafficSnapshot snapshot(core::TimePoint now);
  SpikeKind classify(core::TimePoint now, double base_rate);
  // The same, from a snapshot already taken (one pass over the window for both).
  SpikeKind classify(const TrafficSnapshot& s, double base_rate) const;

 private:
  static constexpr std::size_t kBits = 1 << 16;
  // One dimension of a second: the bits set, as a bitmap (membership) and as a list (so that
  // a snapshot and a reset cost what was recorded, not the size of the bitmap: at 11
  // messages a second, a window is a few hundred bits, not 240 KB to merge).
  struct Bits {
    std::bitset<kBits> map;
    std::vector<std::uint16_t> set;
    void add(std::uint64_t hash);
    void clear();
  };
  struct Bucket {
    std::int64_t second = INT64_MIN;
    std::uint32_t requests = 0;
    Bits users, sources, questions;
  };
  Bucket& bucket_for(core::TimePoint now);
  // Distinct bits over the window's buckets (their union's population count).
  std::size_t distinct(const std::vector<const Bucket*>& window, Bits Bucket::*dim);
  static double estimate(std::size_t set_bits);
  SpikeConfig config_;
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::bitset<kBits> scratch_;  // all zeros between snapshots
};

}  // namespace ma::admission
