#include "state/redis/redis_state.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <random>

#include "resilience/retry_policy.hpp"
#include "state/redis/redis_cache.hpp"

namespace ma::state {

namespace {

// Trim the last minute, count, spend one if under the limit -- atomically, on Redis time so
// the servers' clocks do not matter.
constexpr const char* kSpendScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";

constexpr const char* kAvailableScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
)lua";

constexpr const char* kHeartbeatScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZCARD', KEYS[1])
)lua";

// A catalog change: onto the stream (trimmed to about ARGV[1] entries) and into the catalog's
// state, one field per product ever changed, so that a server that starts after the stream
// was trimmed, or reconnects after it was trimmed past its place, still learns every change.
// KEYS[1] the stream, KEYS[2] the state hash; ARGV: max length, origin, product, price, stock.
constexpr const char* kPublishProductScript = R"lua(
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'origin', ARGV[2],
                      'product', ARGV[3], 'price', ARGV[4], 'stock', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. ' ' .. ARGV[5])
return id
)lua";

// The catalog's state and the stream id it is current to, together (atomically).
constexpr const char* kCatalogSnapshotScript = R"lua(
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0'
if #last > 0 then id = last[1][1] end
return {id, redis.call('HGETALL', KEYS[2])}
)lua";

// A sampling change: onto the event stream, and into the fleet's latest change when it comes
// after the one there (the changes' own order, not the stream's: two servers may publish in
// the other order than they stamped), so that a server that starts later applies the change
// every other server ended on. NOTE: the key does not expire with its runtime rules: a
// server that reads lapsed rules at start keeps its configured ones, and still learns the
// change's place in the order (an expiring key would let an older change take its place).
// KEYS[1] the stream, KEYS[2] the hash (order, body); ARGV: max length, origin, body, order
// key. The keys compare byte by byte: Lua's < follows the server's collation locale.
constexpr const char* kPublishSamplingScript = R"lua(
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local kept = redis.call('HGET', KEYS[2], 'order')
if not kept or before(kept, ARGV[4]) then
  redis.call('HSET', KEYS[2], 'order', ARGV[4], 'body', ARGV[3])
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'origin', ARGV[2],
                  'type', 'sampling', 'body', ARGV[3])
)lua";

// Stream ids ("<ms>-<seq>") in order.
bool id_before(const std::string& a, const std::string& b) {
  auto parse = [](const std::string& id) {
    const auto dash = id.find('-');
    const auto num = [](const std::string& s) { return std::strtoull(s.c_str(), nullptr, 10); };
    return std::pair{num(id.substr(0, dash)),
                     dash == std::string::npos ? 0ULL : num(id.substr(dash + 1))};
  };
  return parse(a) < parse(b);
}

std::string field(const RedisReply& fields, std::string_view name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    if (fields.elements[i].str == name) return fields.elements[i + 1].str;
  }
  return {};
}

int to_int(const std::string& s, int fallback) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  return (s.empty() || *end != '\0') ? fallback : static_cast<int>(v);
}

}  // namespace

// The fleet budget: the Redis script, or a local budget of limit / live servers while Redis
// cannot answer.
class RedisState::Budget final : public resilience::RetryBudget {
 public:
  explicit Budget(RedisState& s)
      : s_(s),
        local_(std::make_unique<resilience::CappedRetryBudget>(s.config_.retries_per_minute)) {}
  void on_request(core::TimePoint) override {}
  bool may_block() const override { return true; }
  bool try_spend(core::TimePoint now) override {
    const std::uint64_t n = seq_.fetch_add(1, std::memory_order_relaxed);
    auto r = s_.client_.eval(kSpendScript, {s_.key("budget")},
                             {std::to_string(s_.config_.retries_per_minute), "60000",
                              s_.config_.server_id + ":" + std::to_string(n)});
    if (r.ok() && r->type == RedisReply::kInteger) return r->integer == 1;
    s_.fallbacks_.fetch_add(1, std::memory_order_relaxed);
    return local_spend(now);
  }
  double available(core::TimePoint now) override {
    auto r = s_.client_.eval(kAvailableScript, {s_.key("budget")},
                             {std::to_string(s_.config_.retries_per_minute), "60000"});
    if (r.ok() && r->type == RedisReply::kInteger) return static_cast<double>(r->integer);
    std::lock_guard lock(mu_);
    return local_->available(now);
  }

 private:
  bool local_spend(core::TimePoint now) {
    std::lock_guard lock(mu_);
    // This server's share of the fleet budget, by the last count of live servers.
    const int live = std::max(1, s_.live_.load());
    const int share = std::max(1, s_.config_.retries_per_minute / live);
    if (share != local_share_) {
      local_ = std::make_unique<resilience::CappedRetryBudget>(share);
      local_share_ = share;
    }
    return local_->try_spend(now);
  }
  RedisState& s_;
  std::atomic<std::uint64_t> seq_{0};
  std::mutex mu_;
  std::unique_ptr<resilience::RetryBudget> local_;
  int local_share_ = 0;
};

