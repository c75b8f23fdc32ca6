#pragma once
// The decisions of the write path as pure functions of values: preconditions, the outcome and
// stamp of a local write, last-writer-wins for replicated states, and the tombstone horizon.
// No SQLite, no threads, no clock reads: the store calls them and does the I/O.

#include "node/status.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace status::node {

/// Conditional-request headers of a write, entity tags without quotes; "*" matches anything.
struct Preconditions {
  std::vector<std::string> if_match;
  std::vector<std::string> if_none_match;
};

enum class Outcome {
  kCreated,
  kReplaced,
  kDeleted,
  kNotFound,
  kPreconditionFailed,
  kConflict,  // create_only and the key exists (an account name taken)
  kFailed,
};

/// A write from a client of this node: an upsert (`input`) or a delete of `username`; or, with
/// `record`, an account or session record to store as it is (stamped here).
struct LocalRequest {
  bool is_delete = false;
  StatusInput input;
  std::string username;  // the key
  Preconditions pre;
  std::optional<Status> record;
  bool create_only = false;  // with `record`: kConflict when the key is live
  bool purge = false;        // a status delete that erases the history too (account deletion)
  std::string traceparent;   // the publish span, carried to the replicas (empty: none)
};

/// RFC 9110 §13.1: If-Match needs a current representation whose tag is listed; If-None-Match
/// fails when the current representation is listed (or "*" and one exists). `live` is the
/// user's live status, or null when there is none (no entry, or a tombstone).
bool preconditions_hold(const Preconditions& pre, const Status* live);

/// The stamp of a local write: the clock's stamp, but always above the user's current version
/// (so the write wins last-writer-wins everywhere, even if the entry came from a clock that was
/// ahead within the allowed offset).
std::uint64_t local_stamp(std::uint64_t clock_stamp, const Status* current);

struct LocalDecision {
  Outcome outcome = Outcome::kFailed;
  std::optional<Status> next;  // the state to store (a live status or a tombstone), if any
};
/// What a local write does to `current` (the user's entry, tombstone or live; null if none).
/// `stamp` from local_stamp(); `node` is this node's id. A status whose expiresAt lies before
/// the stamp counts as gone (a write creates a new one); the replaced state joins the history.
LocalDecision decide_local(const LocalRequest& w, const Status* current, std::uint64_t stamp,
                           std::string_view node);

enum class Merge {
  kApply,   // newer than what is here: store it
  kStale,   // older than or equal to what is here (or a duplicate): skip
  kExpired, // a tombstone for an unknown user, older than the horizon: nothing to remember
};
/// Last-writer-wins for a replicated state: the higher (hlc, node) wins, on every node alike.
/// `horizon_hlc`: tombstones below it are forgotten (see gc_horizon_ms).
/// A live session that has expired (before `now_ms`) is never taken in: every node forgets it.
Merge merge_remote(const Status& incoming, const Status* current, std::uint64_t horizon_hlc,
                   std::int64_t now_ms);

/// The state to store when `incoming` arrives here and `current` is what is stored (null if
/// nothing), or nullopt when nothing changes. The newer state wins (merge_remote); for statuses
/// the history is the union of both histories and the older of the two states, normalized —
/// the same whatever order states arrive in, so every node ends with the same history.
std::optional<Status> merged_state(const Status& incoming, const Status* current,
                                   std::uint64_t horizon_hlc, std::int64_t now_ms);

/// Tombstones whose stamp is older than this are collected. A function of the wall clock in
/// steps of horizon_step_ms(ttl), so that nodes whose clocks agree within a second collect the
/// same tombstones at the same moment (their digests then keep agreeing; see docs/replication.md).
std::int64_t gc_horizon_ms(std::int64_t wall_ms, std::int64_t ttl_ms);
std::int64_t horizon_step_ms(std::int64_t ttl_ms);
inline std::uint64_t hlc_of_ms(std::int64_t ms) {
  return ms <= 0 ? 0 : static_cast<std::uint64_t>(ms) << 16;
}

/// The largest stamp this node accepts from elsewhere: `max_offset_ms` ahead of its wall clock.
/// A stamp beyond it would drag every node's clock into the future (and move every tombstone
/// horizon with it).
inline std::uint64_t max_acceptable_hlc(std::int64_t wall_ms, std::int64_t max_offset_ms) {
  return hlc_of_ms(wall_ms + max_offset_ms) | 0xffff;
}

}  // namespace status::node
