#include "node/store.hpp"

#include "common/http.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>

namespace status::node {

namespace {

bool matches(const std::vector<std::string>& tags, const Entry* cur) {
  for (const auto& t : tags)
    if (t == "*" || (cur && t == cur->status.version.str())) return true;
  return false;
}

// RFC 9110 §13.1: If-Match needs a current representation whose tag is listed; If-None-Match
// fails when the current representation is listed (or "*" and one exists).
bool preconditions_hold(const Preconditions& pre, const Entry* cur) {
  if (!pre.if_match.empty() && (!cur || !matches(pre.if_match, cur))) return false;
  if (!pre.if_none_match.empty() && cur && matches(pre.if_none_match, cur)) return false;
  return true;
}

std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::uint64_t fnv(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

Store::Store(Options options, HybridClock& clock)
    : options_(std::move(options)), clock_(clock), db_([&] {
        std::error_code ec;
        std::filesystem::create_directories(options_.data_dir, ec);
        if (ec)
          throw std::runtime_error("cannot create data dir " + options_.data_dir + ": " +
                                   ec.message());
        return options_.data_dir + "/status.db";
      }()) {
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec(options_.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  // Checkpoints run from the maintenance thread (checkpoint()), not inside a commit; SQLite's
  // own automatic one stays as a backstop for a WAL that grows past 64 MiB.
  db_.exec("PRAGMA wal_autocheckpoint=16384");
  db_.exec(
      "CREATE TABLE IF NOT EXISTS statuses(username TEXT PRIMARY KEY, text TEXT, time_ms INTEGER,"
      " lat REAL, lon REAL, hlc INTEGER NOT NULL, node TEXT NOT NULL, deleted INTEGER NOT NULL)"
      " WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT "
      "NULL);"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);");
  upsert_stmt_ = db_.prepare(
      "INSERT OR REPLACE INTO statuses(username,text,time_ms,lat,lon,hlc,node,deleted) "
      "VALUES(?,?,?,?,?,?,?,?)");
  outbox_stmt_ = db_.prepare("INSERT INTO outbox(payload) VALUES(?)");

  node_id_ = options_.node_id;
  std::string stored = meta("node_id");
  if (node_id_.empty()) node_id_ = stored.empty() ? "n-" + common::random_id().substr(0, 8) : stored;
  if (node_id_ != stored) set_meta("node_id", node_id_);

  auto q = db_.prepare("SELECT username,text,time_ms,lat,lon,hlc,node,deleted FROM statuses");
  std::uint64_t max_hlc = 0;
  while (q.step()) {
    Status s;
    s.username = q.text(0);
    s.text = q.text(1);
    s.time_ms = q.i64(2);
    if (!q.is_null(3)) s.latitude = q.f64(3);
    if (!q.is_null(4)) s.longitude = q.f64(4);
    s.version.hlc = static_cast<std::uint64_t>(q.i64(5));
    s.version.node = q.text(6);
    s.deleted = q.i64(7) != 0;
    max_hlc = std::max(max_hlc, s.version.hlc);
    install(make_entry(std::move(s)));
  }
  // A restarted node never stamps below what it stamped or saw before, whatever the wall clock.
  clock_.observe(max_hlc);
  auto c = db_.prepare("SELECT count(*) FROM outbox");
  c.step();
  outbox_size_ = static_cast<std::size_t>(c.i64(0));
  was_empty_ = entries_.empty() && meta("bootstrapped").empty();
}

Store::~Store() { stop(); }

void Store::start() {
  writer_ = std::thread([this] { writer_loop(); });
}

void Store::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

Entry Store::make_entry(Status s) {
  Entry e;
  if (!s.deleted) {
    e.api_json = to_api_json(s);
    // Kept for the entry's lifetime: drop the serializer's growth slack (typically ~70 bytes per
    // status, 7 MiB of 100,000; see docs/node.md, Performance).
    e.api_json.shrink_to_fit();
  }
  e.status = std::move(s);
  return e;
}

namespace {

// One entry's share of the digest: depends on (username, version, deleted) only.
std::uint64_t digest_part(std::string_view username, const Status& s) {
  std::uint64_t h = fnv(s.version.node, mix(fnv(username) ^ s.version.hlc));
  return mix(h + (s.deleted ? 1 : 0));
}

}  // namespace

void Store::account(const Entry& e, bool add) {
  auto& slot = slots_[bucket_of(e.status.username, kDigestSlots)];
  auto part = digest_part(e.status.username, e.status);
  slot = add ? slot + part : slot - part;  // unsigned: wraps both ways
}

void Store::install(Entry e) {
  if (auto old = entries_.find(e.status.username); old != entries_.end()) {
    if (old->second.status.deleted) --tombstones_;
    else by_time_.erase(&old->second);
    account(old->second, false);
    entries_.erase(old);  // the key views the old entry's name: re-key with the new one
  }
  // Insert first, then point the key at the stored name (node-based map: stable address).
  auto node = entries_.extract(entries_.emplace(std::string_view{}, std::move(e)).first);
  node.key() = node.mapped().status.username;
  auto it = entries_.insert(std::move(node)).position;
  if (it->second.status.deleted) ++tombstones_;
  else by_time_.insert(&it->second);
  account(it->second, true);
}

bool Store::visit(const std::string& username, const std::function<void(const Entry&)>& fn) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.deleted) return false;
  fn(it->second);
  return true;
}

std::optional<Entry> Store::get(const std::string& username) const {
  std::shared_lock lock(mutex_);
  auto it = entries_.find(username);
  if (it == entries_.end() || it->second.status.deleted) return std::nullopt;
  return it->second;
}

Store::Page Store::list(std::size_t offset, std::size_t limit) const {
  Page p;
  std::shared_lock lock(mutex_);
  p.total = by_time_.size();
  if (offset >= p.total) return p;
  auto it = by_time_.begin();
  std::advance(it, static_cast<long>(offset));
  for (; it != by_time_.end() && p.items.size() < limit; ++it) p.items.push_back((*it)->api_json);
  return p;
}

std::size_t Store::live_count() const {
  std::shared_lock lock(mutex_);
  return by_time_.size();
}

std::size_t Store::tombstone_count() const {
  std::shared_lock lock(mutex_);
  return tombstones_;
}

std::vector<Status> Store::snapshot() const {
  std::shared_lock lock(mutex_);
  std::vector<Status> out;
  out.reserve(entries_.size());
  for (const auto& [k, e] : entries_) out.push_back(e.status);
  return out;
}

std::size_t Store::bucket_of(std::string_view username, std::size_t buckets) {
  return mix(fnv(username)) % buckets;
}

std::vector<std::uint64_t> Store::digest(std::size_t buckets) const {
  std::vector<std::uint64_t> d(buckets, 0);
  std::shared_lock lock(mutex_);
  if (buckets > 0 && kDigestSlots % buckets == 0) {
    // bucket_of(u, n) == bucket_of(u, kDigestSlots) % n when n divides kDigestSlots.
    for (std::size_t i = 0; i < kDigestSlots; ++i) d[i % buckets] += slots_[i];
    return d;
  }
  for (const auto& [k, e] : entries_) d[bucket_of(k, buckets)] += digest_part(k, e.status);
  return d;
}

std::vector<Status> Store::buckets(const std::vector<std::size_t>& indices,
                                   std::size_t buckets) const {
  std::vector<bool> wanted(buckets, false);
  for (auto i : indices)
    if (i < buckets) wanted[i] = true;
  std::vector<Status> out;
  std::shared_lock lock(mutex_);
  for (const auto& [k, e] : entries_)
    if (wanted[bucket_of(k, buckets)]) out.push_back(e.status);
  return out;
}

void Store::enqueue(Item item) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(item));
  }
  queue_cv_.notify_one();
}

