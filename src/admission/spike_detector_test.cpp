#include "admission/spike_detector.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/text.hpp"

namespace ma::admission {
namespace {

using namespace std::chrono_literals;

const core::TimePoint kT0{std::chrono::hours(24)};

std::uint64_t h(std::string_view what, int i) {
  return core::fnv1a(std::to_string(i), core::fnv1a(what));
}

TEST(SpikeDetectorTest, CountsDistinctSendersOverTheCompleteSecondsOfTheWindow) {
  SpikeDetector d;
  // Five seconds of 1,000 messages each: 2,000 distinct users (each sends 2 or 3 times across
  // the seconds), 3 sources, 50 questions.
  for (int s = 0; s < 5; ++s) {
    for (int i = 0; i < 1000; ++i) {
      const int user = (s * 1000 + i) % 2000;
      d.record(kT0 + std::chrono::seconds(s) + std::chrono::microseconds(i), h("u", user),
               h("s", i % 3), h("q", i % 50));
    }
  }
  // The sixth second is still filling: it does not count.
  d.record(kT0 + 5s, h("u", 99'999), h("s", 99'999), h("q", 99'999));
  const TrafficSnapshot s = d.snapshot(kT0 + 5s + 1ms);
  EXPECT_EQ(s.requests, 5000);
  EXPECT_DOUBLE_EQ(s.rate, 1000);
  EXPECT_NEAR(s.distinct_users, 2000, 2000 * 0.03);  // linear counting, ~1% at this load
  EXPECT_NEAR(s.distinct_sources, 3, 0.01);
  EXPECT_NEAR(s.distinct_questions, 50, 0.1);
  // Asking again gives the same answer (the scratch space is clean after each snapshot).
  const TrafficSnapshot again = d.snapshot(kT0 + 5s + 2ms);
  EXPECT_EQ(again.distinct_users, s.distinct_users);
  // Eleven seconds later the window has moved past all of it.
  EXPECT_EQ(d.snapshot(kT0 + 16s).requests, 0);
}

TEST(SpikeDetectorTest, ASecondReusedByTheWindowStartsEmpty) {
  SpikeDetector d;  // ten one-second buckets
  for (int i = 0; i < 500; ++i) d.record(kT0 + std::chrono::milliseconds(i), h("u", i), 1, 2);
  // Ten seconds later the same bucket holds a new second with one sender.
  d.record(kT0 + 10s, h("u", 7), 1, 2);
  const TrafficSnapshot s = d.snapshot(kT0 + 11s);
  EXPECT_EQ(s.requests, 1);
  EXPECT_NEAR(s.distinct_users, 1, 0.01);
}

}  // namespace
}  // namespace ma::admission
