#pragma once
// Every status and tombstone in memory, for reads that never touch SQLite: by username, by time
// (the list), by digest slot (anti-entropy) and tombstones by stamp (collection).
// One writer thread changes it (install, erase); any thread reads under a shared lock.

#include "node/status.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace status::node {

/// The current state of one user as readers see it.
struct Entry {
  Status status;
  std::uint32_t row = kNoRow;  // its place in StatusIndex's scan rows while listed
  static constexpr std::uint32_t kNoRow = 0xffffffff;
  /// "\"<version>\"" (made on demand: not stored, 60 bytes a status saved).
  std::string etag() const { return "\"" + status.version.str() + "\""; }
  /// The API form of a live status ("" for tombstones, accounts and sessions), rendered when
  /// asked for: not stored (a stored copy cost ~250 bytes a status, a quarter of a node's
  /// memory at a million; rendering one costs about a microsecond).
  std::string api_json() const;
  static Entry make(Status s);
};

/// The filters of GET /api/statuses; all given ones must match.
struct ListFilter {
  std::vector<std::string> usernames;  // any of them; empty: everyone
  std::string q;                       // substring of username or text, any case; empty: none
  unsigned availabilities = 0;         // bit (1 << Availability) per allowed value; 0: any
  struct Box {
    double min_lon, min_lat, max_lon, max_lat;
  };
  std::optional<Box> bbox;  // statuses without coordinates never match
};

/// Case-insensitive text for substring search: UTF-8 with the letters of Latin-1, Latin
/// Extended-A, Greek and Cyrillic folded to lower case; anything else as it is. A query and a
/// text match when fold(text) contains fold(query).
std::string fold_text(std::string_view utf8);

class StatusIndex {
 public:
  static constexpr std::size_t kDigestSlots = 4096;
  using WallClock = std::function<std::int64_t()>;  // ms since epoch
  /// `now` tells which statuses have expired (readers never see them, whether or not
  /// expire_due() has run yet).
  explicit StatusIndex(WallClock now = system_ms) : now_(std::move(now)) {}
  static std::int64_t system_ms();
  static std::size_t slot_of(std::string_view username, std::size_t slots = kDigestSlots);

  // ---- readers: any thread ----
  std::optional<Entry> get(const std::string& username) const;
  /// Calls `fn` with the live entry under the read lock (no copy); false if there is none.
  /// `fn` must be quick and must not call back into the index.
  bool visit(const std::string& username, const std::function<void(const Entry&)>& fn) const;
  struct Page {
    std::vector<std::string> items;  // API JSON of each status, newest time first
    std::size_t total = 0;
  };
  Page list(std::size_t offset, std::size_t limit) const { return list({}, offset, limit); }
  Page list(const ListFilter& filter, std::size_t offset, std::size_t limit) const;
  /// The user's history as the API shows it (history_json), or nullopt when the user has
  /// neither a status nor history.
  std::optional<std::string> history(const std::string& username) const;
  std::size_t live_count() const;
  std::size_t tombstone_count() const;
  /// One 64-bit digest per bucket of usernames, order-independent, over (username, version,
  /// deleted). For bucket counts dividing kDigestSlots it is folded from per-slot sums kept up to
  /// date on every change: O(slots), not a pass over every status.
  std::vector<std::uint64_t> digest(std::size_t buckets) const;
  /// The entries whose bucket (of `buckets`) is listed, tombstones at or above `min_tombstone_hlc`
  /// included (older ones are as good as collected: every node forgets them).
  std::vector<Status> buckets(const std::vector<std::size_t>& indices, std::size_t buckets,
                              std::uint64_t min_tombstone_hlc = 0) const;
  /// The entries of digest slots [first, last) (bootstrap pages), same tombstone rule.
  std::vector<Status> slots(std::size_t first, std::size_t last,
                            std::uint64_t min_tombstone_hlc = 0) const;

