#pragma once
// Structured logging: one line per event, `event=name key=value ...`, to stderr.

#include <spdlog/spdlog.h>

#include <string>

namespace status::common {

/// Configures spdlog for the process: stderr, ISO timestamps, the component name, the level
/// given by name ("debug", "info", "warn", "error").
void init_logging(const std::string& component, const std::string& level);

}  // namespace status::common
