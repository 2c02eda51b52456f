// A mysql/postgresql cursor_backend's settings: the JSON keys, db_* from the
// environment and the env_file (clearskies' order), the password's
// sources and their checks, and every message whole.
#include "../../src/server_settings.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <map>
#include <memory>

#include "../../src/config.h"
#include "test_support.h"

using namespace healthcheck;
using healthcheck::testing::TempDir;
using healthcheck::testing::WriteFile;

namespace {

// An environment made of `values` only.
EnvironmentLookup Environment(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    auto found = shared->find(name);
    return found == shared->end() ? nullptr : found->second.c_str();
  };
}

CursorBackendSettings Parsed(const std::string& cursor_backend, const std::string& folder) {
  Result<Config> config =
      ParseConfig("{\"cursor_backend\": " + cursor_backend + "}", folder + "/hc.json");
  REQUIRE(config.ok());
  return *config->cursor_backend;
}

void WriteSecret(const std::string& path, const std::string& text, mode_t mode = 0600) {
  WriteFile(path, text);
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

}  // namespace

TEST_CASE("the driver is sqlite unless named; a mysql database is a name, not a file") {
  TempDir dir;
  CHECK(Parsed(R"({"database": "app.db"})", dir.path()).driver == DatabaseDriver::kSqlite);
  CursorBackendSettings mysql =
      Parsed(R"({"driver": "mysql", "database": "app", "host": "db", "port": 3307})", dir.path());
  CHECK(mysql.driver == DatabaseDriver::kMysql);
  CHECK(mysql.server.database == "app");
  CHECK(mysql.database.empty());
  CHECK(mysql.server.host == "db");
  CHECK(mysql.server.port == 3307);
  CHECK(mysql.where == dir.path() + "/hc.json:1");
  CHECK(Parsed(R"({"driver": "postgresql", "socket": "run/pg"})", dir.path()).server.socket ==
        dir.path() + "/run/pg");
}

TEST_CASE("cursor_backend's server keys: errors name the key") {
  const std::string file = "/etc/hc/hc.json";
  auto error_of = [&](const std::string& cursor) {
    Result<Config> config = ParseConfig("{\"cursor_backend\": " + cursor + "}", file);
    REQUIRE_FALSE(config.ok());
    return config.status().message();
  };
  CHECK(error_of(R"({"driver": "oracle"})") ==
        file + ":1: \"cursor_backend.driver\": expected \"sqlite\", \"mysql\" or \"postgresql\"");
  CHECK(error_of(R"({"driver": "mysql", "password": "hunter2"})") ==
        file + ":1: \"cursor_backend.password\": a password is not kept in the configuration: give "
               "\"password_file\" (a file only the responder can read), or db_password in the "
               "environment or the \"env_file\"");
  CHECK(error_of(R"({"database": "a.db", "host": "db"})") ==
        file + ":1: \"cursor_backend.host\": only for \"driver\": \"mysql\" or \"postgresql\" (SQLite "
               "is a file: \"database\")");
  CHECK(error_of(R"({"driver": "mysql", "port": 0})") ==
        file + ":1: \"cursor_backend.port\": expected a port number, from 1 to 65535");
  CHECK(error_of(R"({"driver": "mysql", "port": "3306"})") ==
        file + ":1: \"cursor_backend.port\": expected a port number, from 1 to 65535");
  CHECK(error_of(R"({"driver": "mysql", "user": "hc"})").find("unknown key") != std::string::npos);
  CHECK(error_of(R"({"driver": "mysql", "host": ""})") ==
        file + ":1: \"cursor_backend.host\": expected a non-empty string");
}

TEST_CASE("settings come from the JSON keys, then the environment, then the env_file") {
  TempDir dir;
  WriteSecret(dir.file(".env"),
              "# clearskies .env\n\ndb_host = file-host\ndb_username=file-user\n"
              "db_database=\"file-db\"\ndb_port='3310'\ndb_password=file-pw\n");
  CursorBackendSettings settings =
      Parsed(R"({"driver": "mysql", "env_file": ".env", "database": "json-db"})", dir.path());
  REQUIRE(ResolveServerSettings(settings, Environment({{"db_username", "env-user"},
                                                       {"db_host", ""},
                                                       {"HTTP_DB_HOST", "evil"}}))
              .ok());
  CHECK(settings.server.database == "json-db");    // JSON first,
  CHECK(settings.server.username == "env-user");   // then the environment,
  CHECK(settings.server.host == "file-host");      // (an empty variable is not a value)
  CHECK(settings.server.port == 3310);             // then the env_file, quotes dropped.
  CHECK(settings.server.password == "file-pw");
}

TEST_CASE("the password: password_file before db_password, its newline dropped") {
  TempDir dir;
  WriteSecret(dir.file("pw"), "from-file\n");
  CursorBackendSettings settings = Parsed(
      R"({"driver": "postgresql", "host": "h", "username": "u", "database": "d", "password_file": "pw"})",
      dir.path());
  REQUIRE(ResolveServerSettings(settings, Environment({{"db_password", "from-env"}})).ok());
  CHECK(settings.server.password == "from-file");
  CursorBackendSettings from_env =
      Parsed(R"({"driver": "postgresql", "host": "h", "username": "u", "database": "d"})", dir.path());
  REQUIRE(ResolveServerSettings(from_env, Environment({{"db_password", "from-env"}})).ok());
  CHECK(from_env.server.password == "from-env");
}

