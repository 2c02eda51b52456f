// ParseConfig and LoadConfig: the only code that sees JSON (RapidJSON).
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace healthcheck {
namespace {

namespace json = rapidjson;

constexpr size_t kMaxConfigBytes = 1 << 20;  // A health check config is tiny.
// Deeper JSON is refused before it is built: a document's destructor
// recurses, and a hostile file must not overflow the stack.
constexpr size_t kMaxNestingDepth = 32;

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
    Status status = CheckKeys(
        root, "", {"services", "callable", "cursor_backend", "timeout_ms", "failure_status"});
    if (!status.ok()) return status;
    if (const json::Value* value = Find(root, "failure_status")) {
      if (!value->IsInt() || (value->GetInt() != 500 && value->GetInt() != 503)) {
        return Error("failure_status", "expected 500 (as clearskies) or 503");
      }
      config.failure_status = value->GetInt();
    }
    if (const json::Value* value = Find(root, "timeout_ms")) {
      Result<int64_t> timeout = ReadMilliseconds(*value, "timeout_ms", 1);
      if (!timeout.ok()) return timeout.status();
      config.request_timeout_ms = timeout.value();
    }
    if (const json::Value* value = Find(root, "services")) {
      Result<std::vector<std::string>> services = ReadServices(*value);
      if (!services.ok()) return services.status();
      config.services = services.value();
    }
    if (const json::Value* value = Find(root, "cursor_backend")) {
      Result<CursorBackendSettings> cursor = ReadCursorBackend(*value);
      if (!cursor.ok()) return cursor.status();
      config.cursor_backend = cursor.value();
    }
    if (const json::Value* value = Find(root, "callable")) {
      Result<CallableSettings> callable = ReadCallable(*value);
      if (!callable.ok()) return callable.status();
      config.callable = callable.value();
    }
    return RequireDatabaseWhereNeeded(config);
  }

 private:
  Status Error(const std::string& key, const std::string& what) const {
    std::string where = filename_;
    auto position = positions_.find(key);
    if (position != positions_.end()) {
      where += ":" + std::to_string(LineAt(text_, position->second));
    }
    return Status::Error(where + ": \"" + key + "\": " + what);
  }

  static const json::Value* Find(const json::Value& object, const char* key) {
    auto member = object.FindMember(key);
    return member == object.MemberEnd() ? nullptr : &member->value;
  }

  // Unknown and repeated keys are errors that name the key.
  Status CheckKeys(const json::Value& object, const std::string& prefix,
                   const std::set<std::string>& allowed) const {
    std::set<std::string> seen;
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
      if (!seen.insert(name).second) return Error(key, "appears more than once");
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

  Result<std::vector<std::string>> ReadServices(const json::Value& value) const {
    if (!value.IsArray()) return Error("services", "expected a list of names");
    std::vector<std::string> services;
    for (json::SizeType i = 0; i < value.Size(); ++i) {
      const json::Value& item = value[i];
      if (!item.IsString()) {
        return Error("services",
                     "expected a list of names, item " + std::to_string(i + 1) + " is not a string");
      }
      std::string name(item.GetString(), item.GetStringLength());
      if (name != kMemoryBackendName && name != kCursorBackendName) {
        return Error("services", "unknown service \"" + name + "\" (known: \"" +
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
    Status status = CheckKeys(value, "cursor_backend", {"database", "timeout_ms"});
    if (!status.ok()) return status;
    CursorBackendSettings settings;
    const json::Value* database = Find(value, "database");
    if (database == nullptr) {
      return Error("cursor_backend", "missing \"database\" (the SQLite file to check)");
    }
    Result<std::string> path = ReadText(*database, "cursor_backend.database", "a file path");
    if (!path.ok()) return path.status();
    settings.database = ResolveAgainst(FolderOf(filename_), path.value());
    if (const json::Value* timeout = Find(value, "timeout_ms")) {
      Result<int64_t> milliseconds = ReadMilliseconds(*timeout, "cursor_backend.timeout_ms", 0);
      if (!milliseconds.ok()) return milliseconds.status();
      settings.busy_timeout_ms = milliseconds.value();
    }
    return settings;
  }

  Result<CallableSettings> ReadCallable(const json::Value& value) const {
    const std::string kExpected =
        "expected {\"sql\": \"SELECT ...\"} or {\"command\": [\"/path/to/program\", ...]}";
    if (!value.IsObject() || value.MemberCount() != 1) return Error("callable", kExpected);
    Status status = CheckKeys(value, "callable", {"sql", "command"});
    if (!status.ok()) return status;
    CallableSettings callable;
    if (const json::Value* sql = Find(value, "sql")) {
      Result<std::string> text = ReadText(*sql, "callable.sql", "a non-empty SQL query");
      if (!text.ok()) return text.status();
      callable.kind = CallableSettings::Kind::kSql;
      callable.sql = text.value();
      return callable;
    }
    const json::Value& command = *Find(value, "command");
    const std::string kExpectedCommand = "a non-empty list of strings (program, arguments)";
    if (!command.IsArray() || command.Empty()) {
      return Error("callable.command", "expected " + kExpectedCommand);
    }
    for (json::SizeType i = 0; i < command.Size(); ++i) {
      Result<std::string> word = ReadText(command[i], "callable.command", kExpectedCommand);
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
    for (const std::string& service : config.services) {
      if (service == kCursorBackendName) {
        return Error("services",
                     "\"cursor_backend\" needs \"cursor_backend\": {\"database\": \"...\"}");
      }
    }
    if (config.callable.kind == CallableSettings::Kind::kSql) {
      return Error("callable.sql", "needs \"cursor_backend\": {\"database\": \"...\"}");
    }
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

Result<Config> LoadConfig(const std::string& path) {
  std::string absolute = path;
  if (absolute.empty() || absolute[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) != nullptr) absolute = std::string(cwd) + "/" + path;
  }
  auto failure = [&absolute](const char* what) {
    return Status::Error(absolute + ": cannot read the configuration: " + what);
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer. Only a regular
  // file is read.
  int fd = open(absolute.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return failure(strerror(errno));
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return failure("not a regular file");
  }
  // The configuration chooses what the check runs (a program, a database):
  // only its owner may write it, as sshd asks of its files.
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    close(fd);
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return Status::Error(absolute + ": cannot use the configuration: writable by group or others (mode " +
                         mode + "), so they could choose what the check runs; chmod go-w " + absolute);
  }
  std::string text;
  char chunk[4096];
  for (;;) {
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int error = errno;
      close(fd);
      return failure(strerror(error));
    }
    if (got == 0) break;
    text.append(chunk, static_cast<size_t>(got));
    if (text.size() > kMaxConfigBytes) {
      close(fd);
      return failure("larger than 1 MiB");
    }
  }
  close(fd);
  return ParseConfig(text, absolute);
}

std::string SummarizeChecks(const Config& config) {
  std::string summary;
  auto add = [&summary](const std::string& item) {
    summary += (summary.empty() ? "" : ", ") + item;
  };
  for (const std::string& service : config.services) {
    bool database = service == kCursorBackendName && config.cursor_backend;
    add(database ? service + " (database " + config.cursor_backend->database + ")" : service);
  }
  if (config.callable.kind == CallableSettings::Kind::kSql) add("callable (sql)");
  if (config.callable.kind == CallableSettings::Kind::kCommand) {
    add("callable (command " + config.callable.command[0] + ")");
  }
  return summary.empty() ? "none (only the program itself)" : summary;
}

}  // namespace healthcheck
