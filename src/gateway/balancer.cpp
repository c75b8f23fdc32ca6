#include "gateway/balancer.hpp"

#include <algorithm>

namespace status::gateway {

std::optional<LbPolicy> parse_lb_policy(std::string_view name) {
  if (name == "round-robin" || name == "rr") return LbPolicy::kRoundRobin;
  if (name == "p2c" || name == "least-request") return LbPolicy::kP2c;
  return std::nullopt;
}

namespace {

std::uint64_t next_random(std::uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

bool excluded(const Instance* i, std::span<const Instance* const> exclude) {
  return std::find(exclude.begin(), exclude.end(), i) != exclude.end();
}

// The k-th (0-based) candidate that passes `ok`.
template <class Ok>
std::size_t nth(const std::vector<InstancePtr>& c, std::size_t k, Ok ok) {
  for (std::size_t i = 0; i < c.size(); ++i)
    if (ok(*c[i]) && k-- == 0) return i;
  return c.size();  // unreachable when k < count
}

}  // namespace

std::optional<std::size_t> pick(LbPolicy policy, const std::vector<InstancePtr>& candidates,
                                std::span<const Instance* const> exclude, PickState& state) {
  const std::size_t n = candidates.size();
  if (n == 0) return std::nullopt;
  auto eligible = [&](bool need_healthy) {
    return [&, need_healthy](const Instance& i) {
      return (!need_healthy || i.healthy()) && !excluded(&i, exclude);
    };
  };
  for (bool need_healthy : {true, false}) {
    auto ok = eligible(need_healthy);
    if (policy == LbPolicy::kRoundRobin) {
      std::size_t start = state.next++;
      for (std::size_t k = 0; k < n; ++k) {
        std::size_t i = (start + k) % n;
        if (ok(*candidates[i])) return i;
      }
      continue;
    }
    std::size_t m = static_cast<std::size_t>(
        std::count_if(candidates.begin(), candidates.end(), [&](auto& p) { return ok(*p); }));
    if (m == 0) continue;
    if (m == 1) return nth(candidates, 0, ok);
    std::size_t a = next_random(state.rng) % m;
    std::size_t b = next_random(state.rng) % (m - 1);
    if (b >= a) ++b;
    std::size_t ia = nth(candidates, a, ok), ib = nth(candidates, b, ok);
    long la = candidates[ia]->in_flight.load(std::memory_order_relaxed);
    long lb = candidates[ib]->in_flight.load(std::memory_order_relaxed);
    return lb < la ? ib : ia;
  }
  return std::nullopt;
}

}  // namespace status::gateway
