#include "gateway/source_key.hpp"

#include <algorithm>

namespace ma::gateway {

namespace ip = boost::asio::ip;

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ip::address canonical(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::optional<ip::address> parse_address(std::string_view s) {
  s = trim_blanks(s);
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

std::string source_key(std::string_view address) {
  if (address.find(':') == std::string_view::npos) return std::string(address);  // IPv4
  const auto a = parse_address(address);
  if (!a) return std::string(address);
  if (a->is_v4()) return a->to_string();  // a mapped IPv4 address
  auto bytes = a->to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace ma::gateway