void Store::upsert(StatusInput in, Preconditions pre, WriteCallback cb) {
  std::string u = in.username.value_or("");
  enqueue(LocalWrite{false, std::move(in), std::move(u), std::move(pre), std::move(cb)});
}

void Store::remove(std::string username, Preconditions pre, WriteCallback cb) {
  enqueue(LocalWrite{true, {}, std::move(username), std::move(pre), std::move(cb)});
}

void Store::apply(std::vector<Status> states, std::function<void(std::int64_t)> cb) {
  enqueue(RemoteWrite{std::move(states), std::move(cb)});
}

void Store::run_in_writer(std::function<void(Db&)> task) { enqueue(Task(std::move(task))); }

std::vector<Store::OutboxRow> Store::outbox_pending(std::int64_t after, std::size_t max) {
  return call_in_writer([after, max](Db& db) {
    std::vector<OutboxRow> rows;
    auto q = db.prepare("SELECT seq,payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
    q.bind(1, after).bind(2, static_cast<std::int64_t>(max));
    while (q.step()) rows.push_back({q.i64(0), q.text(1)});
    return rows;
  });
}

void Store::outbox_delete_upto(std::int64_t seq) {
  run_in_writer([this, seq](Db& db) {
    auto d = db.prepare("DELETE FROM outbox WHERE seq <= ?");
    d.bind(1, seq);
    d.step();
    auto c = db.prepare("SELECT count(*) FROM outbox");
    c.step();
    outbox_size_ = static_cast<std::size_t>(c.i64(0));
  });
}

void Store::checkpoint() {
  try {
    if (!checkpoint_db_) checkpoint_db_ = std::make_unique<Db>(options_.data_dir + "/status.db");
    checkpoint_db_->exec("PRAGMA wal_checkpoint(PASSIVE)");
  } catch (const SqliteError& e) {
    spdlog::warn("event=checkpoint_failed error=\"{}\"", e.what());
  }
  // Under a steady write load a passive checkpoint never catches up with the WAL's end, so the
  // WAL is never rewound and grows until SQLite's backstop copies 64 MiB inside one commit
  // (a ~100 ms stall). The writer finishes the job between two batches: only the frames
  // appended since the passive pass are left to copy, and the next commit rewinds the WAL.
  {
    std::lock_guard lock(queue_mutex_);
    restart_wal_ = true;
  }
  queue_cv_.notify_one();
}

void Store::restart_wal() {
  auto start = std::chrono::steady_clock::now();
  // Never wait here: a reader from outside (an operator's sqlite3 shell) or a passive pass
  // still running makes it "busy"; the rewind is then simply left to the next round.
  sqlite3_busy_timeout(db_.get(), 0);
  struct RestoreTimeout {
    Db& db;
    ~RestoreTimeout() { sqlite3_busy_timeout(db.get(), Db::kBusyTimeoutMs); }
  } restore{db_};
  try {
    auto st = db_.prepare("PRAGMA wal_checkpoint(RESTART)");
    st.step();  // one row: busy (1 = could not finish), frames in the WAL, frames copied
    spdlog::debug("event=wal_restart busy={} frames={} copied={} ms={:.2f}", st.i64(0), st.i64(1),
                  st.i64(2),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                      .count());
  } catch (const SqliteError& e) {
    spdlog::debug("event=wal_restart_failed error=\"{}\"", e.what());
  }
}

void Store::collect_tombstones() {
  call_in_writer([this](Db& db) {
    std::uint64_t cutoff = static_cast<std::uint64_t>(std::max<std::int64_t>(
                               0, HybridClock::physical_ms(clock_.now()) - options_.tombstone_ttl_ms))
                           << 16;
    auto del = db.prepare("DELETE FROM statuses WHERE deleted=1 AND hlc < ?");
    del.bind(1, static_cast<std::int64_t>(cutoff));
    del.step();
    std::size_t removed = 0;
    std::unique_lock lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.status.deleted && it->second.status.version.hlc < cutoff) {
        account(it->second, false);
        it = entries_.erase(it);
        --tombstones_;
        ++removed;
      } else {
        ++it;
      }
    }
    if (removed) spdlog::info("event=tombstones_collected count={}", removed);
  });
}

