// The health+json writer and the Accept header that asks for it.
#include "../../src/health_json.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <cctype>

using namespace healthcheck;

namespace {
CheckRecord Step(const std::string& name, bool passed, double ms, const std::string& reason = "") {
  CheckRecord record;
  record.name = name;
  record.passed = passed;
  record.duration_ms = ms;
  record.reason = reason;
  // 2026-11-27T09:15:02.123Z
  record.finished_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795770902123));
  return record;
}

rapidjson::Document Parse(const std::string& body) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
  REQUIRE_MESSAGE(!document.HasParseError(), body);
  return document;
}
}  // namespace

TEST_CASE("a passing check: status pass, one check per step, no output") {
  std::string body = HealthJsonBody(true, {Step("memory_backend", true, 0.0123),
                                           Step("cursor_backend", true, 1.5)}, "");
  CHECK(body ==
        R"({"status":"pass","checks":{"memory_backend:responseTime":[{"observedValue":0.012,)"
        R"("observedUnit":"ms","status":"pass","time":"2026-11-27T09:15:02.123Z"}],)"
        R"("cursor_backend:responseTime":[{"observedValue":1.5,"observedUnit":"ms","status":"pass",)"
        R"("time":"2026-11-27T09:15:02.123Z"}]}})");
}

TEST_CASE("a failing check: status fail, the reason as output, on the failed step only") {
  std::string body = HealthJsonBody(false, {Step("memory_backend", true, 0.01),
                                            Step("cursor_backend", false, 2000.1, "locked")},
                                    "cursor_backend failed after 2000.1 ms: locked");
  rapidjson::Document document = Parse(body);
  CHECK(std::string(document["status"].GetString()) == "fail");
  CHECK(std::string(document["output"].GetString()) == "cursor_backend failed after 2000.1 ms: locked");
  const auto& passed = document["checks"]["memory_backend:responseTime"][0];
  CHECK_FALSE(passed.HasMember("output"));
  const auto& failed = document["checks"]["cursor_backend:responseTime"][0];
  CHECK(std::string(failed["status"].GetString()) == "fail");
  CHECK(std::string(failed["output"].GetString()) == "locked");
  CHECK(failed["observedValue"].GetDouble() == doctest::Approx(2000.1));
  CHECK(std::string(failed["observedUnit"].GetString()) == "ms");
}

TEST_CASE("reasons with quotes, control characters and broken UTF-8 stay valid JSON") {
  std::string reason = "cannot open \"/srv/caf\xc3\xa9\xff.db\":\n\ttab\x01";
  std::string body = HealthJsonBody(false, {Step("cursor_backend", false, 1, reason)}, reason);
  rapidjson::Document document = Parse(body);
  std::string output = document["output"].GetString();
  CHECK(output == "cannot open \"/srv/caf\xc3\xa9\xef\xbf\xbd.db\":\n\ttab\x01");
}

TEST_CASE("well-formed UTF-8 is kept, and each byte of a broken sequence replaced") {
  auto output_of = [](const std::string& text) {
    std::string body = HealthJsonBody(false, {}, text);
    const std::string kStart = R"({"status":"fail","output":")";
    const std::string kEnd = R"(","checks":{}})";
    REQUIRE(body.rfind(kStart, 0) == 0);
    REQUIRE(body.size() >= kStart.size() + kEnd.size());
    return body.substr(kStart.size(), body.size() - kStart.size() - kEnd.size());
  };
  CHECK(output_of("plain") == "plain");
  CHECK(output_of("\xe2\x82\xac \xf0\x9f\x98\x80") == "\xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(output_of("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");          // Overlong '/'.
  CHECK(output_of("\xed\xa0\x80") == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // A surrogate.
  CHECK(output_of("\xf4\x90\x80\x80").size() == 12);                     // Past U+10FFFF.
  CHECK(output_of("\xe2\x82") == "\xef\xbf\xbd\xef\xbf\xbd");            // Cut short.
  CHECK(output_of("a\"b\\c\n\x1f") == "a\\\"b\\\\c\\u000a\\u001f");
}

TEST_CASE("a duration is milliseconds to the microsecond, with no float noise") {
  auto value_of = [](double ms) {
    CheckRecord record;
    record.name = "x";
    record.passed = true;
    record.duration_ms = ms;
    std::string body = HealthJsonBody(true, {record}, "");
    size_t start = body.find("\"observedValue\":") + 16;
    return body.substr(start, body.find(',', start) - start);
  };
  CHECK(value_of(0.0123) == "0.012");
  CHECK(value_of(1.5) == "1.5");
  CHECK(value_of(2000.1) == "2000.1");
  CHECK(value_of(3) == "3");
  CHECK(value_of(0) == "0");
  CHECK(value_of(0.0004) == "0");
  CHECK(value_of(0.0005) == "0.001");
  CHECK(value_of(12.3456789) == "12.346");
}

TEST_CASE("a drained check: fail, no checks, the reason") {
  CHECK(HealthJsonBody(false, {}, "draining") ==
        R"({"status":"fail","output":"draining","checks":{}})");
}

TEST_CASE("the time is RFC 3339 in UTC with milliseconds") {
  CheckRecord record = Step("memory_backend", true, 0);
  record.finished_at = std::chrono::system_clock::now();
  rapidjson::Document document = Parse(HealthJsonBody(true, {record}, ""));
  std::string time = document["checks"]["memory_backend:responseTime"][0]["time"].GetString();
  // YYYY-MM-DDTHH:MM:SS.mmmZ, by shape (std::regex trips g++ 12's warnings
  // under the sanitizer build).
  const std::string kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  REQUIRE(time.size() == kShape.size());
  for (size_t i = 0; i < kShape.size(); ++i) {
    CAPTURE(i);
    CHECK((kShape[i] == 'd' ? isdigit(static_cast<unsigned char>(time[i])) != 0 : time[i] == kShape[i]));
  }
}

TEST_CASE("Accept: only application/health+json itself asks for the report") {
  CHECK(AcceptsHealthJson("application/health+json"));
  CHECK(AcceptsHealthJson("Application/Health+JSON"));
  CHECK(AcceptsHealthJson("text/html, application/health+json;q=0.9, */*;q=0.1"));
  CHECK(AcceptsHealthJson("application/json,application/health+json"));
  CHECK(AcceptsHealthJson(" application/health+json ; charset=utf-8"));
  CHECK_FALSE(AcceptsHealthJson(""));
  CHECK_FALSE(AcceptsHealthJson("*/*"));
  CHECK_FALSE(AcceptsHealthJson("application/*"));
  CHECK_FALSE(AcceptsHealthJson("application/json"));
  CHECK_FALSE(AcceptsHealthJson("application/health+jsonx"));
  CHECK_FALSE(AcceptsHealthJson("application/health+json;q=0"));
  CHECK_FALSE(AcceptsHealthJson("application/health+json; q=0.000"));
  CHECK(AcceptsHealthJson("application/health+json;q=0.001"));
  CHECK(AcceptsHealthJson("application/health+json;q=1"));
  CHECK(AcceptsHealthJson("application/health+json;q=1.000"));
  CHECK(AcceptsHealthJson("application/health+json;q=0.5;level=1"));
  // Weights that are no qvalue: refused, the envelope is the safe answer.
  for (const char* weight : {"nan", "inf", "2", "1.5", "0.0001", "-1", "", "0.", "1e0", ".5", "0.5x"}) {
    CAPTURE(weight);
    CHECK_FALSE(AcceptsHealthJson(std::string("application/health+json;q=") + weight));
  }
}
