#include "common/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using status::common::JwksVerifier;
using status::common::JwtIdentity;
using status::common::OidcOptions;
namespace json = boost::json;

namespace {

constexpr std::int64_t kNow = 1'900'000'000;
constexpr const char* kIssuer = "https://idp.example.test/realms/status";
constexpr const char* kAudience = "status-server";

// Test-side OpenSSL helpers: the tests generate keys and sign; the module only verifies.
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey generate_rsa(unsigned bits) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  if (!key) throw std::runtime_error("RSA keygen failed");
  return key;
}

Pkey generate_p256() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw std::runtime_error("EC keygen failed");
  return key;
}

std::string b64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t v = at(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string b64url(const std::vector<unsigned char>& bytes) {
  return b64url(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::vector<unsigned char> bn_param(EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("get_bn_param");
  std::vector<unsigned char> out(pad_to ? pad_to : BN_num_bytes(bn));
  if (pad_to) {
    BN_bn2binpad(bn, out.data(), pad_to);
  } else {
    BN_bn2bin(bn, out.data());
  }
  BN_free(bn);
  return out;
}

json::object rsa_jwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "RSA"},
          {"kid", kid},
          {"use", "sig"},
          {"alg", "RS256"},
          {"n", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_N))},
          {"e", b64url(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
}

json::object ec_jwk(EVP_PKEY* key, const std::string& kid) {
  return {{"kty", "EC"},
          {"kid", kid},
          {"crv", "P-256"},
          {"x", b64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", b64url(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string jwks(std::initializer_list<json::object> keys) {
  json::array a;
  for (const auto& k : keys) a.push_back(k);
  return json::serialize(json::object{{"keys", a}});
}

std::vector<unsigned char> digest_sign(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    throw std::runtime_error("DigestSign init");
  }
  std::vector<unsigned char> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    throw std::runtime_error("DigestSign");
  }
  sig.resize(len);
  return sig;
}

// DER ECDSA-Sig-Value → JOSE r || s.
std::vector<unsigned char> der_to_raw(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) throw std::runtime_error("d2i_ECDSA_SIG");
  std::vector<unsigned char> raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

// A token signed with `key`: RS256 for RSA keys, ES256 for EC keys (unless the header says
// otherwise, which only changes the header text, not how it is signed).
std::string sign(EVP_PKEY* key, const json::object& header, const json::object& claims) {
  const std::string input = b64url(json::serialize(header)) + "." + b64url(json::serialize(claims));
  auto sig = digest_sign(key, input);
  if (EVP_PKEY_is_a(key, "EC")) sig = der_to_raw(sig);
  return input + "." + b64url(sig);
}

json::object good_claims() {
  return {{"iss", kIssuer},    {"aud", kAudience},
          {"sub", "0b6c-42"},  {"preferred_username", "alice"},
          {"iat", kNow - 10},  {"nbf", kNow - 10},
          {"exp", kNow + 300}, {"roles", json::array{"offline_access", "status-admin"}}};
}

OidcOptions options() { return OidcOptions{kIssuer, kAudience}; }

std::string error_of(const std::variant<JwtIdentity, std::string>& r) {
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

class Jwt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = generate_rsa(2048).release();
    ec_ = generate_p256().release();
    ec_other_ = generate_p256().release();
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {rsa_, ec_, ec_other_}) EVP_PKEY_free(k);
  }

  // A second RSA key, made only by the tests that need it (RSA key generation is slow).
  static EVP_PKEY* rsa_other() {
    static const Pkey key = generate_rsa(2048);
    return key.get();
  }
  static std::string jwks_both() { return jwks({rsa_jwk(rsa_, "rsa-1"), ec_jwk(ec_, "ec-1")}); }
  static JwksVerifier verifier(OidcOptions o = options()) {
    return JwksVerifier::from_jwks(jwks_both(), std::move(o));
  }
  static std::string rs256(const json::object& claims, const std::string& kid = "rsa-1") {
    return sign(rsa_, {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid}}, claims);
  }
  static std::string es256(const json::object& claims, const std::string& kid = "ec-1") {
    return sign(ec_, {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", kid}}, claims);
  }
  // Verifies and expects rejection; returns the reason.
  static std::string rejected(const JwksVerifier& v, std::string_view token,
                              std::int64_t now = kNow) {
    auto r = v.verify(token, now);
    EXPECT_TRUE(std::holds_alternative<std::string>(r)) << "token was accepted";
    return error_of(r);
  }
  static JwtIdentity accepted(const JwksVerifier& v, std::string_view token,
                              std::int64_t now = kNow) {
    auto r = v.verify(token, now);
    EXPECT_TRUE(std::holds_alternative<JwtIdentity>(r)) << "rejected: " << error_of(r);
    return std::holds_alternative<JwtIdentity>(r) ? std::get<JwtIdentity>(r) : JwtIdentity{};
  }

  static inline EVP_PKEY* rsa_ = nullptr;
  static inline EVP_PKEY* ec_ = nullptr;
  static inline EVP_PKEY* ec_other_ = nullptr;
};

// A 256-byte RS256 signature ends in a 2-character group whose last character carries 4
// unused bits; setting the lowest changes the text but not the decoded bytes.
std::string noncanonical(std::string sig) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (sig.size() % 4 != 2) throw std::runtime_error("expected a 2-character last group");
  sig.back() = kAlphabet[kAlphabet.find(sig.back()) ^ 1];
  return sig;
}

