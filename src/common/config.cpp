#include "common/config.hpp"

#include "common/http_client.hpp"  // redact_url

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

extern char** environ;

namespace status::common {

namespace {

std::string range(long long min, long long max) {
  return std::to_string(min) + ".." + std::to_string(max);
}

std::string number_text(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  std::ostringstream out;
  out << d;
  return out.str();
}

bool to_integer(const std::string& v, long long& n) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  n = std::strtoll(v.c_str(), &end, 10);
  return *end == '\0' && errno == 0;
}

bool to_number(const std::string& v, double& d) {
  if (v.empty()) return false;
  char* end = nullptr;
  errno = 0;
  d = std::strtod(v.c_str(), &end);
  return *end == '\0' && errno == 0 && std::isfinite(d);
}

/// -1: not a boolean word.
int to_bool(const std::string& v) {
  if (v == "true" || v == "1" || v == "yes") return 1;
  if (v.empty() || v == "false" || v == "0" || v == "no") return 0;
  return -1;
}

std::string join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : sep) + words[i];
  return out;
}

std::vector<std::string> split_commas(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string part;
  while (std::getline(ss, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

std::string shown(const Option& o, const std::string& value) {
  if (!o.is_secret) return value;
  std::string masked = redact_url(value);
  return masked != value ? masked : "***";
}

}  // namespace

std::string invalid_value(const Option& option, const std::string& value) {
  return "--" + option.name + " must be " + option.must_be + ", got '" + shown(option, value) + "'";
}

// --- rows ---

Option Option::text(std::string name, std::string* to, std::string default_value,
                    std::string help) {
  Option o{std::move(name), std::move(default_value), std::move(help)};
  o.type = OptionType::kText;
  o.must_be = "text";
  o.store = [to](const std::string& v) {
    *to = v;
    return true;
  };
  return o;
}

Option Option::integer(std::string name, std::function<void(long long)> set, long long min,
                       long long max, long long default_value, std::string help) {
  Option o{std::move(name), std::to_string(default_value), std::move(help)};
  o.type = OptionType::kInteger;
  o.must_be = "an integer in " + range(min, max);
  o.store = [set = std::move(set), min, max](const std::string& v) {
    long long n = 0;
    if (!to_integer(v, n) || n < min || n > max) return false;
    set(n);
    return true;
  };
  return o;
}

Option Option::number(std::string name, double* to, double min, double max,
                      std::string default_value, std::string help) {
  Option o{std::move(name), std::move(default_value), std::move(help)};
  o.type = OptionType::kNumber;
  o.must_be = "a number in " + number_text(min) + ".." + number_text(max);
  o.store = [to, min, max](const std::string& v) {
    double d = 0;
    if (!to_number(v, d) || d < min || d > max) return false;
    *to = d;
    return true;
  };
  return o;
}

Option Option::flag(std::string name, bool* to, std::string help) {
  Option o{std::move(name), "", std::move(help), false, true};
  o.type = OptionType::kSwitch;
  o.must_be = "true or false";
  o.store = [to](const std::string& v) {
    int b = to_bool(v);
    if (b < 0) return false;
    *to = b == 1;
    return true;
  };
  return o;
}

Option Option::choice_row(std::string name, const std::vector<std::string>& allowed,
                          std::string default_value, std::string help) {
  Option o{std::move(name), std::move(default_value), std::move(help)};
  o.type = OptionType::kChoice;
  o.must_be = "one of " + join(allowed, ", ");
  return o;
}

Option Option::choice(std::string name, std::string* to, std::vector<std::string> allowed,
                      std::string default_value, std::string help) {
  auto o = choice_row(std::move(name), allowed, std::move(default_value), std::move(help));
  o.store = [to, allowed = std::move(allowed)](const std::string& v) {
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) return false;
    *to = v;
    return true;
  };
  return o;
}

Option Option::list(std::string name, std::vector<std::string>* to, std::string default_value,
                    std::string help) {
  return each(
      std::move(name),
      [to](const std::string& v) {
        to->push_back(v);
        return true;
      },
      "text", std::move(default_value), std::move(help));
}

Option Option::each(std::string name, std::function<bool(const std::string&)> take,
                    std::string must_be, std::string default_value, std::string help) {
  Option o{std::move(name), std::move(default_value), std::move(help), true};
  o.type = OptionType::kText;
  o.must_be = std::move(must_be);
  o.store = std::move(take);
  return o;
}

Option Option::secret() && {
  is_secret = true;
  return std::move(*this);
}

Option Option::required() && {
  is_required = true;
  return std::move(*this);
}

Option Option::comma_lists() && {
  comma_separated = true;
  return std::move(*this);
}

Option Option::default_shown(std::string text) && {
  shown_default = std::move(text);
  return std::move(*this);
}

Option Option::valid_if(std::function<bool(const std::string&)> valid, std::string what) && {
  must_be = std::move(what);
  store = [valid = std::move(valid), next = std::move(store)](const std::string& v) {
    if (!v.empty() && !valid(v)) return false;
    return next(v);
  };
  return std::move(*this);
}

// --- parsing ---

Config::Config(std::string program, std::string summary, std::vector<Option> options)
    : program_(std::move(program)), summary_(std::move(summary)), options_(std::move(options)) {
  options_.push_back({"help", "", "print this help and exit", false, true});
}

std::string Config::env_name(const std::string& option) {
  std::string e = "STATUS_";
  for (char c : option) e += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return e;
}

const Option& Config::find(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name) return o;
  throw ConfigError("unknown option --" + name);
}

