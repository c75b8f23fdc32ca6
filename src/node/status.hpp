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

/// The stored state of one user: a live status or a tombstone (deleted = true).
/// The kinds of replicated record. All travel, merge and repair the same way (outbox, broker,
/// last-writer-wins, tombstones, anti-entropy, snapshots); the key's prefix tells them apart, and
/// no username can collide with a prefixed key (':' is not allowed in usernames).
enum class Kind { kStatus, kAccount, kSession };
inline constexpr std::string_view kAccountPrefix = "account:";
inline constexpr std::string_view kSessionPrefix = "session:";

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
};

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

/// Parses and validates a POST/PUT body. `path_username` is the {username} of a PUT.
std::variant<StatusInput, InputError> parse_status_input(std::string_view body,
                                                         std::optional<std::string_view> path_username);

/// A replicated state is acceptable: the same rules as client input (name, text, coordinates,
/// time; for accounts and sessions their own), a valid node id, and a stamp below 2^63 (stored
/// as a signed SQLite integer).
bool valid_state(const Status& s);

/// The API form: {"username","statusText","time",["latitude","longitude"],"version"}.
std::string to_api_json(const Status& s);
/// The replication form (also tombstones), lossless: includes time_ms, hlc, node, deleted.
std::string to_wire_json(const Status& s);
std::optional<Status> from_wire_json(std::string_view json);
/// A JSON array of wire forms (snapshots, buckets, pushes, packed messages); nullopt if it is
/// not an array of them. With `skipped`, malformed elements are counted there and left out
/// instead (one bad change in a packed message must not cost the others).
std::string to_wire_array(const std::vector<Status>& states);
std::optional<std::vector<Status>> from_wire_array(std::string_view json,
                                                   std::size_t* skipped = nullptr);

}  // namespace status::node
