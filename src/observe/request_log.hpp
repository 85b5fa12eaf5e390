#pragma once
// One complete JSON log line per request, never sampled (seed incident 4: the logs had the
// answer). Personal data is redacted before anything is written: e-mail addresses, phone
// numbers, bearer tokens and long secrets become "[redacted]"; user ids are hashed.
//
// Thread safety: LogSink::write may be called from any thread (one mutex, one fwrite).

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace ma::observe {

struct RequestLog {
  core::WallTime time{};
  std::string level = "INFO";  // INFO | WARN | ERROR
  std::string trace_id;
  std::string user;  // hashed
  std::string tier, intent, language;
  int attempts = 0;
  int retries = 0;
  std::string error_code, error_class, error_message;
  double latency_ms = 0;
  double queue_wait_ms = 0;
  std::string admission;       // admitted | queued | limited_user | limited_source | queue_timeout
  std::string cache_category;  // when served from the cache
  std::string price_guard, price_guard_product;
  bool degraded = false;
  bool deduplicated = false;
  bool trace_kept = false;
  std::string question;  // redacted, at most 200 characters
  std::string models;    // "sonnet:ThrottlingException,haiku:ok"
};

std::string redact(std::string_view text);
// A stable, non-reversible short id for a user (FNV-1a of a salt and the id).
std::string hash_user(std::string_view user_id);
std::string to_json_line(const RequestLog& log);
std::string rfc3339(core::WallTime t);

class LogSink final {
 public:
  // `path` empty: no file. `to_stdout`: also to standard output.
  LogSink(const std::string& path, bool to_stdout);
  ~LogSink();
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;
  bool ok() const { return file_ != nullptr || to_stdout_; }
  void write(const RequestLog& log);
  void write_line(std::string_view line, bool flush_now = true);
  // Writes out what is buffered (the server calls it every second).
  void flush();

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  bool to_stdout_;
  int unflushed_ = 0;
};

}  // namespace ma::observe
