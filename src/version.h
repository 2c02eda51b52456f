// The version printed by --version.
#pragma once

namespace healthcheck {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace healthcheck
