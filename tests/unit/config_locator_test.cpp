// Which configuration file is used.
#include "../../src/config_locator.h"

#include <doctest/doctest.h>

#include "test_support.h"

using namespace healthcheck;

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

TEST_CASE("no file means the empty configuration") {
  Result<Config> config = LoadLocatedConfig(std::nullopt);
  REQUIRE(config.ok());
  CHECK(config->services.empty());
  CHECK(config->source.empty());
}
