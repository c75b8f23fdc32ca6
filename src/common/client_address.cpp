#include "common/client_address.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <stdexcept>

namespace status::common {

namespace ip = boost::asio::ip;

namespace {

// A numeric address, IPv4-mapped IPv6 turned into IPv4; nullopt for anything else.
std::optional<ip::address> numeric(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Networks::Networks(const std::vector<std::string>& ranges) {
  for (const auto& r : ranges) add(r);
}

void Networks::add(std::string_view range) {
  std::string_view text = trim(range);
  auto slash = text.find('/');
  auto addr = numeric(text.substr(0, slash));
  if (!addr)
    throw std::invalid_argument("'" + std::string(range) + "' is not an address or ADDRESS/PREFIX");
  Range r;
  r.v6 = addr->is_v6();
  int bits = r.v6 ? 128 : 32;
  r.prefix = bits;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    int n = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (ec != std::errc() || end != p.data() + p.size() || n < 0 || n > bits)
      throw std::invalid_argument("'" + std::string(range) + "': the prefix must be 0-" +
                                  std::to_string(bits));
    r.prefix = n;
  }
  if (r.v6) {
    auto b = addr->to_v6().to_bytes();
    std::copy(b.begin(), b.end(), r.bytes.begin());
  } else {
    auto b = addr->to_v4().to_bytes();
    std::copy(b.begin(), b.end(), r.bytes.begin());
  }
  ranges_.push_back(r);
}

bool Networks::contains(std::string_view address) const {
  if (ranges_.empty()) return false;
  auto addr = numeric(address);
  if (!addr) return false;
  std::array<unsigned char, 16> bytes{};
  bool v6 = addr->is_v6();
  if (v6) {
    auto b = addr->to_v6().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
  } else {
    auto b = addr->to_v4().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
  }
  for (const auto& r : ranges_) {
    if (r.v6 != v6) continue;
    int full = r.prefix / 8, rest = r.prefix % 8;
    bool match = std::equal(bytes.begin(), bytes.begin() + full, r.bytes.begin());
    if (match && rest) {
      unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
      match = (bytes[full] & mask) == (r.bytes[full] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string ipv4_text(std::uint32_t a) {
  char out[15];
  char* p = out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    unsigned v = (a >> shift) & 0xff;
    if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
    if (shift) *p++ = '.';
  }
  return std::string(out, p);
}

std::string address_text(const ip::address& a) {
  if (a.is_v4()) return ipv4_text(a.to_v4().to_uint());
  if (a.to_v6().is_v4_mapped()) return ipv4_text(ip::make_address_v4(ip::v4_mapped, a.to_v6()).to_uint());
  return a.to_string();
}

std::string client_key(std::string_view address) {
  auto addr = numeric(address);
  if (!addr) return std::string(address);
  if (addr->is_v4()) return ipv4_text(addr->to_v4().to_uint());
  auto b = addr->to_v6().to_bytes();
  for (std::size_t i = 8; i < 16; ++i) b[i] = 0;
  return ip::address_v6(b).to_string() + "/64";
}

std::string forwarded_client(const Request& req, std::string_view peer, const Networks& trusted) {
  if (trusted.empty() || !trusted.contains(peer)) return std::string(peer);
  // The proxy appends the address it saw: the last entry of the last field.
  std::string_view last;
  for (const auto& f : req)
    if (boost::beast::iequals(f.name_string(), "X-Forwarded-For"))
      last = std::string_view(f.value().data(), f.value().size());
  if (auto comma = last.rfind(','); comma != std::string_view::npos) last = last.substr(comma + 1);
  last = trim(last);
  if (last.empty() || last.size() > 64 || !numeric(last)) return std::string(peer);
  return std::string(last);
}

bool PerClientCounter::try_acquire(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto& n = counts_[key];
  if (limit_ && n >= limit_) {
    if (n == 0) counts_.erase(key);
    return false;
  }
  ++n;
  return true;
}

void PerClientCounter::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

std::size_t PerClientCounter::count(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace status::common