TEST_CASE("resolving refuses what would fail every check, and never shows the password") {
  TempDir dir;
  const std::string where = dir.path() + "/hc.json:1: \"cursor_backend\": ";
  auto error_of = [&](const std::string& cursor, std::map<std::string, std::string> environment) {
    CursorBackendSettings settings = Parsed(cursor, dir.path());
    Status status = ResolveServerSettings(settings, Environment(std::move(environment)));
    REQUIRE_FALSE(status.ok());
    CHECK(status.message().find("s3cret-pw") == std::string::npos);
    return status.message();
  };
  CHECK(error_of(R"({"driver": "mysql"})", {{"db_username", "u"}, {"db_database", "d"}}) ==
        where + "no server to check: set db_host in the environment or the env_file, or give "
                "\"host\" or \"socket\"");
  CHECK(error_of(R"({"driver": "mysql", "host": "h"})", {{"db_database", "d"}}) ==
        where + "no user: set db_username in the environment or the env_file, or give \"username\"");
  CHECK(error_of(R"({"driver": "mysql", "host": "h", "username": "u"})", {}) ==
        where + "no database: set db_database in the environment or the env_file, or give "
                "\"database\"");
  const std::string full = R"({"driver": "mysql", "host": "h", "username": "u", "database": "d")";
  CHECK(error_of(full + "}", {{"db_port", "33o6"}, {"db_password", "s3cret-pw"}}) ==
        where + "db_port \"33o6\" is not a port number");
  CHECK(error_of(full + "}", {{"db_port", "99999999999"}}) ==
        where + "db_port \"99999999999\" is not a port number");
  CHECK(error_of(full + "}", {{"db_password", "secret://db/password"}}) ==
        where + "db_password is a clearskies secret:// reference, which needs clearskies' secrets "
                "engine; put the password itself in \"password_file\"");
  CHECK(error_of(full + ", \"env_file\": \"missing.env\"}", {}) ==
        where + "env_file " + dir.path() + "/missing.env: No such file or directory");
  WriteSecret(dir.file("bad.env"), "db_host=h\nnot a setting\n");
  CHECK(error_of(full + ", \"env_file\": \"bad.env\"}", {}) ==
        where + "env_file " + dir.path() + "/bad.env:2: expected KEY=VALUE");
  WriteSecret(dir.file("open.env"), "db_password=s3cret-pw\n", 0644);
  CHECK(error_of(full + ", \"env_file\": \"open.env\"}", {}) ==
        where + "env_file " + dir.path() + "/open.env: readable or writable by others (mode 0644), "
                "and it holds the password; chmod o-rw,g-w " + dir.path() + "/open.env");
  WriteSecret(dir.file("open-pw"), "s3cret-pw\n", 0604);
  CHECK(error_of(full + ", \"password_file\": \"open-pw\"}", {}) ==
        where + "password_file " + dir.path() + "/open-pw: readable or writable by others (mode "
                "0604), and it holds the password; chmod 0600 " + dir.path() + "/open-pw");
  WriteSecret(dir.file("empty-pw"), "\n");
  CHECK(error_of(full + ", \"password_file\": \"empty-pw\"}", {{"PGPASSWORD", "s3cret-pw"}}) ==
        where + "password_file " + dir.path() + "/empty-pw: empty");
  WriteSecret(dir.file("two-lines"), "s3cret-pw\nmore\n");
  CHECK(error_of(full + ", \"password_file\": \"two-lines\"}", {}) ==
        where + "password_file " + dir.path() + "/two-lines: holds more than one line");
}

TEST_CASE("an env_file without a password may be readable by others") {
  TempDir dir;
  WriteSecret(dir.file("public.env"), "db_host=h\ndb_username=u\ndb_database=d\n", 0644);
  CursorBackendSettings settings =
      Parsed(R"({"driver": "mysql", "env_file": "public.env"})", dir.path());
  REQUIRE(ResolveServerSettings(settings, Environment({})).ok());
  CHECK(settings.server.password.empty());
}

TEST_CASE("LoadConfig resolves a network driver's settings from the process environment") {
  TempDir dir;
  testing::ScopedEnvironment host("db_host", std::string("10.1.2.3"));
  testing::ScopedEnvironment user("db_username", std::string("hc"));
  testing::ScopedEnvironment database("db_database", std::string("app"));
  testing::ScopedEnvironment port("db_port", std::nullopt);
  WriteFile(dir.file("hc.json"),
            R"({"services": ["cursor_backend"], "cursor_backend": {"driver": "postgresql"}})");
  Result<Config> config = LoadConfig(dir.file("hc.json"));
  REQUIRE(config.ok());
  CHECK(ServerAddress(*config->cursor_backend) == "10.1.2.3:5432");
  CHECK(SummarizeChecks(config.value()) ==
        "cursor_backend (postgresql database app at 10.1.2.3:5432 as hc)");
}

TEST_CASE("ServerAddress: host and port, an IPv6 host in brackets, or the socket") {
  CursorBackendSettings settings;
  settings.driver = DatabaseDriver::kMysql;
  settings.server.host = "::1";
  CHECK(ServerAddress(settings) == "[::1]:3306");
  settings.server.port = 3307;
  settings.server.host = "db.internal";
  CHECK(ServerAddress(settings) == "db.internal:3307");
  settings.server.socket = "/run/mysqld/mysqld.sock";
  CHECK(ServerAddress(settings) == "/run/mysqld/mysqld.sock");
}

TEST_CASE("an env_file saved with a UTF-8 byte order mark reads its first key") {
  Result<std::map<std::string, std::string>> parsed =
      ParseEnvFile("\xEF\xBB\xBF" "db_host=h\r\ndb_port=5433\r\n", "/srv/app/.env");
  REQUIRE(parsed.ok());
  CHECK(parsed.value() == std::map<std::string, std::string>{{"db_host", "h"}, {"db_port", "5433"}});
}
