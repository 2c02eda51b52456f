// trusted_addresses: CIDR parsing and matching, IPv4, IPv6 and IPv4-mapped.
#include "../../src/address_range.h"

#include <doctest/doctest.h>

#include <string>

using namespace healthcheck;

namespace {
bool Trusts(const char* range_text, const char* address) {
  std::optional<AddressRange> range = ParseAddressRange(range_text);
  REQUIRE_MESSAGE(range.has_value(), range_text);
  std::optional<IpAddress> caller = ParseIpAddress(address);
  return caller && RangeContains(*range, *caller);
}
}  // namespace

TEST_CASE("an IPv4 network holds its addresses and no others") {
  CHECK(Trusts("10.0.0.0/8", "10.255.1.2"));
  CHECK_FALSE(Trusts("10.0.0.0/8", "11.0.0.1"));
  CHECK(Trusts("192.168.4.0/22", "192.168.7.255"));
  CHECK_FALSE(Trusts("192.168.4.0/22", "192.168.8.0"));
  CHECK(Trusts("0.0.0.0/0", "203.0.113.9"));
  // The whole IPv4 space is not the IPv6 one.
  CHECK_FALSE(Trusts("0.0.0.0/0", "2001:db8::1"));
}

TEST_CASE("a bare address is one host") {
  CHECK(Trusts("127.0.0.1", "127.0.0.1"));
  CHECK_FALSE(Trusts("127.0.0.1", "127.0.0.2"));
  CHECK(Trusts("::1", "::1"));
  CHECK_FALSE(Trusts("::1", "::2"));
}

TEST_CASE("an IPv4-mapped IPv6 caller matches the IPv4 network, and only it") {
  CHECK(Trusts("127.0.0.1/32", "::ffff:127.0.0.1"));
  CHECK(Trusts("10.0.0.0/8", "::FFFF:10.9.8.7"));
  CHECK_FALSE(Trusts("10.0.0.0/8", "::ffff:11.0.0.1"));
  // And the reverse: an IPv4 caller inside an IPv6 range of mapped addresses.
  CHECK(Trusts("::ffff:10.0.0.0/104", "10.1.1.1"));
  // An IPv6 address that merely ends in the same bytes is not mapped.
  CHECK_FALSE(Trusts("127.0.0.1/32", "::127.0.0.1"));
}

TEST_CASE("IPv6 networks, on byte and bit boundaries") {
  CHECK(Trusts("fd00::/8", "fdab:1::5"));
  CHECK_FALSE(Trusts("fd00::/8", "fe80::1"));
  CHECK(Trusts("2001:db8::/33", "2001:db8:7fff::1"));
  CHECK_FALSE(Trusts("2001:db8::/33", "2001:db8:8000::1"));
  CHECK(Trusts("::/0", "::ffff:1.2.3.4"));
}

TEST_CASE("what is not an address is trusted by no range") {
  for (const char* caller : {"", "unix:", "localhost", "127.0.0.1 ", "127.0.0.1:80",
                             "fe80::1%eth0", "[::1]", "127.1", "::1/128"}) {
    CAPTURE(caller);
    CHECK_FALSE(Trusts("0.0.0.0/0", caller));
    CHECK_FALSE(Trusts("::/0", caller));
  }
}

TEST_CASE("a NUL byte ends nothing: the whole text must be the address") {
  using namespace std::string_literals;
  CHECK_FALSE(ParseAddressRange("10.0.0.1\0junk"s).has_value());
  CHECK_FALSE(ParseAddressRange("10.0.0.0\0/8"s).has_value());
  CHECK_FALSE(ParseIpAddress("10.0.0.1\0"s).has_value());
}

TEST_CASE("malformed ranges are refused") {
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8/8",
                          "10.0.0.0/ 8", "10.0.0.0/08x", "::/129", "10.0.0.1/8", "fd00::1/8",
                          "300.0.0.0/8", "10.0.0.0/1000", "fe80::1%eth0", "10.0.0.0 /8",
                          "2001:db8::/1e2"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseAddressRange(bad).has_value());
  }
  CHECK(ParseAddressRange("10.0.0.0/8").has_value());
  CHECK(ParseAddressRange("10.0.0.1/32").has_value());
  CHECK(ParseAddressRange("::/0").has_value());
}
