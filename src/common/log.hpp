#pragma once
// Structured logging: one line per event, `event=name key=value ...`, to stderr.

#include "common/config.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

namespace status::common {

struct LogOptions {
  std::string level = "info";  // one of kLogLevels
};

/// The levels --log-level accepts, in every binary.
inline const std::vector<std::string> kLogLevels{"debug", "info", "warn", "error"};

/// The logging rows every server has: --log-level.
std::vector<Option> log_option_rows(LogOptions& o);

/// Configures spdlog for the process: stderr, ISO timestamps, the component name, the level
/// given by name (one of kLogLevels).
void init_logging(const std::string& component, const std::string& level);

}  // namespace status::common
