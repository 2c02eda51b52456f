/* The CGI floor for the mysql rows: a C program that connects with
 * libmariadb (linked dynamically, as healthcheck-mysql is), runs SELECT 1,
 * and prints healthcheck's exact success answer (or a failure, exit 1).
 * Its settings come from the environment, as a CGI program gets them:
 * db_socket, db_username, db_password, db_database. */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>

static const char kSuccess[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    "Vary: Accept, Authorization\r\nContent-Length: 75\r\n\r\n"
    "{\"status\":\"success\",\"error\":\"\",\"data\":{},\"pagination\":{},\"input_errors\":{}}";
static const unsigned int kConnectTimeoutSeconds = 2;  /* clearskies' connect_timeout */

int main(void) {
  int passed = 0;
  MYSQL *db = mysql_init(NULL);
  if (db) {
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &kConnectTimeoutSeconds);
    if (mysql_real_connect(db, NULL, getenv("db_username"), getenv("db_password"),
                           getenv("db_database"), 0, getenv("db_socket"), 0) &&
        mysql_query(db, "SELECT 1") == 0) {
      MYSQL_RES *result = mysql_store_result(db);
      MYSQL_ROW row = result ? mysql_fetch_row(result) : NULL;
      passed = row && row[0] && row[0][0] == '1';
      mysql_free_result(result);
    }
    mysql_close(db);
  }
  if (passed) fputs(kSuccess, stdout);
  else fputs("Status: 500 Internal Server Error\r\n\r\n", stdout);
  return passed ? 0 : 1;
}
