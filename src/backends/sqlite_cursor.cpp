// SqliteCursor on the SQLite3 C API.
#include "sqlite_cursor.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "sqlite_header.h"

namespace healthcheck {
namespace {

// How many virtual-machine steps run between two looks at the deadline.
constexpr int kProgressCheckEverySteps = 1000;
// A kept connection holds its pages between checks of an unchanged file:
// this many KiB at most, not SQLite's default of 2 MiB, per worker thread.
constexpr int kPageCacheKiB = 128;
// Pauses between two tries for a lock, as SQLite's own busy handler makes
// them; the last repeats.
constexpr int kLockRetryPausesMs[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};

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

// A query in the plain sense (SELECT, WITH, VALUES), which changes nothing on
// the connection. Anything else that returns rows (a PRAGMA, say
// locking_mode=EXCLUSIVE) may change the connection's state for good.
bool IsPlainQuery(const char* sql) {
  for (;;) {
    while (*sql != '\0' && strchr(" \t\r\n", *sql) != nullptr) ++sql;
    if (strncmp(sql, "--", 2) == 0) {
      sql = strchr(sql, '\n');
      if (sql == nullptr) return false;
    } else if (strncmp(sql, "/*", 2) == 0) {
      sql = strstr(sql + 2, "*/");
      if (sql == nullptr) return false;
      sql += 2;
    } else {
      break;
    }
  }
  for (const char* keyword : {"SELECT", "WITH", "VALUES"}) {
    size_t length = strlen(keyword);
    if (strncasecmp(sql, keyword, length) == 0 && !isalnum(static_cast<unsigned char>(sql[length])) &&
        sql[length] != '_') {
      return true;
    }
  }
  return false;
}

bool HasOnlyWhitespace(const char* text) {
  for (; text != nullptr && *text != '\0'; ++text) {
    if (strchr(" \t\r\n;", *text) == nullptr) return false;
  }
  return true;
}

// "<doing> "<path>": <SQLite's reason> (<the system's reason>)"
Status Explain(sqlite3* db, int code, const std::string& doing, const std::string& path) {
  std::string reason = doing + " \"" + path + "\": ";
  if (code == SQLITE_INTERRUPT) return Status::Error(reason + "stopped at the request deadline");
  if (db == nullptr) return Status::Error(reason + "out of memory");
  reason += sqlite3_errmsg(db);
  int system_error = sqlite3_system_errno(db);
  // The operating system's reason says more than "disk I/O error".
  bool system_failure = (code & 0xff) == SQLITE_CANTOPEN || (code & 0xff) == SQLITE_IOERR;
  if (system_failure && system_error != 0) {
    reason += std::string(" (") + strerror(system_error) + ")";
    // SQLite names the database when what it could not open or make is a
    // WAL database's -shm or -wal, as in a folder the checker cannot write.
    if (system_error == ENOENT && access(path.c_str(), F_OK) == 0) {
      reason += "; the file is there: its -wal or -shm file could not be opened or made";
    }
  }
  return Status::Error(reason);
}

Result<Connection> OpenConnection(const std::string& target, int flags, const std::string& path) {
  sqlite3* db = nullptr;
  int code = sqlite3_open_v2(target.c_str(), &db, flags, nullptr);
  Connection connection(db);  // Owns the handle from here, even a failed one.
  if (code != SQLITE_OK) return Explain(db, code, "cannot open", path);
  return connection;
}

// A new read-only connection to `path`: never creates the file, reads a
// quiet WAL database without creating -wal and -shm files, and cannot
// reach other files. `mode` is set to the file's journal mode.
Result<Connection> OpenNewConnection(const std::string& path, JournalMode* mode) {
  // READONLY never creates the file; NOMUTEX because one worker thread
  // owns the connection; EXRESCODE for precise reasons in the log.
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  Result<Connection> opened = OpenConnection(path, flags, path);
  if (!opened.ok()) return opened;
  *mode = ReadJournalMode(opened.value().db());
  if (*mode == JournalMode::kWal && access((path + "-wal").c_str(), F_OK) != 0) {
    // A WAL database with no -wal file: nobody is writing, and the main file
    // is the whole database. A WAL reader would create -wal and -shm files
    // and leave them behind (or fail in a read-only folder), and a health
    // check creates nothing: "immutable" reads the main file alone.
    opened = OpenConnection(FileUri(path, "immutable=1"), flags | SQLITE_OPEN_URI, path);
    if (!opened.ok()) return opened;
  }
  sqlite3* db = opened.value().db();
  // A check must not reach other files: no ATTACH, and no schema tricks.
  sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  // No lookaside buffer: a check's connection reads a page or two, and the
  // 120 KB SQLite sets aside per connection would be resident per thread.
  sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, nullptr, 0, 0);
  sqlite3_exec(db, ("PRAGMA cache_size = -" + std::to_string(kPageCacheKiB)).c_str(), nullptr,
               nullptr, nullptr);
  return opened;
}

}  // namespace

