#pragma once
// The node's state: every status (and tombstone) in SQLite for durability (StatusDb) and in
// memory for reads (StatusIndex). Writes go through one writer thread (GroupCommitter) that
// commits them in batches; what a write does is decided by the pure rules of write_rules.hpp.
//
// A batch either commits as a whole, or fails as a whole and every item in it is answered with
// the failure: nothing is left unanswered, nothing uncommitted reaches memory, the outbox or the
// event stream. A failure that belongs to one item (a constraint) is isolated: the batch is then
// retried item by item, so one poisoned write cannot fail the others forever. Maintenance tasks
// (outbox deletes, tombstone collection, meta) run in transactions of their own, between batches.

#include "node/group_committer.hpp"
#include "node/hlc.hpp"
#include "node/status_db.hpp"
#include "node/status_index.hpp"
#include "node/write_rules.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace status::node {

/// A callback that runs exactly once: with a result, or — if its owner drops it unused — with
/// the failure value (a queue cleared at shutdown still answers every waiting request).
template <class R>
class Completion {
 public:
  Completion() = default;
  Completion(std::function<void(R)> f, R on_drop) : f_(std::move(f)), on_drop_(std::move(on_drop)) {}
  Completion(Completion&& o) noexcept = default;
  Completion& operator=(Completion&& o) noexcept {
    if (this != &o) {
      drop();
      f_ = std::move(o.f_);
      on_drop_ = std::move(o.on_drop_);
      o.f_ = nullptr;
    }
    return *this;
  }
  ~Completion() { drop(); }
  void operator()(R r) {
    auto f = std::move(f_);
    f_ = nullptr;
    if (f) f(std::move(r));
  }

 private:
  void drop() {
    if (f_) (*this)(on_drop_);
  }
  std::function<void(R)> f_;
  R on_drop_{};
};

struct WriteResult {
  Outcome outcome = Outcome::kFailed;
  Status status;                // the stored state after the write (tombstone for deletes)
  std::string api_json;         // API form of a live status
  std::int64_t outbox_seq = 0;  // > 0 when the change waits in the outbox for the broker
  std::chrono::steady_clock::time_point committed_at{};  // answer deadlines count from it
};

/// What a batch of replicated states did here.
struct ApplyResult {
  std::int64_t applied = 0;   // changed state
  std::int64_t rejected = 0;  // refused: stamp too far ahead of this node's clock
  bool failed = false;        // the transaction failed: nothing applied, retry later
};

/// A change applied to the store (after its commit), local or replicated.
struct Change {
  enum class What {
    kState,    // the user's status changed (upsert or delete)
    kHistory,  // only the history grew (an older concurrent write arrived): nobody's event
    kExpire,   // the status's expiresAt passed (status: username and version only)
  };
  Status status;
  std::string api_json;     // empty for tombstones
  std::int64_t outbox_seq;  // > 0 for local changes written to the outbox
  What what = What::kState;
  std::string traceparent;  // a traced local write's publish span (see LocalRequest)
};

/// How far a node's state is known to be complete (persisted in the data dir).
enum class SyncState {
  kDone,       // complete: serve
  kBootstrap,  // empty data dir: load a peer's snapshot first
  kResync,     // the broker lost this node's backlog: load a snapshot, replacing stale entries
};

class Store {
 public:
  struct Options {
    std::string data_dir;
    std::string node_id;           // empty: the id persisted in the data dir (created once)
    bool sync_full = false;        // PRAGMA synchronous=FULL (else NORMAL); see docs/node.md
    bool outbox = false;           // record local changes for the replication publisher
    std::size_t max_batch = 1024;  // writes per transaction
    std::int64_t tombstone_ttl_ms = 8LL * 24 * 3600 * 1000;
    std::int64_t max_clock_offset_ms = 1000;  // remote stamps further ahead are refused
  };
  using WriteCallback = std::function<void(WriteResult)>;
  using ApplyCallback = std::function<void(ApplyResult)>;
  using ChangeListener = std::function<void(const std::vector<Change>&)>;

  /// Locks the data dir, opens (creates) the database and loads it into memory. Throws
  /// SqliteError / runtime_error.
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
  SyncState sync_state() const { return sync_state_.load(); }
  /// Persists the sync state (in its own transaction); `done(ok)` after the commit.
  void set_sync_state(SyncState s, std::function<void(bool)> done = {});

