// OpenMysqlCursor on libmariadb's non-blocking API.
#include "mysql_cursor.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <mutex>
#include <string>

#include "../backends/server_support.h"
#include "../server_settings.h"

namespace healthcheck {
namespace {

// libmariadb's own timers are only a backstop: each wait is bounded by the
// check's deadline, which is at most kMaxTimeoutMs away.
constexpr unsigned int kBackstopSeconds = kMaxTimeoutMs / 1000 + 1;
// MySQL 8's error for a query stopped by max_execution_time.
constexpr unsigned int kMysqlQueryTimeout = 3024;

// The connection a worker keeps to one server between checks.
class MysqlConnection : public KeptConnection {
 public:
  MysqlConnection(MYSQL* handle, std::string fingerprint)
      : handle_(handle), fingerprint_(std::move(fingerprint)) {}
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;
  ~MysqlConnection() override {
    // A connection whose last use failed may have a server that does not
    // read: mysql_close's goodbye must not wait on it.
    if (!proven_) shutdown(mysql_get_socket(handle_), SHUT_RDWR);
    mysql_close(handle_);
  }

  MYSQL* handle() const { return handle_; }
  const std::string& fingerprint() const { return fingerprint_; }
  bool FitToKeep() override { return proven_; }
  void set_proven(bool proven) { proven_ = proven; }

