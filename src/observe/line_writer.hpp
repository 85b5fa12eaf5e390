#pragma once
// Lines appended to a file (and/or standard output) by many threads, with no shared lock and
// no I/O on the request path: each thread appends to its own slot's buffer
// (core/thread_slot.hpp) and hands the whole buffer to the writer thread once it holds
// kFlushLines lines or kFlushBytes, at once when asked (an ERROR line), and on flush()
// (every second, and at shutdown). The writer thread alone calls write(2): a file write is
// blocking I/O, and eight workers writing one file queue on its inode lock in the kernel.
//
// Each write(2) carries whole lines to a file opened O_APPEND, so lines never interleave;
// lines of different threads appear in the order their buffers were handed over, not
// strictly in time order (each line carries its time). No line is dropped: past
// kMaxQueuedBuffers waiting (a disk slower than the traffic), appenders wait for the writer.
//
// Thread safety: append() and flush() from any thread.

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/spin_lock.hpp"
#include "core/thread_slot.hpp"

namespace ma::observe {

class LineWriter final {
 public:
  static constexpr int kFlushLines = 64;
  static constexpr std::size_t kFlushBytes = 64 * 1024;
  static constexpr std::size_t kMaxQueuedBuffers = 256;  // ~16 MiB at kFlushBytes each

  // `file` (owned, closed by the destructor; may be null) and/or standard output.
  LineWriter(std::FILE* file, bool to_stdout);
  ~LineWriter();  // writes what is buffered, then stops the writer thread
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  bool ok() const { return file_ != nullptr || to_stdout_; }
  // Appends `line` and a newline; `flush_now` writes this thread's buffer at once.
  void append(std::string_view line, bool flush_now);
  // Writes every thread's buffer; returns once it is written.
  void flush();
  // Hands every thread's buffer to the writer without waiting for the write (the periodic
  // flush, on an io thread).
  void hand_over_all();

 private:
  struct alignas(core::kCacheLine) Slot {
    core::SpinLock mu;  // held to append or to take the buffer, never across the write
    std::string buffer;
    int lines = 0;
  };
  // Takes the slot's lines (under its lock) and queues them for the writer.
  void hand_over(Slot& slot);
  void run_writer();
  void write_all(int fd, std::string_view bytes);

  std::FILE* file_;
  bool to_stdout_;
  std::array<Slot, core::kThreadSlots> slots_;
  std::mutex queue_mu_;
  std::condition_variable work_;     // the writer waits for buffers
  std::condition_variable written_;  // flush() and full queues wait for the writer
  std::deque<std::string> queue_;    // under queue_mu_
  std::uint64_t queued_total_ = 0;   // buffers ever queued; under queue_mu_
  std::uint64_t written_total_ = 0;  // buffers ever written; under queue_mu_
  bool stopping_ = false;            // under queue_mu_
  std::thread writer_;
};

}  // namespace ma::observe
