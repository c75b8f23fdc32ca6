#include "node/store.hpp"

#include "common/http.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <unordered_map>
#include <unordered_set>

namespace status::node {

namespace {

const char* sync_state_name(SyncState s) {
  switch (s) {
    case SyncState::kDone:
      return "done";
    case SyncState::kBootstrap:
      return "bootstrap";
    case SyncState::kResync:
      return "resync";
  }
  return "done";
}

// A failure of the environment (disk full, I/O error, lock held, out of memory) fails whatever is
// tried; only other errors (a constraint, a trigger) are worth retrying item by item.
bool environmental(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return true;
    default:
      return false;
  }
}

}  // namespace

/// The pending result of one transaction over some items.
struct Store::Attempt {
  // The batch's pending state: later items see earlier ones. nullopt = dropped (resync).
  std::unordered_map<std::string, std::optional<Entry>> overlay;
  std::vector<Change> changes;
  std::vector<WriteResult> local;   // per local item, in order
  std::vector<ApplyResult> remote;  // per remote item, in order
  std::int64_t outbox_rows = 0;
  std::string error;
  int code = SQLITE_OK;

  const Status* lookup(const StatusIndex& index, const std::string& u) const {
    if (auto it = overlay.find(u); it != overlay.end())
      return it->second ? &it->second->status : nullptr;
    const Entry* e = index.find_for_writer(u);  // only the writer changes the index
    return e ? &e->status : nullptr;
  }
};

Store::Store(Options options, HybridClock& clock)
    : options_(std::move(options)),
      clock_(clock),
      lock_(options_.data_dir),
      db_path_(options_.data_dir + "/status.db"),
      db_(db_path_, options_.sync_full),
      index_([this] { return static_cast<std::int64_t>(clock_.wall_ms()); }),
      checkpointer_(db_path_),
      committer_(
          options_.max_batch, [this](std::vector<Item>& b) { process(b); },
          [this] { db_.restart_wal(); }) {
  node_id_ = options_.node_id;
  std::string stored = db_.meta("node_id");
  if (node_id_.empty()) node_id_ = stored.empty() ? "n-" + common::random_id().substr(0, 8) : stored;
  if (node_id_ != stored) db_.set_meta("node_id", node_id_);

  std::uint64_t max_hlc = 0;
  std::vector<Entry> loaded;
  db_.load([&](Status s) {
    max_hlc = std::max(max_hlc, s.version.hlc);
    loaded.push_back(Entry::make(std::move(s)));
  });
  bool empty = loaded.empty();
  index_.install(std::move(loaded));
  // A restarted node never stamps below what it stamped or saw before, whatever the wall clock.
  clock_.observe(max_hlc);
  outbox_size_ = static_cast<std::size_t>(db_.outbox_count());
  next_seq_ = db_.outbox_max_seq();

  std::string sync = db_.meta("sync");
  if (sync.empty() && db_.meta("bootstrapped") == "1") sync = "done";  // older data dirs
  if (sync == "resync") sync_state_ = SyncState::kResync;
  else if (sync == "bootstrap" || (sync.empty() && empty)) sync_state_ = SyncState::kBootstrap;
  else sync_state_ = SyncState::kDone;
  // Persisted before anything else happens (before the queue is declared): a node killed while
  // it loads a snapshot starts over instead of serving what it had got so far.
  if (sync != sync_state_name(sync_state_)) db_.set_meta("sync", sync_state_name(sync_state_));
}

Store::~Store() { stop(); }

void Store::start() { committer_.start(); }

void Store::stop() { committer_.stop(); }

std::uint64_t Store::horizon_hlc() const {
  return hlc_of_ms(gc_horizon_ms(static_cast<std::int64_t>(clock_.wall_ms()),
                                 options_.tombstone_ttl_ms));
}

std::uint64_t Store::resync_horizon_hlc() const {
  return hlc_of_ms(gc_horizon_ms(
      static_cast<std::int64_t>(clock_.wall_ms()) + options_.max_clock_offset_ms,
      options_.tombstone_ttl_ms));
}

void Store::write(LocalRequest w, WriteCallback cb) {
  committer_.enqueue(LocalItem{std::move(w), Completion<WriteResult>(std::move(cb), WriteResult{})});
}

