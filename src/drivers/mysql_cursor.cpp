// OpenMysqlCursor on libmariadb's non-blocking API.
#include "mysql_cursor.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "../backends/server_support.h"
#include "../server_settings.h"

namespace healthcheck {
namespace {

// libmariadb's own timers are only a backstop: each wait is bounded by the
// check's deadline, which is at most kMaxTimeoutMs away.
constexpr unsigned int kBackstopSeconds = kMaxTimeoutMs / 1000 + 1;
// A call resumed on a shut-down socket fails on its next read or write;
// this bounds the resumptions all the same.
constexpr int kTriesToGiveUp = 100;
// MySQL 8's error for a query stopped by max_execution_time.
constexpr unsigned int kMysqlQueryTimeout = 3024;

// The connection a worker keeps to one server between checks.
class MysqlConnection : public ServerConnection {
 public:
  MysqlConnection(MYSQL* handle, std::string fingerprint)
      : ServerConnection(std::move(fingerprint)), handle_(handle) {}
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;
  // Says goodbye (COM_QUIT), so the server does not count it as aborted;
  // a stalled connection's socket is shut down already (Finish).
  ~MysqlConnection() override { mysql_close(handle_); }

  MYSQL* handle() const { return handle_; }

 private:
  MYSQL* handle_;
};

// Turns libmariadb's wait flags into poll(2) events and back.
short PollEventsFor(int status) {
  short events = 0;
  if (status & MYSQL_WAIT_READ) events |= POLLIN;
  if (status & MYSQL_WAIT_WRITE) events |= POLLOUT;
  if (status & MYSQL_WAIT_EXCEPT) events |= POLLPRI;
  return events;
}

int ReadyFlagsFor(short revents) {
  int ready = 0;
  if (revents & (POLLIN | POLLERR | POLLHUP)) ready |= MYSQL_WAIT_READ;
  if (revents & (POLLOUT | POLLERR | POLLHUP)) ready |= MYSQL_WAIT_WRITE;
  if (revents & POLLPRI) ready |= MYSQL_WAIT_EXCEPT;
  return ready;
}

enum class Outcome { kDone, kTimedOut, kFailed };

// Drives one non-blocking call to its end: `status` is what its _start
// returned, and `resume(ready)` calls its _cont. When `until` passes first,
// the connection's socket is shut down and the call resumed until it gives
// up, which it then does at once: a call is never left suspended (the
// connection could not be used or closed safely), and the connection is
// dead from then on.
template <typename Resume>
Outcome Finish(MYSQL* handle, int status, Resume resume, const Deadline& until) {
  while (status != 0) {
    int64_t cap = (status & MYSQL_WAIT_TIMEOUT) ? mysql_get_timeout_value_ms(handle) : -1;
    short revents = 0;
    SocketWait waited = WaitForSocket(mysql_get_socket(handle), PollEventsFor(status), until, cap, &revents);
    if (waited != SocketWait::kReady) {
      shutdown(mysql_get_socket(handle), SHUT_RDWR);
      for (int tries = 0; status != 0 && tries < kTriesToGiveUp; ++tries) status = resume(status);
      return waited == SocketWait::kTimedOut ? Outcome::kTimedOut : Outcome::kFailed;
    }
    int ready = ReadyFlagsFor(revents);
    status = resume(ready == 0 ? MYSQL_WAIT_TIMEOUT : ready);
  }
  return Outcome::kDone;
}

// libmariadb's reason, with the system's words for a failed connect
// ("Can't connect to server on '127.0.0.1' (111)" is "Connection refused").
std::string ReasonOf(MYSQL* handle) {
  std::string reason = mysql_error(handle);
  unsigned int code = mysql_errno(handle);
  int system_error = 0;
  size_t open = reason.rfind(" (");
  if ((code == CR_CONN_HOST_ERROR || code == CR_CONNECTION_ERROR) && open != std::string::npos &&
      sscanf(reason.c_str() + open, " (%d)", &system_error) == 1 && system_error > 0) {
    return strerror(system_error);
  }
  return reason.empty() ? "unknown error " + std::to_string(code) : reason;
}

MYSQL* NewHandle(const ServerSettings& server) {
  MYSQL* handle = mysql_init(nullptr);
  if (handle == nullptr) return nullptr;
  mysql_options(handle, MYSQL_OPT_NONBLOCK, nullptr);
  unsigned int seconds = kBackstopSeconds;
  mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &seconds);
  mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &seconds);
  mysql_options(handle, MYSQL_OPT_WRITE_TIMEOUT, &seconds);
  unsigned int no_local_files = 0;
  mysql_options(handle, MYSQL_OPT_LOCAL_INFILE, &no_local_files);
  mysql_options(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (!server.ssl_ca.empty()) {
    my_bool verify = 1;
    mysql_options(handle, MYSQL_OPT_SSL_CA, server.ssl_ca.c_str());
    mysql_options(handle, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  return handle;
}

// One statement on `connection`, its answer awaited until `until`: ok, the
// server's error, or the connection stalled or lost. A result it returns
// is read and dropped.
class Exchange {
 public:
  Exchange(MysqlConnection& connection, const CursorBackendSettings& settings)
      : connection_(connection), settings_(settings) {}

  MYSQL* handle() const { return connection_.handle(); }

  Status Send(const std::string& statement, const Deadline& until) {
    int failed = 0;
    Outcome outcome = Finish(
        handle(), mysql_real_query_start(&failed, handle(), statement.data(), statement.size()),
        [&](int ready) { return mysql_real_query_cont(&failed, handle(), ready); }, until);
    if (outcome != Outcome::kDone) return Lost(outcome, "running the query");
    if (failed != 0) return Status::Error(QueryFailure());
    return Status::Ok();
  }

  // Send(), then reads and drops what it returns.
  Status Run(const std::string& statement, const Deadline& until) {
    Status sent = Send(statement, until);
    if (!sent.ok()) return sent;
    MYSQL_RES* result = nullptr;
    Outcome outcome = Finish(
        handle(), mysql_store_result_start(&result, handle()),
        [&](int ready) { return mysql_store_result_cont(&result, handle(), ready); }, until);
    mysql_free_result(result);
    if (outcome != Outcome::kDone) return Lost(outcome, "reading the result");
    if (result == nullptr && mysql_errno(handle()) != 0) return Status::Error(QueryFailure());
    return Status::Ok();
  }

  // Reads and drops the rest of a result being read row by row.
  Status Discard(MYSQL_RES* result, const Deadline& until) {
    Outcome outcome = Finish(
        handle(), mysql_free_result_start(result),
        [&](int ready) { return mysql_free_result_cont(result, ready); }, until);
    if (outcome != Outcome::kDone) return Lost(outcome, "reading the result");
    return Status::Ok();
  }

  Status Lost(Outcome outcome, const std::string& doing) {
    connection_.set_stalled();
    if (outcome == Outcome::kTimedOut) {
      return Status::Error("no answer from mysql at " + ServerAddress(settings_) + " " + doing +
                           " before the deadline");
    }
    return Status::Error("lost mysql at " + ServerAddress(settings_) + " " + doing);
  }

  std::string QueryFailure() const {
    unsigned int code = mysql_errno(handle());
    if (code == ER_STATEMENT_TIMEOUT || code == kMysqlQueryTimeout) {
      return "the query did not finish in time; the server stopped it (" + ReasonOf(handle()) + ")";
    }
    return "the query failed: " + ReasonOf(handle());
  }

 private:
  MysqlConnection& connection_;
  const CursorBackendSettings& settings_;
};

Result<std::unique_ptr<MysqlConnection>> Connect(const CursorBackendSettings& settings,
                                                 const Deadline& until);

class MysqlCursor : public Cursor {
 public:
  MysqlCursor(MysqlConnection& connection, const CursorBackendSettings& settings,
              const Deadline& until)
      : connection_(connection), settings_(settings), until_(until), exchange_(connection, settings) {}

  Result<bool> FirstValueIsTruthy(const std::string& sql) override {
    connection_.set_proven(false);  // Until the session is clean again.
    int64_t remaining_ms = until_.remaining_ms();
    int64_t budget_ms = StatementBudgetMs(remaining_ms);
    if (budget_ms == 0) return Status::Error("no time left to run the query");
    Status status = exchange_.Run("START TRANSACTION READ ONLY", until_);
    if (!status.ok()) return status;
    Deadline query_until(until_.when() - std::chrono::milliseconds(CancelReserveMs(remaining_ms)));
    Result<bool> truthy = Evaluate(sql, budget_ms, query_until);
    if (connection_.stalled()) return truthy;
    // Nothing the query did is kept; and a query that failed leaves a
    // healthy connection, whose transaction ends here too.
    status = exchange_.Run("ROLLBACK", until_);
    if (status.ok()) status = ResetSession();
    if (status.ok()) connection_.set_proven(true);
    if (!truthy.ok()) return truthy;
    if (!status.ok()) return status;
    return truthy;
  }

  Status CheckQuery(const std::string& sql) override {
    MYSQL_STMT* statement = mysql_stmt_init(handle());
    if (statement == nullptr) return Status::Error("out of memory");
    int failed = 0;
    Outcome outcome = Finish(
        handle(), mysql_stmt_prepare_start(&failed, statement, sql.data(), sql.size()),
        [&](int ready) { return mysql_stmt_prepare_cont(&failed, statement, ready); }, until_);
    Status status = Status::Ok();
    if (outcome != Outcome::kDone) {
      status = exchange_.Lost(outcome, "preparing the query");
    } else if (failed != 0) {
      status = Status::Error(std::string("the query: ") + mysql_stmt_error(statement));
    } else if (mysql_stmt_field_count(statement) == 0) {
      status = Status::Error("the query must return a row (a SELECT)");
    }
    mysql_stmt_close(statement);
    return status;
  }

 private:
  MYSQL* handle() const { return connection_.handle(); }

  bool IsMariadb() const { return strstr(mysql_get_server_info(handle()), "MariaDB") != nullptr; }

  // Runs `sql` under the server's time limit `budget_ms` and reads the
  // first value of its first row; the rest of the result is read row by
  // row and dropped, so a big one costs time, not memory. Past
  // `query_until`, the query is stopped with KILL (StopIfStalled).
  Result<bool> Evaluate(const std::string& sql, int64_t budget_ms, const Deadline& query_until) {
    Status sent = Status::Ok();
    if (IsMariadb()) {
      // One statement with its own limit, which the query cannot lift:
      // "SET STATEMENT ... FOR SET STATEMENT ..." does not parse.
      char seconds[32];
      snprintf(seconds, sizeof seconds, "%.3f", static_cast<double>(budget_ms) / 1000);
      sent = exchange_.Send(std::string("SET STATEMENT max_statement_time = ") + seconds + " FOR " + sql,
                            query_until);
    } else {  // MySQL: max_execution_time, for SELECT only.
      sent = exchange_.Run("SET SESSION max_execution_time = " + std::to_string(budget_ms), until_);
      if (sent.ok()) sent = exchange_.Send(sql, query_until);
    }
    if (!sent.ok()) return StopIfStalled(sent);
    MYSQL_RES* result = mysql_use_result(handle());
    if (result == nullptr) {
      if (mysql_errno(handle()) != 0) return Status::Error(exchange_.QueryFailure());
      return Status::Error("the query must return a row (a SELECT)");
    }
    Result<bool> truthy = FirstValue(result, query_until);
    Status rest = exchange_.Discard(result, query_until);
    if (!truthy.ok()) return StopIfStalled(truthy.status());
    if (!rest.ok()) return StopIfStalled(rest);
    // A stored procedure's CALL answers with more than one result.
    if (mysql_more_results(handle())) return Status::Error("the query must be a single statement");
    return truthy;
  }

  Result<bool> FirstValue(MYSQL_RES* result, const Deadline& query_until) {
    MYSQL_ROW row = nullptr;
    Outcome outcome = Finish(
        handle(), mysql_fetch_row_start(&row, result),
        [&](int ready) { return mysql_fetch_row_cont(&row, result, ready); }, query_until);
    if (outcome != Outcome::kDone) return exchange_.Lost(outcome, "reading the result");
    if (row == nullptr) {
      if (mysql_errno(handle()) != 0) return Status::Error(exchange_.QueryFailure());
      return Status::Error("the query returned no row");
    }
    if (row[0] == nullptr) return false;
    unsigned long* lengths = mysql_fetch_lengths(result);
    std::string_view value(row[0], lengths[0]);
    enum_field_types type = mysql_fetch_field_direct(result, 0)->type;
    if (IS_NUM(type) || type == MYSQL_TYPE_BIT) return IsTruthy(value, ValueKind::kNumber);
    if (type == MYSQL_TYPE_TIME) return IsTruthy(value, ValueKind::kDuration);
    return IsTruthy(value, ValueKind::kText);
  }

  // The query's connection stalled: the server's own limit did not stop
  // it (or did, and its answer is late). Stops it from a connection of its
  // own, so that no query outlives its check.
  Status StopIfStalled(const Status& why) {
    if (!connection_.stalled()) return why;
    unsigned long query = mysql_thread_id(handle());
    Result<std::unique_ptr<MysqlConnection>> killer = Connect(settings_, until_);
    if (!killer.ok()) return Status::Error(why.message() + "; could not stop it: " + killer.status().message());
    Exchange kill(*killer.value(), settings_);
    // KILL, not KILL QUERY: a query whose thread is stuck writing its
    // result to a client gone silent never looks at the query's kill flag;
    // ending the connection shuts its socket on the server, which ends the
    // thread. The connection is not kept anyway.
    Status killed = kill.Run("KILL " + std::to_string(query), until_);
    if (!killed.ok()) return Status::Error(why.message() + "; could not stop it: " + killed.message());
    return Status::Error("the query did not finish in time; its connection was ended with KILL");
  }

  // Drops whatever the query left in the session: its transaction, named
  // locks (GET_LOCK), user variables, temporary tables.
  Status ResetSession() {
    int failed = 0;
    Outcome outcome = Finish(
        handle(), mysql_reset_connection_start(&failed, handle()),
        [&](int ready) { return mysql_reset_connection_cont(&failed, handle(), ready); }, until_);
    if (outcome != Outcome::kDone) return exchange_.Lost(outcome, "ending the check");
    if (failed != 0) return Status::Error("cannot reset the session: " + ReasonOf(handle()));
    return Status::Ok();
  }

  MysqlConnection& connection_;
  const CursorBackendSettings& settings_;
  Deadline until_;
  Exchange exchange_;
};

// A round trip on a kept connection: selects the database again, which the
// server allows only to a user that may still use it.
bool AnswersAgain(MysqlConnection& connection, const CursorBackendSettings& settings,
                  const Deadline& until) {
  MYSQL* handle = connection.handle();
  int failed = 0;
  Outcome outcome = Finish(
      handle, mysql_select_db_start(&failed, handle, settings.server.database.c_str()),
      [&](int ready) { return mysql_select_db_cont(&failed, handle, ready); }, until);
  if (outcome != Outcome::kDone) connection.set_stalled();
  return outcome == Outcome::kDone && failed == 0;
}

// A connection error after which the next address may answer.
bool TryNextAddress(MYSQL* handle) {
  unsigned int code = mysql_errno(handle);
  return code == CR_CONN_HOST_ERROR || code == CR_CONNECTION_ERROR || code == CR_IPSOCK_ERROR;
}

// Connects to `host` (an address, or the name itself); `refused` tells
// whether another of the name's addresses may answer instead.
Result<std::unique_ptr<MysqlConnection>> ConnectTo(const CursorBackendSettings& settings,
                                                   const std::string& host, const Deadline& until,
                                                   bool* refused) {
  const ServerSettings& server = settings.server;
  MYSQL* handle = NewHandle(server);
  if (handle == nullptr) return Status::Error("out of memory");
  auto connection = std::make_unique<MysqlConnection>(handle, ConnectionFingerprint(settings));
  bool socket = !server.socket.empty();
  MYSQL* connected = nullptr;
  int64_t budget_ms = until.remaining_ms();
  Outcome outcome = Finish(
      handle,
      mysql_real_connect_start(
          &connected, handle, socket ? "localhost" : host.c_str(), server.username.c_str(),
          server.password.c_str(), server.database.c_str(),
          static_cast<unsigned int>(server.port != 0 ? server.port : DefaultPort(settings.driver)),
          socket ? server.socket.c_str() : nullptr, 0),
      [&](int ready) { return mysql_real_connect_cont(&connected, handle, ready); }, until);
  if (outcome == Outcome::kTimedOut) {
    return Status::Error("no answer within " + std::to_string(budget_ms) + " ms");
  }
  if (outcome == Outcome::kFailed || connected == nullptr) {
    *refused = TryNextAddress(handle);
    return Status::Error(ReasonOf(handle));
  }
  connection->set_proven(true);
  return connection;
}

Result<std::unique_ptr<MysqlConnection>> Connect(const CursorBackendSettings& settings,
                                                 const Deadline& until) {
  const ServerSettings& server = settings.server;
  std::string where = "cannot connect to mysql at " + ServerAddress(settings) + ": ";
  // "localhost" is the default socket to libmariadb. Any other name is
  // looked up within the deadline, and each of its addresses tried in
  // turn, as libmariadb would. With TLS the name itself is connected to,
  // so that the certificate is checked against it: libmariadb then looks
  // it up again, unbounded (it has no way to take an address and a name).
  std::vector<std::string> hosts = {server.host};
  if (server.socket.empty() && server.host != "localhost") {
    Result<std::vector<std::string>> addresses = ResolveAddresses(server.host, until);
    if (!addresses.ok()) return Status::Error(where + addresses.status().message());
    if (server.ssl_ca.empty()) hosts = addresses.value();
  }
  std::string reason;
  for (const std::string& host : hosts) {
    bool refused = false;
    Result<std::unique_ptr<MysqlConnection>> connected = ConnectTo(settings, host, until, &refused);
    if (connected.ok()) return connected;
    reason = connected.status().message();
    if (!refused || until.expired()) break;
  }
  return Status::Error(where + reason);
}

}  // namespace

Result<std::shared_ptr<Cursor>> OpenMysqlCursor(const CursorBackendSettings& settings,
                                                const Deadline& deadline, WorkerContext& worker) {
  // Not thread-safe, and mysql_init would otherwise run it in whichever
  // worker thread comes first.
  static std::once_flag library_ready;
  std::call_once(library_ready, [] { mysql_library_init(0, nullptr, nullptr); });

  Deadline until = ServerWaitEnd(settings, deadline);
  Result<MysqlConnection*> connection = ProvenConnection<MysqlConnection>(
      worker, "mysql:" + ServerAddress(settings), settings, until,
      [&settings](MysqlConnection& kept, const Deadline& by) { return AnswersAgain(kept, settings, by); },
      [&settings](const Deadline& by) { return Connect(settings, by); });
  if (!connection.ok()) return connection.status();
  return std::shared_ptr<Cursor>(std::make_shared<MysqlCursor>(*connection.value(), settings, until));
}

}  // namespace healthcheck
