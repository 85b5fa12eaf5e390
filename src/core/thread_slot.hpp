#pragma once
// Per-thread slots for state that every request touches (issue 19, "workers like Envoy's"):
// a counter or a buffer written by one thread and merged when read needs no shared cache
// line and no lock on the hot path.
//
// thread_slot() gives each thread that asks a small index, in the order threads first ask,
// modulo kThreadSlots: the server's workers (its first threads) get distinct slots; past
// kThreadSlots threads share slots, which stays correct (slots hold atomics or take a lock)
// and only costs sharing.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ma::core {

inline constexpr std::size_t kThreadSlots = 16;
// Padding between slots: one x86-64 cache line, so that two slots never share one.
inline constexpr std::size_t kCacheLine = 64;

inline std::size_t thread_slot() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t slot = next.fetch_add(1, std::memory_order_relaxed) % kThreadSlots;
  return slot;
}

// A sum that many threads add to: each thread adds to its own slot (its own cache line),
// value() sums the slots (exact once the additions are done, approximate during them).
template <class T>
class SlotSum final {
 public:
  void add(T n) { slots_[thread_slot()].v.fetch_add(n, std::memory_order_relaxed); }
  T value() const {
    T sum = 0;
    for (const auto& s : slots_) sum += s.v.load(std::memory_order_relaxed);
    return sum;
  }
  // For a sum mirrored from elsewhere. REQUIRES: it is only ever set (never add()ed).
  void set(T n) { slots_[0].v.store(n, std::memory_order_relaxed); }

 private:
  struct alignas(kCacheLine) Slot {
    std::atomic<T> v{0};
  };
  std::array<Slot, kThreadSlots> slots_;
};

// A count that many threads move up and down (requests in flight).
using SlotCounter = SlotSum<std::int64_t>;

// A statistic many threads add to (replies, cache hits, admissions), with the std::atomic
// operations its users need (fetch_add, load, ++).
class StatCounter final {
 public:
  void fetch_add(std::uint64_t n, std::memory_order = std::memory_order_relaxed) { sum_.add(n); }
  std::uint64_t load(std::memory_order = std::memory_order_relaxed) const { return sum_.value(); }
  StatCounter& operator++() {
    sum_.add(1);
    return *this;
  }

 private:
  SlotSum<std::uint64_t> sum_;
};

}  // namespace ma::core
