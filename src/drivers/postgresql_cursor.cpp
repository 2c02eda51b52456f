// OpenPostgresqlCursor on libpq's asynchronous API (PQconnectPoll,
// PQsendQuery and friends on a non-blocking connection).
#include "postgresql_cursor.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../backends/server_support.h"
#include "../server_settings.h"

namespace healthcheck {
namespace {

// libpq's connect_timeout is only a backstop (it bounds libpq's blocking
// connect, which we never call): each wait is bounded by the check's
// deadline, at most kMaxTimeoutMs away. libpq's minimum is 2 s.
constexpr int kBackstopSeconds = kMaxTimeoutMs / 1000 + 1;
// How often a backend running our query looks whether we are still there,
// so that a query outlives a connection we closed by at most this (PG >= 14).
constexpr int kClientCheckIntervalMs = 100;
constexpr int kClientCheckMinServerVersion = 140000;
// The socket file libpq connects to is DIR/.s.PGSQL.PORT.
constexpr const char kSocketFilePrefix[] = ".s.PGSQL.";
// SQLSTATE query_canceled: what statement_timeout ends a query with.
constexpr const char kQueryCanceled[] = "57014";
// Type OIDs (pg_type.dat) of the values Python would see as numbers or
// booleans, and of two whose falsy value is not empty text.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;      // b"" is "\x" as text.
constexpr Oid kIntervalOid = 1186;  // timedelta(0) is "00:00:00" (or "PT0S", "0", "@ 0").
constexpr Oid kNumberOids[] = {20 /* int8 */,    21 /* int2 */,   23 /* int4 */,
                               26 /* oid */,     700 /* float4 */, 701 /* float8 */,
                               1700 /* numeric */};
constexpr const char kMustReturnARow[] = "the query must return a row (a SELECT)";

// The connection a worker keeps to one server between checks.
class PostgresqlConnection : public ServerConnection {
 public:
  PostgresqlConnection(PGconn* handle, std::string fingerprint)
      : ServerConnection(std::move(fingerprint)), handle_(handle) {}
  PostgresqlConnection(const PostgresqlConnection&) = delete;
  PostgresqlConnection& operator=(const PostgresqlConnection&) = delete;
  // The connection is non-blocking once made, so PQfinish's goodbye
  // (Terminate) never waits on a server that does not read; before that
  // it sends nothing.
  ~PostgresqlConnection() override { PQfinish(handle_); }

  PGconn* handle() const { return handle_; }

 private:
  PGconn* handle_;
};

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPointer = std::unique_ptr<PGresult, ResultDeleter>;

// libpq's message on one line: its lines joined with "; ", runs of spaces
// made one ("FATAL:  password..."), and each attempt's "connection to
// server at "127.0.0.1", port 5432 failed: " dropped (the address is
// already in our own message).
std::string OneLine(const char* message) {
  static const std::string kAttemptPrefix = "connection to server ";
  static const std::string kAttemptEnd = " failed: ";
  std::string text = message != nullptr ? message : "";
  std::string joined;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line;
    for (size_t i = start; i < end; ++i) {
      char c = isspace(static_cast<unsigned char>(text[i])) ? ' ' : text[i];
      if (c != ' ' || (!line.empty() && line.back() != ' ')) line += c;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    size_t failed = line.find(kAttemptEnd);
    if (line.compare(0, kAttemptPrefix.size(), kAttemptPrefix) == 0 && failed != std::string::npos) {
      line.erase(0, failed + kAttemptEnd.size());
    }
    if (!line.empty()) joined += (joined.empty() ? "" : "; ") + line;
    start = end + 1;
  }
  return joined.empty() ? "unknown error" : joined;
}

std::string PrimaryMessage(const PGresult* result) {
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  return primary != nullptr ? primary : OneLine(PQresultErrorMessage(result));
}

bool SqlStateIs(const PGresult* result, const char* state) {
  const char* code = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return code != nullptr && std::string(code) == state;
}

ValueKind KindOf(Oid type) {
  if (type == kBoolOid) return ValueKind::kBoolean;
  // Zero in every IntervalStyle is the one interval without a digit but 0.
  if (type == kIntervalOid) return ValueKind::kDuration;
  for (Oid number : kNumberOids) {
    if (type == number) return ValueKind::kNumber;
  }
  return ValueKind::kText;
}

// The first column of the first row of a result (no I/O).
Result<bool> FirstValue(const PGresult* result) {
  if (PQntuples(result) == 0) return Status::Error("the query returned no row");
  if (PQnfields(result) == 0) return Status::Error("the query returned no column");
  if (PQgetisnull(result, 0, 0)) return false;
  std::string_view value(PQgetvalue(result, 0, 0), static_cast<size_t>(PQgetlength(result, 0, 0)));
  Oid type = PQftype(result, 0);
  if (type == kByteaOid) return !value.empty() && value != "\\x";
  return IsTruthy(value, KindOf(type));
}

enum class Outcome { kDone, kTimedOut, kFailed };

// One conversation with the server on a non-blocking connection: sends
// what libpq has queued and reads the answers, waiting only in poll(2)
// and never past `until`.
class Exchange {
 public:
  Exchange(PGconn* handle, const Deadline& until, std::string address)
      : handle_(handle), until_(until), address_(std::move(address)) {}

