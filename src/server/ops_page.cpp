#include "server/ops_page.hpp"

#include "core/json_util.hpp"
#include "server/views.hpp"

namespace ma::server {

namespace http = boost::beast::http;

namespace {

std::string read_or_empty(const std::string& path) {
  auto r = core::read_file(path);
  return r.ok() ? std::move(r).value() : std::string();
}

// The headers every /ops response carries: the page's own script and style only, requests to
// this server only, never framed, never cached (the page changes with the binary), and the
// admin token never leaves in a Referer.
Response asset(std::string_view content_type, const std::string& body) {
  Response res{http::status::ok, 11};
  res.set(http::field::server, "mangaassist");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("Content-Security-Policy",
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  res.set("X-Frame-Options", "DENY");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.body() = body;
  res.prepare_payload();
  return res;
}

Response missing() {
  return error_response(http::status::not_found, "not_found", "there is no such page");
}

}  // namespace

OpsAssets OpsAssets::load(const std::string& web_dir) {
  OpsAssets a;
  a.html = read_or_empty(web_dir + "/ops.html");
  a.js = read_or_empty(web_dir + "/ops.js");
  a.css = read_or_empty(web_dir + "/ops.css");
  for (std::size_t i = 0; i < kOpsVendorFiles.size(); ++i) {
    const OpsVendorFile& f = kOpsVendorFiles[i];
    a.vendor[i] = read_or_empty(web_dir + "/vendor/" + std::string(f.name));
    if (a.vendor[i].empty())
      a.vendor[i] = read_or_empty(web_dir + "/node_modules/" + std::string(f.npm_path));
  }
  return a;
}

std::optional<Response> ops_response(const OpsAssets& assets, std::string_view path,
                                     http::verb method) {
  if (path != "/ops" && !path.starts_with("/ops/")) return std::nullopt;
  if (method != http::verb::get) {
    return error_response(http::status::method_not_allowed, "method_not_allowed", "use GET");
  }
  if (assets.html.empty()) return missing();
  if (path == "/ops" || path == "/ops/") return asset("text/html; charset=utf-8", assets.html);
  if (path == "/ops/ops.js") return asset("text/javascript; charset=utf-8", assets.js);
  if (path == "/ops/ops.css") return asset("text/css; charset=utf-8", assets.css);
  constexpr std::string_view kVendor = "/ops/vendor/";
  if (path.starts_with(kVendor)) {
    const std::string_view name = path.substr(kVendor.size());
    for (std::size_t i = 0; i < kOpsVendorFiles.size(); ++i) {
      if (kOpsVendorFiles[i].name == name && !assets.vendor[i].empty())
        return asset(kOpsVendorFiles[i].content_type, assets.vendor[i]);
    }
  }
  return missing();
}

}  // namespace ma::server
