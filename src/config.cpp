// ParseConfig and LoadConfig: the only code that sees JSON (RapidJSON).
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "file_read.h"
#include "server_settings.h"

namespace healthcheck {
namespace {

namespace json = rapidjson;

constexpr size_t kMaxConfigBytes = 1 << 20;  // A health check config is tiny.
// Deeper JSON is refused before it is built: a document's destructor
// recurses, and a hostile file must not overflow the stack.
constexpr size_t kMaxNestingDepth = 32;
// The keys only a mysql or postgresql cursor_backend has.
constexpr const char* kServerKeys[] = {"host",   "port",          "socket",  "username",
                                       "ssl_ca", "password_file", "env_file"};
constexpr const char* kDriverNames = "\"sqlite\", \"mysql\" or \"postgresql\"";

// Sits between the JSON reader and the document it builds, noting where each
// object key ends, so that messages can name the line of the key at fault.
// Keys are recorded by dotted path ("cursor_backend.database").
class KeyPositionRecorder {
 public:
  KeyPositionRecorder(json::Document& document, const json::StringStream& stream,
                      std::map<std::string, size_t>& positions)
      : document_(document), stream_(stream), positions_(positions) {}

  bool Null() { return document_.Null(); }
  bool Bool(bool value) { return document_.Bool(value); }
  bool Int(int value) { return document_.Int(value); }
  bool Uint(unsigned value) { return document_.Uint(value); }
  bool Int64(int64_t value) { return document_.Int64(value); }
  bool Uint64(uint64_t value) { return document_.Uint64(value); }
  bool Double(double value) { return document_.Double(value); }
  bool RawNumber(const char* text, json::SizeType length, bool copy) {
    return document_.RawNumber(text, length, copy);
  }
  bool String(const char* text, json::SizeType length, bool copy) {
    return document_.String(text, length, copy);
  }
  bool StartObject() {
    path_.emplace_back();
    return !TooDeep() && document_.StartObject();
  }
  bool Key(const char* text, json::SizeType length, bool copy) {
    path_.back().assign(text, length);
    std::string dotted;
    for (const std::string& part : path_) {
      if (part.empty()) continue;  // An array level has no key.
      if (!dotted.empty()) dotted += '.';
      dotted += part;
    }
    // The latest occurrence: a repeated key is reported where it repeats.
    positions_[dotted] = stream_.Tell();
    return document_.Key(text, length, copy);
  }
  bool EndObject(json::SizeType count) {
    path_.pop_back();
    return document_.EndObject(count);
  }
  bool StartArray() {
    path_.emplace_back();
    return !TooDeep() && document_.StartArray();
  }

  // Where the nesting went too deep, or npos.
  size_t too_deep_at() const { return too_deep_at_; }
  bool EndArray(json::SizeType count) {
    path_.pop_back();
    return document_.EndArray(count);
  }

 private:
  json::Document& document_;
  const json::StringStream& stream_;
  std::map<std::string, size_t>& positions_;
  bool TooDeep() {
    if (path_.size() <= kMaxNestingDepth) return false;
    too_deep_at_ = stream_.Tell();
    return true;
  }

  std::vector<std::string> path_;
  size_t too_deep_at_ = std::string::npos;
};

size_t LineAt(std::string_view text, size_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
  }
  return line;
}

std::string FolderOf(const std::string& filename) {
  size_t slash = filename.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return filename.substr(0, slash);
}

std::string ResolveAgainst(const std::string& folder, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return folder == "/" ? "/" + path : folder + "/" + path;
}

// Validates the parsed document into a Config, naming the key and its line
// in every message.
class ConfigReader {
 public:
  ConfigReader(std::string_view text, const std::string& filename,
               const std::map<std::string, size_t>& positions)
      : text_(text), filename_(filename), positions_(positions) {}

