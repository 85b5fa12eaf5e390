#include "fm/simulated_bedrock.hpp"

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/this_coro.hpp>
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
  p.stall_after_chunks = faults_.stall_after_chunks;
  p.cut_after_chunks = faults_.cut_after_chunks;
  // The deterministic faults draw nothing from the RNG (the default path keeps its draws).
  if (faults_.auth_failure) {
    error(ErrorClass::kClient, 403, "InvalidSignatureException",
          "The request signature we calculated does not match the signature you provided.");
    p.latency = std::min(p.latency, core::Duration(std::chrono::milliseconds(5)));
  } else if (faults_.hang) {
    p.hang = true;
  } else if (faults_.outage) {
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

namespace {

// The instant the next piece of the answer is due by, and the error past it.
struct Limit {
  core::TimePoint at = core::TimePoint::max();
  const char* code = "DeadlineExceeded";
  const char* message = "no response before the deadline";
};

// The earlier of the deadline and `from + budget` (a zero budget: none); the deadline wins a
// tie.
Limit limit_of(core::Deadline deadline, core::TimePoint from, core::Duration budget,
               const char* code, const char* message) {
  Limit l;
  l.at = deadline.at();
  if (budget > core::Duration::zero() && budget < l.at - from) {
    l.at = from + budget;
    l.code = code;
    l.message = message;
  }
  return l;
}

ModelError sim_error(ErrorClass kind, const char* code, const char* message) {
  ModelError e;
  e.kind = kind;
  e.code = e.raw_code = code;
  e.message = message;
  return e;
}

bool is_cancelled(const asio::cancellation_state& cs) {
  return cs.cancelled() != asio::cancellation_type::none;
}

}  // namespace

asio::awaitable<ModelResult> SimulatedBedrock::invoke(const ModelRequest& req,
                                                      const ChunkSink& on_chunk) {
  const Plan p = plan(req);
  const core::TimePoint start = clock_.now();
  const auto cs = co_await asio::this_coro::cancellation_state;
  const Limit first_limit =
      limit_of(req.deadline, start, req.first_token_timeout, "FirstTokenTimeout",
               "no first token within the attempt's budget");
  const int input_tokens =
      static_cast<int>((req.facts != nullptr ? req.facts->draft.size() : 0) / 3 + 200);
  std::size_t delivered = 0;  // bytes of the answer streamed
  // An error, with what was billed when part of the answer was delivered.
  auto fail = [&](ModelError e) -> ModelResult {
    if (delivered > 0) {
      e.input_tokens = input_tokens;
      e.output_tokens = static_cast<int>(delivered / 3);
    }
    return core::fail(std::move(e));
  };
  auto cancelled = [&] {
    return fail(sim_error(ErrorClass::kTransient, "Cancelled", "the call was cancelled"));
  };
  auto expired = [&](const Limit& l) {
    return fail(sim_error(ErrorClass::kTimeout, l.code, l.message));
  };
  // Each wait: a cancellation seen before it (emitted while this coroutine was not waiting)
  // or during it ends the call.
  if (p.hang) {
    if (is_cancelled(cs) || !co_await clock_.sleep_until(first_limit.at)) co_return cancelled();
    co_return expired(first_limit);
  }
  if (p.error) {
    if (p.latency > core::Deadline(first_limit.at).remaining(start)) {
      if (is_cancelled(cs) || !co_await clock_.sleep_until(first_limit.at)) co_return cancelled();
      co_return expired(first_limit);
    }
    if (p.latency > core::Duration::zero()) {
      if (is_cancelled(cs) || !co_await clock_.wait_for(p.latency)) co_return cancelled();
    }
    co_return core::fail(*p.error);
  }
  std::string text = compose(req, spec_.name);
  std::string_view answer = text;
  if (!req.continue_from.empty() && answer.starts_with(req.continue_from))
    answer.remove_prefix(req.continue_from.size());
  const auto chunks =
      answer.empty() ? std::vector<std::string_view>{} : split_chunks(answer, spec_.chunks);
  // Time to first token is about 40% of the latency; the rest streams.
  const core::Duration first = chunks.size() > 1 ? p.latency * 4 / 10 : p.latency;
  const core::Duration gap = chunks.size() > 1
                                 ? (p.latency - first) / static_cast<int>(chunks.size() - 1)
                                 : core::Duration::zero();
  // A stall or a cut: the stream stops after this many chunks (the end of the stream, after
  // the last chunk, counts as one more piece: a stall after them all never completes).
  const std::size_t n = chunks.size();
  std::size_t stop_at = n + 1;  // none
  const bool cut = p.cut_after_chunks >= 0 &&
                   (p.stall_after_chunks < 0 || p.cut_after_chunks <= p.stall_after_chunks);
  if (cut) {
    stop_at = std::min(static_cast<std::size_t>(p.cut_after_chunks), n);
  } else if (p.stall_after_chunks >= 0) {
    stop_at = std::min(static_cast<std::size_t>(p.stall_after_chunks), n);
  }
  core::TimePoint at = start + first;
  core::TimePoint last = start;  // when the last chunk went out
  auto limit = [&](std::size_t i) {
    return i == 0 ? first_limit
                  : limit_of(req.deadline, last, req.idle_timeout, "StreamStalled",
                             "the stream went silent past the idle budget");
  };
  for (std::size_t i = 0; i < n && i != stop_at; ++i) {
    const Limit l = limit(i);
    if (at > l.at) {
      if (is_cancelled(cs) || !co_await clock_.sleep_until(l.at)) co_return cancelled();
      co_return expired(l);
    }
    if (is_cancelled(cs)) co_return cancelled();
    if (at > clock_.now() && !co_await clock_.sleep_until(at)) co_return cancelled();
    if (on_chunk) on_chunk(chunks[i]);
    delivered += chunks[i].size();
    last = clock_.now();
    at += gap;
  }
  if (stop_at <= n) {
    const Limit l = limit(stop_at);
    if (!cut || at > l.at) {  // a stall: silence until a budget or the deadline ends it
      if (is_cancelled(cs) || !co_await clock_.sleep_until(l.at)) co_return cancelled();
      co_return expired(l);
    }
    // A cut: the connection drops when the next piece was due.
    if (is_cancelled(cs)) co_return cancelled();
    if (at > clock_.now() && !co_await clock_.sleep_until(at)) co_return cancelled();
    ModelError e = sim_error(ErrorClass::kTransient, "StreamTruncated",
                             "the event stream ended before messageStop");
    e.http_status = 200;
    co_return fail(std::move(e));
  }
  ModelReply r;
  r.output_tokens = static_cast<int>(answer.size() / 3);
  // The chunks, views into `text`, are done with.
  r.text = answer.size() == text.size() ? std::move(text) : std::string(answer);
  r.model_id = spec_.name;
  r.input_tokens = input_tokens;
  co_return r;
}

}  // namespace ma::fm
