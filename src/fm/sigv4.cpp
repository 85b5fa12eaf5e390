#include "fm/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace ma::fm {

namespace {

std::string hex(const unsigned char* d, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 0xF];
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

std::string uri_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Removes "." and ".." segments and collapses repeated slashes; keeps a trailing slash.
std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segs;
  std::size_t i = 0;
  while (i <= path.size()) {
    const std::size_t j = std::min(path.find('/', i), path.size());
    const std::string_view seg = path.substr(i, j - i);
    if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    i = j + 1;
  }
  std::string out;
  for (auto s : segs) out += "/" + std::string(s);
  const bool trailing =
      !path.empty() && (path.back() == '/' || path.ends_with("/.") || path.ends_with("/.."));
  if (out.empty() || trailing) out += "/";
  return out;
}

std::string trim_collapse(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string amz_date(core::WallTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  return hex(d, sizeof d);
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

SigV4Result sigv4_sign(const SigV4Request& req, const AwsCredentials& creds,
                       const SigV4Options& opt) {
  SigV4Result r;
  const std::string date_time = amz_date(opt.time);
  const std::string date = date_time.substr(0, 8);
  const std::string payload_hash = sha256_hex(req.body);

  r.added_headers.emplace_back("X-Amz-Date", date_time);
  if (!creds.session_token.empty())
    r.added_headers.emplace_back("X-Amz-Security-Token", creds.session_token);
  if (opt.sign_body) r.added_headers.emplace_back("X-Amz-Content-Sha256", payload_hash);

  // Canonical headers: lower-case names, trimmed values, repeated names joined with ','.
  std::map<std::string, std::string> headers;
  auto add = [&](const std::string& name, const std::string& value) {
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto [it, inserted] = headers.emplace(n, trim_collapse(value));
    if (!inserted) it->second += "," + trim_collapse(value);
  };
  for (const auto& [n, v] : req.headers) add(n, v);
  for (const auto& [n, v] : r.added_headers) add(n, v);

  // Canonical query: decoded, strictly re-encoded, sorted by key then value.
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t i = 0;
  while (i < req.query.size()) {
    const std::size_t j = std::min(req.query.find('&', i), req.query.size());
    const std::string_view kv(req.query.data() + i, j - i);
    if (!kv.empty()) {
      const std::size_t eq = kv.find('=');
      const std::string k = uri_encode(uri_decode(kv.substr(0, eq)), false);
      const std::string v =
          eq == std::string_view::npos ? "" : uri_encode(uri_decode(kv.substr(eq + 1)), false);
      params.emplace_back(k, v);
    }
    i = j + 1;
  }
  std::sort(params.begin(), params.end());
  std::string query;
  for (const auto& [k, v] : params) query += (query.empty() ? "" : "&") + k + "=" + v;

  std::string signed_headers, canonical_headers;
  for (const auto& [n, v] : headers) {
    signed_headers += (signed_headers.empty() ? "" : ";") + n;
    canonical_headers += n + ":" + v + "\n";
  }
  const std::string path = opt.normalize_path ? normalize_path(req.path) : req.path;
  r.canonical_request = req.method + "\n" + uri_encode(path, true) + "\n" + query + "\n" +
                        canonical_headers + "\n" + signed_headers + "\n" + payload_hash;

  const std::string scope = date + "/" + opt.region + "/" + opt.service + "/aws4_request";
  r.string_to_sign =
      "AWS4-HMAC-SHA256\n" + date_time + "\n" + scope + "\n" + sha256_hex(r.canonical_request);
  const std::string k_date = hmac("AWS4" + creds.secret_access_key, date);
  const std::string k_region = hmac(k_date, opt.region);
  const std::string k_service = hmac(k_region, opt.service);
  const std::string k_signing = hmac(k_service, "aws4_request");
  const std::string sig = hmac(k_signing, r.string_to_sign);
  r.signature = hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
  r.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope +
                    ", SignedHeaders=" + signed_headers + ", Signature=" + r.signature;
  return r;
}

}  // namespace ma::fm
