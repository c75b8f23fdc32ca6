#pragma once
// Who a client is, for the per-client limits of the servers (connections, event streams, rate):
// address ranges, the key a client is counted under, the client behind a trusted proxy, and a
// thread-safe per-client counter.

#include "common/http.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace status::common {

/// A set of address ranges, e.g. {"127.0.0.1", "10.0.0.0/8", "::1", "fc00::/7"}.
class Networks {
 public:
  Networks() = default;
  /// Throws std::invalid_argument naming the bad entry.
  explicit Networks(const std::vector<std::string>& ranges);
  /// "ADDRESS" or "ADDRESS/PREFIX". Throws std::invalid_argument.
  void add(std::string_view range);
  /// False for anything that is not a numeric address. IPv4-mapped IPv6 addresses
  /// (::ffff:a.b.c.d) count as their IPv4 address.
  bool contains(std::string_view address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{};
    int prefix = 0;
  };
  std::vector<Range> ranges_;
};

/// The text of an IPv4 address as inet_ntop writes it ("10.0.0.7"), without inet_ntop's
/// sprintf: it runs for every connection (the client's address) and every rate-limited request.
std::string ipv4_text(std::uint32_t host_order);
/// The client's address as text: IPv4 (also IPv4-mapped IPv6) by ipv4_text, IPv6 as Asio writes it.
std::string address_text(const boost::asio::ip::address& a);

/// The key a client is counted under: an IPv4 address as it is (also when IPv4-mapped), an
/// IPv6 address by its /64 (one host usually holds a whole /64, so rotating addresses within it
/// would otherwise give a fresh count each time), anything else as it is.
std::string client_key(std::string_view address);

/// The address of the client a request is from: the last X-Forwarded-For entry when the
/// connection's `peer` is a trusted proxy (e.g. the gateway) and the field is there, else `peer`.
std::string forwarded_client(const Request& req, std::string_view peer, const Networks& trusted);

/// How many of something (connections, streams) each client holds, with a cap per client.
/// Thread-safe (one mutex; callers use it once per connection or stream, not per request).
class PerClientCounter {
 public:
  explicit PerClientCounter(std::size_t limit) : limit_(limit) {}
  /// Counts one more for `key`; false (nothing counted) when it already holds `limit`.
  /// A limit of 0 means no cap.
  bool try_acquire(const std::string& key);
  void release(const std::string& key);
  std::size_t count(const std::string& key) const;
  std::size_t limit() const { return limit_; }

  /// One acquired unit, released when destroyed (move-only).
  class Slot {
   public:
    Slot() = default;
    Slot(PerClientCounter* counter, std::string key) : counter_(counter), key_(std::move(key)) {}
    Slot(Slot&& o) noexcept : counter_(o.counter_), key_(std::move(o.key_)) {
      o.counter_ = nullptr;
    }
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        reset();
        counter_ = o.counter_;
        key_ = std::move(o.key_);
        o.counter_ = nullptr;
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { reset(); }
    void reset() {
      if (counter_) counter_->release(key_);
      counter_ = nullptr;
    }
    explicit operator bool() const { return counter_ != nullptr; }

   private:
    PerClientCounter* counter_ = nullptr;
    std::string key_;
  };
  /// try_acquire() as a Slot; an empty Slot when refused.
  Slot acquire(const std::string& key) {
    return try_acquire(key) ? Slot(this, key) : Slot();
  }

 private:
  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> counts_;
};

}  // namespace status::common
