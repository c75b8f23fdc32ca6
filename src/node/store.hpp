#pragma once
// The node's state: every status (and tombstone) in SQLite for durability, and in memory for
// reads. One writer thread owns the SQLite connection and commits writes in groups (one
// transaction, one fsync for many requests); readers never touch SQLite.

#include "node/hlc.hpp"
#include "node/sqlite.hpp"
#include "node/status.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

namespace status::node {

/// Conditional-request headers of a write, entity tags without quotes; "*" matches anything.
struct Preconditions {
  std::vector<std::string> if_match;
  std::vector<std::string> if_none_match;
};

enum class Outcome { kCreated, kReplaced, kDeleted, kNotFound, kPreconditionFailed, kFailed };

struct WriteResult {
  Outcome outcome = Outcome::kFailed;
  Status status;         // the stored state after the write (tombstone for deletes)
  std::string api_json;  // API form of a live status
  std::int64_t outbox_seq = 0;  // > 0 when the change waits in the outbox for the broker
};

/// A change applied to the store (after its commit), local or replicated.
struct Change {
  Status status;
  std::string api_json;     // empty for tombstones
  std::int64_t outbox_seq;  // > 0 for local changes written to the outbox
};

/// The current state of one user as readers see it.
struct Entry {
  Status status;
  std::string api_json;
  /// "\"<version>\"" (made on demand: not stored, 60 bytes a status saved).
  std::string etag() const { return "\"" + status.version.str() + "\""; }
};

class Store {
 public:
  struct Options {
    std::string data_dir;
    std::string node_id;           // empty: the id persisted in the data dir (created once)
    bool sync_full = false;        // PRAGMA synchronous=FULL (else NORMAL); see docs/node.md
    bool outbox = false;           // record local changes for the replication publisher
    std::size_t max_batch = 1024;  // writes per transaction
    std::int64_t tombstone_ttl_ms = 7LL * 24 * 3600 * 1000;
  };
  using WriteCallback = std::function<void(WriteResult)>;
  using ChangeListener = std::function<void(const std::vector<Change>&)>;

  /// Opens (creates) the database and loads it into memory. Throws SqliteError / runtime_error.
  Store(Options options, HybridClock& clock);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Called on the writer thread after each commit; set before start().
  void set_change_listener(ChangeListener l) { listener_ = std::move(l); }
  void start();
  /// Finishes queued writes, then stops the writer thread. Idempotent.
  void stop();

  const std::string& node_id() const { return node_id_; }
  /// True when the data dir held no data when the store was opened.
  bool was_empty() const { return was_empty_; }

  // ---- reads: any thread, never blocked by SQLite ----
  std::optional<Entry> get(const std::string& username) const;
  /// Calls `fn` with the live entry under the read lock (no copy); false if there is none.
  /// `fn` must be quick and must not call back into the store.
  bool visit(const std::string& username, const std::function<void(const Entry&)>& fn) const;
  struct Page {
    std::vector<std::string> items;  // API JSON of each status, newest time first
    std::size_t total = 0;
  };
  Page list(std::size_t offset, std::size_t limit) const;
  std::size_t live_count() const;
  std::size_t tombstone_count() const;
  /// Every entry, tombstones included (bootstrap of another node).
  std::vector<Status> snapshot() const;
  /// Anti-entropy: one 64-bit digest per bucket of usernames (order-independent). For bucket
  /// counts dividing kDigestSlots (powers of two up to 4,096) it is folded from per-slot sums
  /// kept up to date on every change — O(slots), not a pass over every status.
  std::vector<std::uint64_t> digest(std::size_t buckets) const;
  /// The entries of the given buckets (one pass over the map, however many buckets).
  std::vector<Status> buckets(const std::vector<std::size_t>& indices, std::size_t buckets) const;
  std::vector<Status> bucket(std::size_t index, std::size_t buckets) const {
    return this->buckets({index}, buckets);
  }
  static std::size_t bucket_of(std::string_view username, std::size_t buckets);
  static constexpr std::size_t kDigestSlots = 4096;