void Store::apply(std::vector<Status> states, ApplyCallback cb) {
  ApplyResult failed;
  failed.failed = true;
  committer_.enqueue(
      RemoteItem{std::move(states), std::nullopt, Completion<ApplyResult>(std::move(cb), failed)});
}

void Store::apply_page(std::vector<Status> states, std::size_t first, std::size_t last,
                       std::optional<std::uint64_t> replace_before, ApplyCallback cb) {
  ApplyResult failed;
  failed.failed = true;
  std::optional<Replace> r;
  if (replace_before) r = Replace{first, last, *replace_before};
  committer_.enqueue(RemoteItem{std::move(states), r, Completion<ApplyResult>(std::move(cb), failed)});
}

void Store::enqueue_task(std::function<std::function<void()>(StatusDb&)> run,
                         std::function<void(bool)> done) {
  if (!done) done = [](bool) {};
  if (!committer_.running()) {  // before start(): run here, on the caller's thread
    TaskItem t{std::move(run), Completion<bool>(std::move(done), false)};
    run_task(t);
    return;
  }
  committer_.enqueue(TaskItem{std::move(run), Completion<bool>(std::move(done), false)});
}

void Store::set_sync_state(SyncState s, std::function<void(bool)> done) {
  enqueue_task(
      [this, s](StatusDb& db) -> std::function<void()> {
        db.set_meta("sync", sync_state_name(s));
        return [this, s] { sync_state_ = s; };
      },
      std::move(done));
}

void Store::outbox_delete_upto(std::int64_t seq) {
  enqueue_task(
      [this, seq](StatusDb& db) -> std::function<void()> {
        auto gone = db.outbox_delete_upto(seq);
        return [this, gone] {
          auto cur = outbox_size_.load();
          outbox_size_ = cur > static_cast<std::size_t>(gone) ? cur - gone : 0;
        };
      },
      {});
}

void Store::barrier() {
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  enqueue_task([](StatusDb&) -> std::function<void()> { return {}; },
               [done](bool ok) { done->set_value(ok); });
  f.wait();
}

void Store::checkpoint() {
  checkpointer_.run();
  // Under a steady write load a passive checkpoint never catches up with the WAL's end, so the
  // WAL is never rewound and grows until SQLite's backstop copies 64 MiB inside one commit
  // (a ~100 ms stall). The writer finishes the job between two batches: only the frames
  // appended since the passive pass are left to copy, and the next commit rewinds the WAL.
  committer_.request_between();
}

void Store::probe_storage() {
  if (!storage_failing_) return;
  enqueue_task([](StatusDb& db) -> std::function<void()> {
    db.set_meta("storage_probe", std::to_string(std::chrono::system_clock::now().time_since_epoch().count()));
    return {};
  }, {});
}

void Store::expire_due() {
  auto next = index_.next_expiry();
  if (!next || next > static_cast<std::int64_t>(clock_.wall_ms()) || expiring_.exchange(true)) return;
  enqueue_task(
      [this](StatusDb&) -> std::function<void()> {
        return [this] {
          // Nothing to store: expiry follows from expiresAt on every node alike.
          auto gone = index_.expire_due(static_cast<std::int64_t>(clock_.wall_ms()), 10000);
          if (gone.empty() || !listener_) return;
          std::vector<Change> changes;
          changes.reserve(gone.size());
          for (auto& g : gone) changes.push_back({std::move(g), {}, 0, Change::What::kExpire});
          try {
            listener_(changes);
          } catch (const std::exception& e) {
            spdlog::error("event=change_listener_failed error=\"{}\"", e.what());
          }
        };
      },
      [this](bool) { expiring_ = false; });
}

std::size_t Store::collect_tombstones(std::size_t max) {
  auto names = index_.tombstones_before(horizon_hlc(), max);
  // Sessions past their expiry (and the allowed clock offset) go on every node by themselves:
  // no tombstone needed, and none is taken in again (merge_remote).
  auto expired = index_.sessions_expired_before(
      static_cast<std::int64_t>(clock_.wall_ms()) - options_.max_clock_offset_ms, max);
  names.insert(names.end(), expired.begin(), expired.end());
  if (names.empty()) return 0;
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  enqueue_task(
      [this, names](StatusDb& db) -> std::function<void()> {
        for (const auto& u : names) db.erase(u);
        return [this, names] {
          index_.erase(names);
          spdlog::info("event=tombstones_collected count={}", names.size());  // and sessions
        };
      },
      [done](bool ok) { done->set_value(ok); });
  return f.get() ? names.size() : 0;
}

