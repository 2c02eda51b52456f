// ResolveServerSettings and the .env reader.
#include "server_settings.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_read.h"

namespace healthcheck {
namespace {

constexpr size_t kMaxEnvFileBytes = 64 * 1024;
constexpr size_t kMaxPasswordBytes = 4096;

std::string Trim(std::string_view text) {
  size_t start = text.find_first_not_of(" \t\r");
  if (start == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(start, end - start + 1));
}

// A file that holds the password: readable by the responder's user and
// group at most, written by its owner only.
std::string WhySecretIsExposed(mode_t mode) {
  if ((mode & (S_IROTH | S_IWOTH | S_IWGRP)) == 0) return "";
  return "readable or writable by others (mode " + OctalMode(mode) + "), and it holds the password";
}

class Resolver {
 public:
  Resolver(CursorBackendSettings& settings, const EnvironmentLookup& environment)
      : settings_(settings), environment_(environment) {}

  Status Resolve() {
    if (!settings_.env_file.empty()) {
      Status read = ReadEnvFile();
      if (!read.ok()) return read;
    }
    ServerSettings& server = settings_.server;
    for (auto [name, value] : {std::pair{"db_host", &server.host},
                               std::pair{"db_username", &server.username},
                               std::pair{"db_database", &server.database},
                               std::pair{"db_ssl_ca", &server.ssl_ca}}) {
      if (value->empty()) *value = Setting(name);
    }
    if (server.port == 0) {
      Status port = ReadPort();
      if (!port.ok()) return port;
    }
    Status password = ReadPassword();
    if (!password.ok()) return password;
    if (server.host.empty() && server.socket.empty()) {
      return Error("no server to check: set db_host in the environment or the env_file, or give "
                   "\"host\" or \"socket\"");
    }
    if (server.username.empty()) {
      return Error("no user: set db_username in the environment or the env_file, or give \"username\"");
    }
    if (server.database.empty()) {
      return Error("no database: set db_database in the environment or the env_file, or give "
                   "\"database\"");
    }
    for (const std::string* text : {&server.host, &server.username, &server.database}) {
      if (text->find('\0') != std::string::npos) return Error("a setting holds a NUL character");
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return Status::Error(settings_.where + ": \"cursor_backend\": " + what);
  }

  // As clearskies: the process environment first, then the env_file.
  std::string Setting(const char* name) const {
    const char* value = environment_(name);
    if (value != nullptr && *value != '\0') return value;
    auto found = env_file_.find(name);
    return found == env_file_.end() ? "" : found->second;
  }

  Status ReadEnvFile() {
    const std::string& path = settings_.env_file;
    FileRead file = ReadRegularFile(path, kMaxEnvFileBytes, "64 KiB");
    if (!file.error.empty()) return Error("env_file " + path + ": " + file.error);
    Result<std::map<std::string, std::string>> parsed = ParseEnvFile(file.text, path);
    if (!parsed.ok()) return Error("env_file " + parsed.status().message());
    env_file_ = parsed.value();
    if (env_file_.count("db_password") != 0) {
      std::string exposed = WhySecretIsExposed(file.mode);
      if (!exposed.empty()) return Error("env_file " + path + ": " + exposed + "; chmod o-rw,g-w " + path);
    }
    return Status::Ok();
  }

  Status ReadPort() {
    std::string text = Setting("db_port");
    if (text.empty()) return Status::Ok();
    int port = 0;
    for (char c : text) {
      if (c < '0' || c > '9' || port > 65535) {
        port = 0;
        break;
      }
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return Error("db_port \"" + text + "\" is not a port number");
    settings_.server.port = port;
    return Status::Ok();
  }

  Status ReadPassword() {
    std::string& password = settings_.server.password;
    if (!settings_.password_file.empty()) {
      const std::string& path = settings_.password_file;
      FileRead file = ReadRegularFile(path, kMaxPasswordBytes, "4 KiB");
      if (!file.error.empty()) return Error("password_file " + path + ": " + file.error);
      std::string exposed = WhySecretIsExposed(file.mode);
      if (!exposed.empty()) return Error("password_file " + path + ": " + exposed + "; chmod 0600 " + path);
      password = file.text;
      // The newline an editor or echo leaves is not part of it.
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
        password.pop_back();
      }
      if (password.find('\n') != std::string::npos || password.find('\0') != std::string::npos) {
        return Error("password_file " + path + ": holds more than one line");
      }
      // Else the client library would look for one of its own (PGPASSWORD,
      // ~/.pgpass), and check with a password the configuration never named.
      if (password.empty()) return Error("password_file " + path + ": empty");
    } else {
      password = Setting("db_password");
    }
    if (password.compare(0, 9, "secret://") == 0) {
      return Error("db_password is a clearskies secret:// reference, which needs clearskies' secrets "
                   "engine; put the password itself in \"password_file\"");
    }
    return Status::Ok();
  }

  CursorBackendSettings& settings_;
  const EnvironmentLookup& environment_;
  std::map<std::string, std::string> env_file_;
};

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const char* name) -> const char* { return getenv(name); };
}

Result<std::map<std::string, std::string>> ParseEnvFile(std::string_view text,
                                                        const std::string& path) {
  std::map<std::string, std::string> values;
  size_t line_number = 0;
  // An editor may save the file with a UTF-8 byte order mark.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string line = Trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    size_t equals = line.find('=');
    if (equals == std::string::npos || Trim(line.substr(0, equals)).empty()) {
      return Status::Error(path + ":" + std::to_string(line_number) + ": expected KEY=VALUE");
    }
    std::string value = Trim(line.substr(equals + 1));
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
      value = value.substr(1, value.size() - 2);
    }
    values[Trim(line.substr(0, equals))] = value;
  }
  return values;
}

Status ResolveServerSettings(CursorBackendSettings& settings, const EnvironmentLookup& environment) {
  return Resolver(settings, environment).Resolve();
}

int DefaultPort(DatabaseDriver driver) {
  return driver == DatabaseDriver::kPostgresql ? 5432 : 3306;
}

std::string ServerAddress(const CursorBackendSettings& settings) {
  const ServerSettings& server = settings.server;
  if (!server.socket.empty()) return server.socket;
  int port = server.port != 0 ? server.port : DefaultPort(settings.driver);
  bool ipv6 = server.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + server.host + "]" : server.host) + ":" + std::to_string(port);
}

}  // namespace healthcheck
