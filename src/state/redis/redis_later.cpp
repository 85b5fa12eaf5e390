#include "state/redis/redis_later.hpp"

#include <charconv>

namespace ma::state {

namespace {

// KEYS: queue, q, mac, owners, total, seq. ARGV: owner, question, mac, max per owner, max total.
// Returns {code, waiting}: 1 held, 0 held already (the same ticket), -1 owner full, -2 total full.
constexpr const char* kLeaveScript = R"lua(
local waiting = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return {0, waiting} end
if waiting >= tonumber(ARGV[4]) then return {-1, waiting} end
if tonumber(redis.call('GET', KEYS[5]) or '0') >= tonumber(ARGV[5]) then return {-2, waiting} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[2], id,
           cjson.encode({o = ARGV[1], q = ARGV[2], m = ARGV[3], t = tostring(now)}))
redis.call('ZADD', KEYS[1], id, id)
redis.call('HSET', KEYS[3], ARGV[3], id)
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('INCR', KEYS[5])
return {1, waiting + 1}
)lua";

// KEYS: queue, q, claim, mac, owners, total, ready, ready_at.
// ARGV: lease ms, max wait ms, token, how many free questions to look at.
// Returns {expired questions, expired answers[, id, owner, question]}.
constexpr const char* kClaimScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - tonumber(ARGV[2])
local expired_q, expired_a = 0, 0
local function uncount(owner, n)
  if redis.call('HINCRBY', KEYS[5], owner, -n) <= 0 then redis.call('HDEL', KEYS[5], owner) end
  if redis.call('DECRBY', KEYS[6], n) <= 0 then redis.call('DEL', KEYS[6]) end
end
-- Answers ready before the cutoff: a few owners per call (the oldest first).
for _, owner in ipairs(redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', cutoff, 'LIMIT', 0, 16)) do
  local raw = redis.call('HGET', KEYS[7], owner)
  local kept, gone = {}, 0
  if raw then
    for _, a in ipairs(cjson.decode(raw)) do
      if tonumber(a[1]) > cutoff then table.insert(kept, a) else gone = gone + 1 end
    end
  end
  if #kept == 0 then
    redis.call('HDEL', KEYS[7], owner)
    redis.call('ZREM', KEYS[8], owner)
  else
    redis.call('HSET', KEYS[7], owner, cjson.encode(kept))
    redis.call('ZADD', KEYS[8], kept[1][1], owner)
  end
  if gone > 0 then
    uncount(owner, gone)
    expired_a = expired_a + gone
  end
end
-- The oldest question free to try: never tried, or its lease over. Those left before the
-- cutoff are dropped on the way.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then
    redis.call('ZREM', KEYS[1], id)
  else
    local q = cjson.decode(raw)
    if tonumber(q.t) <= cutoff then
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], q.m)
      uncount(q.o, 1)
      expired_q = expired_q + 1
    else
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
      redis.call('HSET', KEYS[3], id, ARGV[3])
      return {expired_q, expired_a, id, q.o, q.q}
    end
  end
end
return {expired_q, expired_a}
)lua";

// KEYS: queue, claim, seq. ARGV: id, token.
// Back in the queue at its end: a question that keeps coming back degraded does not hold up
// the ones left after it.
constexpr const char* kReleaseScript = R"lua(
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', redis.call('INCR', KEYS[3]), ARGV[1])
return 1
)lua";

// KEYS: queue, q, claim, mac, ready, ready_at, events. ARGV: id, frame, stream max len, origin.
// The owner's count is unchanged: a question held becomes an answer ready.
constexpr const char* kAnsweredScript = R"lua(
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local q = cjson.decode(raw)
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], q.m)
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local list = {}
local r = redis.call('HGET', KEYS[5], q.o)
if r then list = cjson.decode(r) end
table.insert(list, {now, ARGV[2]})
redis.call('HSET', KEYS[5], q.o, cjson.encode(list))
redis.call('ZADD', KEYS[6], 'NX', now, q.o)
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[3], '*', 'origin', ARGV[4],
           'type', 'later_ready', 'owner', q.o)
return 1
)lua";

// KEYS: ready, ready_at, owners, total. ARGV: owner. Returns the frames, oldest first.
constexpr const char* kTakeScript = R"lua(
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local out = {}
for i, a in ipairs(cjson.decode(raw)) do out[i] = a[2] end
if redis.call('HINCRBY', KEYS[3], ARGV[1], -#out) <= 0 then redis.call('HDEL', KEYS[3], ARGV[1]) end
if redis.call('DECRBY', KEYS[4], #out) <= 0 then redis.call('DEL', KEYS[4]) end
return out
)lua";

std::size_t to_size(const RedisReply& r) {
  if (r.type == RedisReply::kInteger)
    return r.integer > 0 ? static_cast<std::size_t>(r.integer) : 0;
  std::size_t v = 0;
  std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  return v;
}

core::Error malformed() { return {"redis_error", "unexpected reply from a later script"}; }

}  // namespace

