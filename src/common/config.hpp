#pragma once
// One table of options serving the command line, the environment and --help.
//
// A row is either typed (made by one of the Option factories: its type, bounds or allowed
// values, default, help, whether it is a secret, and where its value goes) or plain (name,
// default, help; read back with Config::get…). The servers use typed rows only: each knob is
// spelled once, and every value is checked in one place (Config::parse) with one message
// format: "--name must be …, got '…'".

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace status::common {

/// A configuration error: printed as one line, process exits non-zero (the servers: 2, see
/// common/server_main.hpp).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The type of a typed row (kPlain: a row without one, read with Config::get…).
enum class OptionType { kPlain, kText, kInteger, kNumber, kSwitch, kChoice };

/// One knob. `--name VALUE` on the command line, `STATUS_NAME` (upper case, '-' → '_') in the
/// environment. Repeatable options take several flags, or a comma-separated environment value.
struct Option {
  std::string name;           // without leading dashes, e.g. "data-dir"
  std::string default_value;  // "" = no default
  std::string help;
  bool repeatable = false;
  bool is_switch = false;     // takes no value; present = "true"

  // --- typed rows (set by the factories and modifiers below) ---
  OptionType type = OptionType::kPlain;
  /// What a valid value is, in --help and in the error message ("an integer in 0..65535",
  /// "one of debug, info, warn, error").
  std::string must_be{};
  /// A secret (a URL with a password, …): its value and default are never printed — not in
  /// --help, not in an error message (a URL's password is masked, anything else is '***'),
  /// not in Config::describe(). Give it in the environment rather than on the command line.
  bool is_secret = false;
  bool is_required = false;  // no default: missing → "--name is required (or STATUS_NAME)"
  /// Each value, from flags too, is a comma-separated list (e.g. a default of several).
  bool comma_separated = false;
  std::string shown_default{};  // --help's "[default: …]" when it is not default_value
  /// Takes one value (each one, for repeatable rows) and stores it where it goes. Returns false
  /// (or throws std::invalid_argument) when it is not valid: the parse then fails with
  /// "--name must be <must_be>, got '<value>'".
  std::function<bool(const std::string&)> store{};

  /// Free text. Empty values are stored as given.
  static Option text(std::string name, std::string* to, std::string default_value,
                     std::string help);
  /// An integer in [min, max]; `set` receives it.
  static Option integer(std::string name, std::function<void(long long)> set, long long min,
                        long long max, long long default_value, std::string help);
  /// An integer in [min, max] stored into any integral field.
  template <class Int, std::enable_if_t<std::is_integral_v<Int>, int> = 0>
  static Option integer(std::string name, Int* to, long long min, long long max,
                        long long default_value, std::string help) {
    return integer(std::move(name), [to](long long v) { *to = static_cast<Int>(v); }, min, max,
                   default_value, std::move(help));
  }
  /// A duration given as an integer count of `FlagUnit` (milliseconds or seconds: the flag's
  /// name says which, "…-ms" / "…-s"), in [min, max], stored into any std::chrono::duration.
  template <class FlagUnit, class Rep, class Period>
  static Option duration(std::string name, std::chrono::duration<Rep, Period>* to, long long min,
                         long long max, long long default_value, std::string help) {
    static_assert(std::is_same_v<FlagUnit, std::chrono::milliseconds> ||
                  std::is_same_v<FlagUnit, std::chrono::seconds>);
    auto row = integer(
        std::move(name),
        [to](long long v) {
          *to = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(FlagUnit(v));
        },
        min, max, default_value, std::move(help));
    row.must_be = std::string("a count of ") +
                  (std::is_same_v<FlagUnit, std::chrono::seconds> ? "seconds" : "ms") + " in " +
                  std::to_string(min) + ".." + std::to_string(max);
    return row;
  }
  /// A decimal number in [min, max]; no default when `default_value` is empty.
  static Option number(std::string name, double* to, double min, double max,
                       std::string default_value, std::string help);
  /// A switch: `--name` alone means true; `--name=false`, STATUS_NAME=0/no/false mean false.
  static Option flag(std::string name, bool* to, std::string help);
  /// One of `allowed` (name → value); `default_value` names one of them.
  template <class T>
  static Option choice(std::string name, T* to, std::vector<std::pair<std::string, T>> allowed,
                       std::string default_value, std::string help) {
    std::vector<std::string> names;
    for (const auto& a : allowed) names.push_back(a.first);
    auto row = choice_row(std::move(name), names, std::move(default_value), std::move(help));
    row.store = [to, allowed = std::move(allowed)](const std::string& v) {
      for (const auto& a : allowed)
        if (a.first == v) {
          *to = a.second;
          return true;
        }
      return false;
    };
    return row;
  }
  /// One of `allowed`, kept as the name.
  static Option choice(std::string name, std::string* to, std::vector<std::string> allowed,
                       std::string default_value, std::string help);
  /// Repeatable: each value is appended to `to`.
  static Option list(std::string name, std::vector<std::string>* to, std::string default_value,
                     std::string help);
  /// Repeatable, each value handed to `take` (which stores it and returns false, or throws
  /// std::invalid_argument, when it is not <must_be>).
  static Option each(std::string name, std::function<bool(const std::string&)> take,
                     std::string must_be, std::string default_value, std::string help);

  // Modifiers, chained on a factory's result: Option::list(…).secret().
  Option secret() &&;
  Option required() &&;
  Option comma_lists() &&;  // see comma_separated
  Option default_shown(std::string text) &&;
  /// Also refuses a (non-empty) value for which `valid` is false; `must_be` says what it must be.
  Option valid_if(std::function<bool(const std::string&)> valid, std::string must_be) &&;

 private:
  static Option choice_row(std::string name, const std::vector<std::string>& allowed,
                           std::string default_value, std::string help);
};

/// Parsed configuration. Not thread-safe while parsing; read-only afterwards.
class Config {
 public:
  Config(std::string program, std::string summary, std::vector<Option> options);

  /// Parses argv, falling back to the environment, then to defaults; stores each typed row's
  /// value where it goes. Throws ConfigError. Returns false when --help was given (help text
  /// already printed to stdout).
  bool parse(int argc, char** argv);
  /// Same, with an explicit environment (for tests).
  bool parse(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

  std::string get(const std::string& name) const;
  std::vector<std::string> get_all(const std::string& name) const;
  long get_int(const std::string& name, long min, long max) const;
  double get_double(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  /// True when the option has a value (given, from the environment, or a default).
  bool has(const std::string& name) const;

  std::string help_text() const;
  /// "name=value …" of every option that has a value, secrets as '***' (for a log line).
  std::string describe() const;
  const std::string& program() const { return program_; }
  static std::string env_name(const std::string& option);
  /// The STATUS_* variables of this process's environment.
  static std::map<std::string, std::string> environment();

 private:
  const Option& find(const std::string& name) const;
  void store_values() const;
  std::string program_;
  std::string summary_;
  std::vector<Option> options_;
  std::map<std::string, std::vector<std::string>> values_;
};

/// The one message of a value that is not valid: "--name must be <must_be>, got '<value>'"
/// (a secret's value masked).
std::string invalid_value(const Option& option, const std::string& value);

/// Number of I/O threads to use by default: the number of cores.
int default_threads();

}  // namespace status::common
