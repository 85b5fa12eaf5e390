#include "observe/sampling.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "core/json_util.hpp"

namespace ma::observe {

namespace json = boost::json;

bool wildcard_match(std::string_view p, std::string_view t) {
  // Iterative matcher with one backtrack point for the last '*'.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  auto eq = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  };
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti])))) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool SamplingRule::applies(const SampleRequest& r) const {
  if (is_default) return true;
  if (r.absent) return false;
  auto ok = [](const std::optional<std::string>& v, const std::string& pattern) {
    return !v || wildcard_match(pattern, *v);
  };
  return ok(r.host, host) && ok(r.method, method) && ok(r.path, path) && ok(r.service, service) &&
         ok(r.service_type, service_type);
}

namespace {
std::optional<double> num(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}
std::optional<std::string> str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}
core::Unexpected<core::Error> invalid(std::string message) {
  return core::fail("invalid_sampling_rules", std::move(message));
}
SamplingRule make_default(std::int64_t fixed_target, double rate) {
  SamplingRule d;
  d.name = "Default";
  d.is_default = true;
  d.fixed_target = fixed_target;
  d.rate = rate;
  return d;
}
// 0.05 -> "5%", 1 -> "100%", 0.005 -> "0.5%".
std::string percent(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", rate * 100);
  std::string s(buf);
  while (s.ends_with('0')) s.pop_back();
  if (s.ends_with('.')) s.pop_back();
  return s + "%";
}
}  // namespace

SamplingRules::SamplingRules() { rules_.push_back(make_default(1, 0.05)); }