RedisLater::RedisLater(RedisClient& client, const std::string& fleet, std::string origin,
                       std::size_t stream_max_len)
    : client_(client),
      prefix_("ma:{" + fleet + "}:"),
      origin_(std::move(origin)),
      stream_max_len_(stream_max_len) {}

std::string RedisLater::key(std::string_view what) const { return prefix_ + std::string(what); }

core::Result<RedisLater::LeaveResult> RedisLater::leave(const std::string& owner,
                                                        const std::string& question,
                                                        const std::string& mac,
                                                        std::size_t max_per_owner,
                                                        std::size_t max_total) {
  auto r = client_.eval(
      kLeaveScript,
      {key("later:queue"), key("later:q"), key("later:mac"), key("later:owners"),
       key("later:total"), key("later:seq")},
      {owner, question, mac, std::to_string(max_per_owner), std::to_string(max_total)});
  if (!r.ok()) return core::fail(std::move(r).error());
  if (r->elements.size() != 2) return core::fail(malformed());
  const long long code = r->elements[0].integer;
  LeaveResult out{code == 1    ? Left::kHeld
                  : code == 0  ? Left::kAlreadyHeld
                  : code == -1 ? Left::kOwnerFull
                               : Left::kTotalFull,
                  to_size(r->elements[1])};
  return out;
}

core::Result<RedisLater::ClaimResult> RedisLater::claim(const std::string& token,
                                                        std::int64_t lease_ms,
                                                        std::int64_t max_wait_ms) {
  auto r = client_.eval(
      kClaimScript,
      {key("later:queue"), key("later:q"), key("later:claim"), key("later:mac"),
       key("later:owners"), key("later:total"), key("later:ready"), key("later:ready_at")},
      {std::to_string(lease_ms), std::to_string(max_wait_ms), token, "64"});
  if (!r.ok()) return core::fail(std::move(r).error());
  const auto& e = r->elements;
  if (e.size() != 2 && e.size() != 5) return core::fail(malformed());
  ClaimResult out;
  out.expired_questions = to_size(e[0]);
  out.expired_answers = to_size(e[1]);
  if (e.size() == 5) out.claimed = Claimed{to_size(e[2]), e[3].str, e[4].str};
  return out;
}

core::Result<bool> RedisLater::release(std::uint64_t id, const std::string& token) {
  auto r = client_.eval(kReleaseScript, {key("later:queue"), key("later:claim"), key("later:seq")},
                        {std::to_string(id), token});
  if (!r.ok()) return core::fail(std::move(r).error());
  return r->integer == 1;
}

core::Result<bool> RedisLater::answered(std::uint64_t id, const std::string& frame) {
  auto r = client_.eval(kAnsweredScript,
                        {key("later:queue"), key("later:q"), key("later:claim"), key("later:mac"),
                         key("later:ready"), key("later:ready_at"), key("events")},
                        {std::to_string(id), frame, std::to_string(stream_max_len_), origin_});
  if (!r.ok()) return core::fail(std::move(r).error());
  return r->integer == 1;
}

core::Result<std::vector<std::string>> RedisLater::take(const std::string& owner) {
  auto r = client_.eval(
      kTakeScript,
      {key("later:ready"), key("later:ready_at"), key("later:owners"), key("later:total")},
      {owner});
  if (!r.ok()) return core::fail(std::move(r).error());
  std::vector<std::string> out;
  out.reserve(r->elements.size());
  for (auto& e : r->elements) out.push_back(std::move(e.str));
  return out;
}

core::Result<RedisLater::Room> RedisLater::room(const std::string& owner) {
  auto o = client_.command({"HGET", key("later:owners"), owner});
  if (!o.ok()) return core::fail(std::move(o).error());
  auto t = client_.command({"GET", key("later:total")});
  if (!t.ok()) return core::fail(std::move(t).error());
  return Room{to_size(*o), to_size(*t)};
}

core::Result<RedisLater::Sizes> RedisLater::sizes() {
  // Two reads, not one snapshot: the split between held and ready may be off by what moved
  // between them (the metrics say so).
  auto held = client_.command({"ZCARD", key("later:queue")});
  if (!held.ok()) return core::fail(std::move(held).error());
  auto total = client_.command({"GET", key("later:total")});
  if (!total.ok()) return core::fail(std::move(total).error());
  const std::size_t h = to_size(*held), all = to_size(*total);
  return Sizes{h, all > h ? all - h : 0};
}

}  // namespace ma::state
