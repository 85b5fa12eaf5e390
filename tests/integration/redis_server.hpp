#pragma once
// A real redis-server for the tests: started on a free loopback port, ready when it says so
// on its stdout, killed (or stopped) by the test or at the end.

#include <sys/types.h>

#include <string>

namespace ma::testing {

class RedisServer {
 public:
  RedisServer();  // starts on a free port; throws when redis-server does not come up
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  void kill();     // SIGKILL, as a crash
  void restart();  // a new, empty redis-server on the same port

 private:
  void start();
  int port_ = 0;
  pid_t pid_ = -1;
  int out_ = -1;  // its stdout, kept open so its writes never hit a closed pipe
};

}  // namespace ma::testing
