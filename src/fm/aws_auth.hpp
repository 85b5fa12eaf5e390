#pragma once
// How MangaAssist authenticates to Bedrock Runtime, resolved like the AWS SDKs do, minus the
// instance-metadata and SSO providers (not reachable from here; see docs/providers.md):
//   1. AWS_BEARER_TOKEN_BEDROCK: a Bedrock API key, sent as "Authorization: Bearer <key>";
//   2. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN): SigV4;
//   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials),
//      profile AWS_PROFILE (else the configured one, else "default"): SigV4.
// Region: AWS_REGION, else AWS_DEFAULT_REGION, else the configured one. Endpoint:
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME, else AWS_ENDPOINT_URL, else the configured one, else
// https://bedrock-runtime.{region}.amazonaws.com.

#include <optional>
#include <string>

#include "core/env.hpp"
#include "core/result.hpp"
#include "fm/sigv4.hpp"

namespace ma::fm {

struct AwsAuth {
  std::optional<AwsCredentials> sigv4;
  std::string bearer_token;
  std::string source;  // "bearer env", "env", "profile default (/root/.aws/credentials)"
};

// Reads a variable; tests pass their own (core/env.hpp).
using EnvLookup = core::EnvLookup;
using core::process_env;

core::Result<AwsAuth> resolve_aws_auth(const EnvLookup& env, const std::string& profile = "");

// The [profile] of an AWS shared credentials file (INI). Missing profile or keys: an error
// naming what is missing, never the secret.
core::Result<AwsCredentials> read_credentials_file(const std::string& path,
                                                   const std::string& profile);

std::string resolve_region(const EnvLookup& env, const std::string& configured);
std::string resolve_bedrock_endpoint(const EnvLookup& env, const std::string& configured,
                                     const std::string& region);

}  // namespace ma::fm
