// Issue 13 attack review (branch i13-attack): failing unit tests for
// defects of the flood shield's file names. Not marked to be expected to
// fail: each fails on the branch as it was reviewed.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "../../src/app.h"
#include "../../src/backends/server_support.h"
#include "test_support.h"

using namespace healthcheck;
using healthcheck::testing::TempDir;

namespace {

// FNV-1a 64 over strings each followed by NUL: what anyone can compute.
struct Fnv {
  uint64_t hash = 14695981039346656037ull;
  void add(const std::string& text) {
    for (unsigned char c : text + '\0') hash = (hash ^ c) * 1099511628211ull;
  }
};

}  // namespace

TEST_CASE("attack: a shared file's name does not let anyone who can list cache_folder test a "
          "database password offline") {
  // The top-level check's shared file is named health-<FNV-1a 64>.result
  // (app.cpp:54), the hash over Fingerprint (app.cpp:26-43), which takes
  // ConnectionFingerprint (server_support.cpp:124), the database PASSWORD
  // included. Every other input is in the configuration (often 0644) or
  // guessable; the password lives in a 0600 password_file / env_file,
  // "never in a message". cache_folder may be listable by others
  // (RuntimeDirectory= is 0755 unless RuntimeDirectoryMode= says
  // otherwise; the README recommends it with no mode). So a local user
  // lists the folder and tries passwords against the name offline, at
  // billions a second (FNV-1a is no password hash, and not even one-way).
  TempDir dir;
  std::string source = dir.file("healthcheck.json");
  Result<Config> parsed = ParseConfig(R"({"services": ["cursor_backend"],
      "cursor_backend": {"driver": "mysql", "host": "db.internal", "port": 3306, "username": "app",
                         "database": "app"},
      "cache": {"success_ms": 1000, "failure_ms": 1000}, "cache_folder": "state"})",
                                      source);
  REQUIRE(parsed.ok());
  Config config = parsed.value();
  config.cursor_backend->server.password = "hunter2";  // As ResolveServerSettings reads it from its file.
  auto app = BuildApp(config);
  std::string name = app->check.shared_file;
  REQUIRE(name.size() > 0);

  // The attacker's offline guess, from public inputs and a candidate password.
  Fnv guess;
  guess.add(source);
  guess.add("");  // The top-level probe.
  guess.add("cursor_backend");
  guess.add("0");  // No callable.
  guess.add("");   // No sql.
  guess.add(std::to_string(config.check.timeout_ms));
  guess.add(config.cursor_backend->database);
  CursorBackendSettings candidate = *config.cursor_backend;
  candidate.server.password = "hunter2";
  guess.add(ConnectionFingerprint(candidate));
  char suffix[32];
  snprintf(suffix, sizeof suffix, "-%016llx.result", static_cast<unsigned long long>(guess.hash));
  INFO("shared file " << name);
  CHECK_MESSAGE(name.find(suffix) == std::string::npos,
                "the file name confirms the guessed database password 'hunter2'");
}
