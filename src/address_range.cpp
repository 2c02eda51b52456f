// ParseAddressRange and RangeContains, on inet_pton's 16-byte form.
#include "address_range.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace healthcheck {
namespace {

// The 16-byte form of an IPv4 or IPv6 address, and how many of its leading
// bits the written form covered (32 more than an IPv4 prefix, for the
// mapping's 96).
struct ParsedAddress {
  std::array<uint8_t, 16> bytes{};
  int mapped_bits = 0;  // 96 for IPv4, 0 for IPv6.
};

std::optional<ParsedAddress> ParseAddress(std::string_view text) {
  // inet_pton needs a terminated string; no address is longer than this.
  // inet_pton would stop at a NUL and read "10.0.0.1\0junk" as 10.0.0.1.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  char terminated[INET6_ADDRSTRLEN] = {};
  memcpy(terminated, text.data(), text.size());
  ParsedAddress parsed;
  in_addr v4;
  if (inet_pton(AF_INET, terminated, &v4) == 1) {
    parsed.bytes[10] = 0xff;
    parsed.bytes[11] = 0xff;
    memcpy(&parsed.bytes[12], &v4, 4);
    parsed.mapped_bits = 96;
    return parsed;
  }
  if (inet_pton(AF_INET6, terminated, parsed.bytes.data()) == 1) return parsed;
  return std::nullopt;
}

bool PrefixEquals(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int whole = bits / 8;
  if (memcmp(a.data(), b.data(), static_cast<size_t>(whole)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<AddressRange> ParseAddressRange(std::string_view text) {
  size_t slash = text.find('/');
  std::optional<ParsedAddress> address = ParseAddress(text.substr(0, slash));
  if (!address) return std::nullopt;
  int written_bits = address->mapped_bits == 96 ? 32 : 128;
  int bits = written_bits;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    bits = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      bits = bits * 10 + (c - '0');
    }
    if (bits > written_bits) return std::nullopt;
  }
  AddressRange range;
  range.network = address->bytes;
  range.prefix_bits = address->mapped_bits + bits;
  // "10.0.0.1/8" is almost always a typo for a host or for 10.0.0.0/8:
  // refuse it rather than guess which.
  for (int bit = range.prefix_bits; bit < 128; ++bit) {
    if (range.network[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
  }
  return range;
}

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  std::optional<ParsedAddress> parsed = ParseAddress(text);
  if (!parsed) return std::nullopt;
  return IpAddress{parsed->bytes};
}

bool RangeContains(const AddressRange& range, const IpAddress& address) {
  return PrefixEquals(address.bytes, range.network, range.prefix_bits);
}

}  // namespace healthcheck