std::string flip_char(std::string token, std::size_t pos) {
  token[pos] = token[pos] == 'A' ? 'B' : 'A';
  return token;
}

}  // namespace

TEST_F(Jwt, ValidRs256IsAcceptedWithUsernameAdminAndExpiry) {
  auto v = verifier();
  EXPECT_EQ(v.key_count(), 2u);
  auto id = accepted(v, rs256(good_claims()));
  EXPECT_EQ(id.username, "alice");
  EXPECT_TRUE(id.admin);
  EXPECT_EQ(id.expires_at_s, kNow + 300);
}

TEST_F(Jwt, ValidEs256IsAccepted) {
  auto claims = good_claims();
  claims["preferred_username"] = "bob.smith-2_x";
  auto id = accepted(verifier(), es256(claims));
  EXPECT_EQ(id.username, "bob.smith-2_x");
  EXPECT_TRUE(id.admin);
}

TEST_F(Jwt, RolesWithoutStatusAdminOrNoRolesIsNotAdmin) {
  auto v = verifier();
  auto claims = good_claims();
  claims["roles"] = json::array{"status-user", "status-administrator", "admin"};
  EXPECT_FALSE(accepted(v, rs256(claims)).admin);
  claims.erase("roles");
  EXPECT_FALSE(accepted(v, es256(claims)).admin);
  claims["roles"] = json::array{};
  EXPECT_FALSE(accepted(v, es256(claims)).admin);
  claims["roles"] = "status-admin";  // not an array
  EXPECT_NE(rejected(v, rs256(claims)).find("roles"), std::string::npos);
  claims["roles"] = json::array{"status-admin", 7};
  EXPECT_NE(rejected(v, rs256(claims)).find("roles"), std::string::npos);
}

TEST_F(Jwt, FlippedSignatureOrPayloadIsRejected) {
  auto v = verifier();
  for (const std::string& token : {rs256(good_claims()), es256(good_claims())}) {
    const std::size_t sig_at = token.rfind('.') + 1;
    // A character in the middle of the signature (all its bits are significant).
    EXPECT_EQ(rejected(v, flip_char(token, sig_at + 10)), "token signature invalid");
    // The payload changed after signing: a different user.
    const std::size_t dot1 = token.find('.');
    EXPECT_EQ(rejected(v, flip_char(token, dot1 + 5)), "token signature invalid");
  }
  auto other = good_claims();
  other["preferred_username"] = "mallory";
  const std::string a = rs256(good_claims());
  const std::string b = rs256(other);
  // Payload of one token with the signature of another.
  const std::string spliced = b.substr(0, b.rfind('.')) + a.substr(a.rfind('.'));
  EXPECT_EQ(rejected(v, spliced), "token signature invalid");
}

