#include "state/redis/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

namespace ma::state {

core::Result<RedisUrl> RedisUrl::parse(std::string_view url) {
  RedisUrl u;
  if (url.rfind("redis://", 0) != 0)
    return core::fail("invalid_url", "a Redis URL starts with redis://");
  url.remove_prefix(8);
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = url.substr(0, at);
    if (auto colon = auth.find(':'); colon != std::string_view::npos) auth.remove_prefix(colon + 1);
    u.password = std::string(auth);
    url.remove_prefix(at + 1);
  }
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    const std::string db(url.substr(slash + 1));
    url = url.substr(0, slash);
    if (!db.empty()) {
      char* end = nullptr;
      u.db = static_cast<int>(std::strtol(db.c_str(), &end, 10));
      if (*end != '\0' || u.db < 0) return core::fail("invalid_url", "bad Redis database number");
    }
  }
  if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    const std::string port(url.substr(colon + 1));
    char* end = nullptr;
    u.port = static_cast<int>(std::strtol(port.c_str(), &end, 10));
    if (*end != '\0' || u.port <= 0 || u.port > 65535)
      return core::fail("invalid_url", "bad Redis port");
    url = url.substr(0, colon);
  }
  if (!url.empty()) u.host = std::string(url);
  return u;
}

namespace {

timeval to_tv(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<long>(ms.count() / 1000);
  tv.tv_usec = static_cast<long>((ms.count() % 1000) * 1000);
  return tv;
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::kArray;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::kNil;
  }
  return out;
}

}  // namespace

core::Result<std::unique_ptr<RedisConnection>> RedisConnection::open(
    const RedisOptions& o, std::chrono::milliseconds timeout) {
  redisContext* c =
      redisConnectWithTimeout(o.url.host.c_str(), o.url.port, to_tv(o.connect_timeout));
  if (c == nullptr) return core::fail("redis_io", "cannot allocate a Redis context");
  if (c->err != 0) {
    std::string msg = std::string("cannot connect to Redis: ") + c->errstr;
    redisFree(c);
    return core::fail("redis_io", msg);
  }
  redisSetTimeout(c, to_tv(timeout));
  std::unique_ptr<RedisConnection> conn(new RedisConnection(c));
  if (!o.url.password.empty()) {
    auto r = conn->command({"AUTH", o.url.password});
    if (!r.ok()) return core::fail(std::move(r).error());
  }
  if (o.url.db != 0) {
    auto r = conn->command({"SELECT", std::to_string(o.url.db)});
    if (!r.ok()) return core::fail(std::move(r).error());
  }
  return conn;
}

RedisConnection::~RedisConnection() { redisFree(ctx_); }

core::Result<RedisReply> RedisConnection::command(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
  if (r == nullptr) {
    return core::fail("redis_io", std::string("Redis: ") + (ctx_->err ? ctx_->errstr : "no reply"));
  }
  if (r->type == REDIS_REPLY_ERROR) {
    std::string msg(r->str, r->len);
    freeReplyObject(r);
    return core::fail("redis_error", msg);
  }
  RedisReply out = convert(r);
  freeReplyObject(r);
  return out;
}

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {}
RedisClient::~RedisClient() = default;

std::unique_ptr<RedisConnection> RedisClient::take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (!up_.load() && clock_.now() < retry_at_) return nullptr;  // fail fast
  }
  auto c = RedisConnection::open(options_, options_.command_timeout);
  if (!c.ok()) {
    failed();
    return nullptr;
  }
  return std::move(c).value();
}

void RedisClient::give_back(std::unique_ptr<RedisConnection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < options_.pool_size) idle_.push_back(std::move(c));
  backoff_ = std::chrono::milliseconds(0);
  up_.store(true);
}

void RedisClient::failed() {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  // Decorrelated jitter between 100 ms and 5 s: a fleet does not reconnect in lockstep.
  const auto base = std::chrono::milliseconds(100);
  const auto prev = std::max(base, backoff_);
  const auto next = std::chrono::milliseconds(static_cast<long>(
      rng_.uniform(static_cast<double>(base.count()), static_cast<double>(prev.count() * 3))));
  backoff_ = std::min(next, std::chrono::milliseconds(5000));
  retry_at_ = clock_.now() + backoff_;
  up_.store(false);
  idle_.clear();  // the others are likely dead too
}

core::Result<RedisReply> RedisClient::command(const std::vector<std::string>& argv) {
  auto c = take();
  if (!c) return core::fail("redis_down", "Redis is unavailable");
  auto r = c->command(argv);
  if (!r.ok() && r.error().code == "redis_io") {
    failed();  // the connection is dropped with `c`
    return r;
  }
  give_back(std::move(c));
  return r;
}

core::Result<RedisReply> RedisClient::eval(const std::string& script,
                                           const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"EVALSHA", sha1_hex(script), std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = command(argv);
  if (!r.ok() && r.error().code == "redis_error" && r.error().message.rfind("NOSCRIPT", 0) == 0) {
    argv[0] = "EVAL";
    argv[1] = script;
    r = command(argv);
  }
  return r;
}

std::string sha1_hex(std::string_view data) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  char hex[2 * SHA_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return std::string(hex, 2 * SHA_DIGEST_LENGTH);
}

}  // namespace ma::state
