#pragma once
// Choosing an upstream instance for one attempt: round-robin or power-of-two-choices on the
// number of outstanding requests. Pure functions of the candidates and a per-thread state.

#include "gateway/instance.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace status::gateway {

enum class LbPolicy { kRoundRobin, kP2c };

/// "round-robin" | "p2c"; nullopt for anything else.
std::optional<LbPolicy> parse_lb_policy(std::string_view name);

/// Per-I/O-thread balancing state (no sharing, no atomics).
struct PickState {
  std::size_t next = 0;                    // round-robin cursor
  std::uint64_t rng = 0x9e3779b97f4a7c15;  // xorshift state for p2c
};

/// Picks an index into `candidates`, skipping those in `exclude` (instances already tried for
/// this request). Prefers healthy instances; if every remaining one is ejected, picks among those
/// anyway (a failing attempt beats refusing outright). nullopt when everything is excluded.
std::optional<std::size_t> pick(LbPolicy policy, const std::vector<InstancePtr>& candidates,
                                std::span<const Instance* const> exclude, PickState& state);

}  // namespace status::gateway