TEST_F(Jwt, WrongKeyOrUnknownKidIsRejected) {
  auto v = verifier();
  // Signed by keys not in the JWKS, claiming the kid of one that is.
  EXPECT_EQ(rejected(v, sign(rsa_other(), {{"alg", "RS256"}, {"kid", "rsa-1"}}, good_claims())),
            "token signature invalid");
  EXPECT_EQ(rejected(v, sign(ec_other_, {{"alg", "ES256"}, {"kid", "ec-1"}}, good_claims())),
            "token signature invalid");
  // Unknown kid, and a kid naming a key of the other type.
  EXPECT_NE(rejected(v, rs256(good_claims(), "rsa-2")).find("no key"), std::string::npos);
  EXPECT_NE(rejected(v, rs256(good_claims(), "ec-1")).find("no key"), std::string::npos);
  EXPECT_NE(rejected(v, sign(rsa_, {{"alg", "RS256"}, {"kid", 5}}, good_claims())).find("kid"),
            std::string::npos);
}

TEST_F(Jwt, WithoutKidEveryKeyOfTheTypeIsTried) {
  auto v = JwksVerifier::from_jwks(
      jwks({rsa_jwk(rsa_other(), "a"), rsa_jwk(rsa_, "b"), ec_jwk(ec_other_, "c")}), options());
  EXPECT_EQ(accepted(v, sign(rsa_, {{"alg", "RS256"}}, good_claims())).username, "alice");
  EXPECT_EQ(rejected(v, sign(ec_, {{"alg", "ES256"}}, good_claims())), "token signature invalid");
}

TEST_F(Jwt, AlgNoneAndOtherAlgorithmsAreRejected) {
  auto v = verifier();
  const std::string payload = b64url(json::serialize(good_claims()));
  for (const char* alg : {"none", "None", "NONE"}) {
    const std::string header = b64url(json::serialize(json::object{{"alg", alg}}));
    EXPECT_NE(rejected(v, header + "." + payload + ".").find("empty part"), std::string::npos);
    EXPECT_NE(rejected(v, header + "." + payload + ".AAAA").find("alg not allowed"),
              std::string::npos);
  }
  const std::string valid = rs256(good_claims());
  const std::string sig = valid.substr(valid.rfind('.'));
  for (const char* alg : {"rs256", "RS384", "RS512", "PS256", "ES384", "ES256K", "EdDSA", ""}) {
    const std::string header =
        b64url(json::serialize(json::object{{"alg", alg}, {"kid", "rsa-1"}}));
    EXPECT_NE(rejected(v, header + "." + payload + sig).find("alg not allowed"), std::string::npos)
        << alg;
  }
  const std::string no_alg = b64url(json::serialize(json::object{{"kid", "rsa-1"}}));
  EXPECT_NE(rejected(v, no_alg + "." + payload + sig).find("no alg"), std::string::npos);
}

TEST_F(Jwt, Hs256WithThePublicKeyAsSecretIsRejected) {
  // The classic confusion attack: HMAC keyed with what the verifier knows as the public key.
  auto v = verifier();
  const std::string input =
      b64url(json::serialize(json::object{{"alg", "HS256"}, {"kid", "rsa-1"}})) + "." +
      b64url(json::serialize(good_claims()));
  std::vector<std::string> secrets;
  const auto n = bn_param(rsa_, OSSL_PKEY_PARAM_RSA_N);
  secrets.emplace_back(n.begin(), n.end());
  secrets.push_back(b64url(n));
  {
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PUBKEY(bio, rsa_), 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    secrets.emplace_back(data, static_cast<std::size_t>(len));
    BIO_free(bio);
  }
  secrets.push_back(jwks_both());
  for (const std::string& secret : secrets) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                        reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                        sizeof mac, &mac_len),
              nullptr);
    const std::string token =
        input + "." + b64url(std::string_view(reinterpret_cast<char*>(mac), mac_len));
    EXPECT_NE(rejected(v, token).find("alg not allowed"), std::string::npos);
  }
}

TEST_F(Jwt, ExpiryHonoursLeeway) {
  auto v = verifier();  // leeway 30 s
  auto claims = good_claims();
  claims["exp"] = kNow - 31;
  EXPECT_EQ(rejected(v, rs256(claims)), "token expired");
  claims["exp"] = kNow - 30;  // exp must be > now - leeway
  EXPECT_EQ(rejected(v, rs256(claims)), "token expired");
  claims["exp"] = kNow - 29;
  EXPECT_EQ(accepted(v, rs256(claims)).expires_at_s, kNow - 29);
  claims["exp"] = static_cast<double>(kNow) + 0.5;  // fractional NumericDate
  EXPECT_EQ(accepted(v, es256(claims)).expires_at_s, kNow);
  // The same token, later.
  claims["exp"] = kNow + 300;
  const std::string token = rs256(claims);
  accepted(v, token, kNow + 329);
  EXPECT_EQ(rejected(v, token, kNow + 330), "token expired");

  auto strict = verifier(OidcOptions{kIssuer, kAudience, "preferred_username", 0});
  claims["exp"] = kNow;
  EXPECT_EQ(rejected(strict, rs256(claims)), "token expired");
  claims["exp"] = kNow + 1;
  accepted(strict, rs256(claims));
}

