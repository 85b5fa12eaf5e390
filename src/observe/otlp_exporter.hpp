#pragma once
// Exports kept traces to an OpenTelemetry collector as OTLP/HTTP JSON (POST {endpoint},
// usually http://127.0.0.1:4318/v1/traces), in batches. Plain HTTP: the collector is expected
// on the host or in the pod (TLS to a remote collector is not supported yet).
//
// X-Ray trace ids ("1-6b087a9d-e5ea4b796fcbaef3d407458c") become W3C/OTLP ids by dropping the
// version and dashes, as the X-Ray/OTel bridge does.
//
// Thread safety: enqueue() from any thread; run() is one coroutine on the server's io_context.
// A full queue drops traces (counted), never blocks a request.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <deque>
#include <mutex>
#include <string>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "observe/trace.hpp"

namespace ma::observe {

struct OtlpEndpoint {
  std::string host;
  std::string port;
  std::string path;
  // "http://host:port/path"; https is refused (not supported yet).
  static core::Result<OtlpEndpoint> parse(std::string_view url);
};

class OtlpExporter final {
 public:
  OtlpExporter(core::Clock& clock, OtlpEndpoint endpoint, std::string service_name,
               std::size_t max_queue = 10'000);

  void enqueue(const Trace& t);
  // Posts a batch every `every` (or sooner when 256 traces wait) until cancelled.
  boost::asio::awaitable<void> run(core::Duration every = std::chrono::seconds(1));

  // The OTLP/HTTP JSON body for a batch (public for tests).
  static std::string to_otlp_json(const std::vector<Trace>& batch, std::string_view service_name);

  std::uint64_t exported() const { return exported_.load(); }
  std::uint64_t dropped() const { return dropped_.load(); }
  std::uint64_t failed_posts() const { return failed_.load(); }

 private:
  boost::asio::awaitable<bool> post(const std::string& body);

  core::Clock& clock_;
  OtlpEndpoint endpoint_;
  std::string service_;
  std::size_t max_queue_;
  std::mutex mu_;
  std::deque<Trace> queue_;
  std::atomic<std::uint64_t> exported_{0}, dropped_{0}, failed_{0};
};

}  // namespace ma::observe
