#include "ctl/commands.hpp"

#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <ostream>

#include "ctl/format.hpp"
#include "ctl/sse_parser.hpp"

namespace status::ctl {

namespace json = boost::json;
using common::ConfigError;

namespace {

/// Everything a command needs. Commands print results to `out` and failures to `err`.
struct Context {
  const Invocation& inv;
  const ApiClient& api;
  std::ostream& out;
  std::ostream& err;
  bool json_output;
};

// A problem+json answer's detail, else the start of the body, else the status line.
std::string problem_detail(const ApiReply& r) {
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const auto* d = v.get_object().if_contains("detail"); d && d->is_string())
      return std::string(d->get_string());
    if (const auto* t = v.get_object().if_contains("title"); t && t->is_string())
      return std::string(t->get_string());
  }
  if (!r.body.empty()) return one_line(r.body, 200);
  return "HTTP " + std::to_string(r.status);
}

// Reports a failed call and returns its exit code.
int fail(const Context& c, const ApiReply& r) {
  if (!r.reached) {
    c.err << "statusctl: cannot reach " << c.api.url() << ": " << r.error << "\n";
    return kUnreachable;
  }
  c.err << "statusctl: " << r.status << " " << problem_detail(r) << "\n";
  return exit_code_for_status(r.status);
}

// Parses a successful answer's JSON body; on garbage reports it and returns nullopt.
std::optional<json::value> parse_body(const Context& c, const ApiReply& r) {
  json::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec) {
    c.err << "statusctl: the server's answer is not JSON: " << one_line(r.body, 200) << "\n";
    return std::nullopt;
  }
  return v;
}

double number_option(const Invocation& inv, const std::string& name, double min, double max) {
  std::string v = inv.config.get(name);
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno != 0 || !(d >= min && d <= max))
    throw ConfigError("--" + name + " must be a number in " + json::serialize(json::value(min)) +
                      ".." + json::serialize(json::value(max)) + ", got '" + v + "'");
  return d;
}

common::Headers write_headers(const Invocation& inv) {
  common::Headers h;
  if (auto c = inv.config.get("consistency"); !c.empty()) {
    if (c != "all" && c != "async") throw ConfigError("--consistency must be all or async");
    h.emplace_back("X-Consistency", c);
  }
  return h;
}

std::string served_by(const ApiReply& r) {
  std::string s = r.header("X-Served-By");
  std::string rep = r.header("X-Replicated");
  std::string out = s.empty() ? "" : " (served by " + s;
  if (!rep.empty()) out += (out.empty() ? " (" : ", ") + std::string("replicated ") + rep;
  return out.empty() ? out : out + ")";
}

std::string status_target(const std::string& user) {
  return "/api/statuses/" + encode_segment(user);
}

int cmd_set(const Context& c) {
  const auto& user = c.inv.args[0];
  json::object body{{"username", user}, {"statusText", c.inv.args[1]}};
  bool lat = c.inv.config.has("lat"), lon = c.inv.config.has("lon");
  if (lat != lon) throw ConfigError("--lat and --lon go together");
  if (lat) {
    body["latitude"] = number_option(c.inv, "lat", -90, 90);
    body["longitude"] = number_option(c.inv, "lon", -180, 180);
  }
  if (auto t = c.inv.config.get("time"); !t.empty()) body["time"] = t;
  auto r = c.api.put(status_target(user), json::serialize(body), write_headers(c.inv));
  if (!r.reached || (r.status != 200 && r.status != 201)) return fail(c, r);
  auto v = parse_body(c, r);
  if (!v || !v->is_object()) return kServerError;
  if (c.json_output) {
    c.out << r.body << "\n";
  } else {
    c.out << (r.status == 201 ? "created " : "updated ") << user << served_by(r) << "\n"
          << render_status(v->get_object());
  }
  return kOk;
}

int cmd_get(const Context& c) {
  auto r = c.api.get(status_target(c.inv.args[0]));
  if (!r.reached || r.status != 200) return fail(c, r);
  auto v = parse_body(c, r);
  if (!v || !v->is_object()) return kServerError;
  if (c.json_output)
    c.out << r.body << "\n";
  else
    c.out << render_status(v->get_object());
  return kOk;
}

int cmd_list(const Context& c) {
  std::string query;
  for (const char* name : {"limit", "offset"}) {
    if (!c.inv.config.has(name)) continue;
    long n = c.inv.config.get_int(name, name == std::string("limit") ? 1 : 0, 1000000000);
    query += query.empty() ? '?' : '&';
    query.append(name).append("=").append(std::to_string(n));
  }
  auto r = c.api.get("/api/statuses" + query);
  if (!r.reached || r.status != 200) return fail(c, r);
  auto v = parse_body(c, r);
  if (!v || !v->is_array()) return kServerError;
  if (c.json_output) {
    c.out << r.body << "\n";
    return kOk;
  }
  const auto& statuses = v->get_array();
  c.out << render_status_table(statuses);
  std::string total = r.header("X-Total-Count");
  c.out << statuses.size() << " shown" << (total.empty() ? "" : " of " + total) << "\n";
  return kOk;
}

