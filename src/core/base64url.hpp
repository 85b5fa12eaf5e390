#pragma once
// base64url (RFC 4648 section 5) without padding, for the signed tokens, sessions and tickets
// the server issues (server/identity.hpp, gateway/answer_later.hpp). Pure; thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace ma::core {

std::string base64url(std::string_view in);
// Strict: only the alphabet, no padding, no trailing bits set; nullopt otherwise.
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace ma::core
