#pragma once
// The operations dashboard (issue 22): a static page whose script polls the operators' JSON
// and metrics with the admin token its login form keeps in the browser's session.
//
//   GET /ops                the page (web/ops.html)
//   GET /ops/ops.js         its script, /ops/ops.css its stylesheet
//   GET /ops/vendor/<file>  the chart library (uPlot, from npm: web/package.json), one of
//                           kOpsVendorFiles only
//
// The files are read once at start (OpsAssets::load); a URL never names a file on disk: a
// vendor name outside the allow-list, or one not installed, is 404. The page itself carries
// no data and needs no token: every request its script makes goes to the admin API, which
// checks the token (server/admin_api.hpp).
// Thread safety: OpsAssets is read-only once loaded; ops_response is pure.

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "server/http_fields.hpp"

namespace ma::server {

// The chart library files served at /ops/vendor/<name>: `name`, its Content-Type and where
// it lies under node_modules in a source tree (an installed tree has it at web/vendor/<name>,
// installed there by CMake: src/CMakeLists.txt).
struct OpsVendorFile {
  std::string_view name;
  std::string_view content_type;
  std::string_view npm_path;
};
inline constexpr std::array<OpsVendorFile, 2> kOpsVendorFiles{{
    {"uPlot.iife.min.js", "text/javascript; charset=utf-8", "uplot/dist/uPlot.iife.min.js"},
    {"uPlot.min.css", "text/css; charset=utf-8", "uplot/dist/uPlot.min.css"},
}};

struct OpsAssets {
  std::string html;  // empty: the dashboard is not installed (every /ops route is 404)
  std::string js;
  std::string css;
  std::array<std::string, kOpsVendorFiles.size()> vendor;  // by kOpsVendorFiles' index

  // Reads the files from `web_dir`: ops.html, ops.js, ops.css, and each vendor file from
  // web_dir/vendor/ or else web_dir/node_modules/ (scripts/install-deps.sh runs `npm ci`).
  // A file missing is left empty.
  static OpsAssets load(const std::string& web_dir);
};

// The response for `path` when it is /ops or under /ops/; nullopt for any other path.
// GET only (405 otherwise).
std::optional<Response> ops_response(const OpsAssets& assets, std::string_view path,
                                     boost::beast::http::verb method);

}  // namespace ma::server
