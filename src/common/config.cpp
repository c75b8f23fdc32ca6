#include "common/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

extern char** environ;

namespace status::common {

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

bool Config::parse(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("STATUS_", 0) == 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  bool go = parse(args, env);
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
        std::stringstream ss(it->second);
        std::string part;
        while (std::getline(ss, part, ','))
          if (!part.empty()) vs.push_back(part);
      } else {
        vs.push_back(it->second);
      }
    } else if (!o.default_value.empty()) {
      values_[o.name].push_back(o.default_value);
    }
  }
  return true;
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
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < min || n > max)
    throw ConfigError("--" + name + " must be an integer in " + std::to_string(min) + ".." +
                      std::to_string(max) + ", got '" + v + "'");
  return n;
}

double Config::get_double(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') throw ConfigError("--" + name + " must be a number, got '" + v + "'");
  return d;
}

bool Config::get_bool(const std::string& name) const {
  std::string v = get(name);
  if (v.empty() || v == "false" || v == "0" || v == "no") return false;
  if (v == "true" || v == "1" || v == "yes") return true;
  throw ConfigError("--" + name + " must be true or false, got '" + v + "'");
}

std::string Config::help_text() const {
  std::ostringstream out;
  out << "Usage: " << program_ << " [options]\n" << summary_ << "\n\nOptions (each also from the "
      << "environment variable shown):\n";
  for (const auto& o : options_) {
    std::string left = "  --" + o.name + (o.is_switch ? "" : " VALUE");
    out << left << std::string(left.size() < 30 ? 30 - left.size() : 1, ' ') << o.help;
    if (o.repeatable) out << " (repeatable)";
    if (!o.default_value.empty()) out << " [default: " << o.default_value << "]";
    if (o.name != "help") out << " {" << env_name(o.name) << "}";
    out << "\n";
  }
  return out.str();
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace status::common