TEST_F(Jwt, MissingOrMalformedExpIsRejected) {
  auto v = verifier();
  auto claims = good_claims();
  claims.erase("exp");
  EXPECT_EQ(rejected(v, rs256(claims)), "token has no exp");
  for (json::value bad : {json::value("2030-01-01"), json::value(1e300), json::value(-1),
                          json::value(nullptr), json::value(json::array{kNow + 300}),
                          json::value(static_cast<std::uint64_t>(1) << 63), json::value(true)}) {
    claims["exp"] = bad;
    EXPECT_NE(rejected(v, rs256(claims)).find("exp is not"), std::string::npos) << bad;
  }
}

TEST_F(Jwt, NotYetValidHonoursLeeway) {
  auto v = verifier();
  auto claims = good_claims();
  claims["nbf"] = kNow + 31;
  EXPECT_EQ(rejected(v, rs256(claims)), "token not yet valid (nbf)");
  claims["nbf"] = kNow + 30;
  accepted(v, rs256(claims));
  claims.erase("nbf");  // nbf is optional
  accepted(v, rs256(claims));
  claims["nbf"] = "soon";
  EXPECT_NE(rejected(v, rs256(claims)).find("nbf is not"), std::string::npos);
}

TEST_F(Jwt, WrongOrMissingIssuerIsRejected) {
  auto v = verifier();
  auto claims = good_claims();
  for (json::value bad : {json::value("https://evil.example.test/realms/status"),
                          json::value(std::string(kIssuer) + "/"), json::value(""),
                          json::value(json::array{kIssuer})}) {
    claims["iss"] = bad;
    EXPECT_EQ(rejected(v, rs256(claims)), "token iss does not match the issuer") << bad;
  }
  claims.erase("iss");
  EXPECT_EQ(rejected(v, es256(claims)), "token iss does not match the issuer");
}

TEST_F(Jwt, AudienceStringOrArray) {
  auto v = verifier();
  auto claims = good_claims();
  const std::string wrong = "token aud does not include the audience";
  claims["aud"] = "other-service";
  EXPECT_EQ(rejected(v, rs256(claims)), wrong);
  claims["aud"] = json::array{"account", kAudience};
  accepted(v, rs256(claims));
  claims["aud"] = json::array{"account", "other-service"};
  EXPECT_EQ(rejected(v, rs256(claims)), wrong);
  claims["aud"] = json::array{};
  EXPECT_EQ(rejected(v, rs256(claims)), wrong);
  claims["aud"] = json::array{kAudience, 1};
  EXPECT_NE(rejected(v, rs256(claims)).find("non-string"), std::string::npos);
  claims["aud"] = json::object{{"aud", kAudience}};
  EXPECT_EQ(rejected(v, rs256(claims)), wrong);
  claims.erase("aud");
  EXPECT_EQ(rejected(v, rs256(claims)), wrong);
}

TEST_F(Jwt, UsernameClaimMustBeAValidUsername) {
  auto v = verifier();
  auto claims = good_claims();
  claims.erase("preferred_username");
  EXPECT_EQ(rejected(v, rs256(claims)), "token has no string username claim");
  claims["preferred_username"] = 42;
  EXPECT_EQ(rejected(v, rs256(claims)), "token has no string username claim");
  for (const std::string& bad :
       std::vector<std::string>{"", "alice smith", "a/b", "alice@example.com", "al:ice", "ünicode",
                                std::string(65, 'a'), std::string("a\0b", 3)}) {
    claims["preferred_username"] = bad;
    EXPECT_EQ(rejected(v, rs256(claims)), "token username is not a valid username") << bad;
  }
  claims["preferred_username"] = std::string(64, 'a');
  EXPECT_EQ(accepted(v, rs256(claims)).username, std::string(64, 'a'));
}

