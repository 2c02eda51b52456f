// AddressRange: one entry of "trusted_addresses", an IPv4 or IPv6 network in
// CIDR form ("10.0.0.0/8", "::1/128", or a bare address for one host).
// IPv4 is kept as the IPv4-mapped IPv6 address (::ffff:a.b.c.d), so a caller
// that reaches a dual-stack socket as ::ffff:127.0.0.1 matches 127.0.0.1/32.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace healthcheck {

struct AddressRange {
  std::array<uint8_t, 16> network{};  // Bits past the prefix are zero.
  int prefix_bits = 128;
};

// Parses "ADDRESS[/BITS]"; nullopt when malformed (a bad address, a prefix
// out of range, host bits set past the prefix, a zone such as "%eth0").
std::optional<AddressRange> ParseAddressRange(std::string_view text);

// Whether `address` (REMOTE_ADDR as a server sets it) is inside `range`.
// Anything that is not a plain IPv4 or IPv6 address ("unix:", empty, a name)
// is inside no range.
bool RangeContains(const AddressRange& range, std::string_view address);

}  // namespace healthcheck
