#include "node/status_db.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace status::node {

DataDirLock::DataDirLock(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create data dir " + dir + ": " + ec.message());
  std::string path = dir + "/LOCK";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw std::runtime_error("data dir " + dir + " is in use by another status-node process");
    throw std::runtime_error("cannot lock " + path + ": " + std::strerror(err));
  }
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

StatusDb::StatusDb(const std::string& path, bool sync_full) : path_(path), db_(path) {
  {
    auto mode = db_.prepare("PRAGMA journal_mode=WAL");
    if (!mode.step() || mode.text(0) != "wal")
      throw SqliteError("cannot switch " + path + " to WAL mode (a file system without shared "
                        "memory?)");
  }
  db_.exec(sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  // Checkpoints run from the maintenance thread (Checkpointer) and the writer between batches,
  // not inside a commit; SQLite's own automatic one stays as a backstop for a WAL past 64 MiB.
  db_.exec("PRAGMA wal_autocheckpoint=16384");
  // 16 MiB of page cache (SQLite's default is 2): with a million statuses the username index's
  // inner pages stay cached, so an insert costs few page reads.
  db_.exec("PRAGMA cache_size=-16384");
  db_.exec(
      "CREATE TABLE IF NOT EXISTS statuses(username TEXT PRIMARY KEY, text TEXT, time_ms INTEGER,"
      " lat REAL, lon REAL, hlc INTEGER NOT NULL, node TEXT NOT NULL, deleted INTEGER NOT NULL)"
      " WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, payload TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);");
  // Data dirs made before outbox rows carried their stamp, and records their extra field.
  auto has_column = [&](const char* table, const char* column) {
    for (auto q = db_.prepare(std::string("PRAGMA table_info(") + table + ")"); q.step();)
      if (q.text(1) == column) return true;
    return false;
  };
  if (!has_column("outbox", "hlc"))
    db_.exec("ALTER TABLE outbox ADD COLUMN hlc INTEGER NOT NULL DEFAULT 0");
  if (!has_column("statuses", "extra")) db_.exec("ALTER TABLE statuses ADD COLUMN extra TEXT");
  // ... and before statuses had emoji, availability, expiry and a history (past: wire JSON).
  if (!has_column("statuses", "past"))
    db_.exec("ALTER TABLE statuses ADD COLUMN emoji TEXT;"
             "ALTER TABLE statuses ADD COLUMN availability INTEGER NOT NULL DEFAULT 0;"
             "ALTER TABLE statuses ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
             "ALTER TABLE statuses ADD COLUMN purge INTEGER NOT NULL DEFAULT 0;"
             "ALTER TABLE statuses ADD COLUMN past TEXT");

  put_ = db_.prepare(
      "INSERT OR REPLACE INTO statuses(username,text,time_ms,lat,lon,hlc,node,deleted,extra,"
      "emoji,availability,expires_at,purge,past) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  erase_ = db_.prepare("DELETE FROM statuses WHERE username=?");
  outbox_add_ = db_.prepare("INSERT INTO outbox(seq,hlc,payload) VALUES(?,?,?)");
  outbox_delete_ = db_.prepare("DELETE FROM outbox WHERE seq <= ?");
  meta_get_ = db_.prepare("SELECT value FROM meta WHERE key=?");
  meta_set_ = db_.prepare("INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)");
}

void StatusDb::load(const std::function<void(Status)>& fn) {
  auto q = db_.prepare(
      "SELECT username,text,time_ms,lat,lon,hlc,node,deleted,extra,emoji,availability,expires_at,"
      "purge,past FROM statuses");
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
    if (!q.is_null(8)) s.extra = q.text(8);
    if (!q.is_null(9)) s.emoji = q.text(9);
    auto a = q.i64(10);
    if (a >= 0 && a <= static_cast<std::int64_t>(Availability::kDnd))
      s.availability = static_cast<Availability>(a);
    s.expires_at_ms = q.i64(11);
    s.purge = q.i64(12) != 0;
    if (!q.is_null(13) && !read_past_json(q.text(13), s))
      spdlog::warn("event=history_unreadable username={}", s.username);
    fn(std::move(s));
  }
}

void StatusDb::begin() { db_.exec("BEGIN IMMEDIATE"); }

void StatusDb::commit() {
  if (sqlite3_get_autocommit(db_.get()))
    throw SqliteError("the transaction was rolled back by SQLite", SQLITE_ABORT);
  db_.exec("COMMIT");
}

void StatusDb::rollback() noexcept {
  if (sqlite3_get_autocommit(db_.get())) return;  // nothing open (SQLite may have undone it)
  char* err = nullptr;
  if (sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, &err) != SQLITE_OK) {
    spdlog::error("event=rollback_failed error=\"{}\"", err ? err : "unknown");
    sqlite3_free(err);
  }
}

