#pragma once
// The admin API (docs/api.md): /admin/flags, /admin/chaos, /admin/catalog/products/{id},
// /admin/cache/flush, /admin/limits, /admin/alarms, /admin/ab (the degradation-message
// experiment), /admin/sampling (the trace sampling
// rules, observe/sampling_switch.hpp), behind the admin bearer token (compared
// in constant time). A route table -- method + path pattern -> handler -- answered in order:
// the first route whose pattern and method match runs; a path that some route serves, but
// not with this method, gets 405 with that path's "use ..." message; any other path 404.
//
// Blocking work runs off the io threads: a route marked kBlocking (a SQLite write through
// the catalog, a Redis publish through the shared state, the chaos switch) runs on the
// `blocking` executor (a small thread pool the Server owns) while the calling coroutine is
// suspended; it resumes on its own executor (its worker) with the response. Cheap reads
// (GET flags, limits, alarms, sampling) answer inline.
//
// Ownership: holds references to the App (which outlives it). Thread safety: handle() may
// run on any worker concurrently; the handlers call only thread-safe App parts (atomic
// flags, the catalog's serialised store, the sharded cache, the shared state's client).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_fields.hpp"

namespace ma::server {

class App;

class AdminApi final {
 public:
  // An empty `admin_token` turns the API off (403 admin_disabled). REQUIRES: `app` and the
  // context behind `blocking` outlive every handle() in flight.
  AdminApi(App& app, std::string admin_token, boost::asio::any_io_executor blocking);
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // Answers a request for a path under /admin/ (`path`: the target without its query).
  boost::asio::awaitable<Response> handle(const Request& req, std::string_view path);

  // Not the admin token: the error to answer with (403 when the API is off, else 401). Also
  // guards /status and /metrics on the main listener.
  std::optional<Response> refusal(const Request& req) const;

 private:
  // Where a route's handler runs.
  enum class Runs : std::uint8_t { kInline, kBlocking };
  // `tail`: the part of the path a pattern's trailing '*' matched ("" without one).
  using Handler = Response (AdminApi::*)(const Request& req, std::string_view tail);
  struct Route {
    std::optional<boost::beast::http::verb> method;  // none: any method
    std::string_view pattern;                        // an exact path, or a prefix ending in '*'
    std::string_view allow;  // the 405 message for this path ("use GET or PATCH")
    Runs runs;
    Handler handler;
  };

  boost::asio::awaitable<Response> run_blocking(const Route& route, const Request& req,
                                                std::string_view tail);
  Response get_flags(const Request& req, std::string_view tail);
  Response patch_flags(const Request& req, std::string_view tail);
  Response chaos(const Request& req, std::string_view tail);
  Response put_product(const Request& req, std::string_view id);
  Response flush_cache(const Request& req, std::string_view tail);
  Response get_limits(const Request& req, std::string_view tail);
  Response put_limits(const Request& req, std::string_view tail);
  Response alarms(const Request& req, std::string_view tail);
  // GET /admin/ab: the degradation-message experiment, per version (docs/api.md).
  Response ab(const Request& req, std::string_view tail);
  Response get_sampling(const Request& req, std::string_view tail);
  Response put_sampling(const Request& req, std::string_view tail);
  Response delete_sampling(const Request& req, std::string_view tail);

  App& app_;
  std::string admin_token_;
  boost::asio::any_io_executor blocking_;
  std::vector<Route> routes_;
};

}  // namespace ma::server
