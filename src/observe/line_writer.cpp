#include "observe/line_writer.hpp"

#include <unistd.h>

#include <cerrno>

namespace ma::observe {

LineWriter::LineWriter(std::FILE* file, bool to_stdout) : file_(file), to_stdout_(to_stdout) {
  if (ok()) writer_ = std::thread([this] { run_writer(); });
}

LineWriter::~LineWriter() {
  if (writer_.joinable()) {
    flush();
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    work_.notify_one();
    writer_.join();
  }
  if (file_ != nullptr) std::fclose(file_);
}

void LineWriter::append(std::string_view line, bool flush_now) {
  if (!ok()) return;
  Slot& slot = slots_[core::thread_slot()];
  bool full = false;
  {
    std::lock_guard lock(slot.mu);
    slot.buffer.append(line);
    slot.buffer.push_back('\n');
    full = ++slot.lines >= kFlushLines || slot.buffer.size() >= kFlushBytes;
  }
  if (flush_now || full) hand_over(slot);
}

void LineWriter::hand_over_all() {
  if (!ok()) return;
  for (Slot& slot : slots_) hand_over(slot);
}

void LineWriter::flush() {
  hand_over_all();
  std::unique_lock lock(queue_mu_);
  const std::uint64_t last = queued_total_;  // this call's buffers and every one before
  written_.wait(lock, [&] { return written_total_ >= last; });
}

void LineWriter::hand_over(Slot& slot) {
  std::string out;
  {
    std::lock_guard lock(slot.mu);
    if (slot.buffer.empty()) return;
    out.swap(slot.buffer);
    slot.lines = 0;
    slot.buffer.reserve(out.capacity());  // the next batch needs no regrowth
  }
  {
    std::unique_lock lock(queue_mu_);
    written_.wait(lock, [&] { return queue_.size() < kMaxQueuedBuffers; });
    queue_.push_back(std::move(out));
    ++queued_total_;
  }
  work_.notify_one();
}

void LineWriter::run_writer() {
  std::deque<std::string> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, everything written
      batch.swap(queue_);
    }
    for (const std::string& b : batch) {
      if (file_ != nullptr) write_all(::fileno(file_), b);
      if (to_stdout_) write_all(STDOUT_FILENO, b);
    }
    {
      std::lock_guard lock(queue_mu_);
      written_total_ += batch.size();
    }
    batch.clear();
    written_.notify_all();
  }
}

void LineWriter::write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a full disk or a closed pipe: the lines are lost, the requests go on
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace ma::observe
