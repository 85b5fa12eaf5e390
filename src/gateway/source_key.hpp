#pragma once
// Client addresses as the request path keys them. Transport-free (text in, text out): the
// server's X-Forwarded-For handling (server/client_address.hpp) and the simulator's made-up
// sources both reach admission through these.

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ma::gateway {

// `text` without leading and trailing spaces and tabs (header values, list entries).
std::string_view trim_blanks(std::string_view text);

// "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:443", surrounding
// blanks allowed; an IPv4-mapped IPv6 address comes back as the IPv4 address. nullopt: not an
// address.
std::optional<boost::asio::ip::address> parse_address(std::string_view text);

// An IPv4-mapped IPv6 address is the IPv4 address (a dual-stack listener reports them so).
boost::asio::ip::address canonical(const boost::asio::ip::address& a);

// The key a client address is rate-limited and counted under: an IPv4 address as it is, an
// IPv6 address by its /64 ("2001:db8:1:2::/64"), one subscriber's allocation, inside which a
// client can rotate addresses at will. Text that is not an address is its own key.
std::string source_key(std::string_view address);

}  // namespace ma::gateway
