#pragma once
// The node's SQLite layer: schema, prepared statements, the statuses table, the outbox and the
// meta table. One StatusDb belongs to the writer thread; OutboxReader and the checkpointer each
// have a connection of their own (WAL: they see only committed rows and never block the writer).

#include "node/sqlite.hpp"
#include "node/status.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace status::node {

/// An exclusive lock on a data dir (flock on DIR/LOCK), held for the object's lifetime: two
/// processes on one data dir would compete for its queue and stamp with the same node id.
class DataDirLock {
 public:
  /// Creates the directory if needed; throws std::runtime_error naming the holder's problem.
  explicit DataDirLock(const std::string& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  int fd_ = -1;
};

struct OutboxRow {
  std::int64_t seq;
  std::uint64_t hlc;  // the change's stamp (rows older than the tombstone horizon are not sent)
  std::string payload;
};

/// Writer-thread only. Every method throws SqliteError on failure.
class StatusDb {
 public:
  StatusDb(const std::string& path, bool sync_full);
  const std::string& path() const { return path_; }

  /// Calls `fn` for every stored state (start-up).
  void load(const std::function<void(Status)>& fn);

  void begin();
  /// Throws if SQLite already rolled the transaction back by itself (FULL, IOERR, NOMEM, BUSY
  /// can), so a batch never half-commits in autocommit mode.
  void commit();
  void rollback() noexcept;

  void put(const Status& s);
  void erase(const std::string& username);

  void outbox_add(std::int64_t seq, std::uint64_t hlc, const std::string& payload);
  /// Deletes rows up to `seq`; returns how many went.
  std::int64_t outbox_delete_upto(std::int64_t seq);
  std::int64_t outbox_count();
  std::int64_t outbox_max_seq();

  std::string meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);

  /// Copies the WAL's last frames into the database and rewinds it (RESTART), never waiting.
  void restart_wal();

 private:
  std::string path_;
  Db db_;
  Stmt put_, erase_, outbox_add_, outbox_delete_, meta_get_, meta_set_;
};

/// The publisher's view of the outbox: committed rows only, from a connection of its own.
/// One thread.
class OutboxReader {
 public:
  explicit OutboxReader(std::string path) : path_(std::move(path)) {}
  /// Rows after `after`, oldest first, at most `max`.
  std::vector<OutboxRow> pending(std::int64_t after, std::size_t max);

 private:
  std::string path_;
  std::unique_ptr<Db> db_;
};

/// PASSIVE checkpoints from a connection of their own (the maintenance thread): never blocks
/// the writer. Failures are logged, not thrown.
class Checkpointer {
 public:
  explicit Checkpointer(std::string path) : path_(std::move(path)) {}
  void run();

 private:
  std::string path_;
  std::unique_ptr<Db> db_;
};

}  // namespace status::node
