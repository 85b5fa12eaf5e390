#include "state/redis_cache.hpp"

#include <boost/json.hpp>

namespace ma::state {

namespace json = boost::json;

namespace {

constexpr const char* kPut = R"lua(
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
return 1
)lua";

constexpr const char* kGet = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, redis.call('PTTL', KEYS[1])}
)lua";

// Deletes every answer a tag names, then the tag.
constexpr const char* kDropTag = R"lua(
local keys = redis.call('SMEMBERS', KEYS[1])
for _, k in ipairs(keys) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return #keys
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
  auto r = client_.eval(kGet, {prefix_ + "e:" + key}, {});
  if (!r.ok() || r->type != RedisReply::kArray || r->elements.size() != 2) return std::nullopt;
  auto reply = decode(r->elements[0].str);
  if (!reply || r->elements[1].integer <= 0) return std::nullopt;
  return std::make_pair(std::move(*reply),
                        core::Duration(std::chrono::milliseconds(r->elements[1].integer)));
}

void RedisCacheTier::put(const std::string& key, const cache::CachedReply& reply,
                         core::Duration ttl) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  if (ms <= 0) return;
  std::vector<std::string> keys = {prefix_ + "e:" + key, prefix_ + "all",
                                   prefix_ + "c:" + reply.category};
  for (const auto& p : reply.product_ids) keys.push_back(prefix_ + "p:" + p);
  (void)client_.eval(kPut, keys, {encode(reply), std::to_string(ms)});
}

void RedisCacheTier::erase(const std::string& key) {
  (void)client_.command({"DEL", prefix_ + "e:" + key});
}

void RedisCacheTier::drop_tag(const std::string& tag) { (void)client_.eval(kDropTag, {tag}, {}); }

void RedisCacheTier::invalidate_product(const std::string& product_id) {
  drop_tag(prefix_ + "p:" + product_id);
}

void RedisCacheTier::flush(std::string_view category) {
  drop_tag(category.empty() ? prefix_ + "all" : prefix_ + "c:" + std::string(category));
}

}  // namespace ma::state