RedisState::RedisState(RedisStateConfig config, core::Clock& clock)
    : config_(std::move(config)), clock_(clock), client_(config_.redis) {
  if (config_.server_id.empty()) {
    char host[64] = {};
    ::gethostname(host, sizeof host - 1);
    config_.server_id = std::string(host) + "-" + std::to_string(::getpid()) + "-" +
                        std::to_string(std::random_device{}() % 100000);
  }
  budget_ = std::make_unique<Budget>(*this);
  cache_ = std::make_unique<RedisCacheTier>(client_, config_.fleet);
}

RedisState::~RedisState() { stop(); }

std::string RedisState::key(std::string_view what) const {
  return "ma:{" + config_.fleet + "}:" + std::string(what);
}

void RedisState::publish(const std::string& stream, std::vector<std::string> fields) {
  std::vector<std::string> argv = {
      "XADD", stream,   "MAXLEN",         "~", std::to_string(config_.stream_max_len),
      "*",    "origin", config_.server_id};
  for (auto& f : fields) argv.push_back(std::move(f));
  if (!client_.command(argv).ok()) publish_failures_.fetch_add(1, std::memory_order_relaxed);
}

void RedisState::publish_product(const std::string& product, int price, int stock) {
  auto r = client_.eval(kPublishProductScript, {key("catalog"), key("catalog:state")},
                        {std::to_string(config_.stream_max_len), config_.server_id, product,
                         std::to_string(price), std::to_string(stock)});
  if (!r.ok()) publish_failures_.fetch_add(1, std::memory_order_relaxed);
}

bool RedisState::catch_up_catalog(RedisConnection& reader) {
  if (catalog_last_ != "0") {
    // Still on the stream: nothing was trimmed past the last change applied here.
    auto first = reader.command({"XRANGE", key("catalog"), "-", "+", "COUNT", "1"});
    if (!first.ok()) return false;
    if (first->elements.empty() || first->elements[0].elements.empty() ||
        !id_before(catalog_last_, first->elements[0].elements[0].str)) {
      return true;
    }
  }
  auto r =
      reader.command({"EVAL", kCatalogSnapshotScript, "2", key("catalog"), key("catalog:state")});
  if (!r.ok() || r->elements.size() != 2) return false;
  const auto& state = r->elements[1].elements;
  // Counted before the handlers run: whoever sees a product it applied sees the count too.
  snapshots_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i + 1 < state.size(); i += 2) {
    const std::string& v = state[i + 1].str;
    const auto space = v.find(' ');
    const int price = to_int(v.substr(0, space), -1);
    const int stock = space == std::string::npos ? -1 : to_int(v.substr(space + 1), -1);
    if (price > 0 && stock >= 0 && handlers_.on_product)
      handlers_.on_product(state[i].str, price, stock);
  }
  catalog_last_ = r->elements[0].str;
  return true;
}

void RedisState::publish_flags(const std::string& flags_json) {
  if (!client_.command({"SET", key("flags"), flags_json}).ok())
    publish_failures_.fetch_add(1, std::memory_order_relaxed);
  publish(key("events"), {"type", "flags", "body", flags_json});
}

void RedisState::publish_breaker(const std::string& model, bool open) {
  publish(key("events"), {"type", "breaker", "model", model, "open", open ? "1" : "0"});
}

void RedisState::publish_cache_flush(const std::string& category) {
  publish(key("events"), {"type", "cache_flush", "category", category});
}

Delivery RedisState::publish_sampling(const std::string& change_json,
                                      const std::string& order_key) {
  auto r = client_.eval(
      kPublishSamplingScript, {key("events"), key("sampling")},
      {std::to_string(config_.stream_max_len), config_.server_id, change_json, order_key});
  if (r.ok()) return Delivery::kPublished;
  publish_failures_.fetch_add(1, std::memory_order_relaxed);
  return Delivery::kNotPublished;
}

void RedisState::start(FleetHandlers handlers) {
  handlers_ = std::move(handlers);
  // Where the event stream ends now, then the fleet's flags and sampling change as they are:
  // a change made between the two is read twice (harmless: flags are a whole set, and the
  // sampling switch ignores a change that is not after the last it applied), never missed.
  if (auto r = client_.command({"XREVRANGE", key("events"), "+", "-", "COUNT", "1"}); r.ok()) {
    events_last_ = !r->elements.empty() && !r->elements[0].elements.empty()
                       ? r->elements[0].elements[0].str
                       : "0";
  }
  if (auto r = client_.command({"GET", key("flags")});
      r.ok() && r->type == RedisReply::kString && handlers_.on_flags) {
    handlers_.on_flags(r->str);
  }
  if (auto r = client_.command({"HGET", key("sampling"), "body"});
      r.ok() && r->type == RedisReply::kString && handlers_.on_sampling) {
    handlers_.on_sampling(r->str);
  }
  heartbeat();
  thread_ = std::thread([this] { run(); });
}

