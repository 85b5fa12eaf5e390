#include "observe/otlp_exporter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/json_util.hpp"
#include "core/text.hpp"

namespace ma::observe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

core::Result<OtlpEndpoint> OtlpEndpoint::parse(std::string_view url) {
  if (url.rfind("https://", 0) == 0) {
    return core::fail("invalid_config",
                      "OTLP over https is not supported yet; use a local collector over http");
  }
  if (url.rfind("http://", 0) != 0)
    return core::fail("invalid_config", "the OTLP endpoint must start with http://");
  std::string_view rest = url.substr(7);
  const auto slash = rest.find('/');
  const std::string_view hostport = rest.substr(0, slash);
  OtlpEndpoint e;
  e.path = slash == std::string_view::npos ? "/v1/traces" : std::string(rest.substr(slash));
  const auto colon = hostport.rfind(':');
  e.host = std::string(hostport.substr(0, colon));
  e.port = colon == std::string_view::npos ? "4318" : std::string(hostport.substr(colon + 1));
  if (e.host.empty() || e.port.empty())
    return core::fail("invalid_config", "bad OTLP endpoint " + std::string(url));
  return e;
}

OtlpExporter::OtlpExporter(core::Clock& clock, OtlpEndpoint endpoint, std::string service_name,
                           std::size_t max_queue)
    : clock_(clock),
      endpoint_(std::move(endpoint)),
      service_(std::move(service_name)),
      max_queue_(max_queue) {}

void OtlpExporter::enqueue(const Trace& t) {
  std::lock_guard lock(mu_);
  if (queue_.size() >= max_queue_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(t);
}

namespace {

std::string otlp_trace_id(std::string_view xray) {
  std::string hex;
  for (char c : xray.size() > 2 && xray.substr(0, 2) == "1-" ? xray.substr(2) : xray) {
    if (std::isxdigit(static_cast<unsigned char>(c)))
      hex.push_back(static_cast<char>(std::tolower(c)));
  }
  hex.resize(32, '0');
  return hex;
}

std::string span_id(std::string_view trace, std::string_view span) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(
                    core::fnv1a(std::string(trace) + "/" + std::string(span)) | 1));
  return buf;
}

std::string nanos(core::WallTime t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

std::string OtlpExporter::to_otlp_json(const std::vector<Trace>& batch,
                                       std::string_view service_name) {
  std::string o =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":)";
  core::append_json_string(o, service_name);
  o += R"(}}]},"scopeSpans":[{"scope":{"name":"mangaassist"},"spans":[)";
  bool first = true;
  for (const Trace& t : batch) {
    const std::string tid = otlp_trace_id(t.trace_id);
    for (const Span& s : t.spans) {
      o += first ? "" : ",";
      first = false;
      o += R"({"traceId":")" + tid + R"(","spanId":")" + span_id(t.trace_id, s.id) + "\"";
      if (!s.parent_id.empty())
        o += R"(,"parentSpanId":")" + span_id(t.trace_id, s.parent_id) + "\"";
      o += R"(,"name":)";
      core::append_json_string(o, s.name);
      o += s.parent_id.empty() ? R"(,"kind":2)"
                               : (s.name.rfind("model:", 0) == 0 ? R"(,"kind":3)" : R"(,"kind":1)");
      o += R"(,"startTimeUnixNano":")" + nanos(s.start) + R"(","endTimeUnixNano":")" +
           nanos(s.start + std::chrono::duration_cast<core::WallTime::duration>(s.duration)) + "\"";
      o += R"(,"attributes":[)";
      for (std::size_t i = 0; i < s.annotations.size(); ++i) {
        o += i ? "," : "";
        o += R"({"key":)";
        core::append_json_string(o, s.annotations[i].first);
        o += R"(,"value":{"stringValue":)";
        core::append_json_string(o, s.annotations[i].second);
        o += "}}";
      }
      o += s.error ? R"(],"status":{"code":2}})" : R"(],"status":{"code":1}})";
    }
  }
  o += "]}]}]}";
  return o;
}

asio::awaitable<bool> OtlpExporter::post(const std::string& body) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(endpoint_.host, endpoint_.port, kTuple);
  if (rec) co_return false;
  beast::tcp_stream stream(ex);
  stream.expires_after(std::chrono::seconds(5));
  auto [cec, ep] = co_await stream.async_connect(results, kTuple);
  if (cec) co_return false;
  http::request<http::string_body> req{http::verb::post, endpoint_.path, 11};
  req.set(http::field::host, endpoint_.host + ":" + endpoint_.port);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
  if (wec) co_return false;
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  auto [ec, n] = co_await http::async_read(stream, buf, res, kTuple);
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  co_return !ec && res.result_int() >= 200 && res.result_int() < 300;
}

asio::awaitable<void> OtlpExporter::run(core::Duration every) {
  bool running = true;
  while (running) {
    running = co_await clock_.wait_for(every);
    std::vector<Trace> batch;
    {
      std::lock_guard lock(mu_);
      while (!queue_.empty() && batch.size() < 256) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      const bool ok = co_await post(to_otlp_json(batch, service_));
      if (ok) {
        exported_.fetch_add(batch.size(), std::memory_order_relaxed);
      } else {
        failed_.fetch_add(1, std::memory_order_relaxed);
        dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
      }
    }
  }
}

}  // namespace ma::observe
