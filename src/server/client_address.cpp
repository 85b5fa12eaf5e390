#include "server/client_address.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace ma::server {

namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An IPv4-mapped IPv6 address is the IPv4 address (a dual-stack listener reports them so).
ip::address canonical(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

// "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:443".
std::optional<ip::address> parse_address(std::string_view s) {
  s = trim(s);
  if (s.starts_with('[')) {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    s = s.substr(1, close - 1);
  } else if (s.find(':') == s.rfind(':') && s.find(':') != std::string_view::npos) {
    s = s.substr(0, s.find(':'));  // one colon: IPv4 with a port
  }
  boost::system::error_code ec;
  const ip::address a = ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  return canonical(a);
}

}  // namespace

core::Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  TrustedProxies t;
  for (const std::string& raw : entries) {
    const std::string_view e = trim(raw);
    boost::system::error_code ec;
    const auto slash = e.find('/');
    const ip::address a = ip::make_address(std::string(e.substr(0, slash)), ec);
    const unsigned most = a.is_v4() ? 32 : 128;
    unsigned prefix = most;
    if (!ec && slash != std::string_view::npos) {
      const std::string_view p = e.substr(slash + 1);
      const auto [end, err] = std::from_chars(p.data(), p.data() + p.size(), prefix);
      if (err != std::errc{} || end != p.data() + p.size() || prefix > most) {
        ec = boost::asio::error::invalid_argument;
      }
    }
    if (ec) {
      return core::fail("invalid_config", "server.trusted_proxies: '" + raw +
                                              "' is not an IP address or network (10.0.0.0/8)");
    }
    if (a.is_v4()) {
      t.v4_.push_back(ip::network_v4(a.to_v4(), static_cast<unsigned short>(prefix)).canonical());
    } else {
      t.v6_.push_back(ip::network_v6(a.to_v6(), static_cast<unsigned short>(prefix)).canonical());
    }
  }
  return t;
}

bool TrustedProxies::contains(const ip::address& raw) const {
  const ip::address a = canonical(raw);
  if (a.is_v4()) {
    const std::uint32_t v = a.to_v4().to_uint();
    for (const auto& n : v4_) {
      if ((v & n.netmask().to_uint()) == n.network().to_uint()) return true;
    }
    return false;
  }
  const auto bytes = a.to_v6().to_bytes();
  for (const auto& n : v6_) {
    const auto net = n.network().to_bytes();
    unsigned bits = n.prefix_length();
    bool match = true;
    for (std::size_t i = 0; i < bytes.size() && bits > 0 && match;
         ++i, bits -= std::min(bits, 8u)) {
      const unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
      match = (bytes[i] & mask) == net[i];
    }
    if (match) return true;
  }
  return false;
}

std::string TrustedProxies::client_of(std::string_view peer,
                                      const std::vector<std::string_view>& forwarded) const {
  std::optional<ip::address> hop = parse_address(peer);
  if (!hop) return std::string(peer);
  if (!contains(*hop) || forwarded.empty()) return hop->to_string();
  // Every entry of every line, read from the right: the nearest hop first.
  for (auto line = forwarded.rbegin(); line != forwarded.rend(); ++line) {
    std::string_view rest = *line;
    while (!rest.empty()) {
      const auto comma = rest.rfind(',');
      const std::string_view entry =
          comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      if (trim(entry).empty()) continue;
      const auto a = parse_address(entry);
      // Not an address where a trusted hop should have written one: the last address vouched
      // for stands (an obfuscated or garbled entry cannot choose the client).
      if (!a) return hop->to_string();
      hop = *a;
      if (!contains(*hop)) return hop->to_string();
    }
  }
  return hop->to_string();  // every hop a trusted proxy: the farthest one
}

std::string source_key(std::string_view address) {
  if (address.find(':') == std::string_view::npos) return std::string(address);  // IPv4
  const auto a = parse_address(address);
  if (!a) return std::string(address);
  if (a->is_v4()) return a->to_string();  // a mapped IPv4 address
  auto bytes = a->to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace ma::server
