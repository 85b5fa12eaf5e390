#pragma once
// A random generator per thread slot (core/thread_slot.hpp), for a component that many
// workers call (the pipeline's per-message seeds, the observer's sampling draws): no shared
// lock and no shared cache line per draw.
//
// Deterministic where it must be: the first thread to draw gets the generator seeded with
// `seed` itself, so a single-threaded user (the simulator, the tests) sees exactly the
// sequence one Random(seed) gives; other threads' slots are seeded from `seed` and their
// slot, so workers never draw the same sequence. A slot's spin lock is only ever contended
// when more threads than kThreadSlots share it.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>

#include "core/random.hpp"
#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"

namespace ma::core {

class SlotRandom final {
 public:
  explicit SlotRandom(std::uint64_t seed) : seed_(seed) {}
  SlotRandom(const SlotRandom&) = delete;
  SlotRandom& operator=(const SlotRandom&) = delete;

  // Calls f(Random&) with this thread's generator, under its slot's lock.
  template <class F>
  auto with(F&& f) {
    Slot& s = slots_[thread_slot()];
    std::lock_guard lock(s.mu);
    if (!s.rng) {
      const bool first = !first_taken_.exchange(true, std::memory_order_relaxed);
      s.rng.emplace(first ? seed_ : mix(seed_ + 0x9e3779b97f4a7c15ULL * (thread_slot() + 1)));
    }
    return f(*s.rng);
  }

 private:
  static std::uint64_t mix(std::uint64_t z) {  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  struct alignas(kCacheLine) Slot {
    SpinLock mu;
    std::optional<Random> rng;
  };
  std::uint64_t seed_;
  std::atomic<bool> first_taken_{false};
  std::array<Slot, kThreadSlots> slots_;
};

}  // namespace ma::core
