// Command-line flags.
#include "../../src/cli_options.h"

#include <doctest/doctest.h>

#include <vector>

using namespace healthcheck;

namespace {
Result<Options> Parse(std::vector<const char*> words) {
  words.insert(words.begin(), "healthcheck");
  return ParseOptions(static_cast<int>(words.size()), words.data());
}

std::string ErrorOf(std::vector<const char*> words) {
  Result<Options> options = Parse(std::move(words));
  REQUIRE_FALSE(options.ok());
  return options.status().message();
}
}  // namespace

TEST_CASE("no flags: serve, with the defaults") {
  Result<Options> options = Parse({});
  REQUIRE(options.ok());
  CHECK(options->mode == Mode::kServe);
  CHECK_FALSE(options->config_path.has_value());
  CHECK_FALSE(options->listen.has_value());
  CHECK(options->threads == 4);
  CHECK(options->workers == 0);
  CHECK(options->max_requests == 0);
  CHECK(options->idle_timeout_ms == 10000);
  CHECK(options->max_worker_rss_mib == 64);
  CHECK(options->public_binding == PublicBinding::kRefuse);
}

TEST_CASE("every flag, with separate and inline values") {
  Result<Options> options =
      Parse({"--config", "/etc/hc.json", "--listen=unix:/run/hc.sock", "--threads", "8",
             "--workers=3", "--max-requests", "1000", "--idle-timeout-ms", "500",
             "--allow-public", "--max-worker-rss-mib", "16"});
  REQUIRE(options.ok());
  CHECK(*options->config_path == "/etc/hc.json");
  CHECK(*options->listen == "unix:/run/hc.sock");
  CHECK(options->threads == 8);
  CHECK(options->workers == 3);
  CHECK(options->max_requests == 1000);
  CHECK(options->idle_timeout_ms == 500);
  CHECK(options->max_worker_rss_mib == 16);
  CHECK(options->public_binding == PublicBinding::kAllow);
}

TEST_CASE("modes") {
  CHECK(Parse({"--check"})->mode == Mode::kCheck);
  CHECK(Parse({"--test-config"})->mode == Mode::kTestConfig);
  CHECK(Parse({"--help"})->mode == Mode::kHelp);
  CHECK(Parse({"-h"})->mode == Mode::kHelp);
  CHECK(Parse({"--version"})->mode == Mode::kVersion);
  CHECK(ErrorOf({"--check", "--test-config"}) ==
        "--test-config: only one of --check, --test-config, --help, --version");
}

TEST_CASE("bad flags and values are named") {
  CHECK(ErrorOf({"--verbose"}) == "--verbose: unknown flag");
  CHECK(ErrorOf({"check"}) == "check: unknown flag");
  CHECK(ErrorOf({"--config"}) == "--config: expects a value");
  CHECK(ErrorOf({"--config="}) == "--config: expects a file path");
  CHECK(ErrorOf({"--threads", "0"}) == "--threads: expected a number from 1 to 256");
  CHECK(ErrorOf({"--threads", "257"}) == "--threads: expected a number from 1 to 256");
  CHECK(ErrorOf({"--threads", "4x"}) == "--threads: expected a number from 1 to 256");
  CHECK(ErrorOf({"--threads", "-1"}) == "--threads: expected a number from 1 to 256");
  CHECK(ErrorOf({"--workers", "65"}) == "--workers: expected a number from 0 to 64");
  CHECK(ErrorOf({"--idle-timeout-ms", "99"}) ==
        "--idle-timeout-ms: expected a number from 100 to 600000");
  CHECK(ErrorOf({"--check=yes"}) == "--check: takes no value");
  CHECK(ErrorOf({"--max-requests", "10"}) ==
        "--max-requests: needs --workers (a master to start the replacement)");
  CHECK(ErrorOf({"--threads", "99999999999"}) == "--threads: expected a number from 1 to 256");
  CHECK(ErrorOf({"--max-worker-rss-mib", "8"}) ==
        "--max-worker-rss-mib: needs --workers (a master to start the replacement)");
  CHECK(ErrorOf({"--workers", "1", "--max-worker-rss-mib", "3"}) ==
        "--max-worker-rss-mib: expected a number from 4 to 65536");
}

