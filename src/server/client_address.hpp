#pragma once
// Who sent a request. Behind a load balancer every connection comes from the balancer, so
// the per-source limit and an anonymous visitor's key need the client address the balancer
// appends to X-Forwarded-For. That header is the client's to write too, so it is believed
// only as far as trusted proxies vouch for it: starting from the connection's peer, each
// trusted hop's X-Forwarded-For entry names the hop before it, from the right; the first
// address that is not a trusted proxy is the client. With no trusted proxies (the default,
// a server facing clients directly) the header is ignored and the peer is the client.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace ma::server {

class TrustedProxies final {
 public:
  TrustedProxies() = default;
  // Addresses and networks: "10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1". An entry that is
  // neither is an error naming it.
  static core::Result<TrustedProxies> parse(const std::vector<std::string>& entries);

  bool empty() const { return v4_.empty() && v6_.empty(); }
  bool contains(const boost::asio::ip::address& a) const;

  // The client's address for a request that came from `peer` with these X-Forwarded-For
  // values (every header line, in order; empty when there was none). Addresses come back
  // in their canonical text ("::ffff:10.1.2.3" as "10.1.2.3").
  std::string client_of(std::string_view peer,
                        const std::vector<std::string_view>& forwarded) const;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

}  // namespace ma::server
