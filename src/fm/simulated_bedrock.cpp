#include "fm/simulated_bedrock.hpp"

#include <cmath>

#include "core/text.hpp"

namespace ma::fm {

namespace asio = boost::asio;
using resilience::ErrorClass;

namespace {
resilience::BucketSpec capacity_bucket(double rps) {
  return {.rate = rps, .burst = std::max(1.0, rps)};
}

bool has_kanji(std::string_view s) {
  if (!core::is_valid_utf8(s)) return false;
  for (char32_t c : core::utf8_decode(s)) {
    if (core::is_han(c)) return true;
  }
  return false;
}

// Splits text into about n pieces on code point boundaries.
std::vector<std::string_view> split_chunks(std::string_view text, int n) {
  std::vector<std::string_view> out;
  if (n <= 1 || text.size() < 16) {
    out.push_back(text);
    return out;
  }
  const std::size_t step = text.size() / static_cast<std::size_t>(n);
  std::size_t start = 0;
  for (int i = 1; i < n; ++i) {
    std::size_t cut = static_cast<std::size_t>(i) * step;
    while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
    if (cut <= start || cut >= text.size()) continue;
    out.push_back(text.substr(start, cut - start));
    start = cut;
  }
  out.push_back(text.substr(start));
  return out;
}
}  // namespace

SimulatedBedrock::SimulatedBedrock(SimModelSpec spec, core::Clock& clock, std::uint64_t seed)
    : spec_(std::move(spec)),
      clock_(clock),
      rng_(seed),
      capacity_(capacity_bucket(spec_.capacity_rps), clock.now()) {}

void SimulatedBedrock::set_faults(const FaultSpec& f) {
  std::lock_guard lock(mu_);
  faults_ = f;
}

FaultSpec SimulatedBedrock::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}

void SimulatedBedrock::set_capacity(double rps) {
  std::lock_guard lock(mu_);
  spec_.capacity_rps = rps;
  capacity_.reconfigure(capacity_bucket(rps), clock_.now());
}

void SimulatedBedrock::set_latency(core::Duration median, core::Duration p99) {
  std::lock_guard lock(mu_);
  spec_.latency_median = median;
  spec_.latency_p99 = p99;
}

std::string SimulatedBedrock::compose(const ModelRequest& req, std::string_view model) {
  // The model "writes" from the grounded draft; a light touch shows which model spoke.
  if (req.facts != nullptr && !req.facts->draft.empty()) return req.facts->draft;
  return req.lang == Language::kJa
             ? "お問い合わせありがとうございます。ご質問の内容をもう少し詳しくお聞かせください。"
             : "Thanks for your message! Could you tell me a little more about what you are "
               "looking for: a series, a volume, or an order?";
}

SimulatedBedrock::Plan SimulatedBedrock::plan(const ModelRequest& req) {
  std::lock_guard lock(mu_);
  const core::TimePoint now = clock_.now();
  if (faults_.until <= now) faults_ = FaultSpec{};
  Plan p;
  // Latency: log-normal from the median and the 99th percentile.
  if (spec_.latency_median > core::Duration::zero()) {
    const double mu = std::log(core::to_seconds(spec_.latency_median));
    const double p99 =
        std::max(core::to_seconds(spec_.latency_p99), core::to_seconds(spec_.latency_median));
    const double sigma = (std::log(p99) - mu) / 2.3263478740;
    p.latency = core::from_seconds(std::exp(rng_.normal(mu, sigma)));
  }
  p.latency += faults_.extra_latency;

  auto error = [&](ErrorClass k, int status, std::string code, std::string msg) {
    ModelError e;
    e.kind = k;
    e.http_status = status;
    e.code = code;
    e.raw_code = std::move(code);
    e.message = std::move(msg);
    p.error = std::move(e);
    // Errors come back fast: a few milliseconds, not a full generation.
    p.latency = std::min(p.latency, core::Duration(std::chrono::milliseconds(30)));
  };
  const std::string& last = req.turns.empty() ? std::string() : req.turns.back().text;
  if (faults_.outage) {
    error(ErrorClass::kTransient, 503, "ServiceUnavailableException",
          "Bedrock is unable to process your request.");
  } else if (faults_.unknown_error_rate > 0 && has_kanji(last) &&
             rng_.chance(faults_.unknown_error_rate)) {
    // A format the gateway has never seen (scenario 4): no __type, no code, nested detail.
    ModelError e;
    e.kind = ErrorClass::kUnknown;
    e.http_status = 400;
    e.raw_code = "TOKENIZER_FAULT";
    e.code = "TOKENIZER_FAULT";
    e.message = R"({"errorDetail":{"kind":"TOKENIZER_FAULT","info":"unsupported sequence"}})";
    p.error = std::move(e);
    p.latency = std::min(p.latency, core::Duration(std::chrono::milliseconds(30)));
  } else if (faults_.throttle_rate > 0 && rng_.chance(faults_.throttle_rate)) {
    error(ErrorClass::kThrottling, 429, "ThrottlingException",
          "Too many requests, please wait before trying again.");
  } else if (capacity_.try_acquire(now) != resilience::BucketVerdict::kAllowed) {
    error(ErrorClass::kThrottling, 429, "ThrottlingException",
          "Too many requests, please wait before trying again.");
  }
  return p;
}

asio::awaitable<ModelResult> SimulatedBedrock::invoke(const ModelRequest& req,
                                                      const ChunkSink& on_chunk) {
  const Plan p = plan(req);
  const core::TimePoint start = clock_.now();
  const core::Duration budget = req.deadline.remaining(start);
  auto timeout = [&]() -> ModelResult {
    ModelError e;
    e.kind = ErrorClass::kTimeout;
    e.code = e.raw_code = "DeadlineExceeded";
    e.message = "no response before the deadline";
    return core::fail(std::move(e));
  };
  if (p.error) {
    if (p.latency > budget) {
      co_await clock_.sleep_until(req.deadline.at());
      co_return timeout();
    }
    if (p.latency > core::Duration::zero() && !co_await clock_.wait_for(p.latency)) {
      co_return timeout();
    }
    co_return core::fail(*p.error);
  }
  std::string text = compose(req, spec_.name);
  const auto chunks = split_chunks(text, spec_.chunks);
  // Time to first token is about 40% of the latency; the rest streams.
  const core::Duration first = chunks.size() > 1 ? p.latency * 4 / 10 : p.latency;
  const core::Duration gap = chunks.size() > 1
                                 ? (p.latency - first) / static_cast<int>(chunks.size() - 1)
                                 : core::Duration::zero();
  core::TimePoint at = start + first;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (at > req.deadline.at()) {
      co_await clock_.sleep_until(req.deadline.at());
      co_return timeout();
    }
    if (at > clock_.now() && !co_await clock_.sleep_until(at)) co_return timeout();
    if (on_chunk) on_chunk(chunks[i]);
    at += gap;
  }
  ModelReply r;
  r.output_tokens = static_cast<int>(text.size() / 3);
  r.text = std::move(text);  // the chunks, views into it, are done with
  r.model_id = spec_.name;
  r.input_tokens = static_cast<int>((req.facts != nullptr ? req.facts->draft.size() : 0) / 3 + 200);
  co_return r;
}

}  // namespace ma::fm
