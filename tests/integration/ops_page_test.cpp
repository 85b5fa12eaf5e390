// The operations dashboard's files through the real server (server/ops_page.hpp, issue 22):
// the page, its script and stylesheet and the chart library, each with its Content-Type, the
// page's Content-Security-Policy and no caching; a vendor name outside the allow-list is 404
// even when such a file lies beside the allowed ones; the library is found in an installed
// tree (web/vendor/) and in a source tree (web/node_modules/).
#include "server/ops_page.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "integration/test_server.hpp"

namespace ma::server {
namespace {

namespace fs = std::filesystem;
using testing::http_request;
using testing::HttpResult;

constexpr const char* kAdmin = "ops-test-admin-token";
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class OpsPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ma-ops-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    ts_.reset();
    fs::remove_all(dir_);
  }
  void start(const std::string& web_dir) {
    ts_ = std::make_unique<testing::TestServer>(kAdmin,
                                                [&](AppConfig& c) { c.server.web_dir = web_dir; });
    ts_->create();
    ts_->start();
  }
  // A web directory of the installed kind: the dashboard's files and web/vendor/.
  void installed_tree() {
    write(dir_ / "ops.html", "<!doctype html><title>ops</title>");
    write(dir_ / "ops.js", "\"use strict\";");
    write(dir_ / "ops.css", "body{}");
    write(dir_ / "vendor/uPlot.iife.min.js", "var uPlot=1;");
    write(dir_ / "vendor/uPlot.min.css", ".uplot{}");
    // Beside the allowed files, files that must never be served.
    write(dir_ / "vendor/uPlot.LICENSE", "MIT");
    write(dir_ / "vendor/secret.txt", "secret");
    write(dir_ / "node_modules/uplot/dist/uPlot.esm.js", "export default 1;");
  }
  HttpResult get(const std::string& target) { return http_request(ts_->port(), "GET", target); }

  static void expect_asset(const HttpResult& r, const std::string& type, const std::string& body,
                           const std::string& what) {
    ASSERT_EQ(r.status, 200) << what << ": " << r.body;
    EXPECT_EQ(r.headers.at("Content-Type"), type) << what;
    EXPECT_EQ(r.headers.at("Content-Security-Policy"), kCsp) << what;
    EXPECT_EQ(r.headers.at("Cache-Control"), "no-store") << what;
    EXPECT_EQ(r.headers.at("X-Content-Type-Options"), "nosniff") << what;
    EXPECT_EQ(r.headers.at("X-Frame-Options"), "DENY") << what;
    EXPECT_EQ(r.headers.at("Referrer-Policy"), "no-referrer") << what;
    EXPECT_EQ(r.body, body) << what;
  }

  fs::path dir_;
  std::unique_ptr<testing::TestServer> ts_;
};

TEST_F(OpsPageTest, PageScriptStyleAndLibraryServedWithTheirTypesAndThePagesCsp) {
  installed_tree();
  start(dir_.string());
  expect_asset(get("/ops"), "text/html; charset=utf-8", "<!doctype html><title>ops</title>",
               "/ops");
  expect_asset(get("/ops/"), "text/html; charset=utf-8", "<!doctype html><title>ops</title>",
               "/ops/");
  expect_asset(get("/ops/ops.js"), "text/javascript; charset=utf-8", "\"use strict\";",
               "/ops/ops.js");
  expect_asset(get("/ops/ops.css"), "text/css; charset=utf-8", "body{}", "/ops/ops.css");
  expect_asset(get("/ops/vendor/uPlot.iife.min.js"), "text/javascript; charset=utf-8",
               "var uPlot=1;", "the library");
  expect_asset(get("/ops/vendor/uPlot.min.css"), "text/css; charset=utf-8", ".uplot{}",
               "the library's stylesheet");
}

