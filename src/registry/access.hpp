#pragma once
// Who may use the registry: HTTP Basic credentials from a file (`--credentials-file`), as Spring
// Cloud's Eureka server does with Spring Security. Without a file the registry is open.

#include <array>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.hpp"

namespace status::registry {

/// A credentials file that cannot be used; the message names the file and the line, never a
/// password.
class CredentialsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The users of a credentials file: lines `user:password` (the password is everything after
/// the first ':'), blank lines and lines starting with '#' ignored. Only a digest of each
/// password is kept.
class Credentials {
 public:
  Credentials() = default;
  /// Reads and checks the file. Throws CredentialsError when it is unreadable, readable or
  /// writable by others (mode o+rw), or malformed (a line without ':', an empty user or
  /// password, a user twice, no user at all). `warnings` gets what is allowed but unwise (a
  /// file readable by its group).
  static Credentials load(const std::string& path, std::vector<std::string>* warnings = nullptr);
  /// The same from text (tests); `origin` names it in messages.
  static Credentials parse(std::string_view text, const std::string& origin);

  /// The user when `password` is that user's (compared in constant time), else nullopt.
  std::optional<std::string> check(std::string_view user, std::string_view password) const;
  bool has_user(const std::string& user) const { return digests_.count(user) > 0; }
  std::size_t size() const { return digests_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256
  static Digest digest(std::string_view password);
  std::map<std::string, Digest, std::less<>> digests_;
};

/// The access rule of one registry. Thread-safe (immutable after construction).
class Access {
 public:
  /// Open: everyone may do everything, and nobody is a peer.
  Access() = default;
  /// `peer_users`: the users whose requests may carry the replication header (the users this
  /// registry itself sends to its peers, as every registry of a mesh lists every other one).
  Access(Credentials credentials, std::set<std::string> peer_users, bool protect_reads);

  bool open() const { return !credentials_; }
  bool protect_reads() const { return protect_reads_; }
  /// The request's user, when its Authorization header holds valid Basic credentials.
  std::optional<std::string> authenticate(const common::Request& req) const;
  bool is_peer(const std::string& user) const { return peer_users_.count(user) > 0; }

 private:
  std::optional<Credentials> credentials_;
  std::set<std::string> peer_users_;
  bool protect_reads_ = false;
};

/// The 401 answer: problem+json with `WWW-Authenticate: Basic realm="eureka"`.
common::Response unauthorized(const common::Request& req, std::string_view detail);

}  // namespace status::registry