  Result<Config> Read(const json::Value& root) {
    Config config;
    config.source = filename_;
    if (!root.IsObject()) {
      return Status::Error(filename_ + ":1: expected a JSON object at the top level");
    }
    Status status = CheckKeys(root, "",
                              {"services", "callable", "cursor_backend", "timeout_ms", "failure_status",
                               "drains", "probes", "drain_file", "drain_status", "details",
                               "cache", "cache_folder"});
    if (!status.ok()) return status;
    if (const json::Value* value = Find(root, "failure_status")) {
      if (!value->IsInt() || (value->GetInt() != 500 && value->GetInt() != 503)) {
        return Error("failure_status", "expected 500 (as clearskies) or 503");
      }
      config.failure_status = value->GetInt();
    }
    Result<CheckSettings> check = ReadCheck(root, "");
    if (!check.ok()) return check.status();
    config.check = check.value();
    if (const json::Value* value = Find(root, "cursor_backend")) {
      Result<CursorBackendSettings> cursor = ReadCursorBackend(*value);
      if (!cursor.ok()) return cursor.status();
      config.cursor_backend = cursor.value();
    }
    if (const json::Value* value = Find(root, "probes")) {
      Result<std::vector<ProbeSettings>> probes = ReadProbes(*value);
      if (!probes.ok()) return probes.status();
      config.probes = probes.value();
    }
    status = ReadDrain(root, config);
    if (!status.ok()) return status;
    if (const json::Value* value = Find(root, "details")) {
      Result<DetailsSettings> details = ReadDetails(*value);
      if (!details.ok()) return details.status();
      config.details = details.value();
    }
    status = ReadCacheFolder(root, config);
    if (!status.ok()) return status;
    return RequireDatabaseWhereNeeded(config);
  }

 private:
  Status Error(const std::string& key, const std::string& what) const {
    return Status::Error(Where(key) + ": \"" + key + "\": " + what);
  }

  // "FILE:LINE" of `key`, else of the nearest enclosing key the file has
  // (an empty probe name records no key of its own), else FILE.
  std::string Where(std::string key) const {
    for (;;) {
      auto position = positions_.find(key);
      if (position != positions_.end()) {
        return filename_ + ":" + std::to_string(LineAt(text_, position->second));
      }
      size_t dot = key.rfind('.');
      if (dot == std::string::npos) return filename_;
      key.erase(dot);
    }
  }

  static const json::Value* Find(const json::Value& object, const char* key) {
    auto member = object.FindMember(key);
    return member == object.MemberEnd() ? nullptr : &member->value;
  }

  // Unknown and repeated keys are errors that name the key.
  Status CheckKeys(const json::Value& object, const std::string& prefix,
                   const std::set<std::string>& allowed) const {
    for (auto member = object.MemberBegin(); member != object.MemberEnd(); ++member) {
      std::string name(member->name.GetString(), member->name.GetStringLength());
      std::string key = prefix.empty() ? name : prefix + "." + name;
      if (allowed.count(name) == 0) {
        std::string expected;
        for (const std::string& candidate : allowed) {
          expected += (expected.empty() ? "\"" : ", \"") + candidate + "\"";
        }
        return Error(key, "unknown key (expected one of " + expected + ")");
      }
    }
    return CheckNoRepeatedKeys(object, prefix);
  }

  Status CheckNoRepeatedKeys(const json::Value& object, const std::string& prefix) const {
    std::set<std::string> seen;
    for (auto member = object.MemberBegin(); member != object.MemberEnd(); ++member) {
      std::string name(member->name.GetString(), member->name.GetStringLength());
      if (!seen.insert(name).second) {
        return Error(prefix.empty() ? name : prefix + "." + name, "appears more than once");
      }
    }
    return Status::Ok();
  }

  Result<int64_t> ReadMilliseconds(const json::Value& value, const std::string& key,
                                   int64_t minimum) const {
    if (!value.IsInt64() || value.GetInt64() < minimum || value.GetInt64() > kMaxTimeoutMs) {
      return Error(key, "expected an integer from " + std::to_string(minimum) + " to " +
                            std::to_string(kMaxTimeoutMs) + " (milliseconds)");
    }
    return value.GetInt64();
  }

  Result<std::string> ReadText(const json::Value& value, const std::string& key,
                               const std::string& expected) const {
    if (!value.IsString() || value.GetStringLength() == 0) return Error(key, "expected " + expected);
    std::string text(value.GetString(), value.GetStringLength());
    if (text.find('\0') != std::string::npos) return Error(key, "must not contain a NUL character");
    return text;
  }

