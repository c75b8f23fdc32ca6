#pragma once
// Identity and access (CONTRACT §6): who a request is (a session token, as bearer or cookie, or
// an OpenID Connect JWT), password hashing (Argon2id from libsodium, on a small bounded pool —
// a hash takes tens of milliseconds and ~19 MiB on purpose), the login throttle, and the cluster
// key that authenticates nodes to each other. No hand-written cryptography.

#include "common/http.hpp"
#include "node/status_index.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace status::common {
class JwksVerifier;
}

namespace status::node {

/// Who made a request.
struct Identity {
  std::string username;
  bool admin = false;
  std::string session_key;     // "session:<hash>" when it came from a session token
  std::int64_t expires_ms = 0;  // when the credential ends (ms since the epoch)
};

/// Argon2id through libsodium's crypto_pwhash_str (OWASP's parameters: 2 passes, 19 MiB).
struct Passwords {
  /// Initialises libsodium; throws if it cannot.
  static void init();
  static std::string hash(std::string_view password);
  static bool verify(const std::string& hash, std::string_view password);
  /// A hash of nothing in particular, verified against when the user is unknown, so that an
  /// unknown name costs as much time as a wrong password.
  static const std::string& decoy();
};

/// Runs password hashes on `threads` threads; at most `queue` wait. Thread-safe.
class HashWorkers {
 public:
  HashWorkers(std::size_t threads, std::size_t queue);
  ~HashWorkers();
  /// False when the queue is full (the caller answers 503): a login storm cannot take all memory.
  bool submit(std::function<void()> job);
  void stop();

 private:
  std::size_t max_queue_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// Failed logins per username: after `max_failures` within `window`, every attempt for that name
/// is refused (429) until the window has passed — also with the right password. Per node.
/// Thread-safe; at most `max_names` names are tracked (the oldest are forgotten first).
class LoginThrottle {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit LoginThrottle(int max_failures = 5, std::chrono::seconds window = std::chrono::seconds(60),
                         std::size_t max_names = 100000)
      : max_(max_failures), window_(window), max_names_(max_names) {}
  /// Seconds to wait, or nullopt when attempts are allowed.
  std::optional<int> locked(const std::string& username, time_point now);
  void failed(const std::string& username, time_point now);
  void succeeded(const std::string& username);

 private:
  int max_;
  std::chrono::seconds window_;
  std::size_t max_names_;
  std::mutex mutex_;
  std::map<std::string, std::deque<time_point>> failures_;
};

/// A random session token (32 bytes from libsodium's CSPRNG, base64url) and its record key.
std::string new_session_token();
/// "session:" + hex(SHA-256(token)): only the hash is stored and replicated.
std::string session_key(std::string_view token);

struct AuthOptions {
  std::chrono::seconds session_ttl{7 * 24 * 3600};
  bool signup_open = true;
  bool read_authenticated = false;
  std::shared_ptr<const common::JwksVerifier> oidc;  // null: no OpenID Connect
};

/// Resolves credentials against the replicated accounts and sessions. Thread-safe.
class Authenticator {
 public:
  Authenticator(const StatusIndex& index, AuthOptions options);
  const AuthOptions& options() const { return options_; }
  /// The bearer token or the status_session cookie of `req`, if any.
  static std::optional<std::string> token_of(const common::Request& req);
  /// The identity behind the request's credentials; nullopt when there are none or they are
  /// not valid (unknown, expired, logged out, the account gone). Remembered per I/O thread
  /// until an account or session changes (see auth.cpp).
  std::optional<Identity> identify(const common::Request& req, std::int64_t now_ms) const;
  /// The account record of `username`, if it exists.
  std::optional<Status> account(const std::string& username) const;
  /// An account or session changed here (the store's change listener): identities remembered
  /// before are looked up again.
  void records_changed() { generation_.fetch_add(1, std::memory_order_release); }

 private:
  std::optional<Identity> resolve(const std::string& token, std::int64_t now_ms) const;
  const StatusIndex& index_;
  AuthOptions options_;
  std::atomic<std::uint64_t> generation_{0};
};

/// The cluster key (--cluster-key-file): nodes prove they hold it on /internal requests and on
/// every replicated message. The file's bytes (at least 32) are hashed into an HMAC-SHA256 key.
class ClusterKey {
 public:
  /// Reads the file; throws std::runtime_error (a clear line) if unreadable or shorter than 32 bytes.
  static ClusterKey from_file(const std::string& path);
  /// The Authorization header value nodes send on /internal requests.
  const std::string& internal_token() const { return internal_token_; }
  /// Constant-time check of an Authorization header value.
  bool accepts(std::string_view header_value) const;
  /// HMAC-SHA256 of a message body, hex.
  std::string sign(std::string_view body) const;
  bool verify(std::string_view body, std::string_view signature_hex) const;

 private:
  std::string key_;  // 32 bytes
  std::string internal_token_;
};

}  // namespace status::node