void Store::process(std::vector<Item>& batch) {
  std::vector<Item*> writes;
  for (auto& item : batch)
    if (!std::holds_alternative<TaskItem>(item)) writes.push_back(&item);
  if (!writes.empty()) commit_writes(writes);
  for (auto& item : batch)
    if (auto* t = std::get_if<TaskItem>(&item)) run_task(*t);
}

void Store::run_task(TaskItem& t) {
  std::function<void()> after;
  try {
    db_.begin();
    after = t.run(db_);
    db_.commit();
  } catch (const std::exception& e) {
    db_.rollback();
    spdlog::error("event=task_failed error=\"{}\"", e.what());
    t.done(false);
    return;
  }
  storage_failing_ = false;
  if (after) after();
  t.done(true);
}

void Store::try_commit(std::vector<Item*>& items, Attempt& a) {
  const std::uint64_t horizon = horizon_hlc();
  const auto wall = static_cast<std::int64_t>(clock_.wall_ms());
  const std::uint64_t max_hlc = max_acceptable_hlc(wall, options_.max_clock_offset_ms);
  db_.begin();
  for (Item* item : items) {
    if (auto* w = std::get_if<LocalItem>(item)) {
      const Status* cur = a.lookup(index_, w->request.username);
      std::uint64_t stamp = local_stamp(clock_.now(), cur);
      clock_.observe(stamp);
      LocalDecision d = decide_local(w->request, cur, stamp, node_id_);
      WriteResult r;
      r.outcome = d.outcome;
      if (d.next) {
        db_.put(*d.next);
        if (options_.outbox) {
          r.outbox_seq = ++next_seq_;
          db_.outbox_add(r.outbox_seq, d.next->version.hlc,
                         to_wire_json(*d.next, false, w->request.traceparent));
          ++a.outbox_rows;
        }
        Entry e = Entry::make(std::move(*d.next));
        r.status = e.status;
        r.api_json = e.api_json();
        a.changes.push_back(
            {e.status, r.api_json, r.outbox_seq, Change::What::kState, w->request.traceparent});
        a.overlay[w->request.username] = std::move(e);
      }
      a.local.push_back(std::move(r));
    } else {
      auto& rw = std::get<RemoteItem>(*item);
      ApplyResult res;
      std::unordered_set<std::string> seen;
      for (auto& s : rw.states) {
        if (rw.replace) seen.insert(s.username);
        if (s.version.hlc > max_hlc) {
          ++res.rejected;  // would drag this node's clock (and every horizon) into the future
          continue;
        }
        clock_.observe(s.version.hlc);
        const Status* cur = a.lookup(index_, s.username);
        // A copy: a failed batch is retried with the same states.
        auto next = merged_state(s, cur, horizon, wall);
        if (!next) continue;
        bool history_only = cur && cur->version == next->version;
        db_.put(*next);
        Entry e = Entry::make(std::move(*next));
        // An event's body; a change of the history alone is nobody's event.
        a.changes.push_back({e.status, history_only ? std::string() : e.api_json(), 0,
                             history_only ? Change::What::kHistory : Change::What::kState});
        std::string u = e.status.username;
        a.overlay[u] = std::move(e);
        if (!history_only) ++res.applied;
      }
      if (rw.replace) {
        // Entries the peer does not have and that are older than what it remembers of deletes:
        // it may have deleted them and forgotten the tombstone. Keeping them would bring them
        // back on every node through anti-entropy.
        for (auto& u : index_.older_than(rw.replace->first, rw.replace->last, rw.replace->before)) {
          if (seen.count(u) || a.overlay.count(u)) continue;
          const Entry* e = index_.find_for_writer(u);
          db_.erase(u);
          if (e && !e->status.deleted) {
            Status gone = e->status;
            gone.deleted = true;
            a.changes.push_back({std::move(gone), {}, 0});
            ++res.applied;
          }
          a.overlay[u] = std::nullopt;
        }
      }
      a.remote.push_back(res);
    }
  }
  db_.commit();
}