  // The keys one check may have, at the top level (prefix "") or in a probe
  // (prefix "probes.NAME.").
  Result<CheckSettings> ReadCheck(const json::Value& object, const std::string& prefix) const {
    CheckSettings check;
    if (const json::Value* value = Find(object, "timeout_ms")) {
      Result<int64_t> timeout = ReadMilliseconds(*value, prefix + "timeout_ms", 1);
      if (!timeout.ok()) return timeout.status();
      check.timeout_ms = timeout.value();
    }
    if (const json::Value* value = Find(object, "services")) {
      Result<std::vector<std::string>> services = ReadServices(*value, prefix + "services");
      if (!services.ok()) return services.status();
      check.services = services.value();
    }
    if (const json::Value* value = Find(object, "callable")) {
      Result<CallableSettings> callable = ReadCallable(*value, prefix + "callable");
      if (!callable.ok()) return callable.status();
      check.callable = callable.value();
    }
    if (const json::Value* value = Find(object, "drains")) {
      if (!value->IsBool()) return Error(prefix + "drains", "expected true or false");
      check.drains = value->GetBool();
    }
    if (const json::Value* value = Find(object, "cache")) {
      Result<CacheSettings> cache = ReadCache(*value, prefix + "cache");
      if (!cache.ok()) return cache.status();
      check.cache = cache.value();
    }
    return check;
  }

