#pragma once
// The status resource: its fields, its version (hybrid logical clock stamp + node id), input
// validation and the JSON forms used by the API and by replication.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace status::node {

/// Orders all writes in the cluster: later hlc wins, ties broken by node id. Never compares
/// client clocks.
struct Version {
  std::uint64_t hlc = 0;  // (physical ms << 16) | logical counter
  std::string node;
  auto operator<=>(const Version&) const = default;
  /// Opaque external form, also the ETag (without quotes): "<16 hex digits>.<node>".
  std::string str() const;
  static std::optional<Version> parse(std::string_view s);
};

/// The kinds of replicated record. All travel, merge and repair the same way (outbox, broker,
/// last-writer-wins, tombstones, anti-entropy, snapshots); the key's prefix tells them apart, and
/// no username can collide with a prefixed key (':' is not allowed in usernames).
enum class Kind { kStatus, kAccount, kSession };
inline constexpr std::string_view kAccountPrefix = "account:";
inline constexpr std::string_view kSessionPrefix = "session:";

enum class Availability : std::uint8_t { kAvailable, kBusy, kAway, kDnd };
std::string_view availability_name(Availability a);
std::optional<Availability> parse_availability(std::string_view s);

/// One earlier state of a user's status (or a tombstone), kept for the history. Sorted newest
/// first in Status::past; how each ended follows from the next newer one (see history_json).
struct Past {
  Version version;
  bool deleted = false;
  bool purge = false;  // a tombstone that erased the history before it (account deletion)
  std::string text, emoji;
  Availability availability = Availability::kAvailable;
  std::int64_t time_ms = 0, expires_at_ms = 0;
};

/// The stored state of one key: a user's status, an account or a session, live or a tombstone
/// (deleted = true).
///   status:  username = the user, text = the status text, time_ms = its time
///   account: username = "account:<user>", text = the Argon2id hash, extra = roles ("admin"/"")
///   session: username = "session:<sha256 of the token, hex>", text = the user, time_ms = expiry
struct Status {
  std::string username;
  std::string text;
  std::int64_t time_ms = 0;  // the status's time (client-given or server time), ms since epoch UTC
  std::optional<double> latitude, longitude;
  Version version;
  bool deleted = false;
  std::string extra;
  // Statuses only:
  std::string emoji;
  Availability availability = Availability::kAvailable;
  std::int64_t expires_at_ms = 0;  // 0: never
  bool purge = false;              // a tombstone that erases the history too
  std::vector<Past> past;          // the history, newest first (normalize_past)
  /// A live status whose expiresAt has passed: gone for readers, kept for the history.
  bool expired(std::int64_t now_ms) const {
    return !deleted && expires_at_ms > 0 && expires_at_ms <= now_ms;
  }
  Kind kind() const {
    if (username.starts_with(kAccountPrefix)) return Kind::kAccount;
    if (username.starts_with(kSessionPrefix)) return Kind::kSession;
    return Kind::kStatus;
  }
};

/// A validated write request body.
struct StatusInput {
  std::optional<std::string> username;
  std::string text;
  std::optional<std::int64_t> time_ms;
  std::optional<double> latitude, longitude;
  std::optional<std::string> emoji;
  Availability availability = Availability::kAvailable;
  std::optional<std::int64_t> expires_at_ms;  // from expiresAt, or clearAfter + the write's time
};

/// Limits of the status fields (docs/api.md).
inline constexpr std::size_t kMaxEmoji = 32;                     // code points
inline constexpr std::int64_t kMaxExpiryMs = 366LL * 86400 * 1000;  // ahead of the write
inline constexpr std::size_t kHistoryLength = 10;                // entries a user sees
inline constexpr std::size_t kMaxPast = 32;                      // kept, tombstones included

/// A client error in a request: mapped to 400 problem+json with this detail.
struct InputError {
  std::string detail;
};

bool valid_username(std::string_view u);
/// Number of code points if `s` is valid UTF-8 (no overlongs, no surrogates), else nullopt.
std::optional<std::size_t> utf8_length(std::string_view s);

/// ISO-8601 date-time, with offset (Z, ±HH:MM, ±HHMM) or without (then UTC), optional fraction.
std::optional<std::int64_t> parse_time(std::string_view s);
/// RFC 3339 UTC: 2026-11-25T10:15:00Z, or with .mmm when the milliseconds are not zero.
std::string format_time(std::int64_t ms);

/// Parses and validates a POST/PUT body. `path_username` is the {username} of a PUT; `now_ms`
/// the server's time of the write (expiresAt must lie after it, clearAfter counts from it).
std::variant<StatusInput, InputError> parse_status_input(std::string_view body,
                                                         std::optional<std::string_view> path_username,
                                                         std::int64_t now_ms);
/// 1–32 code points of valid UTF-8, no control characters.
bool valid_emoji(std::string_view e);

/// Brings `s.past` into its one canonical form, so that every node holding the same states
/// holds the same history: newest first, one entry per version, none at or above the current
/// version, nothing older than a purge, and cut after the kHistoryLength-th live entry (at most
/// kMaxPast in all). Both cuts drop a suffix only, so merging before or after them is the same.
void normalize_past(Status& s);
Past as_past(const Status& s);
/// The user's history as the API shows it (`now_ms` decides whether the current status has
/// expired and so belongs to it): a JSON array, newest first, at most kHistoryLength entries.
std::string history_json(const Status& s, std::int64_t now_ms);

/// A replicated state is acceptable: the same rules as client input (name, text, coordinates,
/// time; for accounts and sessions their own), a valid node id, and a stamp below 2^63 (stored
/// as a signed SQLite integer).
bool valid_state(const Status& s);

/// The API form: {"username","statusText",["emoji"],"availability","time",["expiresAt"],
/// ["latitude","longitude"],"version"}.
std::string to_api_json(const Status& s);
/// The replication form (also tombstones), lossless: includes time_ms, hlc, node, deleted and,
/// `with_past`, the history. Broker messages leave the history out (every node builds it from
/// the changes it applies; anti-entropy and snapshots, which carry it, repair any difference).
/// `traceparent` (non-empty): the span that made this change, for the replicas' apply spans
/// (key "tp"; broker messages only).
std::string to_wire_json(const Status& s, bool with_past = true, std::string_view traceparent = {});
/// `traceparent` (optional): receives the state's "tp", or "" without one.
std::optional<Status> from_wire_json(std::string_view json, std::string* traceparent = nullptr);
/// The history alone in its wire form (the statuses table's `past` column; "" when empty), and
/// back into `s.past` (false if malformed).
std::string past_json(const std::vector<Past>& past);
bool read_past_json(std::string_view json, Status& s);
/// A JSON array of wire forms (snapshots, buckets, pushes, packed messages); nullopt if it is
/// not an array of them. With `skipped`, malformed elements are counted there and left out
/// instead (one bad change in a packed message must not cost the others). With `traces`, the
/// "tp" of each kept state that has one: (its index in the result, the traceparent).
std::string to_wire_array(const std::vector<Status>& states);
std::optional<std::vector<Status>> from_wire_array(
    std::string_view json, std::size_t* skipped = nullptr,
    std::vector<std::pair<std::size_t, std::string>>* traces = nullptr);

}  // namespace status::node
