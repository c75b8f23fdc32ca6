#pragma once
// status-registry's configuration: one option table (command line and STATUS_* environment)
// storing into ProcessOptions, and the rules between its options.

#include "common/config.hpp"
#include "common/log.hpp"
#include "registry/registry_service.hpp"

#include <map>
#include <string>
#include <vector>

namespace status::registry {

struct ProcessOptions {
  ServiceOptions service;
  common::LogOptions log;
  std::string credentials_file;  // "": the registry is open
  bool protect_reads = false;
};

/// Every option status-registry understands, storing into `o`.
std::vector<common::Option> option_table(ProcessOptions& o);

/// After the table was parsed into `o`: loads --credentials-file into o.service.access and checks
/// the rules between options. Returns warnings (peers whose credentials will be refused). Throws
/// common::ConfigError with one clear line (also for an unusable credentials file).
std::vector<std::string> finish_options(ProcessOptions& o);

/// Parse and finish in one (tests). Throws common::ConfigError.
ProcessOptions options_from(const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env = {},
                            std::vector<std::string>* warnings = nullptr);

}  // namespace status::registry
