// Which configuration file is used.
#include "../../src/config_locator.h"

#include <doctest/doctest.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <optional>

#include "test_support.h"

using namespace healthcheck;
using testing::ScopedEnvironment;

TEST_CASE("the flag wins, then the environment, then the file beside the program") {
  testing::TempDir dir;
  ConfigSearch search;
  search.program_folder = dir.path();
  CHECK_FALSE(LocateConfig(search).has_value());

  testing::WriteFile(dir.file("healthcheck.json"), "{}");
  CHECK(*LocateConfig(search) == dir.file("healthcheck.json"));

  search.environment = std::string("");
  CHECK(*LocateConfig(search) == dir.file("healthcheck.json"));  // Empty means unset.
  search.environment = std::string("/etc/from-env.json");
  CHECK(*LocateConfig(search) == "/etc/from-env.json");

  search.flag = std::string("/etc/from-flag.json");
  CHECK(*LocateConfig(search) == "/etc/from-flag.json");
}

TEST_CASE("no file means the empty configuration, with a notice of where the search looked") {
  ConfigSearch search;
  search.program_folder = "/srv/www/health";
  Result<Config> config = LoadLocatedConfig(search, std::nullopt);
  REQUIRE(config.ok());
  CHECK(config->check.services.empty());
  CHECK(config->source.empty());
  CHECK(config->not_found_notice ==
        "healthcheck: no configuration found (no --config, $HEALTHCHECK_CONFIG not set, no "
        "/srv/www/health/healthcheck.json): only the program itself is checked");
}

TEST_CASE("the flag and the environment are returned even when the file is missing") {
  testing::TempDir dir;
  testing::WriteFile(dir.file("healthcheck.json"), "{}");
  ConfigSearch search;
  search.program_folder = dir.path();
  search.environment = dir.file("missing-env.json");
  CHECK(*LocateConfig(search) == dir.file("missing-env.json"));  // Loading it will then fail.
  search.flag = dir.file("missing-flag.json");
  CHECK(*LocateConfig(search) == dir.file("missing-flag.json"));
  Result<Config> config = LoadLocatedConfig(search, LocateConfig(search));
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message() == dir.file("missing-flag.json") +
                                         ": cannot read the configuration: No such file or directory");
}

TEST_CASE("a located file is loaded") {
  testing::TempDir dir;
  testing::WriteFile(dir.file("healthcheck.json"), R"({"services": ["memory_backend"]})");
  ConfigSearch search;
  search.program_folder = dir.path();
  Result<Config> config = LoadLocatedConfig(search, LocateConfig(search));
  REQUIRE_MESSAGE(config.ok(), config.status().message());
  CHECK(config->source == dir.file("healthcheck.json"));
  CHECK(config->check.services == std::vector<std::string>{"memory_backend"});
  CHECK(config->not_found_notice.empty());
}

TEST_CASE("the process search reads the environment and the CGI script's folder") {
  ScopedEnvironment config_variable("HEALTHCHECK_CONFIG", std::string("/etc/hc/env.json"));
  ScopedEnvironment script("SCRIPT_FILENAME", std::string("/srv/www/cgi-bin/health.cgi"));
  ConfigSearch search = ProcessConfigSearch(std::string("/etc/hc/flag.json"));
  CHECK(*search.flag == "/etc/hc/flag.json");
  CHECK(*search.environment == "/etc/hc/env.json");
  CHECK(search.program_folder == "/srv/www/cgi-bin");
}

TEST_CASE("without a CGI script the program's own folder is searched") {
  ScopedEnvironment config_variable("HEALTHCHECK_CONFIG", std::nullopt);
  ScopedEnvironment script("SCRIPT_FILENAME", std::string("relative/health.cgi"));
  char binary[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", binary, sizeof binary - 1);
  REQUIRE(length > 0);
  std::string path(binary, static_cast<size_t>(length));
  ConfigSearch search = ProcessConfigSearch(std::nullopt);
  CHECK_FALSE(search.flag.has_value());
  CHECK_FALSE(search.environment.has_value());
  CHECK(search.program_folder == path.substr(0, path.rfind('/')));
}