std::string Store::meta(const std::string& key) {
  return call_in_writer([&key](Db& db) {
    auto q = db.prepare("SELECT value FROM meta WHERE key=?");
    q.bind(1, key);
    return q.step() ? q.text(0) : std::string();
  });
}

void Store::set_meta(const std::string& key, const std::string& value) {
  call_in_writer([&](Db& db) {
    auto q = db.prepare("INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)");
    q.bind(1, key).bind(2, value);
    q.step();
  });
}

void Store::store_row(const Status& s) {
  auto& q = upsert_stmt_;
  q.reset();
  q.bind(1, s.username);
  if (s.deleted) {
    q.bind_null(2).bind(3, std::int64_t{0}).bind_null(4).bind_null(5);
  } else {
    q.bind(2, s.text).bind(3, s.time_ms).bind(4, s.latitude).bind(5, s.longitude);
  }
  q.bind(6, static_cast<std::int64_t>(s.version.hlc)).bind(7, s.version.node);
  q.bind(8, std::int64_t{s.deleted ? 1 : 0});
  q.step();
}

std::int64_t Store::add_outbox(const Status& s) {
  if (!options_.outbox) return 0;
  outbox_stmt_.reset();
  outbox_stmt_.bind(1, to_wire_json(s));
  outbox_stmt_.step();
  return sqlite3_last_insert_rowid(db_.get());
}

