#include "state/redis/redis_cache.hpp"

#include <algorithm>
#include <boost/json.hpp>

namespace ma::state {

namespace json = boost::json;

namespace {

// An answer is a hash: its JSON under "v", and for each tag it carries (every answer carries
// "all" and its category; pricing answers their products too) the tag's generation when it
// was written. Invalidating a tag gives it a new generation: O(1), nothing to walk, and no
// set of keys that grows with every answer written. A generation is never reused (they come
// from one counter), and a tag whose generation is missing (evicted) invalidates its answers.
//
// KEYS[1] the answer, KEYS[2] the counter, KEYS[3..] the tags' generation keys;
// ARGV[1] the JSON, ARGV[2] the TTL in ms, ARGV[3..] the tags' field names, in KEYS' order.
constexpr const char* kPut = R"lua(
local fields = {'v', ARGV[1]}
for i = 3, #KEYS do
  local g = redis.call('GET', KEYS[i])
  if not g then
    g = tostring(redis.call('INCR', KEYS[2]))
    redis.call('SET', KEYS[i], g)
  end
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = g
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

// KEYS[1] the answer; ARGV[1] the prefix of the generation keys (the answer's hash slot, so
// the keys it names are in the slot of KEYS[1]). A stale answer is deleted and is a miss.
constexpr const char* kGet = R"lua(
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local v = false
for i = 1, #h, 2 do
  if h[i] == 'v' then
    v = h[i + 1]
  elseif redis.call('GET', ARGV[1] .. h[i]) ~= h[i + 1] then
    redis.call('DEL', KEYS[1])
    return false
  end
end
if not v then return false end
return {v, redis.call('PTTL', KEYS[1])}
)lua";

constexpr const char* kDel = "return redis.call('DEL', KEYS[1])";

// KEYS[1] a tag's generation key, KEYS[2] the counter.
constexpr const char* kBump = R"lua(
local g = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], g)
return g
)lua";

}  // namespace

std::string RedisCacheTier::encode(const cache::CachedReply& r) {
  json::array actions, products, prices;
  for (const auto& [label, url] : r.actions) actions.push_back(json::array{label, url});
  for (const auto& p : r.product_ids) products.push_back(json::string(p));
  for (const auto& [id, yen] : r.stated_prices) prices.push_back(json::array{id, yen});
  return json::serialize(json::object{{"text", r.text},
                                      {"actions", std::move(actions)},
                                      {"category", r.category},
                                      {"products", std::move(products)},
                                      {"prices", std::move(prices)},
                                      {"model", r.model}});
}

std::optional<cache::CachedReply> RedisCacheTier::decode(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  cache::CachedReply r;
  try {
    r.text = std::string(o.at("text").as_string());
    r.category = std::string(o.at("category").as_string());
    r.model = std::string(o.at("model").as_string());
    for (const auto& a : o.at("actions").as_array())
      r.actions.emplace_back(std::string(a.at(0).as_string()), std::string(a.at(1).as_string()));
    for (const auto& p : o.at("products").as_array()) r.product_ids.emplace_back(p.as_string());
    for (const auto& p : o.at("prices").as_array())
      r.stated_prices.emplace_back(std::string(p.at(0).as_string()),
                                   static_cast<int>(p.at(1).to_number<std::int64_t>()));
  } catch (const std::exception&) {
    return std::nullopt;  // another version's shape: a miss, never a crash
  }
  return r;
}

std::optional<std::pair<cache::CachedReply, core::Duration>> RedisCacheTier::get(
    const std::string& key) {
  auto r = client_.eval(kGet, {prefix_ + "e2:" + key}, {prefix_ + "g:"});
  if (!r.ok() || r->type != RedisReply::kArray || r->elements.size() != 2) return std::nullopt;
  auto reply = decode(r->elements[0].str);
  if (!reply || r->elements[1].integer <= 0) return std::nullopt;
  return std::make_pair(std::move(*reply),
                        core::Duration(std::chrono::milliseconds(r->elements[1].integer)));
}

std::vector<std::string> RedisCacheTier::tags(const cache::CachedReply& reply) {
  std::vector<std::string> t = {"all", "c:" + reply.category};
  for (const auto& p : reply.product_ids) t.push_back("p:" + p);
  return t;
}

RedisCacheTier::RedisCacheTier(RedisClient& client, std::string fleet,
                               std::size_t max_pending_writes)
    : client_(client),
      prefix_("ma:{" + std::move(fleet) + "}:cache:"),
      max_pending_(max_pending_writes),
      writer_([this] { writer_loop(); }) {}

RedisCacheTier::~RedisCacheTier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void RedisCacheTier::put(const std::string& key, const cache::CachedReply& reply,
                         core::Duration ttl) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  if (ms <= 0) return;
  Write w{kPut,
          tags(reply),
          {prefix_ + "e2:" + key, prefix_ + "gen"},
          {encode(reply), std::to_string(ms)}};
  for (const auto& tag : w.tags) {
    w.keys.push_back(prefix_ + "g:" + tag);
    w.args.push_back(tag);
  }
  enqueue(std::move(w));
}

void RedisCacheTier::enqueue(Write w) {
  {
    std::lock_guard lock(mu_);
    if (w.script == kPut && queue_.size() >= max_pending_) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(w));
  }
  wake_.notify_one();
}

void RedisCacheTier::writer_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) {
      // A cache write is worth nothing at shutdown, and a slow Redis would hold it up.
      queue_.clear();
      idle_.notify_all();
      return;
    }
    // The write leaves the queue only under exec_mu_: an invalidation either drops it from
    // the queue or waits until it has reached Redis, never runs between the two.
    lock.unlock();
    std::lock_guard exec(exec_mu_);
    lock.lock();
    if (queue_.empty()) continue;  // an invalidation dropped it meanwhile
    Write w = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    (void)client_.eval(w.script, w.keys, w.args);
    lock.lock();
    writing_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

void RedisCacheTier::sync() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

std::uint64_t RedisCacheTier::dropped_writes() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void RedisCacheTier::invalidate(const std::string& tag) {
  std::lock_guard exec(exec_mu_);
  {
    std::lock_guard lock(mu_);
    std::erase_if(queue_,
                  [&](const Write& w) { return std::ranges::find(w.tags, tag) != w.tags.end(); });
    if (queue_.empty() && !writing_) idle_.notify_all();
  }
  (void)client_.eval(kBump, {prefix_ + "g:" + tag, prefix_ + "gen"}, {});
}

void RedisCacheTier::erase(const std::string& key) {
  enqueue(Write{kDel, {}, {prefix_ + "e2:" + key}, {}});
}

void RedisCacheTier::invalidate_product(const std::string& product_id) {
  invalidate("p:" + product_id);
}

void RedisCacheTier::flush(std::string_view category) {
  invalidate(category.empty() ? std::string("all") : "c:" + std::string(category));
}

}  // namespace ma::state
