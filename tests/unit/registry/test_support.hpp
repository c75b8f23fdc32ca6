#pragma once
// Helpers shared by the registry's unit tests: a settable clock and instances to register.

#include <cstdint>
#include <memory>
#include <string>

#include "registry/instance.hpp"
#include "registry/registry.hpp"

namespace status::registry::testing {

/// A clock the test moves by hand. Copies of clock() share the same time.
class FakeClock {
 public:
  explicit FakeClock(std::int64_t start_ms = 1'700'000'000'000)
      : now_(std::make_shared<std::int64_t>(start_ms)) {}
  Clock clock() const {
    return [now = now_] { return *now; };
  }
  std::int64_t now() const { return *now_; }
  void advance_ms(std::int64_t ms) { *now_ += ms; }

 private:
  std::shared_ptr<std::int64_t> now_;
};

inline Instance make_instance(const std::string& app, const std::string& id, int renewal_s = 1,
                              int duration_s = 3) {
  Instance in;
  in.app = app;
  in.instance_id = id;
  in.host_name = "127.0.0.1";
  in.ip_addr = "127.0.0.1";
  in.port = 8081;
  in.renewal_interval_s = renewal_s;
  in.duration_s = duration_s;
  return in;
}

}  // namespace status::registry::testing
