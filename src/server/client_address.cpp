#include "server/client_address.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "gateway/source_key.hpp"

namespace ma::server {

namespace ip = boost::asio::ip;

using gateway::canonical;
using gateway::parse_address;
using gateway::trim_blanks;

core::Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  TrustedProxies t;
  for (const std::string& raw : entries) {
    const std::string_view e = trim_blanks(raw);
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
      if (trim_blanks(entry).empty()) continue;
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

}  // namespace ma::server