void Store::finish(std::vector<Item*>& items, Attempt& a) {
  storage_failing_ = false;
  std::vector<Entry> installs;
  std::vector<std::string> drops;
  for (auto& [u, e] : a.overlay) {
    if (e) installs.push_back(std::move(*e));
    else drops.push_back(u);
  }
  index_.erase(drops);
  index_.install(std::move(installs));
  outbox_size_ += static_cast<std::size_t>(a.outbox_rows);
  commits_ += a.changes.size();
  if (listener_ && !a.changes.empty()) {
    try {
      listener_(a.changes);
    } catch (const std::exception& e) {
      spdlog::error("event=change_listener_failed error=\"{}\"", e.what());
    }
  }
  auto now = std::chrono::steady_clock::now();
  std::size_t li = 0, ri = 0;
  for (Item* item : items) {
    if (auto* w = std::get_if<LocalItem>(item)) {
      a.local[li].committed_at = now;
      w->done(std::move(a.local[li++]));
    } else if (auto* rw = std::get_if<RemoteItem>(item)) {
      rejected_ += static_cast<std::uint64_t>(a.remote[ri].rejected);
      rw->done(a.remote[ri++]);
    }
  }
}

void Store::fail(std::vector<Item*>& items, bool storage) {
  if (storage) storage_failing_ = true;
  ApplyResult failed;
  failed.failed = true;
  for (Item* item : items) {
    if (auto* w = std::get_if<LocalItem>(item)) {
      ++failures_;
      w->done(WriteResult{});  // kFailed → 503
    } else if (auto* rw = std::get_if<RemoteItem>(item)) {
      rw->done(failed);
    }
  }
}

void Store::commit_writes(std::vector<Item*>& items) {
  Attempt a;
  try {
    try_commit(items, a);
    return finish(items, a);
  } catch (const SqliteError& e) {
    a.error = e.what();
    a.code = e.code();
  } catch (const std::exception& e) {
    a.error = e.what();
    a.code = SQLITE_ERROR;
  }
  db_.rollback();
  spdlog::error("event=commit_failed error=\"{}\" code={} items={}", a.error, a.code, items.size());
  if (environmental(a.code)) return fail(items, true);
  if (items.size() == 1) {
    auto* rw = std::get_if<RemoteItem>(items[0]);
    if (rw && rw->states.size() > 1) return commit_states_one_by_one(*rw);
    return fail(items, false);
  }
  // Something in the batch itself failed: commit each item on its own, so only that one fails.
  for (Item* item : items) {
    std::vector<Item*> one{item};
    Attempt single;
    try {
      try_commit(one, single);
      finish(one, single);
      continue;
    } catch (const SqliteError& e) {
      spdlog::warn("event=write_failed error=\"{}\"", e.what());
      single.code = e.code();
    } catch (const std::exception& e) {
      spdlog::warn("event=write_failed error=\"{}\"", e.what());
    }
    db_.rollback();
    auto* rw = std::get_if<RemoteItem>(item);
    if (rw && rw->states.size() > 1 && !environmental(single.code)) {
      commit_states_one_by_one(*rw);
      continue;
    }
    fail(one, environmental(single.code));
  }
}

void Store::commit_states_one_by_one(RemoteItem& rw) {
  // One state of a replicated batch cannot be stored here: take the others, and count that one
  // as refused (anti-entropy offers it again later). The batch as a whole is then done, so the
  // consumer acknowledges it instead of retrying it forever.
  ApplyResult total;
  for (auto& s : rw.states) {
    Item piece = RemoteItem{{s}, rw.replace, Completion<ApplyResult>()};
    std::vector<Item*> one{&piece};
    Attempt a;
    try {
      try_commit(one, a);
      finish(one, a);
      total.applied += a.remote.empty() ? 0 : a.remote[0].applied;
      total.rejected += a.remote.empty() ? 0 : a.remote[0].rejected;
      continue;
    } catch (const SqliteError& e) {
      db_.rollback();
      if (environmental(e.code())) {
        total.failed = true;  // the environment, after all: retry the whole batch later
        break;
      }
    } catch (const std::exception&) {
      db_.rollback();
    }
    spdlog::warn("event=state_refused username={}", s.username);
    ++total.rejected;
    ++rejected_;
  }
  rw.done(total);
}

}  // namespace status::node
