// IsAuthorised, BearerToken and ConstantTimeEquals.
#include "authorization.h"

#include <strings.h>

namespace healthcheck {

std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0) {
    return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  size_t start = token.find_first_not_of(' ');
  if (start == std::string_view::npos) return {};
  token.remove_prefix(start);
  size_t end = token.find_last_not_of(' ');
  return token.substr(0, end + 1);
}

bool ConstantTimeEquals(std::string_view secret, std::string_view guess) {
  // Volatile keeps the compiler from ending the loop at the first difference.
  volatile unsigned char difference = secret.size() == guess.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i) {
    unsigned char guessed = i < guess.size() ? static_cast<unsigned char>(guess[i]) : 0;
    difference = difference | (static_cast<unsigned char>(secret[i]) ^ guessed);
  }
  return difference == 0;
}

bool IsAuthorised(const DetailsSettings& details, const Request& request) {
  // Parsed once, however many ranges there are.
  std::optional<IpAddress> caller =
      details.trusted_addresses.empty() ? std::nullopt : ParseIpAddress(request.remote_addr);
  if (caller) {
    for (const AddressRange& range : details.trusted_addresses) {
      if (RangeContains(range, *caller)) return true;
    }
  }
  // An empty secret (a configuration that was parsed but never loaded)
  // authorises nobody, however empty the guess.
  if (details.token.empty()) return false;
  std::string_view token = BearerToken(request.authorization);
  return !token.empty() && ConstantTimeEquals(details.token, token);
}

}  // namespace healthcheck
