// SqliteCursor on the SQLite3 C API.
#include "sqlite_cursor.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "recycling_allocator.h"
#include "sqlite_header.h"

namespace healthcheck {
namespace {

// How many virtual-machine steps run between two looks at the deadline.
constexpr int kProgressCheckEverySteps = 1000;

// SQLite's defaults suit long-lived, busy connections: a 120 KB lookaside
// buffer allocated per connection, global memory statistics behind a mutex,
// and malloc for the hundreds of blocks a connection allocates when it
// opens and frees when it closes. A health check's connection reads one
// page, and a new one is opened at every change of the file; so, once,
// before SQLite initialises: no lookaside, no statistics, and blocks
// recycled per thread (if an embedder initialised SQLite already, this
// changes nothing and is harmless).
void ConfigureSqliteOnce() {
  static std::once_flag configured;
  std::call_once(configured, [] {
    static const sqlite3_mem_methods recycled = {recycling_allocator::Allocate,
                                                 recycling_allocator::Free,
                                                 recycling_allocator::Reallocate,
                                                 recycling_allocator::UsableSize,
                                                 recycling_allocator::RoundUp,
                                                 [](void*) { return SQLITE_OK; },
                                                 [](void*) {},
                                                 nullptr};
    sqlite3_config(SQLITE_CONFIG_MALLOC, &recycled);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
    sqlite3_initialize();
  });
}

// "file:" URI for `path`, with the characters a URI gives meaning escaped.
std::string FileUri(const std::string& path, const char* query) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      char escaped[4];
      snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
      uri += escaped;
    } else {
      uri += c;
    }
  }
  return uri + "?" + query;
}

int StopAtDeadline(void* deadline) {
  return static_cast<const Deadline*>(deadline)->expired() ? 1 : 0;
}

bool HasOnlyWhitespace(const char* text) {
  for (; text != nullptr && *text != '\0'; ++text) {
    if (strchr(" \t\r\n;", *text) == nullptr) return false;
  }
  return true;
}

// Finalizes a statement however the caller leaves.
struct StatementCloser {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementCloser>;

}  // namespace

SqliteCursor::SqliteCursor(Connection connection, std::string path, const Deadline& deadline)
    : connection_(std::move(connection)), path_(std::move(path)), deadline_(deadline) {}

SqliteCursor::~SqliteCursor() {
  if (keep_) warm_connection::Keep(std::move(connection_), path_, opened_on_);
}

Status SqliteCursor::Explain(int code, const std::string& doing) const {
  std::string reason = doing + " \"" + path_ + "\": ";
  if (code == SQLITE_INTERRUPT) return Status::Error(reason + "stopped at the request deadline");
  reason += sqlite3_errmsg(connection_.db());
  int system_error = sqlite3_system_errno(connection_.db());
  // The operating system's reason says more than "disk I/O error".
  bool system_failure = (code & 0xff) == SQLITE_CANTOPEN || (code & 0xff) == SQLITE_IOERR;
  if (system_failure && system_error != 0) {
    reason += std::string(" (") + strerror(system_error) + ")";
  }
  return Status::Error(reason);
}

Result<std::shared_ptr<SqliteCursor>> SqliteCursor::OpenReadOnly(
    const CursorBackendSettings& settings, const Deadline& deadline) {
  ConfigureSqliteOnce();
  // Taken before any open: should the path change hands in between, the
  // identities differ and the connection is not reused, never the reverse.
  FileIdentity identity = IdentifyFile(settings.database);
  Connection warm = warm_connection::Take(settings.database, identity);
  if (warm.db() != nullptr) {
    std::shared_ptr<SqliteCursor> cursor(
        new SqliteCursor(std::move(warm), settings.database, deadline));
    cursor->LimitTo(settings);
    // A kept connection may only say yes: if it fails, a new one decides.
    if (cursor->ReadHeader().ok()) {
      cursor->KeepAfterwards(identity);
      return cursor;
    }
  }
  return OpenNew(settings, deadline, identity);
}

Result<std::shared_ptr<SqliteCursor>> SqliteCursor::Open(const std::string& target, int flags,
                                                         const std::string& path,
                                                         const Deadline& deadline) {
  sqlite3* db = nullptr;
  int code = sqlite3_open_v2(target.c_str(), &db, flags, nullptr);
  // The cursor owns the handle from here, even a failed one.
  std::shared_ptr<SqliteCursor> cursor(new SqliteCursor(Connection(db), path, deadline));
  if (db == nullptr) return Status::Error("cannot open \"" + path + "\": out of memory");
  if (code != SQLITE_OK) return cursor->Explain(code, "cannot open");
  return cursor;
}