  // Sends `commands` (ours, possibly several) and expects no rows back.
  Status Run(const std::string& commands, const char* doing) {
    if (!PQsendQuery(handle_, commands.c_str())) return Lost(Outcome::kFailed, doing);
    return Collect(doing, [&](const PGresult* result) {
      ExecStatusType status = PQresultStatus(result);
      if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Status::Ok();
      return Status::Error(std::string(doing) + " failed: " + PrimaryMessage(result));
    });
  }

  // Flushes what was sent, then hands each result to `on_result` until the
  // server has answered everything; the first error is the outcome. A
  // connection that breaks or does not answer in time is reported lost.
  template <typename OnResult>
  Status Collect(const char* doing, OnResult on_result) {
    Outcome flushed = Flush();
    if (flushed != Outcome::kDone) return Lost(flushed, doing);
    Status outcome = Status::Ok();
    for (;;) {
      Outcome answered = AwaitResult();
      if (answered != Outcome::kDone) return Lost(answered, doing);
      ResultPointer result(PQgetResult(handle_));
      if (result == nullptr) break;
      ExecStatusType status = PQresultStatus(result.get());
      // COPY would hold the connection in a state of its own (the
      // connection stays unproven and is closed).
      if (status == PGRES_COPY_OUT || status == PGRES_COPY_IN || status == PGRES_COPY_BOTH) {
        return Status::Error(kMustReturnARow);
      }
      if (PQstatus(handle_) == CONNECTION_BAD) return Lost(Outcome::kFailed, doing);
      if (outcome.ok()) outcome = on_result(result.get());
    }
    return outcome;
  }

  Status Lost(Outcome outcome, const char* doing) const {
    if (outcome == Outcome::kTimedOut) {
      return Status::Error("no answer from postgresql at " + address_ + " " + doing +
                           " before the deadline");
    }
    return Status::Error("lost postgresql at " + address_ + " " + doing + ": " +
                         OneLine(PQerrorMessage(handle_)));
  }

 private:
  Outcome Wait(short events, short* revents) const {
    SocketWait waited = WaitForSocket(PQsocket(handle_), events, until_, -1, revents);
    if (waited == SocketWait::kTimedOut) return Outcome::kTimedOut;
    return waited == SocketWait::kReady ? Outcome::kDone : Outcome::kFailed;
  }

  Outcome Flush() {
    int pending;
    while ((pending = PQflush(handle_)) == 1) {
      // The server may be answering while we still send: read as we go,
      // as libpq's documentation asks, so neither side stalls.
      short revents = 0;
      Outcome waited = Wait(POLLIN | POLLOUT, &revents);
      if (waited != Outcome::kDone) return waited;
      if ((revents & POLLIN) && !PQconsumeInput(handle_)) return Outcome::kFailed;
    }
    return pending == 0 ? Outcome::kDone : Outcome::kFailed;
  }

  Outcome AwaitResult() {
    while (PQisBusy(handle_)) {
      short revents = 0;
      Outcome waited = Wait(POLLIN, &revents);
      if (waited != Outcome::kDone) return waited;
      if (!PQconsumeInput(handle_)) return Outcome::kFailed;
    }
    return Outcome::kDone;
  }

