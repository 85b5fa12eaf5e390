#pragma once
// AWS Signature Version 4 (header signing) for Bedrock Runtime requests. Pure: the time comes
// from the caller. Verified against the aws-c-auth signing suite (tests/data/sigv4).
//
// Canonical URI: the wire path, normalised (dot segments, repeated slashes) when asked, then
// URI-encoded once more ('%' too): the "double encoding" of every service but S3, so Bedrock's
// `/model/a%3A0/converse` is signed as `/model/a%253A0/converse`.

#include <string>
#include <utility>
#include <vector>

#include "core/time.hpp"

namespace ma::fm {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional
};

struct SigV4Request {
  std::string method;
  std::string path;   // as sent on the wire (already encoded where it must be)
  std::string query;  // without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // name, value (any case)
  std::string body;
};

struct SigV4Options {
  std::string region;
  std::string service;  // "bedrock" for Bedrock Runtime
  core::WallTime time{};
  bool normalize_path = true;
  bool sign_body = false;  // add and sign x-amz-content-sha256
};

struct SigV4Result {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lowercase hex
  std::string authorization;  // the Authorization header value
  // Headers the signer adds to the request: x-amz-date, and when they apply
  // x-amz-security-token and x-amz-content-sha256.
  std::vector<std::pair<std::string, std::string>> added_headers;
};

SigV4Result sigv4_sign(const SigV4Request& req, const AwsCredentials& creds,
                       const SigV4Options& opt);

std::string sha256_hex(std::string_view data);
// RFC 3986 encoding of everything but unreserved characters (and '/' when keep_slash).
std::string uri_encode(std::string_view s, bool keep_slash);

}  // namespace ma::fm