TEST_F(Jwt, UsernameClaimIsConfigurable) {
  auto v = verifier(OidcOptions{kIssuer, kAudience, "upn"});
  auto claims = good_claims();
  EXPECT_EQ(rejected(v, rs256(claims)), "token has no string username claim");
  claims["upn"] = "carol";
  EXPECT_EQ(accepted(v, rs256(claims)).username, "carol");
}

TEST_F(Jwt, TokenSizeIsBounded) {
  auto v = verifier();
  // Grow a padding claim until the signed token is exactly at the limit, then one past it.
  auto claims = good_claims();
  std::string token;
  std::size_t pad = 0;
  for (std::size_t step = 4096; step > 0; step /= 2) {
    claims["pad"] = std::string(pad + step, 'x');
    if (rs256(claims).size() <= JwksVerifier::kMaxTokenBytes) pad += step;
  }
  claims["pad"] = std::string(pad, 'x');
  token = rs256(claims);
  ASSERT_LE(token.size(), JwksVerifier::kMaxTokenBytes);
  ASSERT_GT(token.size(), JwksVerifier::kMaxTokenBytes - 4);
  accepted(v, token);
  std::string big;
  for (std::size_t extra = 1; extra < 8; ++extra) {
    claims["pad"] = std::string(pad + extra, 'x');
    big = rs256(claims);
    if (big.size() > JwksVerifier::kMaxTokenBytes) break;
  }
  ASSERT_GT(big.size(), JwksVerifier::kMaxTokenBytes);
  EXPECT_EQ(rejected(v, big), "token too large");
  EXPECT_EQ(rejected(v, std::string(1 << 20, 'A')), "token too large");
}

TEST_F(Jwt, MalformedTokensAreRejectedWithoutThrowing) {
  auto v = verifier();
  const std::string good = rs256(good_claims());
  const std::size_t dot1 = good.find('.');
  const std::size_t dot2 = good.rfind('.');
  const std::string header = good.substr(0, dot1);
  const std::string payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string sig = good.substr(dot2 + 1);
  struct Case {
    std::string token;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"", "not a compact JWS"},
      {"abc", "not a compact JWS"},
      {header + "." + payload, "not a compact JWS"},
      {good + ".", "not a compact JWS"},
      {good + ".x", "not a compact JWS"},
      {"." + payload + "." + sig, "empty part"},
      {header + ".." + sig, "empty part"},
      {header + "=." + payload + "." + sig, "header is not base64url"},
      {"eyJ+." + payload + "." + sig, "header is not base64url"},
      {"e." + payload + "." + sig, "header is not base64url"},  // length % 4 == 1
      {" " + good, "header is not base64url"},
      {header + "." + payload + "." + sig + "=", "signature is not base64url"},
      {header + "." + payload + "." + sig.substr(0, sig.size() - 1) + "/",
       "signature is not base64url"},
      {b64url("{\"alg\":\"RS256\"") + "." + payload + "." + sig, "header is not a JSON object"},
      {b64url("[\"RS256\"]") + "." + payload + "." + sig, "header is not a JSON object"},
      {b64url("{\"alg\":\"RS256\"} x") + "." + payload + "." + sig, "not a JSON object"},
      {b64url(std::string(200, '[') + std::string(200, ']')) + "." + payload + "." + sig,
       "not a JSON object"},
      {b64url("\xff\xfe") + "." + payload + "." + sig, "not a JSON object"},
      // Nesting beyond the parser's depth limit inside an otherwise valid header.
      {b64url("{\"alg\":\"RS256\",\"x\":" + std::string(20, '[') + std::string(20, ']') + "}") +
           "." + payload + "." + sig,
       "header is not a JSON object"},
      {b64url("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}") + "." + payload + "." + sig,
       "wrong length for ES256"},
      {b64url("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"b64\"],\"b64\":false}") + "." +
           payload + "." + sig,
       "crit"},
      {header + "." + payload + "." + sig.substr(0, 40), "signature invalid"},
      // Same bytes, but the unused low bits of the last character set: non-canonical.
      {header + "." + payload + "." + noncanonical(sig), "signature is not base64url"},
  };
  for (const auto& c : cases) {
    std::variant<JwtIdentity, std::string> r;
    ASSERT_NO_THROW(r = v.verify(c.token, kNow)) << c.token;
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << c.token;
    EXPECT_NE(std::get<std::string>(r).find(c.reason), std::string::npos)
        << c.token << " → " << std::get<std::string>(r);
  }
  // Correctly signed, but the payload itself is malformed.
  for (const std::string& body : {std::string("not json"), std::string("[1,2]"),
                                  std::string(100, '[') + std::string(100, ']'),
                                  "{\"iss\":" + std::string(20, '[') + std::string(20, ']') + "}",
                                  std::string("{\"iss\":") + std::string(50, '{')}) {
    const std::string input = header + "." + b64url(body);
    const std::string token = input + "." + b64url(digest_sign(rsa_, input));
    EXPECT_EQ(rejected(v, token), "token payload is not a JSON object") << body;
  }
}

