#include "common/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <utility>

namespace status::common {

namespace json = boost::json;

namespace {

// Seconds since the epoch of 9999-12-31T23:59:59Z: the largest NumericDate accepted.
constexpr std::int64_t kMaxNumericDate = 253402300799;
constexpr std::int64_t kMaxLeewayS = 86400;
constexpr std::size_t kMaxJsonDepth = 16;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
constexpr std::size_t kEs256CoordBytes = 32;
constexpr std::size_t kMaxUsernameChars = 64;
constexpr std::string_view kAdminRole = "status-admin";

// RAII for the OpenSSL handles used here.
struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using Params = std::unique_ptr<OSSL_PARAM, ParamFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;

using Bytes = std::vector<unsigned char>;

// Base64url (RFC 4648 §5) without padding, as JWS uses it (RFC 7515 §2). Strict: no '=', no
// whitespace, no other alphabet, and the unused low bits of the last character must be zero,
// so every byte string has exactly one accepted encoding.
std::optional<Bytes> base64url_decode(std::string_view in) {
  static constexpr auto kTable = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
      t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
    }
    return t;
  }();
  if (in.size() % 4 == 1) return std::nullopt;
  Bytes out;
  out.reserve(in.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((acc >> bits) & 0xFF));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // leftover bits must be zero
  return out;
}

std::optional<json::object> parse_object(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string_view as_view(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

const json::string* string_member(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v ? v->if_string() : nullptr;
}

// A JWT NumericDate (RFC 7519 §2): integer or fractional seconds; nullopt if not a number in
// 0…kMaxNumericDate. Fractions are dropped.
std::optional<std::int64_t> numeric_date(const json::value& v) {
  if (const auto* i = v.if_int64()) {
    if (*i < 0 || *i > kMaxNumericDate) return std::nullopt;
    return *i;
  }
  if (const auto* u = v.if_uint64()) {
    if (*u > static_cast<std::uint64_t>(kMaxNumericDate)) return std::nullopt;
    return static_cast<std::int64_t>(*u);
  }
  if (const auto* d = v.if_double()) {
    if (!std::isfinite(*d) || *d < 0 || *d > static_cast<double>(kMaxNumericDate)) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(std::floor(*d));
  }
  return std::nullopt;
}

bool valid_username(std::string_view s) {
  if (s.empty() || s.size() > kMaxUsernameChars) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Bn to_bn(const Bytes& b) { return Bn(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr)); }

// Builds a public EVP_PKEY of `type` ("RSA" or "EC") from provider parameters; null on failure.
// The public check makes OpenSSL refuse, e.g., an EC point off the curve or an even modulus.
EVP_PKEY* pkey_from_params(const char* type, const OSSL_PARAM* params) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) !=
      1) {
    return nullptr;
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, &EVP_PKEY_free);
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  return key.release();
}

EVP_PKEY* rsa_key(const json::object& jwk) {
  const auto* n64 = string_member(jwk, "n");
  const auto* e64 = string_member(jwk, "e");
  if (!n64 || !e64) return nullptr;
  auto n = base64url_decode(*n64);
  auto e = base64url_decode(*e64);
  if (!n || !e || n->empty() || e->empty() || e->size() > 8) return nullptr;
  Bn nb = to_bn(*n);
  Bn eb = to_bn(*e);
  if (!nb || !eb) return nullptr;
  const int bits = BN_num_bits(nb.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) return nullptr;
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, nb.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, eb.get()) != 1) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return nullptr;
  return pkey_from_params("RSA", params.get());
}

EVP_PKEY* ec_p256_key(const json::object& jwk) {
  const auto* crv = string_member(jwk, "crv");
  const auto* x64 = string_member(jwk, "x");
  const auto* y64 = string_member(jwk, "y");
  if (!crv || *crv != "P-256" || !x64 || !y64) return nullptr;
  auto x = base64url_decode(*x64);
  auto y = base64url_decode(*y64);
  if (!x || !y || x->size() != kEs256CoordBytes || y->size() != kEs256CoordBytes) return nullptr;
  // SEC 1 uncompressed point: 0x04 || x || y.
  Bytes point;
  point.reserve(1 + 2 * kEs256CoordBytes);
  point.push_back(0x04);
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return nullptr;
  return pkey_from_params("EC", params.get());
}

// JOSE's ES256 signature is r || s, 32 bytes each (RFC 7518 §3.4); OpenSSL verifies DER.
std::optional<Bytes> es256_raw_to_der(const Bytes& raw) {
  if (raw.size() != 2 * kEs256CoordBytes) return std::nullopt;
  Bn r(BN_bin2bn(raw.data(), kEs256CoordBytes, nullptr));
  Bn s(BN_bin2bn(raw.data() + kEs256CoordBytes, kEs256CoordBytes, nullptr));
  EcdsaSig sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // owned by sig now
  s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return std::nullopt;
  return der;
}