 private:
  MYSQL* handle_;
  std::string fingerprint_;
  bool proven_ = false;
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
// returned, and `resume(ready)` calls its _cont.
template <typename Resume>
Outcome Finish(MYSQL* handle, int status, Resume resume, const Deadline& until) {
  while (status != 0) {
    int64_t cap = (status & MYSQL_WAIT_TIMEOUT) ? mysql_get_timeout_value_ms(handle) : -1;
    short revents = 0;
    SocketWait waited = WaitForSocket(mysql_get_socket(handle), PollEventsFor(status), until, cap, &revents);
    if (waited == SocketWait::kTimedOut) return Outcome::kTimedOut;
    if (waited == SocketWait::kFailed) return Outcome::kFailed;
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

class MysqlCursor : public Cursor {
 public:
  MysqlCursor(MysqlConnection& connection, const CursorBackendSettings& settings,
              const Deadline& until)
      : connection_(connection), settings_(settings), until_(until) {}

  Result<bool> FirstValueIsTruthy(const std::string& sql) override {
    connection_.set_proven(false);  // Until every step below has succeeded.
    int64_t budget_ms = StatementBudgetMs(until_.remaining_ms());
    if (budget_ms == 0) return Status::Error("no time left to run the query");
    Status status = Run(StatementTimeLimit(budget_ms));
    if (status.ok()) status = Run("START TRANSACTION READ ONLY");
    if (!status.ok()) return status;
    Result<bool> truthy = Evaluate(sql);
    if (!truthy.ok()) return truthy;
    status = Run("COMMIT");
    if (status.ok()) status = ResetSession();
    if (!status.ok()) return status;
    connection_.set_proven(true);
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
      status = Lost(outcome, "preparing the query");
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

  std::string StatementTimeLimit(int64_t budget_ms) const {
    if (strstr(mysql_get_server_info(handle()), "MariaDB") != nullptr) {
      char seconds[32];
      snprintf(seconds, sizeof seconds, "%.3f", static_cast<double>(budget_ms) / 1000);
      return std::string("SET SESSION max_statement_time = ") + seconds;
    }
    return "SET SESSION max_execution_time = " + std::to_string(budget_ms);  // MySQL, SELECT only.
  }

  Status Lost(Outcome outcome, const std::string& doing) const {
    if (outcome == Outcome::kTimedOut) {
      return Status::Error("no answer from mysql at " + ServerAddress(settings_) + " " + doing +
                           " before the deadline");
    }
    return Status::Error("lost mysql at " + ServerAddress(settings_) + " " + doing);
  }

  // Sends `statement` and waits for its answer, without a result.
  Status Run(const std::string& statement) {
    Status sent = Send(statement);
    if (!sent.ok()) return sent;
    MYSQL_RES* result = nullptr;
    Status stored = Store(&result);
    mysql_free_result(result);
    return stored;
  }

  Status Send(const std::string& statement) {
    int failed = 0;
    Outcome outcome = Finish(
        handle(), mysql_real_query_start(&failed, handle(), statement.data(), statement.size()),
        [&](int ready) { return mysql_real_query_cont(&failed, handle(), ready); }, until_);
    if (outcome != Outcome::kDone) return Lost(outcome, "running the query");
    if (failed != 0) return Status::Error(QueryFailure());
    return Status::Ok();
  }

  Status Store(MYSQL_RES** result) {
    Outcome outcome = Finish(
        handle(), mysql_store_result_start(result, handle()),
        [&](int ready) { return mysql_store_result_cont(result, handle(), ready); }, until_);
    if (outcome != Outcome::kDone) return Lost(outcome, "reading the result");
    if (*result == nullptr && mysql_errno(handle()) != 0) return Status::Error(QueryFailure());
    return Status::Ok();
  }

  std::string QueryFailure() const {
    unsigned int code = mysql_errno(handle());
    if (code == ER_STATEMENT_TIMEOUT || code == kMysqlQueryTimeout) {
      return "the query did not finish in time; the server stopped it (" + ReasonOf(handle()) + ")";
    }
    return "the query failed: " + ReasonOf(handle());
  }

  Result<bool> Evaluate(const std::string& sql) {
    Status sent = Send(sql);
    if (!sent.ok()) return sent;
    MYSQL_RES* result = nullptr;
    Status stored = Store(&result);
    if (!stored.ok()) return stored;
    if (result == nullptr) return Status::Error("the query must return a row (a SELECT)");
    Result<bool> truthy = FirstValue(result);
    mysql_free_result(result);
    // A stored procedure's CALL answers with more than one result.
    if (truthy.ok() && mysql_more_results(handle())) {
      return Status::Error("the query must be a single statement");
    }
    return truthy;
  }

  // The first column of the first row of a stored result (no I/O).
  static Result<bool> FirstValue(MYSQL_RES* result) {
    MYSQL_ROW row = mysql_fetch_row(result);
    if (row == nullptr) return Status::Error("the query returned no row");
    if (row[0] == nullptr) return false;
    unsigned long* lengths = mysql_fetch_lengths(result);
    std::string_view value(row[0], lengths[0]);
    MYSQL_FIELD* field = mysql_fetch_field_direct(result, 0);
    bool number = IS_NUM(field->type) || field->type == MYSQL_TYPE_BIT;
    return IsTruthy(value, number ? ValueKind::kNumber : ValueKind::kText);
  }

  // Drops whatever the query left in the session: named locks
  // (GET_LOCK), user variables, temporary tables, the time limit.
  Status ResetSession() {
    int failed = 0;
    Outcome outcome = Finish(
        handle(), mysql_reset_connection_start(&failed, handle()),
        [&](int ready) { return mysql_reset_connection_cont(&failed, handle(), ready); }, until_);
    if (outcome != Outcome::kDone) return Lost(outcome, "ending the check");
    if (failed != 0) return Status::Error("cannot reset the session: " + ReasonOf(handle()));
    return Status::Ok();
  }

  MysqlConnection& connection_;
  const CursorBackendSettings& settings_;
  Deadline until_;
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
  return outcome == Outcome::kDone && failed == 0;
}

Result<std::unique_ptr<MysqlConnection>> Connect(const CursorBackendSettings& settings,
                                                 const Deadline& until) {
  const ServerSettings& server = settings.server;
  std::string where = "cannot connect to mysql at " + ServerAddress(settings) + ": ";
  MYSQL* handle = NewHandle(server);
  if (handle == nullptr) return Status::Error(where + "out of memory");
  auto connection = std::make_unique<MysqlConnection>(handle, ConnectionFingerprint(settings));
  bool socket = !server.socket.empty();
  // "localhost" means the default socket to libmariadb; any other name is
  // looked up within the deadline. With TLS the name itself is connected
  // to, so that the certificate is checked against it (the look-up just
  // made has proven the resolver answers).
  std::string host = server.host;
  if (!socket && host != "localhost") {
    Result<std::string> address = ResolveHost(host, until);
    if (!address.ok()) return Status::Error(where + address.status().message());
    if (server.ssl_ca.empty()) host = address.value();
  }
  MYSQL* connected = nullptr;
  auto connect_start = [&]() {
    return mysql_real_connect_start(
        &connected, handle, socket ? "localhost" : host.c_str(), server.username.c_str(),
        server.password.c_str(), server.database.c_str(),
        static_cast<unsigned int>(server.port != 0 ? server.port : DefaultPort(settings.driver)),
        socket ? server.socket.c_str() : nullptr, 0);
  };
  int64_t budget_ms = until.remaining_ms();
  Outcome outcome = Finish(
      handle, connect_start(),
      [&](int ready) { return mysql_real_connect_cont(&connected, handle, ready); }, until);
  if (outcome == Outcome::kTimedOut) {
    return Status::Error(where + "no answer within " + std::to_string(budget_ms) + " ms");
  }
  if (outcome == Outcome::kFailed || connected == nullptr) {
    return Status::Error(where + ReasonOf(handle));
  }
  connection->set_proven(true);
  return connection;
}

}  // namespace

Result<std::shared_ptr<Cursor>> OpenMysqlCursor(const CursorBackendSettings& settings,
                                                const Deadline& deadline, WorkerContext& worker) {
  // Not thread-safe, and mysql_init would otherwise run it in whichever
  // worker thread comes first.
  static std::once_flag library_ready;
  std::call_once(library_ready, [] { mysql_library_init(0, nullptr, nullptr); });

  Deadline until = ServerWaitEnd(settings, deadline);
  std::unique_ptr<KeptConnection>& kept = worker.kept("mysql:" + ServerAddress(settings));
  auto* connection = dynamic_cast<MysqlConnection*>(kept.get());
  if (connection != nullptr) {
    connection->set_proven(false);
    bool reusable = connection->fingerprint() == ConnectionFingerprint(settings) &&
                    AnswersAgain(*connection, settings, until);
    if (reusable) {
      connection->set_proven(true);
    } else {
      kept.reset();  // Closed; a new one answers for this check.
      connection = nullptr;
    }
  }
  if (connection == nullptr) {
    Result<std::unique_ptr<MysqlConnection>> connected = Connect(settings, until);
    if (!connected.ok()) return connected.status();
    kept = std::move(connected.value());
    connection = static_cast<MysqlConnection*>(kept.get());
  }
  return std::shared_ptr<Cursor>(std::make_shared<MysqlCursor>(*connection, settings, until));
}

}  // namespace healthcheck
