#pragma once
// OpenID Connect bearer tokens: verification of compact JWS tokens (RS256, ES256) against the
// public keys of a JWKS document. Verification only; all cryptography is OpenSSL 3's EVP API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct evp_pkey_st;  // EVP_PKEY, kept out of this header so includers need no OpenSSL headers

namespace status::common {

/// Who a verified token speaks for.
struct JwtIdentity {
  std::string username;
  bool admin = false;             // the `roles` claim holds "status-admin"
  std::int64_t expires_at_s = 0;  // the token's `exp`, seconds since the epoch
};

/// What a token must say to be accepted.
struct OidcOptions {
  std::string issuer;    // `iss` must equal this exactly
  std::string audience;  // `aud` (string or array) must hold this
  std::string username_claim = "preferred_username";
  std::int64_t leeway_s = 30;  // clock skew allowed on exp/nbf, 0…86400
};

/// The keys of one JWKS document and the rules of one issuer.
///
/// Accepts only tokens signed with RS256 (RSA ≥ 2048 bits) or ES256 (P-256); the algorithm is
/// taken from the token's header but must match the type of the key it selects, so neither
/// "none" nor an HMAC algorithm (the key-confusion attack) can pass. Header fields that point
/// elsewhere for a key (`jwk`, `jku`, `x5u`, `x5c`) are ignored; a `crit` header is refused.
///
/// Thread safety: once built, verify() may be called from any number of threads at once (it is
/// const, keeps no mutable state, and uses its own EVP_MD_CTX per call; the EVP_PKEYs are built
/// by a provider and are only read). Movable, not copyable.
class JwksVerifier {
 public:
  static constexpr std::size_t kMaxTokenBytes = 8 * 1024;
  static constexpr std::size_t kMaxJwksBytes = 1024 * 1024;

  /// Parses a JWKS document ({"keys":[{kty,kid,alg?,use?,n,e | crv,x,y}, ...]}). Keys of other
  /// types or curves, with `use` other than "sig", `alg` other than RS256/ES256, `key_ops`
  /// without "verify", RSA keys below 2048 bits and keys OpenSSL rejects are skipped. Throws
  /// std::runtime_error when the document is malformed or holds no usable key, and when the
  /// options are unusable (empty issuer, audience or claim name; leeway outside 0…86400).
  static JwksVerifier from_jwks(std::string_view jwks_json, OidcOptions options);
  /// Same, reading the document from a file (at most kMaxJwksBytes).
  static JwksVerifier from_file(const std::string& path, OidcOptions options);

  JwksVerifier(JwksVerifier&&) noexcept;
  JwksVerifier& operator=(JwksVerifier&&) noexcept;
  JwksVerifier(const JwksVerifier&) = delete;
  JwksVerifier& operator=(const JwksVerifier&) = delete;
  ~JwksVerifier();

  /// Verifies a compact JWS (`header.payload.signature`, base64url without padding, at most
  /// kMaxTokenBytes). The header's `kid` selects the key; without a `kid` every key of the
  /// algorithm's type is tried. After the signature: `iss` == issuer, `aud` == audience or an
  /// array holding it, `exp` present and > now - leeway, `nbf` (if present) <= now + leeway,
  /// the username claim a valid username (1–64 of A-Z a-z 0-9 . _ -), `roles` (if present) an
  /// array of strings; "status-admin" in it gives admin. `now_s` is seconds since the epoch.
  /// Returns the identity, or a short reason (which never repeats token content) why not.
  /// Never throws on bad input.
  std::variant<JwtIdentity, std::string> verify(std::string_view token, std::int64_t now_s) const;

  /// Number of usable keys loaded from the JWKS.
  std::size_t key_count() const { return keys_.size(); }

 private:
  struct PkeyFree {
    void operator()(evp_pkey_st* key) const noexcept;
  };
  enum class KeyType { kRsa, kEc };
  struct Key {
    std::string kid;  // "" when the JWK has none
    KeyType type;
    std::unique_ptr<evp_pkey_st, PkeyFree> pkey;
  };

  JwksVerifier(std::vector<Key> keys, OidcOptions options);

  std::vector<Key> keys_;
  OidcOptions options_;
};

}  // namespace status::common
