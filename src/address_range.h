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

// A caller's address in the same 16-byte form (IPv4 mapped).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
};

// REMOTE_ADDR as a server sets it; nullopt for anything that is not a plain
// IPv4 or IPv6 address ("unix:", empty, a name, a zone, a NUL byte), which
// is inside no range.
std::optional<IpAddress> ParseIpAddress(std::string_view text);

bool RangeContains(const AddressRange& range, const IpAddress& address);

}  // namespace healthcheck