  // ---- reads: any thread, never blocked by SQLite ----
  const StatusIndex& index() const { return index_; }
  std::optional<Entry> get(const std::string& username) const { return index_.get(username); }
  std::size_t live_count() const { return index_.live_count(); }
  std::size_t tombstone_count() const { return index_.tombstone_count(); }
  /// Tombstones stamped below this are forgotten (collected, and not served to peers).
  std::uint64_t horizon_hlc() const;
  /// The horizon of a peer whose clock is ahead by the allowed offset: a resync drops local
  /// entries below it that the peer lacks (the peer may have collected their tombstones).
  std::uint64_t resync_horizon_hlc() const;

  // ---- writes: any thread; callbacks run on the writer thread after the commit ----
  void write(LocalRequest w, WriteCallback cb);
  /// Applies replicated states by last-writer-wins.
  void apply(std::vector<Status> states, ApplyCallback cb);
  /// A page of a peer's snapshot covering digest slots [first, last). With `replace_before`
  /// (a resync after a lost backlog), local entries of those slots that the page lacks and that
  /// are stamped below it are dropped: the peer may have forgotten their deletes.
  void apply_page(std::vector<Status> states, std::size_t first, std::size_t last,
                  std::optional<std::uint64_t> replace_before, ApplyCallback cb);

  /// Returns once everything queued before it is done (tests, shutdown order).
  void barrier();

  // ---- outbox (replication) ----
  /// Deletes confirmed rows (asynchronously, in a transaction of its own).
  void outbox_delete_upto(std::int64_t seq);
  std::size_t outbox_size() const { return outbox_size_.load(); }
  const std::string& db_path() const { return db_path_; }

  /// PASSIVE checkpoint from a connection of its own, then a WAL rewind by the writer between
  /// two batches (keeps the WAL small under a steady load). One caller thread (maintenance).
  void checkpoint();
  /// Takes the statuses whose expiresAt has passed out of the list, in the writer's order with
  /// the writes, and tells the change listener (Change::What::kExpire). Returns at once.
  void expire_due();
  /// Forgets tombstones older than the horizon (at most `max` per call, oldest first); returns
  /// how many went. Blocks until done.
  std::size_t collect_tombstones(std::size_t max = 10000);
  /// Writes committed so far (for metrics), and writes answered 503 because a commit failed.
  std::uint64_t commits() const { return commits_.load(); }
  std::uint64_t failures() const { return failures_.load(); }
  /// Replicated states refused for a stamp too far ahead of this node's clock.
  std::uint64_t rejected() const { return rejected_.load(); }
  bool storage_failing() const { return storage_failing_.load(); }
  /// While storage is failing, a small write (in its own transaction) that tells when it works
  /// again, also when no client writes.
  void probe_storage();

 private:
  struct LocalItem {
    LocalRequest request;
    Completion<WriteResult> done;
  };
  struct Replace {
    std::size_t first, last;
    std::uint64_t before;
  };
  struct RemoteItem {
    std::vector<Status> states;
    std::optional<Replace> replace;
    Completion<ApplyResult> done;
  };
  /// Runs inside a transaction of its own; returns what to do in memory after the commit.
  struct TaskItem {
    std::function<std::function<void()>(StatusDb&)> run;
    Completion<bool> done;
  };
  using Item = std::variant<LocalItem, RemoteItem, TaskItem>;
  struct Attempt;

  void process(std::vector<Item>& batch);
  void commit_writes(std::vector<Item*>& items);
  /// One transaction over `items`; fills `a`. Throws on a failed statement or commit.
  void try_commit(std::vector<Item*>& items, Attempt& a);
  void finish(std::vector<Item*>& items, Attempt& a);
  void fail(std::vector<Item*>& items, bool storage);
  void commit_states_one_by_one(RemoteItem& rw);
  void run_task(TaskItem& t);
  void enqueue_task(std::function<std::function<void()>(StatusDb&)> run,
                    std::function<void(bool)> done);

  Options options_;
  HybridClock& clock_;
  DataDirLock lock_;
  std::string db_path_;
  StatusDb db_;
  std::string node_id_;
  StatusIndex index_;
  std::atomic<SyncState> sync_state_{SyncState::kDone};
  std::int64_t next_seq_ = 0;  // writer thread: outbox seqs are never handed out twice
  Checkpointer checkpointer_;
  GroupCommitter<Item> committer_;
  ChangeListener listener_;
  std::atomic<std::size_t> outbox_size_{0};
  std::atomic<std::uint64_t> commits_{0}, failures_{0}, rejected_{0};
  std::atomic<bool> storage_failing_{false};
  std::atomic<bool> expiring_{false};  // an expire task is queued
};

}  // namespace status::node
