#include "fm/sigv4.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
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

TEST(SigV4Test, PassesTheAwsSigningSuite) {
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    if (!entry.is_directory()) continue;
    const fs::path dir = entry.path();
    SCOPED_TRACE(dir.filename().string());
    const auto ctx = boost::json::parse(read(dir / "context.json"));
    AwsCredentials creds{std::string(ctx.at("credentials").at("access_key_id").as_string()),
                         std::string(ctx.at("credentials").at("secret_access_key").as_string()),
                         ""};
    SigV4Options opt;
    opt.region = std::string(ctx.at("region").as_string());
    opt.service = std::string(ctx.at("service").as_string());
    opt.time = *core::parse_rfc3339(std::string(ctx.at("timestamp").as_string()));
    opt.normalize_path = ctx.at("normalize").as_bool();
    opt.sign_body = ctx.at("sign_body").as_bool();
    const auto r = sigv4_sign(parse_request(read(dir / "request.txt")), creds, opt);
    EXPECT_EQ(r.canonical_request, read(dir / "header-canonical-request.txt"));
    EXPECT_EQ(r.string_to_sign, read(dir / "header-string-to-sign.txt"));
    EXPECT_EQ(r.signature, read(dir / "header-signature.txt"));
    EXPECT_NE(read(dir / "header-signed-request.txt").find("Authorization:" + r.authorization),
              std::string::npos);
    ++cases;
  }
  EXPECT_EQ(cases, 18);
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