void StatusDb::put(const Status& s) {
  auto& q = put_;
  q.reset();
  q.bind(1, s.username);
  if (s.deleted) {
    q.bind_null(2).bind(3, std::int64_t{0}).bind_null(4).bind_null(5);
  } else {
    q.bind(2, s.text).bind(3, s.time_ms).bind(4, s.latitude).bind(5, s.longitude);
  }
  q.bind(6, static_cast<std::int64_t>(s.version.hlc)).bind(7, s.version.node);
  q.bind(8, std::int64_t{s.deleted ? 1 : 0});
  if (s.extra.empty()) q.bind_null(9);
  else q.bind(9, s.extra);
  if (s.emoji.empty()) q.bind_null(10);
  else q.bind(10, s.emoji);
  q.bind(11, static_cast<std::int64_t>(s.availability)).bind(12, s.expires_at_ms);
  q.bind(13, std::int64_t{s.purge ? 1 : 0});
  if (s.past.empty()) q.bind_null(14);
  else q.bind(14, past_json(s.past));
  q.step();
}

void StatusDb::erase(const std::string& username) {
  erase_.reset();
  erase_.bind(1, username);
  erase_.step();
}

void StatusDb::outbox_add(std::int64_t seq, std::uint64_t hlc, const std::string& payload) {
  outbox_add_.reset();
  outbox_add_.bind(1, seq).bind(2, static_cast<std::int64_t>(hlc)).bind(3, payload);
  outbox_add_.step();
}

std::int64_t StatusDb::outbox_delete_upto(std::int64_t seq) {
  outbox_delete_.reset();
  outbox_delete_.bind(1, seq);
  outbox_delete_.step();
  return sqlite3_changes(db_.get());
}

std::int64_t StatusDb::outbox_count() {
  auto q = db_.prepare("SELECT count(*) FROM outbox");
  q.step();
  return q.i64(0);
}

std::int64_t StatusDb::outbox_max_seq() {
  auto q = db_.prepare("SELECT coalesce(max(seq),0) FROM outbox");
  q.step();
  return q.i64(0);
}

std::string StatusDb::meta(const std::string& key) {
  meta_get_.reset();
  meta_get_.bind(1, key);
  std::string value = meta_get_.step() ? meta_get_.text(0) : std::string();
  // A statement left on a row keeps its read transaction open: the WAL could then never be
  // rewound, and would grow with every write until the disk is full.
  meta_get_.reset();
  return value;
}

void StatusDb::set_meta(const std::string& key, const std::string& value) {
  meta_set_.reset();
  meta_set_.bind(1, key).bind(2, value);
  meta_set_.step();
}

void StatusDb::restart_wal() {
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

std::vector<OutboxRow> OutboxReader::pending(std::int64_t after, std::size_t max) {
  if (!db_) db_ = std::make_unique<Db>(path_);
  std::vector<OutboxRow> rows;
  auto q = db_->prepare("SELECT seq,hlc,payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
  q.bind(1, after).bind(2, static_cast<std::int64_t>(max));
  while (q.step())
    rows.push_back({q.i64(0), static_cast<std::uint64_t>(q.i64(1)), q.text(2)});
  return rows;
}

void Checkpointer::run() {
  try {
    if (!db_) db_ = std::make_unique<Db>(path_);
    db_->exec("PRAGMA wal_checkpoint(PASSIVE)");
  } catch (const SqliteError& e) {
    spdlog::warn("event=checkpoint_failed error=\"{}\"", e.what());
  }
}

}  // namespace status::node