  Result<std::vector<ProbeSettings>> ReadProbes(const json::Value& value) const {
    const std::string kExpected = "expected an object like {\"live\": {...}, \"ready\": {...}}";
    if (!value.IsObject()) return Error("probes", kExpected);
    Status status = CheckNoRepeatedKeys(value, "probes");
    if (!status.ok()) return status;
    std::vector<ProbeSettings> probes;
    for (auto member = value.MemberBegin(); member != value.MemberEnd(); ++member) {
      ProbeSettings probe;
      probe.name.assign(member->name.GetString(), member->name.GetStringLength());
      std::string key = "probes." + probe.name;
      // The name is the last segment of a URL path, and part of the dotted
      // keys in these messages.
      bool plain = !probe.name.empty() && probe.name.size() <= 64;
      for (char c : probe.name) {
        plain = plain && (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
      }
      if (!plain) {
        return Error(key, "a probe name is the last part of its URL: 1 to 64 letters, digits, '-' "
                          "or '_' (no '/')");
      }
      if (probe.name == kMetricsProbe) {
        return Error(key, "\"metrics\" is reserved: with \"details\" and \"cache_folder\", a path "
                          "ending in /metrics answers the machine's metrics to authorised callers");
      }
      if (!member->value.IsObject()) {
        return Error(key, "expected an object like {\"services\": [\"memory_backend\"]}");
      }
      status = CheckKeys(member->value, key, {"services", "callable", "timeout_ms", "drains", "cache"});
      if (!status.ok()) return status;
      Result<CheckSettings> check = ReadCheck(member->value, key + ".");
      if (!check.ok()) return check.status();
      probe.check = check.value();
      probes.push_back(std::move(probe));
    }
    return probes;
  }

  Result<CacheSettings> ReadCache(const json::Value& value, const std::string& key) const {
    if (!value.IsObject()) {
      return Error(key, "expected an object like {\"success_ms\": 1000, \"failure_ms\": 500}");
    }
    Status status = CheckKeys(value, key, {"success_ms", "failure_ms"});
    if (!status.ok()) return status;
    CacheSettings cache;
    for (auto [name, into] : {std::pair{"success_ms", &cache.success_ms},
                              std::pair{"failure_ms", &cache.failure_ms}}) {
      if (const json::Value* found = Find(value, name)) {
        Result<int64_t> milliseconds = ReadMilliseconds(*found, key + "." + name, 0);
        if (!milliseconds.ok()) return milliseconds.status();
        *into = milliseconds.value();
      }
    }
    return cache;
  }

  // cache_folder, and the top level's cache given to the probes without
  // one of their own.
  Status ReadCacheFolder(const json::Value& root, Config& config) const {
    if (const json::Value* value = Find(root, "cache_folder")) {
      Result<std::string> path = ReadText(*value, "cache_folder", "a folder path");
      if (!path.ok()) return path.status();
      config.cache_folder = ResolveAgainst(FolderOf(filename_), path.value());
    }
    std::string cached;  // The key of the first check with a cache.
    if (config.check.cache) cached = "cache";
    for (ProbeSettings& probe : config.probes) {
      if (!probe.check.cache) probe.check.cache = config.check.cache;
      if (probe.check.cache && cached.empty()) cached = "probes." + probe.name + ".cache";
    }
    if (config.cache_folder.empty() && !cached.empty()) {
      return Error(cached, "needs \"cache_folder\": a folder the responder's user may write, where "
                           "every process on the machine shares the results (/run/healthcheck-shared "
                           "under the shipped service's RuntimeDirectory=; for CGI, a folder of the "
                           "account's own)");
    }
    if (!config.cache_folder.empty() && cached.empty() && !config.details) {
      return Error("cache_folder", "no check has a \"cache\", and without \"details\" no one may read "
                                   "the metrics counted there");
    }
    return Status::Ok();
  }

  // drain_file and drain_status, and that the switch and the checks it
  // drains come together: either alone is a mistake that would show only
  // on the day of a deploy.
  Status ReadDrain(const json::Value& root, Config& config) const {
    config.drain_status = config.failure_status;
    if (const json::Value* value = Find(root, "drain_status")) {
      if (!value->IsInt() || (value->GetInt() != 404 && value->GetInt() != 500 && value->GetInt() != 503)) {
        return Error("drain_status", "expected 404 (for HAProxy's disable-on-404), 500 or 503");
      }
      config.drain_status = value->GetInt();
    }
    if (const json::Value* value = Find(root, "drain_file")) {
      Result<std::string> path = ReadText(*value, "drain_file", "a file path");
      if (!path.ok()) return path.status();
      config.drain_file = ResolveAgainst(FolderOf(filename_), path.value());
    }
    std::string draining;  // The key of the first check that drains.
    if (config.check.drains) draining = "drains";
    for (const ProbeSettings& probe : config.probes) {
      if (probe.check.drains && draining.empty()) draining = "probes." + probe.name + ".drains";
    }
    if (config.drain_file.empty() && !draining.empty()) {
      return Error(draining, "needs \"drain_file\": the file whose presence drains");
    }
    if (!config.drain_file.empty() && draining.empty()) {
      return Error("drain_file", "no check has \"drains\": true, so the file would drain nothing");
    }
    if (Find(root, "drain_status") != nullptr && draining.empty()) {
      return Error("drain_status", "no check has \"drains\": true");
    }
    return Status::Ok();
  }

  Result<DetailsSettings> ReadDetails(const json::Value& value) const {
    const std::string kExpected =
        "expected an object like {\"token_file\": \"token\", \"trusted_addresses\": [\"127.0.0.1/32\"]}";
    if (!value.IsObject() || value.MemberCount() == 0) return Error("details", kExpected);
    Status status = CheckKeys(value, "details", {"token_file", "trusted_addresses"});
    if (!status.ok()) return status;
    DetailsSettings details;
    if (const json::Value* file = Find(value, "token_file")) {
      Result<std::string> path = ReadText(*file, "details.token_file", "a file path");
      if (!path.ok()) return path.status();
      details.token_file = ResolveAgainst(FolderOf(filename_), path.value());
      details.token_file_where = Where("details.token_file");
    }
    if (const json::Value* list = Find(value, "trusted_addresses")) {
      const std::string kKey = "details.trusted_addresses";
      if (!list->IsArray()) return Error(kKey, "expected a list like [\"127.0.0.1/32\", \"::1\"]");
      for (json::SizeType i = 0; i < list->Size(); ++i) {
        const json::Value& item = (*list)[i];
        std::string text = item.IsString() ? std::string(item.GetString(), item.GetStringLength()) : "";
        if (text.find('\0') != std::string::npos) {
          return Error(kKey, "item " + std::to_string(i + 1) + " must not contain a NUL character");
        }
        std::optional<AddressRange> range = ParseAddressRange(text);
        if (!range) {
          return Error(kKey, "item " + std::to_string(i + 1) + (item.IsString() ? " \"" + text + "\"" : "") +
                                 " is not an address or a network like 10.0.0.0/8 or fd00::/8 "
                                 "(with no bits set past the prefix)");
        }
        details.trusted_addresses.push_back(*range);
      }
    }
    if (details.token_file.empty() && details.trusted_addresses.empty()) {
      return Error("details", "authorises nobody: give a \"token_file\" or \"trusted_addresses\"");
    }
    return details;
  }

  Result<std::vector<std::string>> ReadServices(const json::Value& value, const std::string& key) const {
    if (!value.IsArray()) return Error(key, "expected a list of names");
    std::vector<std::string> services;
    for (json::SizeType i = 0; i < value.Size(); ++i) {
      const json::Value& item = value[i];
      if (!item.IsString()) {
        return Error(key,
                     "expected a list of names, item " + std::to_string(i + 1) + " is not a string");
      }
      std::string name(item.GetString(), item.GetStringLength());
      if (name != kMemoryBackendName && name != kCursorBackendName) {
        return Error(key, "unknown service \"" + name + "\" (known: \"" +
                                     std::string(kMemoryBackendName) + "\", \"" +
                                     std::string(kCursorBackendName) + "\")");
      }
      services.push_back(name);
    }
    return services;
  }

  Result<CursorBackendSettings> ReadCursorBackend(const json::Value& value) const {
    if (!value.IsObject()) {
      return Error("cursor_backend", "expected an object like {\"database\": \"app.db\"}");
    }
    CursorBackendSettings settings;
    settings.where = Where("cursor_backend");
    if (const json::Value* driver = Find(value, "driver")) {
      Result<std::string> name = ReadText(*driver, "cursor_backend.driver", kDriverNames);
      if (!name.ok()) return name.status();
      if (name.value() == "mysql") {
        settings.driver = DatabaseDriver::kMysql;
      } else if (name.value() == "postgresql") {
        settings.driver = DatabaseDriver::kPostgresql;
      } else if (name.value() != "sqlite") {
        return Error("cursor_backend.driver", "expected " + std::string(kDriverNames));
      }
    }
    if (Find(value, "password") != nullptr) {
      return Error("cursor_backend.password",
                   "a password is not kept in the configuration: give \"password_file\" (a file "
                   "only the responder can read), or db_password in the environment or the "
                   "\"env_file\"");
    }
    if (settings.driver == DatabaseDriver::kSqlite) {
      for (const char* key : kServerKeys) {
        if (Find(value, key) != nullptr) {
          return Error(std::string("cursor_backend.") + key,
                       "only for \"driver\": \"mysql\" or \"postgresql\" (SQLite is a file: \"database\")");
        }
      }
      Status status = CheckKeys(value, "cursor_backend", {"driver", "database", "timeout_ms"});
      if (!status.ok()) return status;
      const json::Value* database = Find(value, "database");
      if (database == nullptr) {
        return Error("cursor_backend", "missing \"database\" (the SQLite file to check)");
      }
      Result<std::string> path = ReadText(*database, "cursor_backend.database", "a file path");
      if (!path.ok()) return path.status();
      settings.database = ResolveAgainst(FolderOf(filename_), path.value());
    } else {
      Status status = ReadServer(value, settings);
      if (!status.ok()) return status;
      settings.busy_timeout_ms = kMaxTimeoutMs;  // The check's deadline bounds it.
    }
    if (const json::Value* timeout = Find(value, "timeout_ms")) {
      Result<int64_t> milliseconds = ReadMilliseconds(*timeout, "cursor_backend.timeout_ms", 0);
      if (!milliseconds.ok()) return milliseconds.status();
      settings.busy_timeout_ms = milliseconds.value();
    }
    return settings;
  }

  // The keys of a mysql or postgresql cursor_backend. Those not given come
  // from the environment, later (LoadConfig).
  Status ReadServer(const json::Value& value, CursorBackendSettings& settings) const {
    std::set<std::string> allowed(std::begin(kServerKeys), std::end(kServerKeys));
    allowed.insert({"driver", "timeout_ms", "database"});
    Status status = CheckKeys(value, "cursor_backend", allowed);
    if (!status.ok()) return status;
    ServerSettings& server = settings.server;
    const std::string folder = FolderOf(filename_);
    struct TextKey {
      const char* name;
      std::string* into;
      bool path;  // Resolved against the configuration's folder.
    };
    for (const TextKey& key : {TextKey{"host", &server.host, false},
                               TextKey{"socket", &server.socket, true},
                               TextKey{"username", &server.username, false},
                               TextKey{"database", &server.database, false},
                               TextKey{"ssl_ca", &server.ssl_ca, true},
                               TextKey{"password_file", &settings.password_file, true},
                               TextKey{"env_file", &settings.env_file, true}}) {
      const json::Value* found = Find(value, key.name);
      if (found == nullptr) continue;
      std::string dotted = std::string("cursor_backend.") + key.name;
      Result<std::string> text = ReadText(*found, dotted, key.path ? "a file path" : "a non-empty string");
      if (!text.ok()) return text.status();
      *key.into = key.path ? ResolveAgainst(folder, text.value()) : text.value();
    }
    if (const json::Value* port = Find(value, "port")) {
      if (!port->IsInt() || port->GetInt() < 1 || port->GetInt() > 65535) {
        return Error("cursor_backend.port", "expected a port number, from 1 to 65535");
      }
      server.port = port->GetInt();
    }
    return Status::Ok();
  }

  Result<CallableSettings> ReadCallable(const json::Value& value, const std::string& key) const {
    const std::string kExpected =
        "expected {\"sql\": \"SELECT ...\"} or {\"command\": [\"/path/to/program\", ...]}";
    if (!value.IsObject() || value.MemberCount() != 1) return Error(key, kExpected);
    Status status = CheckKeys(value, key, {"sql", "command"});
    if (!status.ok()) return status;
    CallableSettings callable;
    if (const json::Value* sql = Find(value, "sql")) {
      Result<std::string> text = ReadText(*sql, key + ".sql", "a non-empty SQL query");
      if (!text.ok()) return text.status();
      callable.kind = CallableSettings::Kind::kSql;
      callable.sql = text.value();
      return callable;
    }
    const json::Value& command = *Find(value, "command");
    const std::string kExpectedCommand = "a non-empty list of strings (program, arguments)";
    if (!command.IsArray() || command.Empty()) {
      return Error(key + ".command", "expected " + kExpectedCommand);
    }
    for (json::SizeType i = 0; i < command.Size(); ++i) {
      Result<std::string> word = ReadText(command[i], key + ".command", kExpectedCommand);
      if (!word.ok()) return word.status();
      callable.command.push_back(word.value());
    }
    // No shell and no PATH search: the program is a file, found like the database.
    callable.command[0] = ResolveAgainst(FolderOf(filename_), callable.command[0]);
    callable.kind = CallableSettings::Kind::kCommand;
    return callable;
  }

  Result<Config> RequireDatabaseWhereNeeded(Config config) const {
    if (config.cursor_backend) return config;
    Status status = Status::Ok();
    ForEachCheck(config, [&](const CheckSettings& check, const std::string& prefix) {
      const char* key = DatabaseKeyOf(check);
      if (!status.ok() || key == nullptr) return;
      bool service = std::string_view(key) == "services";
      status = Error(prefix + key, std::string(service ? "\"cursor_backend\" " : "") +
                                       "needs \"cursor_backend\": {\"database\": \"...\"}");
    });
    if (!status.ok()) return status;
    return config;
  }

  std::string_view text_;
  const std::string& filename_;
  const std::map<std::string, size_t>& positions_;
};

}  // namespace

namespace {

// The mistakes people make when they write JSON by hand, named, where the
// parser's own message would only say what it expected.
struct SyntaxHint {
  std::string text;   // Empty: no hint; the parser's message stands.
  size_t offset = 0;  // Where the mistake is (not where the parser stopped).
};

// The bracket still open at `end`, outside strings: '{', '[' or 0.
char InnermostOpenBracket(std::string_view text, size_t end) {
  std::string open;
  bool in_string = false;
  for (size_t i = 0; i < end && i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open += c;
    } else if ((c == '}' || c == ']') && !open.empty()) {
      open.pop_back();
    }
  }
  return open.empty() ? 0 : open.back();
}

// The last character before `offset` that is not white space, or 0.
char PreviousSignificant(std::string_view text, size_t offset, size_t* at = nullptr) {
  while (offset > 0 && strchr(" \t\r\n", text[offset - 1]) != nullptr) --offset;
  if (at != nullptr) *at = offset == 0 ? 0 : offset - 1;
  return offset == 0 ? 0 : text[offset - 1];
}

SyntaxHint HintFor(std::string_view text, size_t error_offset) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return {"the file starts with a UTF-8 byte-order mark; save it as UTF-8 without one", 0};
  }
  error_offset = std::min(error_offset, text.size());
  std::string_view rest = text.substr(error_offset);
  if (rest.substr(0, 2) == "//" || rest.substr(0, 2) == "/*") {
    return {"a comment; JSON has none, remove it", error_offset};
  }
  size_t comma = 0;
  char previous = PreviousSignificant(text, error_offset, &comma);
  // "[1, }" is an unclosed array, not a trailing comma: the bracket must match.
  if (!rest.empty() && previous == ',' &&
      ((rest[0] == '}' && InnermostOpenBracket(text, comma) == '{') ||
       (rest[0] == ']' && InnermostOpenBracket(text, comma) == '['))) {
    return {std::string("a comma before '") + rest[0] + "'; JSON allows no trailing comma", comma};
  }
  // Only where a name or a value may start: after "100 'x'" a comma is missing.
  bool value_expected = previous == 0 || strchr("{[,:", previous) != nullptr;
  if (!rest.empty() && rest[0] == '\'' && value_expected) {
    return {"a single quote; JSON strings take double quotes", error_offset};
  }
  return {};
}

}  // namespace

