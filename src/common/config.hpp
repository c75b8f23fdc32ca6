#pragma once
// One table of options serving both the command line and the environment.

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace status::common {

/// A configuration error: printed as one line, process exits non-zero.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One knob. `--name VALUE` on the command line, `STATUS_NAME` (upper case, '-' → '_') in the
/// environment. Repeatable options take several flags, or a comma-separated environment value.
struct Option {
  std::string name;           // without leading dashes, e.g. "data-dir"
  std::string default_value;  // "" = no default
  std::string help;
  bool repeatable = false;
  bool is_switch = false;     // takes no value; present = "true"
};

/// Parsed configuration. Not thread-safe while parsing; read-only afterwards.
class Config {
 public:
  Config(std::string program, std::string summary, std::vector<Option> options);

  /// Parses argv, falling back to the environment, then to defaults. Throws ConfigError.
  /// Returns false when --help was given (help text already printed to stdout).
  bool parse(int argc, char** argv);
  /// Same, with an explicit environment (for tests).
  bool parse(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

  std::string get(const std::string& name) const;
  std::vector<std::string> get_all(const std::string& name) const;
  long get_int(const std::string& name, long min, long max) const;
  double get_double(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  bool has(const std::string& name) const;

  std::string help_text() const;
  static std::string env_name(const std::string& option);

 private:
  const Option& find(const std::string& name) const;
  std::string program_;
  std::string summary_;
  std::vector<Option> options_;
  std::map<std::string, std::vector<std::string>> values_;
};

/// Number of I/O threads to use by default: the number of cores.
int default_threads();

}  // namespace status::common
