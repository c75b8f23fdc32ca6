#pragma once
// HTTP Basic credentials (RFC 7617): the Authorization header a client sends for the userinfo
// of a URL, and its reading on the server side. Base64 through OpenSSL.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace status::common {

/// "Basic base64(user:password)", the value of an Authorization header.
std::string basic_authorization(std::string_view user, std::string_view password);

/// The user and password of an Authorization header value "Basic …" (scheme case-insensitive);
/// nullopt for any other scheme, malformed base64 or a decoded value without ':'.
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view value);

}  // namespace status::common