Result<Config> ParseConfig(std::string_view text, const std::string& filename) {
  // RapidJSON's stream reads up to a NUL, and would blame what the NUL cut
  // short ("Missing a closing quotation mark"); name the NUL itself.
  size_t nul = text.find('\0');
  if (nul != std::string_view::npos) {
    return Status::Error(filename + ":" + std::to_string(LineAt(text, nul)) +
                         ": invalid JSON: a NUL byte in the file");
  }
  std::string terminated(text);
  json::Document document;
  json::StringStream stream(terminated.c_str());
  std::map<std::string, size_t> positions;
  json::Reader reader;
  size_t too_deep_at = std::string::npos;
  auto generator = [&](json::Document& handler) {
    KeyPositionRecorder recorder(handler, stream, positions);
    // Iterative: the parser's own stack must not grow with the nesting either.
    bool parsed = !reader.Parse<json::kParseIterativeFlag>(stream, recorder).IsError();
    too_deep_at = recorder.too_deep_at();
    return parsed;
  };
  document.Populate(generator);
  if (too_deep_at != std::string::npos) {
    return Status::Error(filename + ":" + std::to_string(LineAt(text, too_deep_at)) +
                         ": invalid JSON: nested deeper than " + std::to_string(kMaxNestingDepth) +
                         " levels");
  }
  if (reader.HasParseError()) {
    size_t offset = reader.GetErrorOffset();
    SyntaxHint hint = HintFor(text, offset);
    if (!hint.text.empty()) {
      return Status::Error(filename + ":" + std::to_string(LineAt(text, hint.offset)) +
                           ": invalid JSON: " + hint.text);
    }
    return Status::Error(filename + ":" + std::to_string(LineAt(text, offset)) +
                         ": invalid JSON: " + json::GetParseError_En(reader.GetParseErrorCode()));
  }
  return ConfigReader(text, filename, positions).Read(document);
}

