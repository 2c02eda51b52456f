// Who sees the detailed report: the token, compared in constant time, or a
// trusted REMOTE_ADDR; never a forwarded-for header.
#include "../../src/authorization.h"

#include <doctest/doctest.h>

using namespace healthcheck;

namespace {
const std::string kToken = "s3cret-Token-0123456789";

DetailsSettings TokenOnly() {
  DetailsSettings details;
  details.token_file = "/etc/healthcheck/token";
  details.token = kToken;
  return details;
}

Request From(const std::string& remote_addr, const std::string& authorization = "") {
  Request request;
  request.remote_addr = remote_addr;
  request.authorization = authorization;
  return request;
}
}  // namespace

TEST_CASE("the right bearer token authorises, in any case of the scheme") {
  CHECK(IsAuthorised(TokenOnly(), From("203.0.113.5", "Bearer " + kToken)));
  CHECK(IsAuthorised(TokenOnly(), From("203.0.113.5", "bearer " + kToken)));
  CHECK(IsAuthorised(TokenOnly(), From("203.0.113.5", "BEARER  " + kToken + " ")));
}

TEST_CASE("a wrong token, one of another length, or another scheme does not") {
  DetailsSettings details = TokenOnly();
  std::string wrong = kToken;
  wrong.back() = 'X';
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer " + wrong)));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer " + kToken.substr(0, kToken.size() - 1))));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer " + kToken + "0")));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer " + kToken + kToken)));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer ")));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer")));
  CHECK_FALSE(IsAuthorised(details, From("", kToken)));
  CHECK_FALSE(IsAuthorised(details, From("", "Basic " + kToken)));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer" + kToken)));
  CHECK_FALSE(IsAuthorised(details, From("", "")));
}

TEST_CASE("an empty token (a token file never loaded) authorises nobody") {
  DetailsSettings details = TokenOnly();
  details.token.clear();
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer ")));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer  ")));
  CHECK_FALSE(IsAuthorised(details, From("", "")));
  CHECK_FALSE(IsAuthorised(details, From("", "Bearer x")));
}

TEST_CASE("trusted addresses authorise by REMOTE_ADDR, IPv4-mapped included") {
  DetailsSettings details;
  details.trusted_addresses = {*ParseAddressRange("10.0.0.0/8"), *ParseAddressRange("::1")};
  CHECK(IsAuthorised(details, From("10.1.2.3")));
  CHECK(IsAuthorised(details, From("::ffff:10.1.2.3")));
  CHECK(IsAuthorised(details, From("::1")));
  CHECK_FALSE(IsAuthorised(details, From("192.0.2.1")));
  CHECK_FALSE(IsAuthorised(details, From("")));
  CHECK_FALSE(IsAuthorised(details, From("unix:")));
  // No token configured: a bearer header of any kind counts for nothing.
  CHECK_FALSE(IsAuthorised(details, From("192.0.2.1", "Bearer ")));
}

TEST_CASE("a spoofed X-Forwarded-For is never read") {
  // The transports copy only REMOTE_ADDR; a client's header arrives as
  // HTTP_X_FORWARDED_FOR and is not part of a Request at all.
  auto lookup = [](const char* name) -> const char* {
    std::string key = name;
    if (key == "REMOTE_ADDR") return "192.0.2.1";
    if (key == "HTTP_X_FORWARDED_FOR" || key == "HTTP_X_REAL_IP" || key == "HTTP_FORWARDED") {
      return "10.0.0.1";
    }
    return nullptr;
  };
  DetailsSettings details;
  details.trusted_addresses = {*ParseAddressRange("10.0.0.0/8")};
  Request request = RequestFromVariables(lookup);
  CHECK(request.remote_addr == "192.0.2.1");
  CHECK_FALSE(IsAuthorised(details, request));
}

TEST_CASE("ConstantTimeEquals agrees with ==") {
  for (const char* guess : {"", "a", "abc", "abd", "abcd", "ab", "ABC"}) {
    CAPTURE(guess);
    CHECK(ConstantTimeEquals("abc", guess) == (std::string_view("abc") == guess));
  }
  CHECK(ConstantTimeEquals("", ""));
  CHECK(BearerToken("Bearer abc") == "abc");
  CHECK(BearerToken("Bearer   ").empty());
  CHECK(BearerToken("Token abc").empty());
}