void RedisState::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_.store(true);
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RedisState::heartbeat() {
  auto r = client_.eval(kHeartbeatScript, {key("servers")},
                        {config_.server_id, std::to_string(config_.live_window.count())});
  if (r.ok() && r->type == RedisReply::kInteger)
    live_.store(std::max<int>(1, static_cast<int>(r->integer)));
}

void RedisState::apply(const std::string& stream, const RedisReply& entry) {
  if (entry.elements.size() < 2) return;
  const RedisReply& fields = entry.elements[1];
  const std::string type = field(fields, "type");
  // A sampling change comes back to its origin too, which ignores it (it is not after the
  // change in force there); the changes' own order, not the stream's, decides the last one.
  if (type == "sampling") {
    if (handlers_.on_sampling) handlers_.on_sampling(field(fields, "body"));
    return;
  }
  // An answer ready: every server holding a connection of the owner's offers to take it, the
  // server that wrote it too (take() hands each answer to one of them).
  if (type == "later_ready") {
    if (handlers_.on_later_ready) handlers_.on_later_ready(field(fields, "owner"));
    return;
  }
  if (field(fields, "origin") == config_.server_id) return;  // applied when it was made
  if (stream == key("catalog")) {
    const int price = to_int(field(fields, "price"), -1);
    const int stock = to_int(field(fields, "stock"), -1);
    const std::string product = field(fields, "product");
    if (!product.empty() && price > 0 && stock >= 0 && handlers_.on_product)
      handlers_.on_product(product, price, stock);
  } else {
    if (type == "flags" && handlers_.on_flags) handlers_.on_flags(field(fields, "body"));
    if (type == "cache_flush" && handlers_.on_cache_flush)
      handlers_.on_cache_flush(field(fields, "category"));
    if (type == "breaker" && handlers_.on_breaker)
      handlers_.on_breaker(field(fields, "origin"), field(fields, "model"),
                           field(fields, "open") == "1");
  }
}

void RedisState::run() {
  std::unique_ptr<RedisConnection> reader;
  auto next_beat = clock_.now();
  std::chrono::milliseconds backoff{100};
  std::mt19937_64 rng{std::random_device{}()};
  while (!stop_.load()) {
    const auto now = clock_.now();
    if (now >= next_beat) {
      heartbeat();
      if (handlers_.on_tick) handlers_.on_tick(live_.load());
      next_beat = now + config_.heartbeat;
    }
    if (!reader) {
      // The blocking reader needs a timeout above its BLOCK time.
      auto c = RedisConnection::open(config_.redis, std::chrono::milliseconds(1000));
      // A fresh start, or a stream trimmed past this server's place: the catalog's state
      // first, then the stream from where that state is current.
      if (!c.ok() || !catch_up_catalog(**c)) {
        reader_up_.store(false);
        // Reconnect with decorrelated jitter.
        backoff = std::min<std::chrono::milliseconds>(
            std::chrono::milliseconds(5000),
            std::chrono::milliseconds(std::uniform_int_distribution<long>(
                100, std::max<long>(101, backoff.count() * 3))(rng)));
        {
          std::unique_lock lock(stop_mu_);  // stop() wakes it at once
          stop_cv_.wait_for(lock, backoff, [this] { return stop_.load(); });
        }
        next_beat = std::min(next_beat, clock_.now());
        continue;
      }
      reader = std::move(c).value();
      reader_up_.store(true);
      backoff = std::chrono::milliseconds(100);
      if (events_last_ == "$") {
        // Start the event stream from its current end (flags were read at start).
        if (auto r = reader->command({"XREVRANGE", key("events"), "+", "-", "COUNT", "1"});
            r.ok() && !r->elements.empty() && !r->elements[0].elements.empty()) {
          events_last_ = r->elements[0].elements[0].str;
        } else {
          events_last_ = "0";
        }
      }
    }
    auto r = reader->command({"XREAD", "COUNT", "500", "BLOCK", "200", "STREAMS", key("catalog"),
                              key("events"), catalog_last_, events_last_});
    if (!r.ok()) {
      reader.reset();
      reader_up_.store(false);
      continue;
    }
    for (const auto& s : r->elements) {  // [stream, [entry, ...]]
      if (s.elements.size() < 2) continue;
      const std::string& stream = s.elements[0].str;
      for (const auto& entry : s.elements[1].elements) {
        apply(stream, entry);
        if (!entry.elements.empty()) {
          (stream == key("catalog") ? catalog_last_ : events_last_) = entry.elements[0].str;
        }
      }
    }
  }
}

}  // namespace ma::state