std::map<std::string, std::string> Config::environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("STATUS_", 0) == 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

bool Config::parse(int argc, char** argv) {
  bool go = parse(std::vector<std::string>(argv + 1, argv + argc), environment());
  if (!go) std::cout << help_text();
  return go;
}

bool Config::parse(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env) {
  values_.clear();
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h") a = "--help";
    if (a.rfind("--", 0) != 0) throw ConfigError("unexpected argument '" + a + "' (see --help)");
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const Option* opt = nullptr;
    for (const auto& o : options_)
      if (o.name == name) opt = &o;
    if (!opt) throw ConfigError("unknown option --" + name + " (see --help)");
    if (opt->is_switch) {
      if (!inline_value) value = "true";
    } else if (!inline_value) {
      if (i + 1 >= args.size()) throw ConfigError("option --" + name + " needs a value");
      value = args[++i];
    }
    if (name == "help") return false;
    auto& vs = values_[name];
    if (!opt->repeatable) vs.clear();
    vs.push_back(value);
  }
  for (const auto& o : options_) {
    if (values_.count(o.name)) continue;
    if (auto it = env.find(env_name(o.name)); it != env.end()) {
      auto& vs = values_[o.name];
      if (o.repeatable) {
        for (auto& part : split_commas(it->second)) vs.push_back(std::move(part));
      } else {
        vs.push_back(it->second);
      }
    } else if (!o.default_value.empty()) {
      values_[o.name].push_back(o.default_value);
    }
  }
  store_values();
  return true;
}

void Config::store_values() const {
  for (const auto& o : options_) {
    if (!o.store) continue;
    auto it = values_.find(o.name);
    if (it == values_.end() || it->second.empty()) {
      if (o.is_required)
        throw ConfigError("--" + o.name + " is required (or " + env_name(o.name) + ")");
      continue;
    }
    for (const auto& given : it->second) {
      auto pieces = o.comma_separated ? split_commas(given) : std::vector<std::string>{given};
      for (const auto& v : pieces) {
        bool ok = false;
        try {
          ok = o.store(v);
        } catch (const std::invalid_argument&) {
          ok = false;
        }
        if (!ok) throw ConfigError(invalid_value(o, v));
      }
    }
  }
}

bool Config::has(const std::string& name) const {
  find(name);
  auto it = values_.find(name);
  return it != values_.end() && !it->second.empty();
}

std::string Config::get(const std::string& name) const {
  find(name);
  auto it = values_.find(name);
  return it == values_.end() || it->second.empty() ? std::string() : it->second.back();
}

std::vector<std::string> Config::get_all(const std::string& name) const {
  find(name);
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long Config::get_int(const std::string& name, long min, long max) const {
  std::string v = get(name);
  long long n = 0;
  if (!to_integer(v, n) || n < min || n > max)
    throw ConfigError("--" + name + " must be an integer in " + range(min, max) + ", got '" +
                      shown(find(name), v) + "'");
  return static_cast<long>(n);
}

double Config::get_double(const std::string& name) const {
  std::string v = get(name);
  double d = 0;
  if (!to_number(v, d))
    throw ConfigError("--" + name + " must be a number, got '" + shown(find(name), v) + "'");
  return d;
}

bool Config::get_bool(const std::string& name) const {
  std::string v = get(name);
  int b = to_bool(v);
  if (b < 0)
    throw ConfigError("--" + name + " must be true or false, got '" + shown(find(name), v) + "'");
  return b == 1;
}

// --- output ---

std::string Config::help_text() const {
  std::ostringstream out;
  out << "Usage: " << program_ << " [options]\n" << summary_ << "\n\nOptions (each also from the "
      << "environment variable shown):\n";
  for (const auto& o : options_) {
    std::string left = "  --" + o.name + (o.is_switch ? "" : " VALUE");
    out << left << std::string(left.size() < 30 ? 30 - left.size() : 1, ' ') << o.help;
    std::vector<std::string> notes;
    if (o.type != OptionType::kPlain && o.type != OptionType::kSwitch && o.must_be != "text")
      notes.push_back(o.must_be);
    if (o.repeatable) notes.push_back("repeatable");
    if (o.comma_separated) notes.push_back("each a comma-separated list");
    if (o.is_required) notes.push_back("required");
    if (o.is_secret) notes.push_back("secret: never printed; best given in the environment");
    if (!notes.empty()) out << " (" << join(notes, "; ") << ")";
    if (!o.is_secret) {
      if (!o.shown_default.empty())
        out << " [default: " << o.shown_default << "]";
      else if (!o.default_value.empty())
        out << " [default: " << o.default_value << "]";
    }
    if (o.name != "help") out << " {" << env_name(o.name) << "}";
    out << "\n";
  }
  return out.str();
}

std::string Config::describe() const {
  std::string out;
  for (const auto& o : options_) {
    auto it = values_.find(o.name);
    if (o.name == "help" || it == values_.end() || it->second.empty()) continue;
    std::string v;
    for (const auto& one : it->second) v += (v.empty() ? "" : ",") + one;
    out += (out.empty() ? "" : " ") + o.name + "=" + (o.is_secret ? "***" : v);
  }
  return out;
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace status::common
