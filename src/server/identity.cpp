#include "server/identity.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "core/base64url.hpp"
#include "core/json_util.hpp"
#include "core/text.hpp"

namespace ma::server {

namespace {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  const int ok = RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  if (ok != 1) std::abort();  // no randomness: nothing this server issues could be trusted
  return out;
}

std::string hex(std::string_view in) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(in.size() * 2);
  for (unsigned char c : in) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

Identity::Identity(std::string secret) : secret_(std::move(secret)) {
  assert(secret_.size() >= 16);
}

std::string Identity::sign(std::string_view domain, std::string_view payload) const {
  std::string msg;
  core::str_append(msg, domain, "\n", payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  return core::base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string Identity::issue_user_token(std::string_view user_id, core::WallTime expires) const {
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch());
  std::string payload =
      core::str_cat("mat1.", core::base64url(user_id), ".", core::Dec(exp.count()));
  return core::str_cat(payload, ".", sign("user-token", payload));
}

core::Result<std::string> Identity::verify_user_token(std::string_view token,
                                                      core::WallTime now) const {
  auto bad = [] { return core::fail("invalid_token", "the bearer token is not valid"); };
  if (token.size() > 512 || !token.starts_with("mat1.")) return bad();
  const auto last = token.rfind('.');
  const std::string_view payload = token.substr(0, last);
  const std::string_view mac = token.substr(last + 1);
  if (!core::constant_time_equals(mac, sign("user-token", payload))) return bad();
  // Signed by us: the fields are well formed unless the secret leaked.
  const std::string_view rest = payload.substr(5);
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) return bad();
  auto id = core::base64url_decode(rest.substr(0, dot));
  const std::string_view exp_text = rest.substr(dot + 1);
  long long exp = 0;
  const auto r = std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (!id || id->empty() || r.ec != std::errc() || r.ptr != exp_text.data() + exp_text.size())
    return bad();
  if (core::WallTime(std::chrono::seconds(exp)) <= now)
    return core::fail("token_expired", "the bearer token has expired; sign in again");
  return std::move(*id);
}

std::string Identity::issue_session() const {
  std::string payload = core::str_cat("s1.", hex(random_bytes(16)));
  // 128 bits of the MAC are plenty for a session and keep the cookie short.
  return core::str_cat(payload, ".", sign("session", payload).substr(0, 22));
}

bool Identity::verify_session(std::string_view session) const {
  if (session.size() != 3 + 32 + 1 + 22 || !session.starts_with("s1.")) return false;
  const std::string_view payload = session.substr(0, 35);
  if (session[35] != '.') return false;
  return core::constant_time_equals(session.substr(36), sign("session", payload).substr(0, 22));
}

core::Result<std::string> resolve_auth_secret(const std::string& configured,
                                              const std::string& file) {
  auto check = [](std::string s, const char* from) -> core::Result<std::string> {
    if (s.size() < 16)
      return core::fail("invalid_config",
                        std::string(from) + ": the auth secret must be at least 16 bytes");
    return s;
  };
  if (!configured.empty()) return check(configured, "server.auth_secret");
  if (auto existing = core::read_file(file); existing.ok()) return check(*existing, file.c_str());
  std::error_code ec;
  const auto parent = std::filesystem::path(file).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  // O_EXCL: when two processes start at once, one writes and the other reads its secret.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (auto raced = core::read_file(file); raced.ok()) return check(*raced, file.c_str());
    return core::fail("invalid_config", "cannot create the auth secret file " + file);
  }
  const std::string secret = hex(random_bytes(32));
  const bool written =
      ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
  ::close(fd);
  if (!written) return core::fail("invalid_config", "cannot write the auth secret file " + file);
  return secret;
}

SessionIssuer::SessionIssuer(resilience::BucketSpec per_source, std::size_t max_sources)
    : spec_(per_source), max_sources_(max_sources) {}

bool SessionIssuer::try_issue(const std::string& source, core::TimePoint now) {
  // A source past its sessions is refused until its bucket has refilled a token; each
  // thread remembers that time for a few sources, so that a client that never keeps its
  // session (a load generator, a script) does not take the issuer's lock per message.
  // Exact: only issuing takes tokens, so nothing can be issued to it before then.
  struct Refused {
    std::uint64_t issuer = 0;  // SessionIssuer::id_: an address could be reused
    std::string source;
    core::TimePoint until{};
  };
  thread_local std::array<Refused, 16> refused;
  Refused& memo = refused[std::hash<std::string>{}(source) % refused.size()];
  if (memo.issuer == id_ && now < memo.until && memo.source == source) return false;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      // Forget the sources whose buckets have refilled: they lose nothing.
      std::erase_if(buckets_, [&](const auto& kv) {
        auto st = kv.second;
        const double refilled = st.tokens + spec_.rate * core::to_seconds(now - st.last);
        return refilled >= spec_.burst;
      });
      if (buckets_.size() >= max_sources_) return false;  // a flood of sources: no new ones
    }
    it = buckets_.emplace(source, resilience::BucketState::full(spec_, now)).first;
  }
  if (resilience::try_acquire(spec_, it->second, now) == resilience::BucketVerdict::kAllowed) {
    return true;
  }
  if (source.size() <= 64)
    memo = {id_, source, now + resilience::time_until(spec_, it->second, now)};
  return false;
}

}  // namespace ma::server