namespace {

constexpr size_t kMaxTokenBytes = 4096;
constexpr size_t kMinTokenLength = 16;

// The details token: the file's one line, without the newline an editor or
// `echo` leaves. Kept from others on the machine, and long enough that
// guessing it is hopeless.
Status ReadToken(DetailsSettings& details) {
  const std::string& path = details.token_file;
  auto failure = [&details, &path](const std::string& what) {
    return Status::Error(details.token_file_where + ": \"details.token_file\": " + path + ": " + what);
  };
  FileRead file = ReadRegularFile(path, kMaxTokenBytes, "4 KiB");
  if (!file.error.empty()) return failure("cannot read the token: " + file.error);
  if ((file.mode & (S_IROTH | S_IWOTH | S_IWGRP)) != 0) {
    return failure("readable or writable by others (mode " + OctalMode(file.mode) +
                   "), so anyone on the machine could read the token; chmod 0600 " + path);
  }
  std::string token = file.text;
  while (!token.empty() && strchr(" \t\r\n", token.back()) != nullptr) token.pop_back();
  if (token.empty()) return failure("empty: it must hold the token callers send as \"Authorization: Bearer TOKEN\"");
  for (char c : token) {
    // RFC 6750's b64token characters, and whatever else is visible ASCII.
    if (c <= ' ' || c > '~') {
      return failure("the token holds a space, a control character or a non-ASCII byte, which an "
                     "Authorization header cannot carry");
    }
  }
  if (token.size() < kMinTokenLength) {
    return failure("the token is shorter than " + std::to_string(kMinTokenLength) +
                   " characters; make one with: head -c 32 /dev/urandom | base64");
  }
  details.token = token;
  return Status::Ok();
}

}  // namespace