  PGconn* handle_;
  Deadline until_;
  std::string address_;
};

class PostgresqlCursor : public Cursor {
 public:
  PostgresqlCursor(PostgresqlConnection& connection, const CursorBackendSettings& settings,
                   const Deadline& until)
      : connection_(connection), exchange_(connection.handle(), until, ServerAddress(settings)),
        until_(until) {}

  Result<bool> FirstValueIsTruthy(const std::string& sql) override {
    connection_.set_proven(false);  // Until every step below has succeeded.
    int64_t budget_ms = StatementBudgetMs(until_.remaining_ms());
    if (budget_ms == 0) return Status::Error("no time left to run the query");
    Status status = exchange_.Run(BeginReadOnly(budget_ms), "starting the query");
    if (!status.ok()) return status;
    Result<bool> truthy = Evaluate(sql);
    if (!truthy.ok()) return truthy;
    // Nothing the query did is kept: a read-only transaction may still
    // create a large object (lo_create) or queue a notification
    // (pg_notify), which COMMIT would keep or deliver.
    status = exchange_.Run("ROLLBACK", "ending the query");
    // The transaction's locks are gone, but not what a SELECT can take for
    // the session (pg_advisory_lock, set_config(..., false)). DISCARD ALL
    // may not share a message with ROLLBACK.
    if (status.ok()) status = exchange_.Run("DISCARD ALL", "ending the check");
    if (!status.ok()) return status;
    connection_.set_proven(true);
    return truthy;
  }

  Status CheckQuery(const std::string& sql) override {
    if (!PQsendPrepare(handle(), "", sql.c_str(), 0, nullptr)) {
      return exchange_.Lost(Outcome::kFailed, "preparing the query");
    }
    Status status = exchange_.Collect("preparing the query", [](const PGresult* result) {
      if (PQresultStatus(result) == PGRES_COMMAND_OK) return Status::Ok();
      return Status::Error("the query: " + PrimaryMessage(result));
    });
    if (!status.ok()) return status;
    if (!PQsendDescribePrepared(handle(), "")) {
      return exchange_.Lost(Outcome::kFailed, "preparing the query");
    }
    return exchange_.Collect("preparing the query", [](const PGresult* result) {
      if (PQresultStatus(result) != PGRES_COMMAND_OK) {
        return Status::Error("the query: " + PrimaryMessage(result));
      }
      return PQnfields(result) == 0 ? Status::Error(kMustReturnARow) : Status::Ok();
    });
  }

 private:
  PGconn* handle() const { return connection_.handle(); }

  // Ours alone, so one simple-protocol message may carry them all. The
  // server stops the query itself before the check's deadline.
  std::string BeginReadOnly(int64_t budget_ms) const {
    std::string commands =
        "BEGIN READ ONLY; SET LOCAL statement_timeout = " + std::to_string(budget_ms);
    if (PQserverVersion(handle()) >= kClientCheckMinServerVersion) {
      commands += "; SET LOCAL client_connection_check_interval = " +
                  std::to_string(kClientCheckIntervalMs);
    }
    return commands;
  }

