#include "node/auth.hpp"

#include "common/jwt.hpp"

#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <unordered_map>
#include <iterator>
#include <stdexcept>

namespace status::node {

namespace {

constexpr unsigned long long kOpsLimit = 2;
constexpr std::size_t kMemLimit = 19 * 1024 * 1024;

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), p, n);
  out.pop_back();
  return out;
}

}  // namespace

void Passwords::init() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot be initialised");
}

std::string Passwords::hash(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), kOpsLimit, kMemLimit) != 0)
    throw std::runtime_error("out of memory while hashing a password");
  return out;
}

bool Passwords::verify(const std::string& hash, std::string_view password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

const std::string& Passwords::decoy() {
  static const std::string h = hash("decoy password, never a real one");
  return h;
}

HashWorkers::HashWorkers(std::size_t threads, std::size_t queue) : max_queue_(queue) {
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      while (true) {
        std::function<void()> job;
        {
          std::unique_lock lock(mutex_);
          cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        job();  // jobs catch their own errors (they answer a request)
      }
    });
}

HashWorkers::~HashWorkers() { stop(); }

bool HashWorkers::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= max_queue_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void HashWorkers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

std::optional<int> LoginThrottle::locked(const std::string& username, time_point now) {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(username);
  if (it == failures_.end()) return std::nullopt;
  auto& q = it->second;
  while (!q.empty() && q.front() + window_ <= now) q.pop_front();
  if (static_cast<int>(q.size()) < max_) return std::nullopt;
  auto wait = std::chrono::duration_cast<std::chrono::seconds>(q.front() + window_ - now).count();
  return static_cast<int>(std::max<long long>(1, wait + 1));
}

void LoginThrottle::failed(const std::string& username, time_point now) {
  std::lock_guard lock(mutex_);
  if (failures_.size() >= max_names_ && !failures_.count(username)) {
    // Bounded: forget names whose failures have all aged out; if none, the first in order.
    for (auto it = failures_.begin(); it != failures_.end();)
      it = (it->second.empty() || it->second.back() + window_ <= now) ? failures_.erase(it) : std::next(it);
    if (failures_.size() >= max_names_) failures_.erase(failures_.begin());
  }
  auto& q = failures_[username];
  q.push_back(now);
  while (static_cast<int>(q.size()) > max_) q.pop_front();
}

void LoginThrottle::succeeded(const std::string& username) {
  std::lock_guard lock(mutex_);
  failures_.erase(username);
}

std::string new_session_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(sizeof raw, kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), raw, sizeof raw, kVariant);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return "st_" + out;
}

std::string session_key(std::string_view token) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return std::string(kSessionPrefix) + hex(h, sizeof h);
}

Authenticator::Authenticator(const StatusIndex& index, AuthOptions options)
    : index_(index), options_(std::move(options)) {}

std::optional<std::string> Authenticator::token_of(const common::Request& req) {
  if (auto a = common::header(req, "Authorization")) {
    std::string_view v = *a;
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
      return std::string(v.substr(7));
    return std::nullopt;  // another scheme: not ours
  }
  for (auto it = req.find(common::http::field::cookie);
       it != req.end() && it->name() == common::http::field::cookie; ++it) {
    std::string_view c(it->value().data(), it->value().size());
    while (!c.empty()) {
      auto semi = c.find(';');
      auto part = c.substr(0, semi);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      constexpr std::string_view kName = "status_session=";
      if (part.starts_with(kName)) return std::string(part.substr(kName.size()));
      if (semi == std::string_view::npos) break;
      c.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

std::optional<Status> Authenticator::account(const std::string& username) const {
  return index_.record(std::string(kAccountPrefix) + username);
}

namespace {

// What a token meant a moment ago, per I/O thread: a busy client sends the same token with every
// request, and looking it up (SHA-256, two index lookups under the read lock) cost ~15 % of a
// GET's throughput. An entry holds while no account or session changed on this node since (the
// generation: a logout, password change or deletion is honoured as soon as it is applied here),
// for at most a few seconds, and never past the credential's own expiry.
struct CachedIdentity {
  std::optional<Identity> identity;
  std::int64_t valid_until_ms;
  std::uint64_t generation;
};
constexpr std::int64_t kCacheMs = 5000;
constexpr std::size_t kCacheEntries = 1024;

}  // namespace

std::optional<Identity> Authenticator::identify(const common::Request& req,
                                                std::int64_t now_ms) const {
  auto token = token_of(req);
  if (!token || token->empty() || token->size() > 8192) return std::nullopt;
  thread_local std::unordered_map<std::string, CachedIdentity> cache;
  thread_local const Authenticator* cache_owner = nullptr;
  if (cache_owner != this) {  // another Authenticator (tests): nothing of the other one holds
    cache.clear();
    cache_owner = this;
  }
  auto generation = generation_.load(std::memory_order_acquire);
  if (auto it = cache.find(*token); it != cache.end() && it->second.valid_until_ms > now_ms &&
                                    it->second.generation == generation)
    return it->second.identity;
  auto identity = resolve(*token, now_ms);
  if (cache.size() >= kCacheEntries) cache.clear();
  std::int64_t until = now_ms + kCacheMs;
  if (identity && identity->expires_ms) until = std::min(until, identity->expires_ms);
  cache[*token] = CachedIdentity{identity, until, generation};
  return identity;
}

std::optional<Identity> Authenticator::resolve(const std::string& token_value,
                                               std::int64_t now_ms) const {
  const std::string* token = &token_value;
  if (options_.oidc && std::count(token->begin(), token->end(), '.') == 2) {
    auto r = options_.oidc->verify(*token, now_ms / 1000);
    if (auto* id = std::get_if<common::JwtIdentity>(&r))
      return Identity{id->username, id->admin, {}, id->expires_at_s * 1000};
    return std::nullopt;
  }
  std::string key = session_key(*token);
  auto session = index_.record(key);
  if (!session || session->time_ms <= now_ms) return std::nullopt;
  auto acct = account(session->text);
  if (!acct) return std::nullopt;  // the account is gone: so are its sessions
  return Identity{session->text, acct->extra == "admin", std::move(key), session->time_ms};
}

ClusterKey ClusterKey::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("--cluster-key-file " + path + " cannot be read");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
  if (bytes.size() < 32)
    throw std::runtime_error("--cluster-key-file " + path + " holds " + std::to_string(bytes.size()) +
                             " bytes; at least 32 are needed");
  ClusterKey k;
  k.key_.resize(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(k.key_.data()),
                     reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  sodium_memzero(bytes.data(), bytes.size());
  // A token derived from the key (not the key itself) goes on /internal requests.
  k.internal_token_ = "Cluster " + k.sign("status internal v1");
  return k;
}

bool ClusterKey::accepts(std::string_view v) const {
  return v.size() == internal_token_.size() &&
         sodium_memcmp(v.data(), internal_token_.data(), v.size()) == 0;
}

std::string ClusterKey::sign(std::string_view body) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key_.data()), key_.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return hex(mac, sizeof mac);
}

bool ClusterKey::verify(std::string_view body, std::string_view signature_hex) const {
  auto want = sign(body);
  return signature_hex.size() == want.size() &&
         sodium_memcmp(signature_hex.data(), want.data(), want.size()) == 0;
}

}  // namespace status::node