TEST_F(OpsPageTest, AVendorNameOutsideTheAllowListIsNotFound) {
  installed_tree();
  start(dir_.string());
  for (const char* target :
       {"/ops/vendor/secret.txt", "/ops/vendor/uPlot.LICENSE", "/ops/vendor/uPlot.esm.js",
        "/ops/vendor/", "/ops/vendor", "/ops/vendor/../ops.html", "/ops/vendor/..%2fops.html",
        "/ops/vendor/uPlot.iife.min.js/", "/ops/vendor/UPLOT.IIFE.MIN.JS",
        "/ops/vendor/./uPlot.iife.min.js", "/ops/node_modules/uplot/dist/uPlot.esm.js",
        "/ops/ops.html", "/ops/../etc/passwd", "/ops/secret.txt"}) {
    const HttpResult r = get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << target;
    EXPECT_EQ(r.body.find("export default"), std::string::npos) << target;
  }
  // Only GET: the login form's fallback POST (the page's CSP blocks it anyway) changes nothing.
  EXPECT_EQ(http_request(ts_->port(), "POST", "/ops", "token=x").status, 405);
}

TEST_F(OpsPageTest, TheLibraryComesFromNodeModulesInASourceTree) {
  write(dir_ / "ops.html", "<!doctype html>");
  write(dir_ / "ops.js", "1");
  write(dir_ / "ops.css", "b{}");
  write(dir_ / "node_modules/uplot/dist/uPlot.iife.min.js", "var uPlot=2;");
  write(dir_ / "node_modules/uplot/dist/uPlot.min.css", ".u{}");
  start(dir_.string());
  expect_asset(get("/ops/vendor/uPlot.iife.min.js"), "text/javascript; charset=utf-8",
               "var uPlot=2;", "from node_modules");
  expect_asset(get("/ops/vendor/uPlot.min.css"), "text/css; charset=utf-8", ".u{}",
               "from node_modules");
}

TEST_F(OpsPageTest, WithoutTheDashboardEveryOpsRouteIsNotFound) {
  write(dir_ / "index.html", "<!doctype html>");
  write(dir_ / "vendor/uPlot.iife.min.js", "var uPlot=1;");
  start(dir_.string());
  for (const char* target : {"/ops", "/ops/ops.js", "/ops/vendor/uPlot.iife.min.js"})
    EXPECT_EQ(get(target).status, 404) << target;
}

// The shipped page: every script and stylesheet it names is served (scripts/install-deps.sh
// installs the library under web/node_modules), none is inline (the CSP would block it), and
// it has the controls the browser test and the runbook name.
TEST_F(OpsPageTest, TheShippedPageLoadsOnlyServedFilesAndHasItsControls) {
  start(std::string(MA_SOURCE_DIR) + "/web");
  const HttpResult page = get("/ops");
  ASSERT_EQ(page.status, 200);
  const std::regex ref(R"re((?:src|href)="([^"]+)")re");
  int refs = 0;
  for (std::sregex_iterator it(page.body.begin(), page.body.end(), ref), end; it != end; ++it) {
    const std::string target = (*it)[1];
    if (target == "/ops") continue;  // the login form's action
    ++refs;
    EXPECT_EQ(get(target).status, 200)
        << target << " (web/node_modules missing? run scripts/install-deps.sh)";
  }
  EXPECT_EQ(refs, 4);  // uPlot's script and stylesheet, ops.js, ops.css
  EXPECT_EQ(page.body.find("<script>"), std::string::npos);
  EXPECT_EQ(page.body.find("<style"), std::string::npos);
  EXPECT_EQ(page.body.find(" style="), std::string::npos);
  EXPECT_FALSE(std::regex_search(page.body, std::regex(R"( on[a-z]+=)")));  // no onclick=
  for (const char* id :
       {"login-form",     "login-token",    "login-error",  "dashboard",     "logout",
        "ops-state",      "alarms",         "brake",        "primary-model", "fm-mode",
        "flush-pricing",  "price-product",  "price-yen",    "price-stock",   "price-apply",
        "chaos-model",    "chaos-throttle", "chaos-outage", "chaos-unknown", "chaos-latency",
        "chaos-duration", "chaos-apply",    "chaos-clear",  "chaos-result",  "ab-table",
        "ops-log"}) {
    EXPECT_NE(page.body.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
}

}  // namespace
}  // namespace ma::server