  // ---- writes: any thread; callbacks run on the writer thread after the commit ----
  void upsert(StatusInput in, Preconditions pre, WriteCallback cb);
  void remove(std::string username, Preconditions pre, WriteCallback cb);
  /// Applies replicated states by last-writer-wins; cb gets how many changed something, or -1
  /// when the transaction failed (nothing applied; the caller must not acknowledge).
  void apply(std::vector<Status> states, std::function<void(std::int64_t)> cb);
  /// Runs `task` on the writer thread inside the next transaction.
  void run_in_writer(std::function<void(Db&)> task);

  // ---- outbox (replication) ----
  struct OutboxRow {
    std::int64_t seq;
    std::string payload;
  };
  /// Rows after `after` not yet confirmed by the broker, oldest first.
  std::vector<OutboxRow> outbox_pending(std::int64_t after, std::size_t max);
  void outbox_delete_upto(std::int64_t seq);
  std::size_t outbox_size() const { return outbox_size_.load(); }

  std::string meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);
  /// Copies the WAL into the database file from a connection of its own (PASSIVE: never blocks
  /// the writer), so no commit pays for a checkpoint; then has the writer thread, between two
  /// batches, copy the few frames appended meanwhile and rewind the WAL (RESTART), which keeps
  /// the WAL small under a steady load. One caller thread (maintenance) only.
  void checkpoint();
  /// Forgets tombstones older than the TTL, in SQLite and in memory (on the writer thread);
  /// returns when done.
  void collect_tombstones();
  /// Writes committed so far (for metrics).
  std::uint64_t commits() const { return commits_.load(); }

 private:
  struct LocalWrite {
    bool is_delete;
    StatusInput in;
    std::string username;
    Preconditions pre;
    WriteCallback cb;
  };
  struct RemoteWrite {
    std::vector<Status> states;
    std::function<void(std::int64_t)> cb;
  };
  using Task = std::function<void(Db&)>;
  using Item = std::variant<LocalWrite, RemoteWrite, Task>;

  struct ByTime {
    bool operator()(const Entry* a, const Entry* b) const {
      if (a->status.time_ms != b->status.time_ms) return a->status.time_ms > b->status.time_ms;
      return a->status.username < b->status.username;
    }
  };

  void enqueue(Item item);
  /// Runs `f(db)` on the writer thread inside its next transaction (directly while the writer
  /// has not started) and returns its result; an exception from `f` is rethrown here.
  template <class F>
  std::invoke_result_t<F, Db&> call_in_writer(F f) {
    if (!writer_.joinable()) return f(db_);
    std::packaged_task<std::invoke_result_t<F, Db&>(Db&)> task(std::move(f));
    auto result = task.get_future();
    run_in_writer([&task](Db& db) { task(db); });
    return result.get();
  }
  void writer_loop();
  void process_batch(std::vector<Item>& batch);
  static Entry make_entry(Status s);
  void store_row(const Status& s);
  std::int64_t add_outbox(const Status& s);
  void install(Entry e);  // under unique lock

  Options options_;
  HybridClock& clock_;
  std::string node_id_;
  bool was_empty_ = false;
  Db db_;
  Stmt upsert_stmt_, outbox_stmt_;
  std::unique_ptr<Db> checkpoint_db_;  // used by checkpoint() only

  mutable std::shared_mutex mutex_;  // guards entries_ and by_time_
  // Keyed by a view of the entry's own username (one copy of each name in memory).
  std::unordered_map<std::string_view, Entry> entries_;
  std::set<const Entry*, ByTime> by_time_;  // live entries only
  std::size_t tombstones_ = 0;
  std::vector<std::uint64_t> slots_ = std::vector<std::uint64_t>(kDigestSlots);  // see digest()
  void account(const Entry& e, bool add);  // adds or removes e's share of slots_ (under mutex_)

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool restart_wal_ = false;  // checkpoint() asks the writer to rewind the WAL (queue_mutex_)
  void restart_wal();         // writer thread, between batches
  std::thread writer_;
  ChangeListener listener_;
  std::atomic<std::size_t> outbox_size_{0};
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace status::node
