// libFuzzer target: any bytes as a configuration file. ParseConfig must
// return a Config or a message, never crash, hang or overflow the stack.
#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>

#include "../../src/app.h"
#include "../../src/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  healthcheck::Result<healthcheck::Config> config =
      healthcheck::ParseConfig(text, "/fuzz/healthcheck.json");
  if (config.ok()) {
    // A valid configuration must also wire up.
    healthcheck::BuildApp(config.value());
  } else if (config.status().message().rfind("/fuzz/healthcheck.json", 0) != 0) {
    __builtin_trap();  // Every message names the file.
  }
  return 0;
}