bool verify_signature(EVP_PKEY* key, std::string_view signing_input, const Bytes& sig) {
  MdCtx ctx(EVP_MD_CTX_new());
  const bool ok = ctx &&
                  EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                                   signing_input.size()) == 1;
  // A failed verification leaves entries on this thread's error queue; nobody reads them.
  ERR_clear_error();
  return ok;
}

}  // namespace

void JwksVerifier::PkeyFree::operator()(evp_pkey_st* key) const noexcept { EVP_PKEY_free(key); }

JwksVerifier::JwksVerifier(std::vector<Key> keys, OidcOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {}
JwksVerifier::JwksVerifier(JwksVerifier&&) noexcept = default;
JwksVerifier& JwksVerifier::operator=(JwksVerifier&&) noexcept = default;
JwksVerifier::~JwksVerifier() = default;

JwksVerifier JwksVerifier::from_jwks(std::string_view jwks_json, OidcOptions options) {
  if (options.issuer.empty()) throw std::runtime_error("oidc: the issuer must not be empty");
  if (options.audience.empty()) throw std::runtime_error("oidc: the audience must not be empty");
  if (options.username_claim.empty()) {
    throw std::runtime_error("oidc: the username claim must not be empty");
  }
  if (options.leeway_s < 0 || options.leeway_s > kMaxLeewayS) {
    throw std::runtime_error("oidc: the leeway must be 0…86400 seconds");
  }
  if (jwks_json.size() > kMaxJwksBytes) throw std::runtime_error("oidc: the JWKS is too large");
  auto doc = parse_object(jwks_json);
  if (!doc) throw std::runtime_error("oidc: the JWKS is not a JSON object");
  const json::value* keys_value = doc->if_contains("keys");
  const json::array* keys = keys_value ? keys_value->if_array() : nullptr;
  if (!keys) throw std::runtime_error("oidc: the JWKS has no \"keys\" array");

  std::vector<Key> usable;
  for (const json::value& entry : *keys) {
    const json::object* jwk = entry.if_object();
    if (!jwk) continue;
    const auto* kty = string_member(*jwk, "kty");
    if (!kty) continue;
    if (const json::value* use = jwk->if_contains("use")) {
      if (!use->is_string() || use->get_string() != "sig") continue;
    }
    if (const json::value* ops = jwk->if_contains("key_ops")) {
      const json::array* list = ops->if_array();
      bool verify = false;
      if (list) {
        for (const auto& op : *list)
          verify = verify || (op.is_string() && op.get_string() == "verify");
      }
      if (!verify) continue;
    }
    const json::value* alg = jwk->if_contains("alg");
    if (alg && !alg->is_string()) continue;
    KeyType type = KeyType::kRsa;
    EVP_PKEY* pkey = nullptr;
    if (*kty == "RSA" && (!alg || alg->get_string() == "RS256")) {
      type = KeyType::kRsa;
      pkey = rsa_key(*jwk);
    } else if (*kty == "EC" && (!alg || alg->get_string() == "ES256")) {
      type = KeyType::kEc;
      pkey = ec_p256_key(*jwk);
    }
    ERR_clear_error();
    if (!pkey) continue;
    const auto* kid = string_member(*jwk, "kid");
    usable.push_back(Key{kid ? std::string(*kid) : std::string(), type,
                         std::unique_ptr<evp_pkey_st, PkeyFree>(pkey)});
  }
  if (usable.empty()) {
    throw std::runtime_error("oidc: the JWKS holds no usable RS256 or ES256 (P-256) key");
  }
  return JwksVerifier(std::move(usable), std::move(options));
}

JwksVerifier JwksVerifier::from_file(const std::string& path, OidcOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("oidc: cannot open the JWKS file " + path);
  std::string text(kMaxJwksBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) throw std::runtime_error("oidc: cannot read the JWKS file " + path);
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxJwksBytes) throw std::runtime_error("oidc: the JWKS file is too large");
  try {
    return from_jwks(text, std::move(options));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (" + path + ")");
  }
}

