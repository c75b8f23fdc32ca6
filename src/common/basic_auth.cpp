#include "common/basic_auth.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace status::common {

namespace {

bool is_base64_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
}

}  // namespace

std::string basic_authorization(std::string_view user, std::string_view password) {
  std::string plain = std::string(user) + ":" + std::string(password);
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Basic " + out;
}

std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view value) {
  constexpr std::string_view kScheme = "basic ";
  if (value.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return std::nullopt;
  std::string_view token = value.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  // EVP_DecodeBlock skips white space and does not check the padding: check the shape first.
  if (token.empty() || token.size() % 4 != 0 || token.size() > 8192) return std::nullopt;
  std::size_t padding = token.size() - token.find_last_not_of('=') - 1;
  if (padding > 2) return std::nullopt;
  if (!std::all_of(token.begin(), token.end() - static_cast<std::ptrdiff_t>(padding),
                   is_base64_char))
    return std::nullopt;
  std::vector<unsigned char> plain(token.size() / 4 * 3);
  int n = EVP_DecodeBlock(plain.data(), reinterpret_cast<const unsigned char*>(token.data()),
                          static_cast<int>(token.size()));
  if (n < 0 || static_cast<std::size_t>(n) < padding) return std::nullopt;
  std::string decoded(reinterpret_cast<const char*>(plain.data()),
                      static_cast<std::size_t>(n) - padding);
  auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

}  // namespace status::common