void Store::writer_loop() {
  std::vector<Item> batch;
  while (true) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || restart_wal_; });
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) process_batch(batch);
    batch.clear();
    bool restart = false;
    {
      std::lock_guard lock(queue_mutex_);
      std::swap(restart, restart_wal_);
    }
    if (restart) restart_wal();
  }
}

void Store::process_batch(std::vector<Item>& batch) {
  // The batch's pending state: later items in the batch see earlier ones.
  std::unordered_map<std::string, Entry> overlay;
  auto lookup = [&](const std::string& u) -> const Entry* {
    if (auto it = overlay.find(u); it != overlay.end()) return &it->second;
    auto it = entries_.find(u);  // only this thread modifies entries_: no lock needed to read
    return it == entries_.end() ? nullptr : &it->second;
  };
  struct Done {
    WriteCallback cb;
    WriteResult result;
  };
  std::vector<Done> local_done;
  std::vector<std::pair<std::function<void(std::int64_t)>, std::int64_t>> remote_done;
  std::vector<Change> changes;
  std::int64_t gc_before = HybridClock::physical_ms(clock_.now()) - options_.tombstone_ttl_ms;

  try {
    db_.exec("BEGIN IMMEDIATE");
    for (auto& item : batch) {
      if (auto* w = std::get_if<LocalWrite>(&item)) {
        const Entry* cur = lookup(w->username);
        const Entry* live = cur && !cur->status.deleted ? cur : nullptr;
        WriteResult r;
        if (!preconditions_hold(w->pre, live)) {
          r.outcome = Outcome::kPreconditionFailed;
        } else if (w->is_delete && !live) {
          r.outcome = Outcome::kNotFound;
        } else {
          Status s;
          s.username = w->username;
          s.version = {clock_.now(), node_id_};
          if (w->is_delete) {
            s.deleted = true;
            r.outcome = Outcome::kDeleted;
          } else {
            s.text = std::move(w->in.text);
            s.time_ms = w->in.time_ms.value_or(HybridClock::physical_ms(s.version.hlc));
            s.latitude = w->in.latitude;
            s.longitude = w->in.longitude;
            r.outcome = live ? Outcome::kReplaced : Outcome::kCreated;
          }
          store_row(s);
          std::int64_t seq = add_outbox(s);
          Entry e = make_entry(std::move(s));
          r.status = e.status;
          r.api_json = e.api_json;
          r.outbox_seq = seq;
          changes.push_back({e.status, e.api_json, seq});
          overlay[w->username] = std::move(e);
        }
        local_done.push_back({std::move(w->cb), std::move(r)});
      } else if (auto* rw = std::get_if<RemoteWrite>(&item)) {
        std::int64_t applied = 0;
        for (auto& s : rw->states) {
          clock_.observe(s.version.hlc);
          const Entry* cur = lookup(s.username);
          if (cur && cur->status.version >= s.version) continue;  // older or already applied
          if (!cur && s.deleted && HybridClock::physical_ms(s.version.hlc) < gc_before) continue;
          store_row(s);
          Entry e = make_entry(std::move(s));
          changes.push_back({e.status, e.api_json, 0});
          std::string u = e.status.username;
          overlay[u] = std::move(e);
          ++applied;
        }
        remote_done.emplace_back(std::move(rw->cb), applied);
      } else {
        std::get<Task>(item)(db_);
      }
    }
    db_.exec("COMMIT");
  } catch (const std::exception& e) {
    spdlog::error("event=commit_failed error=\"{}\" batch={}", e.what(), batch.size());
    try {
      db_.exec("ROLLBACK");
    } catch (const std::exception&) {
      // no transaction open: nothing to undo
    }
    for (auto& d : local_done) d.result = WriteResult{};  // kFailed
    for (auto& r : remote_done) r.second = -1;
    changes.clear();
    overlay.clear();
  }
  commits_ += changes.size();
  if (!overlay.empty()) {
    std::unique_lock lock(mutex_);
    for (auto& [u, e] : overlay) install(std::move(e));
  }
  if (options_.outbox)
    for (const auto& c : changes)
      if (c.outbox_seq > 0) ++outbox_size_;
  if (listener_ && !changes.empty()) listener_(changes);
  for (auto& d : local_done)
    if (d.cb) d.cb(std::move(d.result));
  for (auto& r : remote_done)
    if (r.first) r.first(r.second);
}

}  // namespace status::node