std::variant<JwtIdentity, std::string> JwksVerifier::verify(std::string_view token,
                                                            std::int64_t now_s) const {
  try {
    if (token.size() > kMaxTokenBytes) return std::string("token too large");
    const std::size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return std::string("token is not a compact JWS");
    const std::size_t dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
      return std::string("token is not a compact JWS");
    }
    const std::string_view header64 = token.substr(0, dot1);
    const std::string_view payload64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view sig64 = token.substr(dot2 + 1);
    if (header64.empty() || payload64.empty() || sig64.empty()) {
      return std::string("token has an empty part");
    }

    auto header_bytes = base64url_decode(header64);
    if (!header_bytes) return std::string("token header is not base64url");
    auto header = parse_object(as_view(*header_bytes));
    if (!header) return std::string("token header is not a JSON object");
    const auto* alg = string_member(*header, "alg");
    if (!alg) return std::string("token header has no alg");
    KeyType type;
    if (*alg == "RS256") {
      type = KeyType::kRsa;
    } else if (*alg == "ES256") {
      type = KeyType::kEc;
    } else {
      return std::string("token alg not allowed (RS256 or ES256 only)");
    }
    // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
    if (header->contains("crit")) return std::string("token header has crit extensions");
    const json::value* kid_value = header->if_contains("kid");
    if (kid_value && !kid_value->is_string()) return std::string("token kid is not a string");

    auto sig = base64url_decode(sig64);
    if (!sig) return std::string("token signature is not base64url");
    Bytes checked_sig;
    if (type == KeyType::kEc) {
      auto der = es256_raw_to_der(*sig);
      if (!der) return std::string("token signature has the wrong length for ES256");
      checked_sig = std::move(*der);
    } else {
      checked_sig = std::move(*sig);
    }

    const std::string_view signing_input = token.substr(0, dot2);
    bool any_key = false;
    bool valid = false;
    for (const Key& key : keys_) {
      if (key.type != type) continue;
      if (kid_value && key.kid != kid_value->get_string()) continue;
      any_key = true;
      if (type == KeyType::kRsa &&
          checked_sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey.get()))) {
        continue;
      }
      if (verify_signature(key.pkey.get(), signing_input, checked_sig)) {
        valid = true;
        break;
      }
    }
    if (!any_key) return std::string("no key in the JWKS matches the token's kid and alg");
    if (!valid) return std::string("token signature invalid");

    // Only signed claims from here on.
    auto payload_bytes = base64url_decode(payload64);
    if (!payload_bytes) return std::string("token payload is not base64url");
    auto claims = parse_object(as_view(*payload_bytes));
    if (!claims) return std::string("token payload is not a JSON object");

    const auto* iss = string_member(*claims, "iss");
    if (!iss || *iss != options_.issuer) return std::string("token iss does not match the issuer");

    const json::value* aud = claims->if_contains("aud");
    bool aud_ok = false;
    if (aud && aud->is_string()) {
      aud_ok = aud->get_string() == options_.audience;
    } else if (aud && aud->is_array()) {
      for (const json::value& a : aud->get_array()) {
        if (!a.is_string()) return std::string("token aud array holds a non-string");
        aud_ok = aud_ok || a.get_string() == options_.audience;
      }
    }
    if (!aud_ok) return std::string("token aud does not include the audience");

    // Comparisons arranged so no sum can overflow: dates ≤ kMaxNumericDate, leeway ≤ 1 day.
    const json::value* exp_value = claims->if_contains("exp");
    if (!exp_value) return std::string("token has no exp");
    const auto exp = numeric_date(*exp_value);
    if (!exp) return std::string("token exp is not a valid NumericDate");
    if (!(*exp + options_.leeway_s > now_s)) return std::string("token expired");
    if (const json::value* nbf_value = claims->if_contains("nbf")) {
      const auto nbf = numeric_date(*nbf_value);
      if (!nbf) return std::string("token nbf is not a valid NumericDate");
      if (!(*nbf - options_.leeway_s <= now_s)) return std::string("token not yet valid (nbf)");
    }

    const auto* username = string_member(*claims, options_.username_claim);
    if (!username) return std::string("token has no string username claim");
    if (!valid_username(*username)) return std::string("token username is not a valid username");

    JwtIdentity identity;
    identity.username = std::string(*username);
    identity.expires_at_s = *exp;
    if (const json::value* roles = claims->if_contains("roles")) {
      const json::array* list = roles->if_array();
      if (!list) return std::string("token roles is not an array");
      for (const json::value& role : *list) {
        if (!role.is_string()) return std::string("token roles holds a non-string");
        identity.admin = identity.admin || role.get_string() == kAdminRole;
      }
    }
    return identity;
  } catch (const std::exception& e) {
    // Only allocation failures can get here; bad input is answered above.
    ERR_clear_error();
    return std::string("token could not be verified: ") + e.what();
  }
}

}  // namespace status::common