SamplingRules SamplingRules::fixed(double rate, std::int64_t fixed_target) {
  assert(rate >= 0 && rate <= 1 && fixed_target >= 0 && fixed_target <= 1'000'000'000);
  SamplingRules s;
  s.rules_ = {make_default(fixed_target, rate)};
  return s;
}

core::Result<SamplingRules> SamplingRules::from_local_json(std::string_view text) {
  auto doc = core::parse_json(text);
  if (!doc.ok()) return invalid("not JSON: " + doc.error().message);
  return from_local_document(*doc);
}

core::Result<SamplingRules> SamplingRules::from_local_document(const json::value& doc) {
  if (!doc.is_object()) return invalid("the rules document must be a JSON object");
  const auto& o = doc.get_object();
  const auto version = num(o, "version");
  if (!version || (*version != 1 && *version != 2)) return invalid("version must be 1 or 2");
  const auto* def = o.if_contains("default");
  if (def == nullptr || !def->is_object())
    return invalid("'default' is required: {\"fixed_target\": 1, \"rate\": 0.05}");
  // `where`: "default" or "rules[i]", the start of every message about that rule.
  auto read = [&](const json::object& r, bool is_default,
                  const std::string& where) -> core::Result<SamplingRule> {
    SamplingRule rule;
    rule.is_default = is_default;
    const auto ft = num(r, "fixed_target");
    const auto rate = num(r, "rate");
    // Bounded before the casts below (a cast of 1e88 or inf is undefined behaviour).
    if (!ft || !(*ft >= 0 && *ft <= 1e9) || *ft != std::floor(*ft))
      return invalid(where + ": fixed_target must be a whole number, 0 to 1000000000");
    if (!rate || !(*rate >= 0 && *rate <= 1))
      return invalid(where + ": rate must be a number, 0 to 1");
    rule.fixed_target = static_cast<std::int64_t>(*ft);
    rule.rate = *rate;
    const char* host_key = *version == 1 ? "service_name" : "host";
    const bool has_any =
        r.contains(host_key) || r.contains("http_method") || r.contains("url_path");
    if (is_default) {
      if (has_any)
        return invalid(where + ": the default rule takes no " + host_key +
                       ", http_method or url_path");
      rule.name = "Default";
    } else {
      auto h = str(r, host_key);
      auto m = str(r, "http_method");
      auto p = str(r, "url_path");
      if (!h || !m || !p) {
        return invalid(where + ": a rule needs " + host_key +
                       ", http_method and url_path (strings; \"*\" matches anything)");
      }
      rule.host = *h;
      rule.method = *m;
      rule.path = *p;
      rule.name = str(r, "description").value_or("rule");
    }
    return rule;
  };
  SamplingRules s;
  s.rules_.clear();
  if (const auto* rules = o.if_contains("rules")) {
    if (!rules->is_array()) return invalid("'rules' must be an array");
    if (rules->get_array().size() > kMaxRules)
      return invalid("at most " + std::to_string(kMaxRules) + " rules besides the default");
    std::size_t i = 0;
    for (const auto& r : rules->get_array()) {
      const std::string where = "rules[" + std::to_string(i++) + "]";
      if (!r.is_object()) return invalid(where + " must be an object");
      auto rule = read(r.get_object(), false, where);
      if (!rule.ok()) return core::fail(std::move(rule).error());
      s.rules_.push_back(std::move(rule).value());
    }
  }
  auto d = read(def->get_object(), true, "default");
  if (!d.ok()) return core::fail(std::move(d).error());
  s.rules_.push_back(std::move(d).value());
  return s;
}

core::Result<SamplingRules> SamplingRules::from_centralized_json(std::string_view text) {
  auto doc = core::parse_json(text);
  if (!doc.ok() || !doc->is_array()) return invalid("expected an array of rules");
  SamplingRules s;
  s.rules_.clear();
  for (const auto& v : doc->get_array()) {
    if (!v.is_object()) continue;
    const auto& o = v.get_object();
    SamplingRule r;
    r.name = str(o, "name").value_or(str(o, "RuleName").value_or(""));
    // Numbers from the file are clamped before the casts (1e30 or NaN would be undefined
    // behaviour); X-Ray's own bounds: priority 1-9999, rate 0-1, reservoir >= 0.
    auto bounded = [](double v, double lo, double hi) {
      return std::isnan(v) ? lo : std::clamp(v, lo, hi);
    };
    r.priority = static_cast<int>(
        bounded(num(o, "priority").value_or(num(o, "Priority").value_or(10000)), 0, 1e6));
    r.rate = bounded(num(o, "rate").value_or(num(o, "FixedRate").value_or(0)), 0, 1);
    r.fixed_target = static_cast<std::int64_t>(
        bounded(num(o, "reservoir_size").value_or(num(o, "ReservoirSize").value_or(0)), 0, 1e9));
    r.host = str(o, "host").value_or(str(o, "Host").value_or("*"));
    r.method = str(o, "method").value_or(str(o, "HTTPMethod").value_or("*"));
    r.path = str(o, "path").value_or(str(o, "URLPath").value_or("*"));
    r.service = str(o, "service").value_or(str(o, "ServiceName").value_or("*"));
    r.service_type = str(o, "service_type").value_or(str(o, "ServiceType").value_or("*"));
    r.is_default = r.name == "Default";
    s.rules_.push_back(std::move(r));
  }
  std::stable_sort(s.rules_.begin(), s.rules_.end(),
                   [](const SamplingRule& a, const SamplingRule& b) {
                     return a.priority != b.priority ? a.priority < b.priority : a.name < b.name;
                   });
  if (s.rules_.empty() || !s.rules_.back().is_default) s.rules_.push_back(make_default(1, 0.05));
  return s;
}

std::size_t SamplingRules::match_index(const SampleRequest& r) const {
  std::size_t i = 0;
  while (i + 1 < rules_.size() && !rules_[i].applies(r)) ++i;
  return i;
}

json::object SamplingRules::to_local_document() const {
  json::array rules;
  for (std::size_t i = 0; i + 1 < rules_.size(); ++i) {
    const SamplingRule& r = rules_[i];
    rules.push_back(json::object{{"description", r.name},
                                 {"host", r.host},
                                 {"http_method", r.method},
                                 {"url_path", r.path},
                                 {"fixed_target", r.fixed_target},
                                 {"rate", r.rate}});
  }
  const SamplingRule& d = default_rule();
  return json::object{
      {"version", 2},
      {"rules", std::move(rules)},
      {"default", json::object{{"fixed_target", d.fixed_target}, {"rate", d.rate}}}};
}

std::string SamplingRules::summary() const {
  const SamplingRule& d = default_rule();
  const std::size_t others = rules_.size() - 1;
  return std::to_string(d.fixed_target) + "/s then " + percent(d.rate) + " by default; " +
         (others == 0   ? std::string("no other rule")
          : others == 1 ? std::string("1 other rule")
                        : std::to_string(others) + " other rules");
}

namespace {
// Versions of the rules a Sampler holds, unique in the process (0: none), so that a thread's
// cache of one Sampler's rules never passes for another's.
std::atomic<std::uint64_t> next_version{1};
}  // namespace

Sampler::State::State(SamplingRules r, std::uint64_t v) : rules(std::move(r)), version(v) {
  for (std::size_t i = 0; i < rules.rules().size(); ++i)
    reservoirs.push_back(std::make_unique<Reservoir>());
}

Sampler::Sampler() : Sampler(SamplingRules()) {}

Sampler::Sampler(SamplingRules rules) { replace(std::move(rules)); }

core::Result<std::unique_ptr<Sampler>> Sampler::from_local_json(std::string_view text) {
  auto rules = SamplingRules::from_local_json(text);
  if (!rules.ok()) return core::fail(std::move(rules).error());
  return std::make_unique<Sampler>(std::move(rules).value());
}

core::Result<std::unique_ptr<Sampler>> Sampler::from_centralized_json(std::string_view text) {
  auto rules = SamplingRules::from_centralized_json(text);
  if (!rules.ok()) return core::fail(std::move(rules).error());
  return std::make_unique<Sampler>(std::move(rules).value());
}

void Sampler::replace(SamplingRules rules) {
  std::lock_guard lock(write_mu_);
  auto st = std::make_shared<const State>(std::move(rules), next_version.fetch_add(1));
  const std::uint64_t v = st->version;
  // The rules first, then their version: a reader that sees the new version loads these
  // rules (or newer ones). Serialised, so that version_ always ends as state_'s version.
  state_.store(std::move(st), std::memory_order_release);
  version_.store(v, std::memory_order_release);
}

std::shared_ptr<const SamplingRules> Sampler::snapshot() const {
  auto st = state_.load(std::memory_order_acquire);
  const SamplingRules* rules = &st->rules;
  return {std::move(st), rules};  // shares the state's ownership
}

const std::vector<SamplingRule>& Sampler::rules() const {
  // state_ keeps it alive until the next replace().
  return state_.load(std::memory_order_acquire)->rules.rules();
}

const SamplingRule& Sampler::match(const SampleRequest& r) const {
  const auto st = state_.load(std::memory_order_acquire);
  return st->rules.rules()[st->rules.match_index(r)];
}

const Sampler::State& Sampler::current() {
  // One cache per thread, for every Sampler (versions are unique in the process).
  thread_local std::shared_ptr<const State> cached;
  const std::uint64_t v = version_.load(std::memory_order_acquire);
  if (cached == nullptr || cached->version != v) cached = state_.load(std::memory_order_acquire);
  return *cached;
}

bool Sampler::should_sample(const SampleRequest& r, std::int64_t epoch_second, double u) {
  const State& st = current();
  const std::size_t i = st.rules.match_index(r);
  const SamplingRule& rule = st.rules.rules()[i];
  Reservoir& res = *st.reservoirs[i];
  if (rule.fixed_target > 0) {
    std::int64_t sec = res.second.load();
    if (sec != epoch_second && res.second.compare_exchange_strong(sec, epoch_second))
      res.taken.store(0);
    // Once this second's reservoir is spent, only read it: every worker adding to one
    // counter on every request would pass its cache line between cores.
    if (res.taken.load(std::memory_order_relaxed) < rule.fixed_target &&
        res.taken.fetch_add(1) < rule.fixed_target)
      return true;
  }
  return u < rule.rate;
}

}  // namespace ma::observe
