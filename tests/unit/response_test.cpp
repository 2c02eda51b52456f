// The envelope bytes, exactly as clearskies writes them.
#include "../../src/response.h"

#include <doctest/doctest.h>

#include <string>

using healthcheck::BodyMode;
using healthcheck::EnvelopeBody;
using healthcheck::Health;
using healthcheck::MakeResponse;

namespace {
const std::string kSuccess =
    R"({"status":"success","error":"","data":{},"pagination":{},"input_errors":{}})";
const std::string kFailure =
    R"({"status":"failure","error":"","data":[],"pagination":{},"input_errors":{}})";

std::string Headers(const std::string& status, const std::string& body) {
  return "Status: " + status +
         "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
         "Vary: Accept, Authorization\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n";
}
}  // namespace

TEST_CASE("healthy answer is 200 with the clearskies success envelope") {
  auto response = MakeResponse(Health::kHealthy, BodyMode::kWithBody);
  CHECK(response.status_code == 200);
  CHECK(std::string(response.bytes) == Headers("200 OK", kSuccess) + kSuccess);
}

TEST_CASE("unhealthy answer is 500 with the failure envelope and an empty error") {
  auto response = MakeResponse(Health::kUnhealthy, BodyMode::kWithBody);
  CHECK(response.status_code == 500);
  CHECK(std::string(response.bytes) ==
        Headers("500 Internal Server Error", kFailure) + kFailure);
}

TEST_CASE("HEAD answers keep the headers and the GET length but drop the body") {
  auto healthy = MakeResponse(Health::kHealthy, BodyMode::kHeadersOnly);
  auto unhealthy = MakeResponse(Health::kUnhealthy, BodyMode::kHeadersOnly);
  CHECK(std::string(healthy.bytes) == Headers("200 OK", kSuccess));
  CHECK(std::string(unhealthy.bytes) == Headers("500 Internal Server Error", kFailure));
  CHECK(healthy.status_code == 200);
  CHECK(unhealthy.status_code == 500);
}

TEST_CASE("envelope bodies alone") {
  CHECK(std::string(EnvelopeBody(Health::kHealthy)) == kSuccess);
  CHECK(std::string(EnvelopeBody(Health::kUnhealthy)) == kFailure);
}

namespace {
// The Content-Length a header block announces, read from the bytes themselves.
size_t AnnouncedLength(std::string_view bytes) {
  const std::string kHeader = "\r\nContent-Length: ";
  size_t start = bytes.find(kHeader);
  REQUIRE(start != std::string_view::npos);
  start += kHeader.size();
  size_t end = bytes.find("\r\n", start);
  REQUIRE(end != std::string_view::npos);
  return std::stoul(std::string(bytes.substr(start, end - start)));
}

std::string_view BodyOf(std::string_view bytes) {
  size_t blank = bytes.find("\r\n\r\n");
  REQUIRE(blank != std::string_view::npos);
  return bytes.substr(blank + 4);
}
}  // namespace

TEST_CASE("Content-Length equals the body's size; HEAD announces the GET length") {
  for (Health health : {Health::kHealthy, Health::kUnhealthy}) {
    auto get = MakeResponse(health, BodyMode::kWithBody);
    auto head = MakeResponse(health, BodyMode::kHeadersOnly);
    CHECK(AnnouncedLength(get.bytes) == BodyOf(get.bytes).size());
    CHECK(BodyOf(get.bytes) == EnvelopeBody(health));
    CHECK(BodyOf(head.bytes).empty());
    CHECK(AnnouncedLength(head.bytes) == BodyOf(get.bytes).size());
    // HEAD is the GET answer cut after its headers.
    CHECK(get.bytes.substr(0, head.bytes.size()) == head.bytes);
  }
}

TEST_CASE("the four answers are built once and shared") {
  for (Health health : {Health::kHealthy, Health::kUnhealthy}) {
    for (BodyMode mode : {BodyMode::kWithBody, BodyMode::kHeadersOnly}) {
      CHECK(MakeResponse(health, mode).bytes.data() == MakeResponse(health, mode).bytes.data());
    }
  }
}

TEST_CASE("a configured 503 changes the unhealthy status line only, never the body") {
  auto failed = MakeResponse(Health::kUnhealthy, BodyMode::kWithBody, 503);
  CHECK(failed.status_code == 503);
  CHECK(std::string(failed.bytes) == Headers("503 Service Unavailable", kFailure) + kFailure);
  auto head = MakeResponse(Health::kUnhealthy, BodyMode::kHeadersOnly, 503);
  CHECK(std::string(head.bytes) == Headers("503 Service Unavailable", kFailure));
  // Healthy stays 200 whatever the failure status.
  auto healthy = MakeResponse(Health::kHealthy, BodyMode::kWithBody, 503);
  CHECK(healthy.status_code == 200);
  CHECK(std::string(healthy.bytes) == Headers("200 OK", kSuccess) + kSuccess);
}
