// Who may see the detailed report: a caller that presents the token, or one
// whose own address (REMOTE_ADDR, never a forwarded-for header, which any
// client can write) is in a trusted network.
#pragma once

#include <string_view>

#include "config.h"
#include "request.h"

namespace healthcheck {

bool IsAuthorised(const DetailsSettings& details, const Request& request);

// The token of "Bearer TOKEN" (the scheme in any case, RFC 9110 11.1), or an
// empty view when the header holds no bearer token.
std::string_view BearerToken(std::string_view authorization);

// Compares a secret with a guess in a time that depends only on the
// secret's length: neither the first differing byte nor the guess's length
// shows in it.
bool ConstantTimeEquals(std::string_view secret, std::string_view guess);

}  // namespace healthcheck
