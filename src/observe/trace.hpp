#pragma once
// Traces: one trace per request with child spans (admission, each cascade tier, each model
// attempt), written as JSON lines (a file a collector tails) in an X-Ray-like document shape.
// The file is created with mode 0640 (open_log_file). Thread safety: TraceSink::write may be
// called from any thread.

#include <cstdio>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "observe/line_writer.hpp"

namespace ma::observe {

struct Span {
  std::string id;
  std::string parent_id;  // empty for the root
  std::string name;
  core::WallTime start{};
  core::Duration duration{};
  bool error = false;
  std::vector<std::pair<std::string, std::string>> annotations;
};

struct Trace {
  std::string trace_id;
  std::vector<Span> spans;  // spans[0] is the root
};

std::string to_json_line(const Trace& t);

class TraceSink final {
 public:
  explicit TraceSink(const std::string& path);
  TraceSink(const TraceSink&) = delete;
  TraceSink& operator=(const TraceSink&) = delete;
  bool ok() const { return out_.ok(); }
  // Batched as the request log (observe/line_writer.hpp), written at shutdown.
  void write(const Trace& t) { out_.append(to_json_line(t), false); }
  void flush() { out_.flush(); }
  // Starts writing what is buffered without waiting for it (the server's flusher, every
  // second, on an io thread).
  void hand_over() { out_.hand_over_all(); }

 private:
  LineWriter out_;
};

}  // namespace ma::observe
