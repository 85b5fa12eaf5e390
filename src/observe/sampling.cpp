#include "observe/sampling.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>

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

Sampler::Sampler() {
  SamplingRule d;
  d.name = "Default";
  d.is_default = true;
  rules_.push_back(d);
  finish();
}

void Sampler::finish() {
  reservoirs_.clear();
  for (std::size_t i = 0; i < rules_.size(); ++i)
    reservoirs_.push_back(std::make_unique<Reservoir>());
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
}  // namespace

core::Result<std::unique_ptr<Sampler>> Sampler::from_local_json(std::string_view text) {
  auto doc = core::parse_json(text);
  if (!doc.ok() || !doc->is_object())
    return core::fail("invalid_sampling_rules", "not a JSON object");
  const auto& o = doc->get_object();
  const auto version = num(o, "version");
  if (!version || (*version != 1 && *version != 2)) {
    return core::fail("invalid_sampling_rules", "version must be 1 or 2");
  }
  const auto* def = o.if_contains("default");
  if (def == nullptr || !def->is_object())
    return core::fail("invalid_sampling_rules", "'default' is required");
  auto read = [&](const json::object& r, bool is_default) -> core::Result<SamplingRule> {
    SamplingRule rule;
    rule.is_default = is_default;
    const auto ft = num(r, "fixed_target");
    const auto rate = num(r, "rate");
    // Bounded before the casts below (a cast of 1e88 or inf is undefined behaviour).
    if (!ft || !rate || !(*ft >= 0 && *ft <= 1e9) || !(*rate >= 0 && *rate <= 1)) {
      return core::fail("invalid_sampling_rules", "fixed_target must be 0-1000000000 and rate 0-1");
    }
    rule.fixed_target = static_cast<std::int64_t>(*ft);
    rule.rate = *rate;
    const char* host_key = *version == 1 ? "service_name" : "host";
    const bool has_any =
        r.contains(host_key) || r.contains("http_method") || r.contains("url_path");
    if (is_default) {
      if (has_any)
        return core::fail("invalid_sampling_rules",
                          "the default rule takes no host, http_method or url_path");
      rule.name = "Default";
    } else {
      auto h = str(r, host_key);
      auto m = str(r, "http_method");
      auto p = str(r, "url_path");
      if (!h || !m || !p) {
        return core::fail("invalid_sampling_rules",
                          "a rule needs " + std::string(host_key) + ", http_method and url_path");
      }
      rule.host = *h;
      rule.method = *m;
      rule.path = *p;
      rule.name = str(r, "description").value_or("rule");
    }
    return rule;
  };
  auto s = std::make_unique<Sampler>();
  s->rules_.clear();
  if (const auto* rules = o.if_contains("rules")) {
    if (!rules->is_array()) return core::fail("invalid_sampling_rules", "'rules' must be an array");
    for (const auto& r : rules->get_array()) {
      if (!r.is_object()) return core::fail("invalid_sampling_rules", "a rule must be an object");
      auto rule = read(r.get_object(), false);
      if (!rule.ok()) return core::fail(std::move(rule).error());
      s->rules_.push_back(std::move(rule).value());
    }
  }
  auto d = read(def->get_object(), true);
  if (!d.ok()) return core::fail(std::move(d).error());
  s->rules_.push_back(std::move(d).value());
  s->finish();
  return s;
}

core::Result<std::unique_ptr<Sampler>> Sampler::from_centralized_json(std::string_view text) {
  auto doc = core::parse_json(text);
  if (!doc.ok() || !doc->is_array())
    return core::fail("invalid_sampling_rules", "expected an array of rules");
  auto s = std::make_unique<Sampler>();
  s->rules_.clear();
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
    s->rules_.push_back(std::move(r));
  }
  std::stable_sort(s->rules_.begin(), s->rules_.end(),
                   [](const SamplingRule& a, const SamplingRule& b) {
                     return a.priority != b.priority ? a.priority < b.priority : a.name < b.name;
                   });
  if (s->rules_.empty() || !s->rules_.back().is_default) {
    SamplingRule d;
    d.name = "Default";
    d.is_default = true;
    s->rules_.push_back(d);
  }
  s->finish();
  return s;
}

const SamplingRule& Sampler::match(const SampleRequest& r) const {
  for (const auto& rule : rules_) {
    if (rule.applies(r)) return rule;
  }
  return rules_.back();
}

bool Sampler::should_sample(const SampleRequest& r, std::int64_t epoch_second, double u) {
  std::size_t i = 0;
  while (i + 1 < rules_.size() && !rules_[i].applies(r)) ++i;
  const SamplingRule& rule = rules_[i];
  Reservoir& res = *reservoirs_[i];
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