TEST_F(Jwt, EmbeddedKeyInHeaderIsIgnored) {
  // An attacker signs with their own key and ships it in the header (jwk) — not trusted.
  auto v = verifier();
  json::object header{{"alg", "RS256"}, {"jwk", rsa_jwk(rsa_other(), "rsa-1")}};
  EXPECT_EQ(rejected(v, sign(rsa_other(), header, good_claims())), "token signature invalid");
  header["jku"] = "http://127.0.0.1:1/jwks.json";
  EXPECT_EQ(rejected(v, sign(rsa_other(), header, good_claims())), "token signature invalid");
}

TEST_F(Jwt, JwksSkipsUnusableKeysAndRejectsDocumentsWithoutOne) {
  auto ec_wrong_curve = ec_jwk(ec_, "p384");
  ec_wrong_curve["crv"] = "P-384";
  auto enc = rsa_jwk(rsa_, "enc");
  enc["use"] = "enc";
  auto wrong_alg = rsa_jwk(rsa_, "ps");
  wrong_alg["alg"] = "PS256";
  auto ops = ec_jwk(ec_, "ops");
  ops["key_ops"] = json::array{"encrypt"};
  auto off_curve = ec_jwk(ec_, "off");
  {
    auto y = bn_param(ec_, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    y[31] ^= 1;
    off_curve["y"] = b64url(y);
  }
  auto short_x = ec_jwk(ec_, "short");
  short_x["x"] = b64url(std::string(31, '\x01'));
  auto even_n = rsa_jwk(rsa_, "even-n");  // OpenSSL's public-key check refuses these
  {
    auto n = bn_param(rsa_, OSSL_PKEY_PARAM_RSA_N);
    n.back() &= 0xFE;
    even_n["n"] = b64url(n);
  }
  auto e_one = rsa_jwk(rsa_, "e-one");
  e_one["e"] = b64url(std::string("\x01", 1));
  auto no_n = rsa_jwk(rsa_, "no-n");
  no_n.erase("n");
  auto weak = rsa_jwk(generate_rsa(1024).get(), "weak");
  json::object oct{{"kty", "oct"}, {"kid", "hmac"}, {"k", b64url("secret")}};

  const auto unusable = {ec_wrong_curve, enc,   wrong_alg, ops,  off_curve, short_x,
                         even_n,         e_one, no_n,      weak, oct};
  for (const auto& k : unusable) {
    EXPECT_THROW(JwksVerifier::from_jwks(jwks({k}), options()), std::runtime_error)
        << json::serialize(k);
  }
  // Mixed with usable ones, the unusable keys are skipped and the rest work.
  json::array all{ec_wrong_curve, enc,    "junk", 5,    wrong_alg, ops, off_curve,
                  short_x,        even_n, e_one,  no_n, weak,      oct};
  all.push_back(rsa_jwk(rsa_, "rsa-1"));
  all.push_back(ec_jwk(ec_, "ec-1"));
  auto v = JwksVerifier::from_jwks(json::serialize(json::object{{"keys", all}}), options());
  EXPECT_EQ(v.key_count(), 2u);
  accepted(v, rs256(good_claims()));
  accepted(v, es256(good_claims()));
  // Tokens naming a skipped key find none.
  EXPECT_NE(
      rejected(v, sign(ec_, {{"alg", "ES256"}, {"kid", "off"}}, good_claims())).find("no key"),
      std::string::npos);
  EXPECT_NE(
      rejected(v, sign(rsa_, {{"alg", "RS256"}, {"kid", "enc"}}, good_claims())).find("no key"),
      std::string::npos);

  for (const std::string& bad :
       std::vector<std::string>{"", "{", "[]", "{\"keys\":{}}", "{\"keys\":[]}", "{\"nokeys\":[]}",
                                std::string(JwksVerifier::kMaxJwksBytes + 1, ' ')}) {
    EXPECT_THROW(JwksVerifier::from_jwks(bad, options()), std::runtime_error) << bad.substr(0, 20);
  }
}

TEST_F(Jwt, OptionsAreChecked) {
  EXPECT_THROW(JwksVerifier::from_jwks(jwks_both(), OidcOptions{"", kAudience}),
               std::runtime_error);
  EXPECT_THROW(JwksVerifier::from_jwks(jwks_both(), OidcOptions{kIssuer, ""}), std::runtime_error);
  EXPECT_THROW(JwksVerifier::from_jwks(jwks_both(), OidcOptions{kIssuer, kAudience, ""}),
               std::runtime_error);
  EXPECT_THROW(JwksVerifier::from_jwks(jwks_both(), OidcOptions{kIssuer, kAudience, "u", -1}),
               std::runtime_error);
  EXPECT_THROW(JwksVerifier::from_jwks(jwks_both(), OidcOptions{kIssuer, kAudience, "u", 86401}),
               std::runtime_error);
  EXPECT_NO_THROW(
      JwksVerifier::from_jwks(jwks_both(), OidcOptions{kIssuer, kAudience, "u", 86400}));
}

TEST_F(Jwt, FromFileReadsTheJwks) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("jwt_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "jwks.json").string();
  {
    std::ofstream out(path);
    out << jwks_both();
  }
  auto v = JwksVerifier::from_file(path, options());
  EXPECT_EQ(v.key_count(), 2u);
  accepted(v, es256(good_claims()));
  EXPECT_THROW(JwksVerifier::from_file((dir / "missing.json").string(), options()),
               std::runtime_error);
  {
    std::ofstream out(path);
    out << "{\"keys\":[";
  }
  EXPECT_THROW(JwksVerifier::from_file(path, options()), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST_F(Jwt, MovedVerifierKeepsItsKeys) {
  auto a = verifier();
  JwksVerifier b = std::move(a);
  accepted(b, rs256(good_claims()));
  auto c = JwksVerifier::from_jwks(jwks({ec_jwk(ec_other_, "x")}), options());
  c = std::move(b);
  accepted(c, es256(good_claims()));
}

TEST_F(Jwt, ConcurrentVerificationFromSeveralThreads) {
  const auto v = verifier();
  const std::string good_rs = rs256(good_claims());
  const std::string good_es = es256(good_claims());
  const std::string bad = flip_char(good_rs, good_rs.rfind('.') + 10);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (!std::holds_alternative<JwtIdentity>(v.verify(good_rs, kNow))) ++wrong;
        if (!std::holds_alternative<JwtIdentity>(v.verify(good_es, kNow))) ++wrong;
        if (!std::holds_alternative<std::string>(v.verify(bad, kNow))) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(Jwt, Rfc7515ExampleSignaturesVerify) {
  // The published examples of RFC 7515 appendices A.2 (RS256) and A.3 (ES256): signatures made
  // by someone else's implementation. Their claims carry no aud, so a verified signature shows
  // as the aud complaint, which comes only after the signature check.
  const std::string n =
      "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm"
      "4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5r"
      "exMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyx"
      "XFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
  const std::string keys = jwks({{{"kty", "RSA"}, {"n", n}, {"e", "AQAB"}},
                                 {{"kty", "EC"},
                                  {"crv", "P-256"},
                                  {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                                  {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}});
  const auto v = JwksVerifier::from_jwks(keys, OidcOptions{"joe", kAudience});
  ASSERT_EQ(v.key_count(), 2u);
  const std::string payload =
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnV"
      "lfQ";
  const std::string rs256 = "eyJhbGciOiJSUzI1NiJ9." + payload +
                            ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__"
                            "dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
                            "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_"
                            "nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L"
                            "07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
                            "eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUi"
                            "pUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
  const std::string es256 =
      "eyJhbGciOiJFUzI1NiJ9." + payload +
      ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  const std::int64_t then = 1300819380 - 60;
  for (const std::string& token : {rs256, es256}) {
    EXPECT_EQ(rejected(v, token, then), "token aud does not include the audience");
    EXPECT_EQ(rejected(v, flip_char(token, token.rfind('.') + 20), then),
              "token signature invalid");
  }
}