  /// The statuses and tombstones stamped at or after `from_ms`, and the statuses whose
  /// expiresAt lies in [from_ms, now], as the changes an event stream would have carried
  /// (upserts, deletes, expiries; newest stamp last). nullopt when there are more than `max`.
  /// One pass over every entry: for the rare resume the event log cannot serve.
  std::optional<std::vector<Entry>> changed_since(std::int64_t from_ms, std::size_t max) const;
  /// A live account or session record by its key ("account:alice", "session:<hash>").
  std::optional<Status> record(const std::string& key) const;
  /// The live sessions of a user (password change, account deletion).
  std::vector<Status> sessions_of(std::string_view username) const;
  /// Keys of live sessions that expired before `ms`, oldest first, at most `max`.
  std::vector<std::string> sessions_expired_before(std::int64_t ms, std::size_t max) const;
  /// Every entry (tests, tools).
  std::vector<Status> snapshot() const { return slots(0, kDigestSlots); }
  std::vector<Status> bucket(std::size_t index, std::size_t buckets) const {
    return this->buckets({index}, buckets);
  }

  // ---- the writer thread only ----
  /// The entry of `username` without locking: only the writer thread, which alone changes the
  /// index, may call it.
  const Entry* find_for_writer(std::string_view username) const;
  /// Installs entries (each replaces the user's previous one) under one exclusive lock.
  void install(std::vector<Entry> entries);
  /// Removes the entries of these users (a replacing resync), under one exclusive lock.
  void erase(const std::vector<std::string>& usernames);
  /// Takes statuses whose expiresAt is at or before `now_ms` out of the list (earliest first, at
  /// most `max`) and returns them (username and version: the expire events).
  std::vector<Status> expire_due(std::int64_t now_ms, std::size_t max);
  /// The earliest expiresAt of a listed status, or 0.
  std::int64_t next_expiry() const;
  /// Usernames of tombstones stamped below `hlc`, oldest first, at most `max`.
  std::vector<std::string> tombstones_before(std::uint64_t hlc, std::size_t max) const;
  /// Usernames in digest slots [first, last) whose entry is stamped below `hlc`.
  std::vector<std::string> older_than(std::size_t first, std::size_t last, std::uint64_t hlc) const;

 private:
  struct ByTime {
    bool operator()(const Entry* a, const Entry* b) const {
      if (a->status.time_ms != b->status.time_ms) return a->status.time_ms > b->status.time_ms;
      return a->status.username < b->status.username;
    }
  };
  // An order-statistic tree (libstdc++'s policy-based red-black tree, each node knowing its
  // subtree's size): a page at any offset is found in O(log n), not by walking to it.
  using ByTimeSet = __gnu_pbds::tree<const Entry*, __gnu_pbds::null_type, ByTime,
                                     __gnu_pbds::rb_tree_tag,
                                     __gnu_pbds::tree_order_statistics_node_update>;
  void put(Entry e);                       // under the exclusive lock
  void remove(std::string_view username);  // under the exclusive lock
  void account(const Entry& e, bool add);  // e's share of slots_
  // The listed statuses: by_time_ and the scan rows together (under the exclusive lock).
  void list_add(Entry& e);
  void list_remove(Entry& e);
  struct ScanRow;
  bool matches(const ScanRow& r, const ListFilter& f, std::string_view q, std::int64_t now) const;

  WallClock now_;
  mutable std::shared_mutex mutex_;
  // Keyed by a view of the entry's own username (one copy of each name in memory).
  std::unordered_map<std::string_view, Entry> entries_;
  ByTimeSet by_time_;                                               // live entries only
  std::set<std::pair<std::uint64_t, std::string_view>> tombstones_;  // (hlc, username)
  std::set<std::pair<std::int64_t, std::string_view>> sessions_;     // live: (expiry, key)
  std::set<std::pair<std::int64_t, std::string_view>> expiring_;     // listed: (expiresAt, user)
  // The listed statuses once more, packed for filters that must look at every one: what the
  // filters compare sits in one contiguous array (no pointer to follow), the folded username
  // and text in one arena (no string to follow). Order is arbitrary (removal swaps the last row
  // in); the page is sorted from the matches.
  struct ScanRow {
    const Entry* e;
    std::int64_t time_ms;
    double lat, lon;  // NaN: no position
    std::uint32_t text_at, user_len, text_len;
    Availability availability;
  };
  std::vector<ScanRow> rows_;
  std::string arena_;
  std::size_t arena_dead_ = 0;
  void compact_arena();
  std::vector<std::uint64_t> slots_ = std::vector<std::uint64_t>(kDigestSlots);
  // The entries of each digest slot (8 bytes an entry): a snapshot page reads its slots only,
  // instead of hashing every key of the node for each of its 64 pages.
  std::vector<std::vector<const Entry*>> members_ =
      std::vector<std::vector<const Entry*>>(kDigestSlots);
};

}  // namespace status::node
