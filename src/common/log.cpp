#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace status::common {

std::vector<Option> log_option_rows(LogOptions& o) {
  return {Option::choice("log-level", &o.level, kLogLevels, "info", "least severe events logged")};
}

void init_logging(const std::string& component, const std::string& level) {
  auto logger = spdlog::stderr_logger_mt(component);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l " + component + " %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace status::common
