#include "integration/redis_server.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace ma::testing {

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

RedisServer::RedisServer() : port_(free_port()) { start(); }

RedisServer::~RedisServer() { kill(); }

void RedisServer::start() {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Dies with the test: a test killed by a signal (a CTest timeout, a closed pipe) must
    // not leave a redis-server behind holding its port.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    const std::string port = std::to_string(port_);
    ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--loglevel", "notice", nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  // Ready when the server says so (no sleeping, no polling the port).
  std::string seen;
  char buf[4096];
  bool ready = false;
  while (!ready) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) break;
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
    ready = seen.find("Ready to accept connections") != std::string::npos;
  }
  out_ = out[0];
  if (!ready) {
    kill();
    throw std::runtime_error("redis-server did not start: " + seen.substr(0, 500));
  }
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  if (out_ >= 0) ::close(out_);
  out_ = -1;
}

void RedisServer::restart() {
  kill();
  start();
}

}  // namespace ma::testing
