#include "node/sqlite.hpp"

namespace status::node {

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &s_, nullptr) != SQLITE_OK)
    throw SqliteError(std::string("prepare failed: ") + sqlite3_errmsg(db) + " in: " +
                      std::string(sql));
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    db_ = o.db_;
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}

Stmt& Stmt::checked(int rc) {
  if (rc != SQLITE_OK) throw SqliteError(std::string("bind failed: ") + sqlite3_errstr(rc));
  return *this;
}
Stmt& Stmt::bind(int i, std::int64_t v) { return checked(sqlite3_bind_int64(s_, i, v)); }
Stmt& Stmt::bind(int i, std::string_view v) {
  return checked(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
}
Stmt& Stmt::bind(int i, std::optional<double> v) {
  return checked(v ? sqlite3_bind_double(s_, i, *v) : sqlite3_bind_null(s_, i));
}
Stmt& Stmt::bind_null(int i) { return checked(sqlite3_bind_null(s_, i)); }

bool Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_);
  int code = sqlite3_extended_errcode(db_);
  sqlite3_reset(s_);
  throw SqliteError("step failed: " + msg, code);
}

void Stmt::reset() {
  // The result of reset repeats the last step's error, which step() has already reported.
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string Stmt::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  return p ? std::string(p, sqlite3_column_bytes(s_, col)) : std::string();
}

Db::Db(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    if (db_) sqlite3_close(db_);
    db_ = nullptr;
    throw SqliteError("cannot open database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

Db::~Db() {
  if (db_) sqlite3_close(db_);
}

void Db::exec(std::string_view sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw SqliteError("exec failed: " + msg + " in: " + std::string(sql),
                      sqlite3_extended_errcode(db_));
  }
}

}  // namespace status::node
