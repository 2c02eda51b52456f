// The postgresql driver of cursor_backend: PostgreSQL through libpq,
// linked into healthcheck-postgresql only (driver_handover.h).
//
// A check proves the server at request time: a new connection is
// connected, authenticated and bound to the database; a connection the
// worker kept from an earlier check must first answer a round trip that
// asks whether the user may still connect to the database, within a
// quarter of the time left (KeptRoundTripEnd). A kept connection that
// fails that is closed and replaced within the same check, so it can only
// ever say yes. Every wait is a
// poll(2) on libpq's asynchronous API (PQconnectPoll, a non-blocking
// connection), bounded by the check's deadline; the host name is looked up
// by the deadline too (ResolveAddresses) and handed to libpq as hostaddr,
// each address beside the name, which libpq tries in turn. TLS: with
// ssl_ca, verify-full against it; without, libpq's "prefer" over TCP;
// never over a unix socket ("socket" may be the socket's folder or its
// .s.PGSQL.PORT file).
//
// The sql callable runs in BEGIN READ ONLY on the extended protocol (one
// statement, so it cannot end the transaction), with statement_timeout set
// to a little less than the time left, so the server stops the query
// before the check answers. No cancel request is sent: PQcancel blocks
// without a bound in libpq 15. Should the deadline pass with no answer
// anyway (a stalled server), the connection is closed before the check
// answers, and client_connection_check_interval (PostgreSQL >= 14, set for
// the transaction) has the backend notice that and stop within 100 ms.
// Afterwards COMMIT and DISCARD ALL, so no lock (advisory locks are the
// session's), setting or prepared statement outlives its check.
#pragma once

#include <memory>

#include "../backends/cursor.h"

namespace healthcheck {

Result<std::shared_ptr<Cursor>> OpenPostgresqlCursor(const CursorBackendSettings& settings,
                                                     const Deadline& deadline, WorkerContext& worker);

}  // namespace healthcheck