Result<Config> LoadConfig(const std::string& path) {
  std::string absolute = path;
  if (absolute.empty() || absolute[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) absolute = std::string(cwd) + "/" + path;
  }
  FileRead file = ReadRegularFile(absolute, kMaxConfigBytes, "1 MiB");
  if (!file.error.empty()) {
    return Status::Error(absolute + ": cannot read the configuration: " + file.error);
  }
  // The configuration chooses what the check runs (a program, a database):
  // only its owner may write it, as sshd asks of its files.
  if ((file.mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Status::Error(absolute + ": cannot use the configuration: writable by group or others (mode " +
                         OctalMode(file.mode) + "), so they could choose what the check runs; chmod go-w " +
                         absolute);
  }
  Result<Config> config = ParseConfig(file.text, absolute);
  if (config.ok() && config->details && !config->details->token_file.empty()) {
    Status token = ReadToken(*config->details);
    if (!token.ok()) return token;
  }
  if (config.ok() && config->cursor_backend &&
      config->cursor_backend->driver != DatabaseDriver::kSqlite) {
    Status server = ResolveServerSettings(*config->cursor_backend, ProcessEnvironment());
    if (!server.ok()) return server;
  }
  return config;
}

namespace {

std::string SummarizeCheck(const Config& config, const CheckSettings& check) {
  std::string summary;
  auto add = [&summary](const std::string& item) {
    summary += (summary.empty() ? "" : ", ") + item;
  };
  for (const std::string& service : check.services) {
    if (service != kCursorBackendName || !config.cursor_backend) {
      add(service);
    } else if (config.cursor_backend->driver == DatabaseDriver::kSqlite) {
      add(service + " (database " + config.cursor_backend->database + ")");
    } else {
      const CursorBackendSettings& cursor = *config.cursor_backend;
      add(service + " (" + DriverName(cursor.driver) + " database " + cursor.server.database + " at " +
          ServerAddress(cursor) + " as " + cursor.server.username + ")");
    }
  }
  if (check.callable.kind == CallableSettings::Kind::kSql) add("callable (sql)");
  if (check.callable.kind == CallableSettings::Kind::kCommand) {
    add("callable (command " + check.callable.command[0] + ")");
  }
  if (summary.empty()) summary = "none (only the program itself)";
  if (check.drains) summary += "; drains";
  return summary;
}

}  // namespace

const char* DriverName(DatabaseDriver driver) {
  switch (driver) {
    case DatabaseDriver::kSqlite:
      return "sqlite";
    case DatabaseDriver::kMysql:
      return "mysql";
    case DatabaseDriver::kPostgresql:
      return "postgresql";
  }
  return "?";
}

const char* DatabaseKeyOf(const CheckSettings& check) {
  for (const std::string& service : check.services) {
    if (service == kCursorBackendName) return "services";
  }
  return check.callable.kind == CallableSettings::Kind::kSql ? "callable.sql" : nullptr;
}

Config WithoutSharedState(Config config) {
  config.check.cache.reset();
  for (ProbeSettings& probe : config.probes) probe.check.cache.reset();
  config.cache_folder.clear();
  return config;
}

std::string SummarizeChecks(const Config& config) {
  std::string summary = SummarizeCheck(config, config.check);
  for (const ProbeSettings& probe : config.probes) {
    summary += "; probe " + probe.name + ": " + SummarizeCheck(config, probe.check);
  }
  if (!config.drain_file.empty()) {
    summary += "; drain file " + config.drain_file + " (answers " + std::to_string(config.drain_status) + ")";
  }
  if (config.details) {
    std::string who;
    if (!config.details->token_file.empty()) who = "token holders";
    size_t networks = config.details->trusted_addresses.size();
    if (networks > 0) {
      who += (who.empty() ? "" : " and ") + std::to_string(networks) + " trusted network" +
             (networks == 1 ? "" : "s");
    }
    summary += "; details for " + (who.empty() ? std::string("nobody") : who);
    if (config.metrics()) summary += ", and metrics at /metrics";
  }
  return summary;
}

}  // namespace healthcheck