void SqliteCursor::StatementCloser::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

SqliteCursor::SqliteCursor(SqliteKeptConnection& connection,
                           const CursorBackendSettings& settings, const Deadline& deadline)
    : connection_(connection),
      path_(settings.database),
      busy_timeout_ms_(settings.busy_timeout_ms),
      deadline_(deadline) {
  connection_.set_in_use(true);
  sqlite3_busy_handler(connection_.db(), WaitForLock, this);
  sqlite3_progress_handler(connection_.db(), kProgressCheckEverySteps, StopAtDeadline, &deadline_);
}

SqliteCursor::SqliteCursor(std::unique_ptr<SqliteKeptConnection> own,
                           const CursorBackendSettings& settings, const Deadline& deadline)
    : SqliteCursor(*own, settings, deadline) {
  own_ = std::move(own);
}

SqliteCursor::~SqliteCursor() {
  // The connection may outlive the cursor in the worker's context.
  sqlite3_busy_handler(connection_.db(), nullptr, nullptr);
  sqlite3_progress_handler(connection_.db(), 0, nullptr, nullptr);
  connection_.set_in_use(false);
}

Status SqliteCursor::Explain(int code, const std::string& doing) const {
  return healthcheck::Explain(connection_.db(), code, doing, path_);
}

int SqliteCursor::WaitForLock(void* opaque, int attempts) {
  auto* cursor = static_cast<SqliteCursor*>(opaque);
  Deadline::Clock::time_point now = Deadline::Clock::now();
  if (attempts == 0) cursor->wait_started_ = now;
  auto give_up = std::min(cursor->wait_started_ + std::chrono::milliseconds(cursor->busy_timeout_ms_),
                          cursor->deadline_.when());
  if (now >= give_up) {
    cursor->gave_up_waiting_ = true;
    return 0;
  }
  constexpr int kPauses = sizeof kLockRetryPausesMs / sizeof kLockRetryPausesMs[0];
  auto pause = std::chrono::milliseconds(kLockRetryPausesMs[std::min(attempts, kPauses - 1)]);
  std::this_thread::sleep_for(std::min<Deadline::Clock::duration>(pause, give_up - now));
  return 1;
}

Result<std::shared_ptr<SqliteCursor>> SqliteCursor::OpenReadOnly(
    const CursorBackendSettings& settings, const Deadline& deadline, WorkerContext& worker) {
  const std::string& path = settings.database;
  std::unique_ptr<KeptConnection>& kept = worker.kept(SqliteKeptConnectionName(path));
  auto* warm = dynamic_cast<SqliteKeptConnection*>(kept.get());
  // Taken before any open: should the path change hands in between, the
  // identities differ and the connection is not reused, never the reverse.
  FileIdentity identity = IdentifyFile(path);
  // SQLite opens without O_NONBLOCK: a FIFO would wait for a writer for
  // ever, past any deadline. A folder gets its own words too.
  if (identity.found && !identity.regular) {
    return Status::Error("cannot open \"" + path + "\": not a regular file");
  }
  bool shared_in_request = warm != nullptr && warm->in_use();
  if (!shared_in_request && warm != nullptr && warm->ReusableFor(path, identity)) {
    std::shared_ptr<SqliteCursor> cursor(new SqliteCursor(*warm, settings, deadline));
    // A kept connection may only say yes: if it fails, a new one decides;
    // but not after a lock wait that ran to its bound, which a new one
    // would only repeat.
    Status readable = cursor->ReadHeader();
    if (readable.ok()) {
      warm->Prove(identity);
      return cursor;
    }
    if (cursor->gave_up_waiting_) {
      warm->Disprove();
      return readable;
    }
  }
  JournalMode mode = JournalMode::kUnknown;
  Result<Connection> opened = OpenNewConnection(path, &mode);
  if (!opened.ok()) {
    if (!shared_in_request) kept.reset();
    return opened.status();
  }
  auto fresh = std::make_unique<SqliteKeptConnection>(std::move(opened.value()), path, identity);
  SqliteKeptConnection& connection = *fresh;
  std::shared_ptr<SqliteCursor> cursor;
  if (shared_in_request) {
    // Another dependency of this request checks the same file on the kept
    // connection: this one gets its own, closed with it.
    cursor.reset(new SqliteCursor(std::move(fresh), settings, deadline));
  } else {
    kept = std::move(fresh);  // Owned by the worker from here, kept or not.
    cursor.reset(new SqliteCursor(connection, settings, deadline));
  }
  Status readable = cursor->ReadHeader();
  if (!readable.ok()) return readable;
  if (mode == JournalMode::kRollback) connection.Prove(identity);
  return cursor;
}

