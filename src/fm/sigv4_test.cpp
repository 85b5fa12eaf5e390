#include "fm/sigv4.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>

#include "core/json_util.hpp"
#include "core/wall_time.hpp"

namespace ma::fm {
namespace {

namespace fs = std::filesystem;
const std::string kDir = std::string(MA_TEST_DATA_DIR) + "/sigv4";

std::string read(const fs::path& p) {
  auto r = core::read_file(p.string());
  return r.ok() ? *r : std::string();
}

// request.txt: "METHOD PATH[?QUERY] HTTP/1.1", headers "Name:value", a blank line, the body.
SigV4Request parse_request(const std::string& text) {
  SigV4Request req;
  std::size_t pos = text.find('\n');
  std::string line = text.substr(0, pos);
  req.method = line.substr(0, line.find(' '));
  std::string target = line.substr(req.method.size() + 1);
  target = target.substr(0, target.rfind(" HTTP/1.1"));
  const auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  while (pos != std::string::npos && pos + 1 < text.size()) {
    const std::size_t next = text.find('\n', pos + 1);
    line = text.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next;
    if (line.empty()) {
      if (pos != std::string::npos) req.body = text.substr(pos + 1);
      break;
    }
    const auto colon = line.find(':');
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return req;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Every case of tests/data/sigv4 (25; SOURCE.md). 18 come whole: request.txt and the expected
// canonical request, string to sign and signature. The other 7 come as the upstream
// header-signed-request.txt only; their request is that file less what a signer adds
// (Authorization, X-Amz-Date, X-Amz-Security-Token, x-amz-content-sha256), and the signed
// request must come back: the same Authorization and every added header, value for value.
TEST(SigV4Test, PassesTheAwsSigningSuite) {
  int cases = 0, whole = 0;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    if (!entry.is_directory()) continue;
    const fs::path dir = entry.path();
    SCOPED_TRACE(dir.filename().string());
    const auto ctx = boost::json::parse(read(dir / "context.json"));
    const auto& c = ctx.at("credentials").as_object();
    AwsCredentials creds{std::string(c.at("access_key_id").as_string()),
                         std::string(c.at("secret_access_key").as_string()),
                         c.contains("token") ? std::string(c.at("token").as_string()) : ""};
    SigV4Options opt;
    opt.region = std::string(ctx.at("region").as_string());
    opt.service = std::string(ctx.at("service").as_string());
    opt.time = *core::parse_rfc3339(std::string(ctx.at("timestamp").as_string()));
    opt.normalize_path = ctx.at("normalize").as_bool();
    const auto* sign_body = ctx.as_object().if_contains("sign_body");
    opt.sign_body = sign_body != nullptr && sign_body->as_bool();
    const std::string signed_request = read(dir / "header-signed-request.txt");
    ASSERT_FALSE(signed_request.empty());
    SigV4Request req;
    if (fs::exists(dir / "request.txt")) {
      req = parse_request(read(dir / "request.txt"));
    } else {
      req = parse_request(signed_request);
      std::erase_if(req.headers, [](const auto& h) {
        const std::string n = lower(h.first);
        return n == "authorization" || n == "x-amz-date" || n == "x-amz-security-token" ||
               n == "x-amz-content-sha256";
      });
    }
    const auto r = sigv4_sign(req, creds, opt);
    if (fs::exists(dir / "header-canonical-request.txt")) {
      EXPECT_EQ(r.canonical_request, read(dir / "header-canonical-request.txt"));
      EXPECT_EQ(r.string_to_sign, read(dir / "header-string-to-sign.txt"));
      EXPECT_EQ(r.signature, read(dir / "header-signature.txt"));
      ++whole;
    }
    EXPECT_NE(signed_request.find("\nAuthorization:" + r.authorization + "\n"), std::string::npos)
        << r.authorization << "\n"
        << r.canonical_request;
    for (const auto& [name, value] : r.added_headers) {
      const auto signed_headers = parse_request(signed_request).headers;
      EXPECT_TRUE(std::any_of(
          signed_headers.begin(), signed_headers.end(),
          [&](const auto& h) { return lower(h.first) == lower(name) && h.second == value; }))
          << name << ":" << value;
    }
    ++cases;
  }
  EXPECT_EQ(cases, 25);
  EXPECT_EQ(whole, 18);
}

TEST(SigV4Test, BedrockModelIdIsEncodedTwiceInTheCanonicalUri) {
  SigV4Request req{
      "POST",
      "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
      "",
      {{"Host", "bedrock-runtime.us-east-1.amazonaws.com"}, {"Content-Type", "application/json"}},
      R"({"messages":[]})"};
  SigV4Options opt{"us-east-1", "bedrock", core::WallTime{std::chrono::seconds(1795694400)}, true,
                   false};
  const auto r = sigv4_sign(req, {"AKIDEXAMPLE", "secret", "session"}, opt);
  EXPECT_NE(
      r.canonical_request.find("/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n"),
      std::string::npos)
      << r.canonical_request;
  EXPECT_NE(r.authorization.find("/us-east-1/bedrock/aws4_request"), std::string::npos);
  EXPECT_NE(r.canonical_request.find("x-amz-security-token:session\n"), std::string::npos);
}

}  // namespace
}  // namespace ma::fm
