#include "registry/access.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/basic_auth.hpp"

namespace status::registry {

namespace {

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

bool valid_user(std::string_view user) {
  if (user.empty()) return false;
  for (unsigned char c : user)
    if (c <= ' ' || c == 0x7f) return false;  // no white space or control characters
  return true;
}

}  // namespace

Credentials::Digest Credentials::digest(std::string_view password) {
  Digest out{};
  unsigned int n = 0;
  if (EVP_Digest(password.data(), password.size(), out.data(), &n, EVP_sha256(), nullptr) != 1 ||
      n != out.size())
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  return out;
}

Credentials Credentials::parse(std::string_view text, const std::string& origin) {
  Credentials c;
  std::size_t number = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (blank(line) || line[line.find_first_not_of(" \t")] == '#') continue;
    auto where = origin + " line " + std::to_string(number);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) throw CredentialsError(where + ": expected user:password");
    std::string user(line.substr(0, colon));
    std::string_view password = line.substr(colon + 1);
    if (!valid_user(user))
      throw CredentialsError(where +
                             ": the user must be non-empty, without spaces or control "
                             "characters");
    if (password.empty()) throw CredentialsError(where + ": empty password for user " + user);
    if (!c.digests_.emplace(user, digest(password)).second)
      throw CredentialsError(where + ": user " + user + " appears twice");
  }
  if (c.digests_.empty()) throw CredentialsError(origin + ": no user:password line");
  return c;
}

Credentials Credentials::load(const std::string& path, std::vector<std::string>* warnings) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw CredentialsError("cannot read credentials file " + path);
  if (st.st_mode & (S_IROTH | S_IWOTH))
    throw CredentialsError("credentials file " + path +
                           " is accessible to every user of the machine; chmod 600 it");
  if ((st.st_mode & (S_IRGRP | S_IWGRP)) && warnings)
    warnings->push_back("credentials file " + path + " is readable by its group");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw CredentialsError("cannot read credentials file " + path);
  return parse(text.str(), "credentials file " + path);
}

std::optional<std::string> Credentials::check(std::string_view user,
                                              std::string_view password) const {
  Digest given = digest(password);
  auto it = digests_.find(user);
  // An unknown user costs the same comparison as a known one.
  static const Digest kNobody = digest("\x01 no such user \x01");
  const Digest& expected = it == digests_.end() ? kNobody : it->second;
  bool same = CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
  if (!same || it == digests_.end()) return std::nullopt;
  return it->first;
}

Access::Access(Credentials credentials, std::set<std::string> peer_users, bool protect_reads)
    : credentials_(std::move(credentials)),
      peer_users_(std::move(peer_users)),
      protect_reads_(protect_reads) {}

std::optional<std::string> Access::authenticate(const common::Request& req) const {
  if (!credentials_) return std::nullopt;
  auto it = req.find(common::http::field::authorization);
  if (it == req.end()) return std::nullopt;
  auto basic =
      common::parse_basic_authorization(std::string_view(it->value().data(), it->value().size()));
  if (!basic) return std::nullopt;
  return credentials_->check(basic->first, basic->second);
}

common::Response unauthorized(const common::Request& req, std::string_view detail) {
  auto res = common::problem(401, detail, req.version(), req.keep_alive());
  res.set(common::http::field::www_authenticate, "Basic realm=\"eureka\"");
  return res;
}

}  // namespace status::registry
