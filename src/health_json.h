// The detailed report, in the IETF draft's application/health+json format
// (draft-inadarei-api-health-check-06): a status, and per step a check named
// "STEP:responseTime" with the time it took. Only authorised callers that ask
// for it get this; everyone else gets the clearskies envelope.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "health_check.h"

namespace healthcheck {

inline constexpr std::string_view kHealthJsonType = "application/health+json";

// Whether an Accept header lists application/health+json (any case, with
// no q=0 against it). "*/*" does not count: the envelope is the default.
bool AcceptsHealthJson(std::string_view accept);

// {"status":"pass"|"fail","checks":{"STEP:responseTime":[{...}]},"output":...}
// `output` (omitted when empty) says why the whole check failed. Strings are
// escaped and made valid UTF-8 (a byte that is not part of a well-formed
// sequence becomes U+FFFD), so a reason quoting a file name or a program's
// output stays valid JSON.
std::string HealthJsonBody(bool passed, const std::vector<CheckRecord>& records,
                           std::string_view output);

}  // namespace healthcheck
