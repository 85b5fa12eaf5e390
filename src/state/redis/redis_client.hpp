#pragma once
// A small, blocking Redis client on hiredis: a pool of connections, a timeout on every
// connect and every command, and fail-fast while Redis is down. After a failure the client
// stops trying until a backoff (decorrelated jitter, 100 ms .. 5 s) has passed, so a dead
// Redis costs a request nothing but a branch; then the next command reconnects.
//
// Thread safety: command() may be called from any thread; each call holds one connection.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "core/real_clock.hpp"
#include "core/result.hpp"

struct redisContext;

namespace ma::state {

struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
  // redis://[:password@]host[:port][/db]
  static core::Result<RedisUrl> parse(std::string_view url);
};

struct RedisReply {
  enum Type : std::uint8_t { kNil, kInteger, kString, kArray, kStatus } type = kNil;
  long long integer = 0;
  std::string str;
  std::vector<RedisReply> elements;
};

struct RedisOptions {
  RedisUrl url;
  std::size_t pool_size = 4;
  std::chrono::milliseconds connect_timeout{100};
  std::chrono::milliseconds command_timeout{50};
};

// One connection, owned by whoever holds it (the pool, or a subscriber thread).
class RedisConnection final {
 public:
  static core::Result<std::unique_ptr<RedisConnection>> open(const RedisOptions& o,
                                                             std::chrono::milliseconds timeout);
  ~RedisConnection();
  // An error value for transport failures ("redis_io") and Redis errors ("redis_error").
  core::Result<RedisReply> command(const std::vector<std::string>& argv);

 private:
  explicit RedisConnection(redisContext* c) : ctx_(c) {}
  redisContext* ctx_;
};

class RedisClient final {
 public:
  explicit RedisClient(RedisOptions options);
  ~RedisClient();

  core::Result<RedisReply> command(const std::vector<std::string>& argv);
  // EVALSHA with the script's SHA1, loading the script when Redis does not know it.
  core::Result<RedisReply> eval(const std::string& script, const std::vector<std::string>& keys,
                                const std::vector<std::string>& args);

  bool up() const { return up_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  const RedisOptions& options() const { return options_; }

 private:
  std::unique_ptr<RedisConnection> take();
  void give_back(std::unique_ptr<RedisConnection> c);
  void failed();

  RedisOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
  core::RealClock clock_;  // a real socket's backoff runs in real time
  core::TimePoint retry_at_{};
  std::chrono::milliseconds backoff_{0};
  core::Random rng_{0x7ed15};
  std::atomic<bool> up_{true};
  std::atomic<std::uint64_t> errors_{0};
};

std::string sha1_hex(std::string_view data);

}  // namespace ma::state
