#pragma once
// A lock for critical sections of a few dozen nanoseconds on the request path (a token
// bucket's refill-and-take, a table probe): a contended std::mutex parks the thread in the
// kernel (futex) and wakes it with a context switch, each costing more than the section it
// guards; this spins on a load (no cache-line ping-pong while waiting), pausing, and yields
// the core after a while so that a preempted holder can finish (more threads than cores).
//
// NOTE: never hold it across I/O, a syscall, an allocation-heavy call or a co_await; those
// take a std::mutex (or, better, run outside any lock). Satisfies Lockable (std::lock_guard,
// std::unique_lock, std::scoped_lock).

#include <atomic>
#include <thread>

namespace ma::core {

class SpinLock final {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  [[nodiscard]] bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  std::atomic<bool> locked_{false};
};

}  // namespace ma::core
