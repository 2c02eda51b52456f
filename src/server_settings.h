// Where a mysql or postgresql cursor_backend connects, put together the way
// clearskies puts its cursor's together: from db_host, db_port,
// db_username, db_password, db_database and db_ssl_ca, in the process
// environment first and then in a .env file; and here, the configuration's
// own keys before both. Under CGI the environment is the one the web
// server made (Apache's SetEnv, say); a request's headers arrive in it only
// as HTTP_*, which are never read, so no client can choose the server.
//
// The password comes from password_file, db_password in the environment or
// db_password in the env_file, in that order, and is never part of a
// message. A file that holds it may not be readable or writable by others.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "config.h"
#include "status.h"

namespace healthcheck {

// A process environment: the value of `name`, or null.
using EnvironmentLookup = std::function<const char*(const char* name)>;

// getenv(3).
EnvironmentLookup ProcessEnvironment();

// clearskies' .env format: one KEY=VALUE per line; blank lines and lines
// starting with # are skipped; spaces around the key and the value are
// dropped, and so are quotes around the whole value. A line without "="
// is an error naming it ("FILE:LINE: expected KEY=VALUE").
Result<std::map<std::string, std::string>> ParseEnvFile(std::string_view text,
                                                        const std::string& path);

// Completes `settings.server` from the environment and the env_file, reads
// the password, and checks that there is a server, a user and a database.
// Errors read  FILE:LINE: "cursor_backend": ...  (settings.where).
Status ResolveServerSettings(CursorBackendSettings& settings, const EnvironmentLookup& environment);

// The driver's default port: 3306 for mysql, 5432 for postgresql.
int DefaultPort(DatabaseDriver driver);

// Where a check connects, for messages: "127.0.0.1:3306", "[::1]:5432"
// or the socket's path.
std::string ServerAddress(const CursorBackendSettings& settings);

}  // namespace healthcheck
