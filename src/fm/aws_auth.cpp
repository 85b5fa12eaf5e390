#include "fm/aws_auth.hpp"

#include <fstream>

namespace ma::fm {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

std::string get(const EnvLookup& env, const char* name) {
  return core::env_value(env, name).value_or("");
}

}  // namespace

core::Result<AwsCredentials> read_credentials_file(const std::string& path,
                                                   const std::string& profile) {
  std::ifstream in(path);
  if (!in) return core::fail("no_credentials", "cannot read the credentials file " + path);
  AwsCredentials c;
  bool in_profile = false;
  bool found = false;
  std::string line;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[') {
      std::string name = trim(std::string_view(t).substr(1, t.find(']') - 1));
      if (name.rfind("profile ", 0) == 0) name = trim(std::string_view(name).substr(8));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    const auto eq = t.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(std::string_view(t).substr(0, eq));
    const std::string value = trim(std::string_view(t).substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found) return core::fail("no_credentials", "no profile [" + profile + "] in " + path);
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return core::fail("no_credentials", "profile [" + profile + "] in " + path +
                                            " lacks aws_access_key_id or aws_secret_access_key");
  }
  return c;
}

core::Result<AwsAuth> resolve_aws_auth(const EnvLookup& env, const std::string& profile) {
  AwsAuth auth;
  if (auto bearer = get(env, "AWS_BEARER_TOKEN_BEDROCK"); !bearer.empty()) {
    auth.bearer_token = std::move(bearer);
    auth.source = "AWS_BEARER_TOKEN_BEDROCK";
    return auth;
  }
  const std::string id = get(env, "AWS_ACCESS_KEY_ID");
  const std::string secret = get(env, "AWS_SECRET_ACCESS_KEY");
  if (!id.empty() && !secret.empty()) {
    auth.sigv4 = AwsCredentials{id, secret, get(env, "AWS_SESSION_TOKEN")};
    auth.source = "environment";
    return auth;
  }
  std::string file = get(env, "AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) {
    const std::string home = get(env, "HOME");
    if (home.empty())
      return core::fail("no_credentials",
                        "no AWS credentials: set AWS_BEARER_TOKEN_BEDROCK, "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile");
    file = home + "/.aws/credentials";
  }
  std::string name = get(env, "AWS_PROFILE");
  if (name.empty()) name = profile.empty() ? "default" : profile;
  auto creds = read_credentials_file(file, name);
  if (!creds.ok()) {
    return core::fail("no_credentials",
                      "no AWS credentials: AWS_BEARER_TOKEN_BEDROCK and AWS_ACCESS_KEY_ID are "
                      "unset, and " +
                          creds.error().message);
  }
  auth.sigv4 = std::move(creds).value();
  auth.source = "profile " + name + " (" + file + ")";
  return auth;
}

std::string resolve_region(const EnvLookup& env, const std::string& configured) {
  if (auto r = get(env, "AWS_REGION"); !r.empty()) return r;
  if (auto r = get(env, "AWS_DEFAULT_REGION"); !r.empty()) return r;
  return configured.empty() ? "us-east-1" : configured;
}

std::string resolve_bedrock_endpoint(const EnvLookup& env, const std::string& configured,
                                     const std::string& region) {
  if (auto e = get(env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"); !e.empty()) return e;
  if (auto e = get(env, "AWS_ENDPOINT_URL"); !e.empty()) return e;
  if (!configured.empty()) return configured;
  return "https://bedrock-runtime." + region + ".amazonaws.com";
}

}  // namespace ma::fm