Result<std::shared_ptr<SqliteCursor>> SqliteCursor::OpenNew(const CursorBackendSettings& settings,
                                                            const Deadline& deadline,
                                                            const FileIdentity& identity) {
  // READONLY never creates the file; NOMUTEX because one request's thread
  // owns the connection; EXRESCODE for precise reasons in the log.
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const std::string& path = settings.database;
  Result<std::shared_ptr<SqliteCursor>> opened = Open(path, flags, path, deadline);
  if (!opened.ok()) return opened;
  JournalMode mode = ReadJournalMode(opened.value()->connection_.db());
  if (mode == JournalMode::kWal && access((path + "-wal").c_str(), F_OK) != 0) {
    // A WAL database with no -wal file: nobody is writing, and the main file
    // is the whole database. A WAL reader would create -wal and -shm files
    // and leave them behind (or fail in a read-only folder), and a health
    // check creates nothing: "immutable" reads the main file alone.
    opened = Open(FileUri(path, "immutable=1"), flags | SQLITE_OPEN_URI, path, deadline);
    if (!opened.ok()) return opened;
  }
  std::shared_ptr<SqliteCursor> cursor = opened.value();
  sqlite3* db = cursor->connection_.db();
  // A check must not reach other files: no ATTACH, and no schema tricks.
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  // A kept connection holds its pages between checks of an unchanged file:
  // 128 KiB at most, not SQLite's default of 2 MiB, per thread.
  sqlite3_exec(db, "PRAGMA cache_size = -128", nullptr, nullptr, nullptr);
  cursor->LimitTo(settings);

  Status readable = cursor->ReadHeader();
  if (!readable.ok()) return readable;
  if (mode == JournalMode::kRollback) cursor->KeepAfterwards(identity);
  return cursor;
}

void SqliteCursor::LimitTo(const CursorBackendSettings& settings) {
  int64_t busy_ms = std::min(settings.busy_timeout_ms, deadline_.remaining_ms());
  sqlite3_busy_timeout(connection_.db(), static_cast<int>(busy_ms));
  sqlite3_progress_handler(connection_.db(), kProgressCheckEverySteps, StopAtDeadline, &deadline_);
}

void SqliteCursor::KeepAfterwards(const FileIdentity& opened_on) {
  keep_ = true;
  opened_on_ = opened_on;
}

Status SqliteCursor::ReadHeader() {
  // schema_version needs a shared lock and page 1, whose header proves the
  // file is an SQLite database, but not the schema parsed: a tenth of the cost.
  sqlite3_stmt*& statement = connection_.read_header();
  if (statement == nullptr) {
    int code =
        sqlite3_prepare_v2(connection_.db(), "PRAGMA schema_version", -1, &statement, nullptr);
    if (code != SQLITE_OK) return Explain(code, "cannot read");
  }
  int code = sqlite3_step(statement);
  // The reset ends the read transaction: no lock outlives the read.
  sqlite3_reset(statement);
  if (code != SQLITE_ROW) return Explain(code, "cannot read");
  return Status::Ok();
}

Result<bool> SqliteCursor::FirstValueIsTruthy(const std::string& sql) {
  Result<bool> truthy = EvaluateFirstValue(sql);
  if (!truthy.ok()) keep_ = false;  // Whatever went wrong, the next check starts afresh.
  return truthy;
}

Result<bool> SqliteCursor::EvaluateFirstValue(const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int code =
      sqlite3_prepare_v2(connection_.db(), sql.c_str(), static_cast<int>(sql.size()), &raw, &tail);
  Statement statement(raw);
  if (code != SQLITE_OK) return Explain(code, "cannot read");
  if (!statement) return Status::Error("the query is empty");
  if (!HasOnlyWhitespace(tail)) return Status::Error("the query must be a single statement");
  // The connection is read-only already; this also refuses VACUUM INTO and
  // the like, which would write files elsewhere.
  if (!sqlite3_stmt_readonly(statement.get())) {
    return Status::Error("the query must only read (a SELECT)");
  }
  code = sqlite3_step(statement.get());
  if (code == SQLITE_DONE) return false;
  if (code != SQLITE_ROW) return Explain(code, "cannot read");
  switch (sqlite3_column_type(statement.get(), 0)) {
    case SQLITE_NULL:
      return false;
    case SQLITE_INTEGER:
      return sqlite3_column_int64(statement.get(), 0) != 0;
    case SQLITE_FLOAT:
      return sqlite3_column_double(statement.get(), 0) != 0.0;
    default:  // TEXT and BLOB: truthy when not empty, as in Python.
      return sqlite3_column_bytes(statement.get(), 0) > 0;
  }
}

Result<std::shared_ptr<Dependency>> BuildSqliteCursor(const CursorBackendSettings& settings,
                                                      const Deadline& deadline) {
  Result<std::shared_ptr<SqliteCursor>> cursor = SqliteCursor::OpenReadOnly(settings, deadline);
  if (!cursor.ok()) return cursor.status();
  return std::shared_ptr<Dependency>(cursor.value());
}

}  // namespace healthcheck