Status SqliteCursor::ReadHeader() {
  // schema_version needs a shared lock and page 1, whose header proves the
  // file is an SQLite database, but not the schema parsed: a tenth of the
  // cost (page_count would parse the schema on every check).
  sqlite3_stmt*& statement = connection_.connection().read_header();
  if (statement == nullptr) {
    int code =
        sqlite3_prepare_v2(connection_.db(), "PRAGMA schema_version", -1, &statement, nullptr);
    if (code != SQLITE_OK) return Explain(code, "cannot read");
  }
  int code = sqlite3_step(statement);
  sqlite3_int64 version = code == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : 0;
  // The reset ends the read transaction: no lock outlives the read.
  sqlite3_reset(statement);
  if (code != SQLITE_ROW) return Explain(code, "cannot read");
  // SQLite takes an empty file for an empty database (version 0); a check
  // does not. Only a database never given a schema has version 0 too.
  if (version == 0 && MainFileBytes(connection_.db()) == 0) {
    return Status::Error("cannot read \"" + path_ + "\": the file is empty, not an SQLite database");
  }
  return Status::Ok();
}

Result<bool> SqliteCursor::FirstValueIsTruthy(const std::string& sql) {
  Result<bool> truthy = EvaluateFirstValue(sql);
  if (!truthy.ok()) connection_.Disprove();  // The next check starts afresh.
  return truthy;
}

Status SqliteCursor::CheckQuery(const std::string& sql) {
  Statement statement;  // Prepared only: nothing runs.
  return PrepareQuery(sql, statement);
}

Status SqliteCursor::PrepareQuery(const std::string& sql, Statement& statement) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int code =
      sqlite3_prepare_v2(connection_.db(), sql.c_str(), static_cast<int>(sql.size()), &raw, &tail);
  statement.reset(raw);
  if (code != SQLITE_OK) return Explain(code, "cannot read");
  if (!statement) return Status::Error("the query is empty");
  if (!HasOnlyWhitespace(tail)) return Status::Error("the query must be a single statement");
  // The connection is read-only already. A statement that returns no
  // columns (BEGIN, SAVEPOINT, ...) would leave a transaction open; one
  // that writes (VACUUM INTO, ...) would write files elsewhere.
  if (!sqlite3_stmt_readonly(statement.get()) || sqlite3_column_count(statement.get()) == 0) {
    return Status::Error("the query must be a read-only query that returns a row (a SELECT)");
  }
  return Status::Ok();
}

Result<bool> SqliteCursor::EvaluateFirstValue(const std::string& sql) {
  Statement statement;
  Status prepared = PrepareQuery(sql, statement);
  if (!prepared.ok()) return prepared;
  // Anything but a plain query may have changed the connection (a PRAGMA
  // such as locking_mode=EXCLUSIVE keeps a lock for good): it is not kept.
  if (!IsPlainQuery(sqlite3_sql(statement.get()))) connection_.Disprove();
  int code = sqlite3_step(statement.get());
  if (code == SQLITE_DONE) return Status::Error("the query returned no row");
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

Result<std::shared_ptr<Cursor>> OpenSqliteCursor(const CursorBackendSettings& settings,
                                                 const Deadline& deadline, WorkerContext& worker) {
  Result<std::shared_ptr<SqliteCursor>> cursor =
      SqliteCursor::OpenReadOnly(settings, deadline, worker);
  if (!cursor.ok()) return cursor.status();
  return std::shared_ptr<Cursor>(cursor.value());
}

Result<std::shared_ptr<Dependency>> BuildSqliteCursor(const CursorBackendSettings& settings,
                                                      const Deadline& deadline,
                                                      WorkerContext& worker) {
  Result<std::shared_ptr<SqliteCursor>> cursor =
      SqliteCursor::OpenReadOnly(settings, deadline, worker);
  if (!cursor.ok()) return cursor.status();
  return std::shared_ptr<Dependency>(cursor.value());
}

}  // namespace healthcheck