  // The user's query, on the extended protocol: exactly one statement, so
  // "SELECT 1; COMMIT; INSERT ..." cannot leave the read-only transaction.
  // Row by row, so a query over a large table costs no memory; the rows
  // after the first are read and dropped.
  Result<bool> Evaluate(const std::string& sql) {
    if (!PQsendQueryParams(handle(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) {
      return exchange_.Lost(Outcome::kFailed, "running the query");
    }
    PQsetSingleRowMode(handle());
    std::optional<Result<bool>> first;
    Status status = exchange_.Collect("running the query", [&](const PGresult* result) {
      switch (PQresultStatus(result)) {
        case PGRES_SINGLE_TUPLE:
        case PGRES_TUPLES_OK:
          if (!first && PQntuples(result) > 0) first = FirstValue(result);
          return Status::Ok();
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
          return Status::Error(kMustReturnARow);
        default:
          return QueryFailure(result);
      }
    });
    if (!status.ok()) return status;
    if (!first) return Status::Error("the query returned no row");
    return *first;
  }

  static Status QueryFailure(const PGresult* result) {
    if (SqlStateIs(result, kQueryCanceled)) {
      return Status::Error("the query did not finish in time; the server stopped it (" +
                           PrimaryMessage(result) + ")");
    }
    return Status::Error("the query failed: " + PrimaryMessage(result));
  }

  PostgresqlConnection& connection_;
  Exchange exchange_;
  Deadline until_;
};

// A round trip on a kept connection, which also asks whether the user may
// still connect to the database (a revoked CONNECT ends no session).
bool AnswersAgain(PostgresqlConnection& connection, const CursorBackendSettings& settings,
                  const Deadline& until) {
  if (PQstatus(connection.handle()) != CONNECTION_OK ||
      PQtransactionStatus(connection.handle()) != PQTRANS_IDLE) {
    return false;
  }
  Exchange exchange(connection.handle(), until, ServerAddress(settings));
  // With the server's own limit, as the sql callable's query has: a round
  // trip stuck behind a lock (on pg_database, say) stops on the server too,
  // rather than outlive the check on a connection we gave up on.
  std::string round_trip =
      "SET statement_timeout = " +
      std::to_string(std::max<int64_t>(1, StatementBudgetMs(until.remaining_ms()))) +
      "; SELECT has_database_privilege(current_database(), 'CONNECT')";
  if (!PQsendQuery(connection.handle(), round_trip.c_str())) return false;
  bool allowed = false;
  Status answered = exchange.Collect("checking the connection", [&](const PGresult* result) {
    allowed = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
              std::string_view(PQgetvalue(result, 0, 0)) == "t";
    return Status::Ok();
  });
  return answered.ok() && allowed;
}

// libpq's connection keywords and values. Where and how a check connects
// depends on the configuration alone: host, port, user, database and the
// TLS mode are always given, so PGHOST, PGSSLMODE and the like cannot
// change them. libpq reads its environment only for what is left unset:
// the password when none is configured (PGPASSWORD, ~/.pgpass: a
// PostgreSQL user's usual ways to keep it out of a configuration), and
// PGOPTIONS, PGSERVICE, client certificates, which only the operator sets
// (a request's headers arrive as HTTP_*). Our session settings go in each
// check's transaction instead of "options": PostgreSQL before 14 refuses a
// login that names a setting it does not know.
class ConnectParameters {
 public:
  // `addresses`: the host's addresses, looked up by the deadline (libpq's
  // own look-up has no bound); none over a socket. libpq tries each in
  // turn, the name beside each: verify-full checks the certificate
  // against the name.
  ConnectParameters(const ServerSettings& server, int default_port,
                    const std::vector<std::string>& addresses) {
    bool socket = !server.socket.empty();
    int port = server.port != 0 ? server.port : default_port;
    std::string hosts = socket ? SocketFolder(server.socket, &port) : "";
    std::string hostaddrs;
    for (const std::string& address : addresses) {
      hosts += (hosts.empty() ? "" : ",") + server.host;
      hostaddrs += (hostaddrs.empty() ? "" : ",") + address;
    }
    Add("host", hosts);
    Add("hostaddr", hostaddrs);
    Add("port", std::to_string(port));
    Add("user", server.username);
    Add("password", server.password);  // Here only: never in a message or a string we build.
    Add("dbname", server.database);
    Add("application_name", "healthcheck");
    Add("connect_timeout", std::to_string(kBackstopSeconds));
    // Over a socket libpq never uses TLS. With a CA: TLS, and the server's
    // certificate checked against it and the host name; without: libpq's
    // default, TLS when the server offers it, unchecked.
    Add("sslmode", socket ? "disable" : !server.ssl_ca.empty() ? "verify-full" : "prefer");
    Add("sslrootcert", server.ssl_ca);
    Add("gssencmode", "disable");  // A GSSAPI attempt first would cost a round trip, or a KDC's wait.
    Add("target_session_attrs", "any");
    for (const auto& [keyword, value] : parameters_) {
      keywords_.push_back(keyword);
      values_.push_back(value.c_str());
    }
    keywords_.push_back(nullptr);
    values_.push_back(nullptr);
  }

  const char* const* keywords() const { return keywords_.data(); }
  const char* const* values() const { return values_.data(); }

 private:
  // libpq takes an empty value as not given, and then looks in the
  // environment; a value we leave empty is not given at all.
  void Add(const char* keyword, std::string value) {
    if (!value.empty()) parameters_.emplace_back(keyword, std::move(value));
  }

  // "socket" may name the folder libpq wants as its host, or the socket
  // file in it, DIR/.s.PGSQL.PORT, whose name holds the port.
  static std::string SocketFolder(const std::string& socket, int* port) {
    size_t slash = socket.rfind('/');
    std::string name = slash == std::string::npos ? socket : socket.substr(slash + 1);
    std::string suffix = name.compare(0, sizeof kSocketFilePrefix - 1, kSocketFilePrefix) == 0
                             ? name.substr(sizeof kSocketFilePrefix - 1)
                             : std::string();
    bool digits = !suffix.empty() && suffix.size() <= 5 &&
                  suffix.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || slash == std::string::npos) return socket;
    *port = std::stoi(suffix);
    return slash == 0 ? "/" : socket.substr(0, slash);
  }

  std::vector<std::pair<const char*, std::string>> parameters_;
  std::vector<const char*> keywords_;
  std::vector<const char*> values_;
};

// libpq prints notices (RAISE NOTICE, warnings) to stderr by default: they
// are not failures, and not ours to log.
void IgnoreNotice(void*, const char*) {}

Result<std::unique_ptr<PostgresqlConnection>> Connect(const CursorBackendSettings& settings,
                                                      const Deadline& until) {
  std::string where = "cannot connect to postgresql at " + ServerAddress(settings) + ": ";
  std::vector<std::string> addresses;
  if (settings.server.socket.empty()) {
    Result<std::vector<std::string>> found = ResolveAddresses(settings.server.host, until);
    if (!found.ok()) return Status::Error(where + found.status().message());
    addresses = found.value();
  }
  ConnectParameters parameters(settings.server, DefaultPort(settings.driver), addresses);
  int64_t budget_ms = until.remaining_ms();
  PGconn* handle = PQconnectStartParams(parameters.keywords(), parameters.values(), 0);
  if (handle == nullptr) return Status::Error(where + "out of memory");
  // Before the login, which may send warnings of its own.
  PQsetNoticeProcessor(handle, IgnoreNotice, nullptr);
  auto connection =
      std::make_unique<PostgresqlConnection>(handle, ConnectionFingerprint(settings));
  // As libpq's documentation says: start as if PQconnectPoll had asked to write.
  PostgresPollingStatusType polled =
      PQstatus(handle) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (polled != PGRES_POLLING_OK) {
    if (polled == PGRES_POLLING_FAILED) return Status::Error(where + OneLine(PQerrorMessage(handle)));
    short revents = 0;
    // Each address libpq tries has its own socket: asked for anew each time.
    SocketWait waited = WaitForSocket(PQsocket(handle), polled == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                                      until, -1, &revents);
    if (waited == SocketWait::kTimedOut) {
      return Status::Error(where + "no answer within " + std::to_string(budget_ms) + " ms");
    }
    if (waited == SocketWait::kFailed) return Status::Error(where + "cannot wait for its socket");
    polled = PQconnectPoll(handle);
  }
  if (PQsetnonblocking(handle, 1) != 0) return Status::Error(where + OneLine(PQerrorMessage(handle)));
  connection->set_proven(true);
  return connection;
}

}  // namespace

Result<std::shared_ptr<Cursor>> OpenPostgresqlCursor(const CursorBackendSettings& settings,
                                                     const Deadline& deadline,
                                                     WorkerContext& worker) {
  Deadline until = ServerWaitEnd(settings, deadline);
  Result<PostgresqlConnection*> connection = ProvenConnection<PostgresqlConnection>(
      worker, "postgresql:" + ServerAddress(settings), settings, until,
      [&settings](PostgresqlConnection& kept, const Deadline& by) {
        return AnswersAgain(kept, settings, by);
      },
      [&settings](const Deadline& by) { return Connect(settings, by); });
  if (!connection.ok()) return connection.status();
  return std::shared_ptr<Cursor>(std::make_shared<PostgresqlCursor>(*connection.value(), settings, until));
}

}  // namespace healthcheck
