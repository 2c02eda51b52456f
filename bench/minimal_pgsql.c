/* The CGI floor for the postgresql rows: a C program that connects with
 * libpq (linked dynamically, as healthcheck-postgresql is), runs SELECT 1,
 * and prints healthcheck's exact success answer (or a failure, exit 1).
 * Its settings come from the environment, as a CGI program gets them:
 * db_socket (the socket's folder), db_port, db_username, db_password,
 * db_database. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char kSuccess[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    "Vary: Accept, Authorization\r\nContent-Length: 75\r\n\r\n"
    "{\"status\":\"success\",\"error\":\"\",\"data\":{},\"pagination\":{},\"input_errors\":{}}";

int main(void) {
  const char *const keys[] = {"host", "port", "user", "password", "dbname", "connect_timeout",
                              NULL};
  const char *const values[] = {getenv("db_socket"), getenv("db_port"), getenv("db_username"),
                                getenv("db_password"), getenv("db_database"), "2", NULL};
  int passed = 0;
  PGconn *db = PQconnectdbParams(keys, values, 0);
  if (db && PQstatus(db) == CONNECTION_OK) {
    PGresult *result = PQexec(db, "SELECT 1");
    passed = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1 &&
             strcmp(PQgetvalue(result, 0, 0), "1") == 0;
    PQclear(result);
  }
  PQfinish(db);
  if (passed) fputs(kSuccess, stdout);
  else fputs("Status: 500 Internal Server Error\r\n\r\n", stdout);
  return passed ? 0 : 1;
}