int cmd_delete(const Context& c) {
  const auto& user = c.inv.args[0];
  auto r = c.api.del(status_target(user), write_headers(c.inv));
  if (!r.reached || r.status != 204) return fail(c, r);
  if (!c.json_output) c.out << "deleted " << user << served_by(r) << "\n";
  return kOk;
}

// One event as a line: "upsert alice 2026-…Z "text"" or "delete alice"; with --json the event
// as {"event":…,"data":…}.
void print_event(const Context& c, const SseEvent& e) {
  json::error_code ec;
  auto data = json::parse(e.data, ec);
  if (c.json_output) {
    // The server's own JSON text, untouched (re-serializing would rewrite its numbers).
    c.out << "{\"event\":" << json::serialize(json::value(e.type))
          << ",\"data\":" << (ec ? json::serialize(json::value(e.data)) : e.data) << "}\n";
  } else if (!ec && data.is_object()) {
    const auto& s = data.get_object();
    std::string user = s.contains("username") ? scalar_text(s.at("username")) : "?";
    c.out << e.type << " " << user;
    if (e.type == "upsert") {
      c.out << " " << (s.contains("time") ? scalar_text(s.at("time")) : "");
      if (auto loc = location_text(s); !loc.empty()) c.out << " (" << loc << ")";
      if (s.contains("statusText")) c.out << " " << one_line(scalar_text(s.at("statusText")), 200);
    }
    c.out << "\n";
  } else {
    c.out << e.type << " " << one_line(e.data, 200) << "\n";
  }
  c.out.flush();  // a pipe reader sees each event at once
}

int cmd_watch(const Context& c) {
  long limit = c.inv.config.has("count") ? c.inv.config.get_int("count", 1, 1000000000) : 0;
  long seen = 0;
  SseParser parser;
  std::string head;  // the first bytes, to explain a non-200 answer
  int status = c.api.stream("/api/events", [&](std::string_view piece) {
    if (head.size() < 4096) head.append(piece.substr(0, 4096 - head.size()));
    for (const auto& e : parser.feed(piece)) {
      print_event(c, e);
      if (!c.out) return false;  // the reader went away (a closed pipe)
      if (limit > 0 && ++seen >= limit) return false;
    }
    return true;
  });
  if ((limit > 0 && seen >= limit) || !c.out) return kOk;
  if (status == 0) {
    c.err << "statusctl: cannot reach " << c.api.url() << "\n";
    return kUnreachable;
  }
  if (status != 200) {
    ApiReply r;
    r.reached = true;
    r.status = status;
    r.body = head;
    return fail(c, r);
  }
  c.err << "statusctl: the server closed the event stream\n";
  return kUnreachable;
}

int cmd_nodes(const Context& c) {
  auto r = c.api.get("/api/services");
  if (!r.reached || r.status != 200) {
    if (r.reached && r.status == 404)
      c.err << "statusctl: " << c.api.url() << " has no /api/services: is it a gateway?\n";
    return r.reached && r.status == 404 ? kNotFound : fail(c, r);
  }
  auto v = parse_body(c, r);
  if (!v || !v->is_array()) return kServerError;
  if (c.json_output)
    c.out << r.body << "\n";
  else
    c.out << render_services_table(v->get_array());
  return kOk;
}

}  // namespace

ExitCode exit_code_for_status(int status) {
  if (status == 404) return kNotFound;
  if (status == 400 || status == 413) return kUsage;
  if (status == 502 || status == 503 || status == 504) return kUnreachable;
  return kServerError;
}

int run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
        std::ostream& out, std::ostream& err) {
  try {
    auto inv = parse_invocation(args, env);
    if (inv.command.empty()) {
      out << help_text();
      return kOk;
    }
    std::unique_ptr<ApiClient> api;
    try {
      api = std::make_unique<ApiClient>(
          inv.config.get("gateway"),
          std::chrono::milliseconds(inv.config.get_int("timeout-ms", 1, 3600000)));
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("--gateway: ") + e.what());
    }
    Context c{inv, *api, out, err, inv.config.get_bool("json")};
    if (inv.command == "set") return cmd_set(c);
    if (inv.command == "get") return cmd_get(c);
    if (inv.command == "list") return cmd_list(c);
    if (inv.command == "delete") return cmd_delete(c);
    if (inv.command == "watch") return cmd_watch(c);
    return cmd_nodes(c);  // parse_invocation admits no other command
  } catch (const ConfigError& e) {
    err << "statusctl: " << e.what() << "\n";
    return kUsage;
  }
}

}  // namespace status::ctl