TEST_CASE("the usage text names every flag") {
  std::string usage = UsageText();
  for (const char* flag : {"--config", "--listen", "--threads", "--workers", "--max-requests",
                           "--idle-timeout-ms", "--max-worker-rss-mib", "--allow-public", "--check", "--test-config",
                           "--help", "--version"}) {
    CAPTURE(flag);
    CHECK(usage.find(flag) != std::string::npos);
  }
}

TEST_CASE("each value flag takes its value inline too") {
  struct Case {
    const char* argument;
    int Options::*field;
    int expected;
  };
  const Case cases[] = {{"--threads=256", &Options::threads, 256},
                        {"--workers=0", &Options::workers, 0},
                        {"--idle-timeout-ms=600000", &Options::idle_timeout_ms, 600000},
                        {"--idle-timeout-ms=100", &Options::idle_timeout_ms, 100}};
  for (const Case& each : cases) {
    CAPTURE(each.argument);
    Result<Options> options = Parse({each.argument});
    REQUIRE_MESSAGE(options.ok(), options.status().message());
    CHECK(options.value().*each.field == each.expected);
  }
  Result<Options> recycled = Parse({"--workers=2", "--max-requests=1000000000", "--max-worker-rss-mib=65536"});
  REQUIRE_MESSAGE(recycled.ok(), recycled.status().message());
  CHECK(recycled->max_requests == 1000000000);
  CHECK(recycled->max_worker_rss_mib == 65536);
  CHECK(*Parse({"--config=relative.json"})->config_path == "relative.json");
  CHECK(*Parse({"--listen=127.0.0.1:9000"})->listen == "127.0.0.1:9000");
}

TEST_CASE("bad numbers in any count flag are refused with the flag's range") {
  CHECK(ErrorOf({"--workers="}) == "--workers: expected a number from 0 to 64");
  CHECK(ErrorOf({"--workers", "+1"}) == "--workers: expected a number from 0 to 64");
  CHECK(ErrorOf({"--workers", "1.5"}) == "--workers: expected a number from 0 to 64");
  CHECK(ErrorOf({"--workers", " 1"}) == "--workers: expected a number from 0 to 64");
  CHECK(ErrorOf({"--max-requests", "1000000001", "--workers", "1"}) ==
        "--max-requests: expected a number from 0 to 1000000000");
  CHECK(ErrorOf({"--idle-timeout-ms", "600001"}) ==
        "--idle-timeout-ms: expected a number from 100 to 600000");
  CHECK(ErrorOf({"--threads="}) == "--threads: expected a number from 1 to 256");
}

TEST_CASE("flags that take no value, unknown flags and missing values are named whole") {
  CHECK(ErrorOf({"--allow-public=yes"}) == "--allow-public: takes no value");
  CHECK(ErrorOf({"--help=1"}) == "--help: takes no value");
  CHECK(ErrorOf({"-x"}) == "-x: unknown flag");
  CHECK(ErrorOf({"--listen"}) == "--listen: expects a value");
  CHECK(ErrorOf({"--threads"}) == "--threads: expects a value");
  CHECK(ErrorOf({"--check", "--workers"}) == "--workers: expects a value");
}

TEST_CASE("only one mode at a time, whichever comes second is named") {
  CHECK(ErrorOf({"--help", "--version"}) ==
        "--version: only one of --check, --test-config, --help, --version");
  CHECK(ErrorOf({"--test-config", "--check"}) ==
        "--check: only one of --check, --test-config, --help, --version");
  CHECK(ErrorOf({"--version", "-h"}) == "-h: only one of --check, --test-config, --help, --version");
  CHECK(Parse({"--check", "--check"})->mode == Mode::kCheck);  // Repeating is no conflict.
  CHECK(Parse({"--check", "--config", "a.json"})->mode == Mode::kCheck);
}

TEST_CASE("an unknown flag given an inline value is still an unknown flag") {
  CHECK(ErrorOf({"--bogus=1"}) == "--bogus=1: unknown flag");
}
