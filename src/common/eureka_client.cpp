#include "common/eureka_client.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>

namespace status::common {

namespace json = boost::json;

namespace eureka_json {

const json::value* member(const json::object& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &it->value();
}

std::optional<std::string> text(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_double()) return json::serialize(*v);
  if (v->is_bool()) return v->get_bool() ? "true" : "false";
  return std::nullopt;
}

std::optional<std::int64_t> integer(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) {
    if (v->get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v->get_uint64());
  }
  if (v->is_double()) {
    // Casting a double outside int64's range (or NaN) is undefined behaviour (found by
    // tests/fuzz with "durationInSecs": 1e300).
    double d = v->get_double();
    if (!(d >= -9.2e18 && d <= 9.2e18)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  if (v->is_string()) {
    std::string_view s = v->get_string();
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return n;
  }
  return std::nullopt;
}

std::optional<bool> flag(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_bool()) return v->get_bool();
  if (v->is_string()) {
    if (v->get_string() == "true") return true;
    if (v->get_string() == "false") return false;
  }
  return std::nullopt;
}

std::optional<Port> port(const json::value* v) {
  if (!v) return std::nullopt;
  Port p;
  std::optional<std::int64_t> n;
  if (const auto* o = v->if_object()) {
    n = integer(member(*o, "$"));
    p.enabled = flag(member(*o, "@enabled"));
  } else {
    n = integer(v);
  }
  // Checked before narrowing to int (4294967376 would otherwise become port 80).
  if (!n || *n < 0 || *n > 65535) return std::nullopt;
  p.number = static_cast<int>(*n);
  return p;
}

std::map<std::string, std::string> string_map(const json::value* v) {
  std::map<std::string, std::string> out;
  if (!v || !v->is_object()) return out;
  for (const auto& kv : v->get_object()) {
    if (kv.key() == "@class") continue;
    if (auto t = text(&kv.value())) out[std::string(kv.key())] = *t;
  }
  return out;
}

std::vector<const json::value*> elements(const json::value* v) {
  std::vector<const json::value*> out;
  if (!v || v->is_null()) return out;
  if (const auto* a = v->if_array()) {
    for (const auto& e : *a) out.push_back(&e);
  } else {
    out.push_back(v);
  }
  return out;
}

}  // namespace eureka_json


namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string lower_case(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper_case(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const Headers kJsonHeaders = {{"Accept", "application/json"}};

std::string default_instance_id(const InstanceInfo& info) {
  // Spring Cloud's default shape: host:app:port.
  return info.host + ":" + lower_case(info.app) + ":" + std::to_string(info.port);
}

}  // namespace

std::string EurekaClient::registration_body(const InstanceInfo& info, const std::string& status,
                                            std::int64_t last_dirty_ts) {
  std::string base =
      (info.secure ? "https://" : "http://") + info.host + ":" + std::to_string(info.port);
  std::string vip = lower_case(info.app);
  json::object metadata;
  if (info.metadata.empty()) metadata["@class"] = "java.util.Collections$EmptyMap";
  for (const auto& [k, v] : info.metadata) metadata[k] = v;
  std::string dirty = std::to_string(last_dirty_ts);
  json::object instance{
      {"instanceId", info.instance_id.empty() ? default_instance_id(info) : info.instance_id},
      {"hostName", info.host},
      {"app", upper_case(info.app)},
      {"ipAddr", info.host},
      {"status", status},
      {"overriddenStatus", "UNKNOWN"},
      {"port", {{"$", info.port}, {"@enabled", info.secure ? "false" : "true"}}},
      {"securePort", {{"$", info.secure ? info.port : 443}, {"@enabled", info.secure ? "true" : "false"}}},
      {"countryId", 1},
      {"dataCenterInfo",
       {{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"}, {"name", "MyOwn"}}},
      {"leaseInfo",
       {{"renewalIntervalInSecs", info.renewal_interval_s}, {"durationInSecs", info.duration_s}}},
      {"metadata", std::move(metadata)},
      {"homePageUrl", base + "/"},
      {"statusPageUrl", base + "/health"},
      {"healthCheckUrl", base + "/health"},
      {"vipAddress", vip},
      {"secureVipAddress", vip},
      {"isCoordinatingDiscoveryServer", "false"},
      {"lastUpdatedTimestamp", dirty},
      {"lastDirtyTimestamp", dirty},
  };
  if (info.secure) instance["secureHealthCheckUrl"] = base + "/health";
  return json::serialize(json::object{{"instance", std::move(instance)}});
}

EurekaClient::EurekaClient(std::vector<BaseUrl> registries, InstanceInfo info)
    : registries_(std::move(registries)), info_(std::move(info)) {
  info_.app = upper_case(info_.app);
  if (info_.instance_id.empty()) info_.instance_id = default_instance_id(info_);
  info_.renewal_interval_s = std::max(1, info_.renewal_interval_s);
  info_.duration_s = std::max(info_.renewal_interval_s, info_.duration_s);
}

EurekaClient::~EurekaClient() { stop(); }

std::string EurekaClient::instance_path() const {
  return "/apps/" + encode_path_segment(info_.app) + "/" + encode_path_segment(info_.instance_id);
}

std::chrono::milliseconds EurekaClient::request_timeout() const {
  // A registry that does not answer within one renewal interval is treated as down.
  return std::chrono::milliseconds(std::clamp(info_.renewal_interval_s * 1000, 500, 5000));
}

void EurekaClient::start(const std::string& initial_status) {
  std::lock_guard lock(mutex_);
  if (started_ || registries_.empty()) return;
  started_ = true;
  status_ = initial_status;
  last_dirty_ts_ = now_ms();
  must_register_ = true;
  // One heartbeat (or registration) every renewal interval; a status change wakes it early.
  task_ = std::make_unique<PeriodicTask>("eureka_client", std::chrono::seconds(info_.renewal_interval_s),
                                         [this] { beat(); });
  task_->start();
}

void EurekaClient::set_status(const std::string& status) {
  {
    std::lock_guard lock(mutex_);
    if (status == status_) return;
    status_ = status;
    last_dirty_ts_ = std::max(now_ms(), last_dirty_ts_ + 1);
    must_register_ = true;
    if (!task_) return;  // not started: start() registers with it
  }
  task_->wake();
}

bool EurekaClient::registered() const {
  std::lock_guard lock(mutex_);
  return registered_;
}

bool EurekaClient::register_at(std::size_t index, const std::string& status, std::int64_t dirty) {
  auto r =
      http_request(http::verb::post, registries_[index], "/apps/" + encode_path_segment(info_.app),
                   registration_body(info_, status, dirty), kJsonHeaders, request_timeout());
  if (!r.ok() || r.res.result_int() != 204) {
    int code = r.ok() ? r.res.result_int() : 0;
    // Refused for its credentials (401, 403) or its id (409, registered under other
    // credentials): a configuration problem, worth one line each time it starts.
    bool refusal = code == 401 || code == 403 || code == 409;
    std::lock_guard lock(mutex_);
    if (refusal && refused_ != code)
      spdlog::warn("event=eureka_register_refused registry={} instance={} status={} reason=\"{}\"",
                   registries_[index].redacted(), info_.instance_id, code,
                   code == 409 ? "the instance id is registered under other credentials"
                               : "the registry does not accept the credentials of its URL");
    else if (!refusal)
      spdlog::debug("event=eureka_register_failed registry={} error=\"{}\"",
                    registries_[index].redacted(),
                    r.ok() ? "status " + std::to_string(code) : r.ec.message());
    refused_ = refusal ? code : 0;
    return false;
  }
  std::lock_guard lock(mutex_);
  bool first = !registered_ || current_ != index;
  registered_ = true;
  refused_ = 0;
  current_ = index;
  reached_.insert(index);
  if (dirty == last_dirty_ts_) must_register_ = false;
  if (first)
    spdlog::info("event=eureka_registered registry={} app={} instance={} status={}",
                 registries_[index].redacted(), info_.app, info_.instance_id, status);
  return true;
}

bool EurekaClient::heartbeat_at(std::size_t index, const std::string& status, std::int64_t dirty) {
  std::string target = instance_path() + "?status=" + encode_path_segment(status) +
                       "&lastDirtyTimestamp=" + std::to_string(dirty);
  auto r = http_request(http::verb::put, registries_[index], target, {}, kJsonHeaders,
                        request_timeout());
  if (r.ok() && r.res.result_int() == 200) {
    // This registry knows us (e.g. through replication after a failover): use it from now on,
    // and deregister there at the end.
    std::lock_guard lock(mutex_);
    current_ = index;
    reached_.insert(index);
    return true;
  }
  if (r.ok() && r.res.result_int() == 404) {
    spdlog::info("event=eureka_heartbeat_unknown registry={} instance={} action=reregister",
                 registries_[index].redacted(), info_.instance_id);
    return register_at(index, status, dirty);
  }
  int code = r.ok() ? r.res.result_int() : 0;
  // Refused (credentials changed, or our lease ran out and another owner took the id): the
  // registration says why, once.
  if (code == 401 || code == 403 || code == 409) return register_at(index, status, dirty);
  return false;
}

void EurekaClient::beat() {
  std::string status;
  std::int64_t dirty;
  bool must_register;
  std::size_t start;
  {
    std::lock_guard lock(mutex_);
    status = status_;
    dirty = last_dirty_ts_;
    must_register = must_register_;
    start = current_;
  }
  bool ok = false;
  // Try the registry in use first, then the others in order.
  for (std::size_t k = 0; k < registries_.size() && !ok; ++k) {
    std::size_t i = (start + k) % registries_.size();
    ok = must_register ? register_at(i, status, dirty) : heartbeat_at(i, status, dirty);
  }
  if (!ok && !failing_)
    spdlog::warn("event=eureka_unreachable registries={} instance={} action=retry",
                 registries_.size(), info_.instance_id);
  failing_ = !ok;
}

void EurekaClient::stop() {
  std::set<std::size_t> reached;
  {
    std::lock_guard lock(mutex_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  if (task_) task_->stop();
  {
    std::lock_guard lock(mutex_);
    reached = reached_;
  }
  for (std::size_t i : reached) {
    auto r = http_request(http::verb::delete_, registries_[i], instance_path(), {}, kJsonHeaders,
                          request_timeout());
    spdlog::info("event=eureka_deregistered registry={} instance={} result={}",
                 registries_[i].redacted(), info_.instance_id,
                 r.ok() ? std::to_string(r.res.result_int()) : r.ec.message());
  }
}

std::optional<std::vector<DiscoveredInstance>> parse_discovered(std::string_view body) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec || !root.is_object()) return std::nullopt;
  // An application ({"application":…}) or the whole registry ({"applications":{"application":…}}).
  const json::value* apps = eureka_json::member(root.get_object(), "application");
  if (const auto* all = eureka_json::member(root.get_object(), "applications")) {
    if (!all->is_object()) return std::nullopt;
    apps = eureka_json::member(all->get_object(), "application");
    if (!apps) return std::vector<DiscoveredInstance>{};
  }
  if (!apps) return std::nullopt;
  std::vector<DiscoveredInstance> out;
  for (const auto* app : eureka_json::elements(apps)) {
    if (!app->is_object()) continue;
    for (const auto* iv :
         eureka_json::elements(eureka_json::member(app->get_object(), "instance"))) {
      if (!iv->is_object()) continue;
      const auto& o = iv->get_object();
      auto host = eureka_json::text(eureka_json::member(o, "hostName"));
      if (!host) host = eureka_json::text(eureka_json::member(o, "ipAddr"));
      // A secure instance (securePort enabled) is called over https on that port.
      auto port = eureka_json::port(eureka_json::member(o, "port"));
      auto secure = eureka_json::port(eureka_json::member(o, "securePort"));
      bool tls = secure && secure->enabled.value_or(false);
      if (tls) port = secure;
      if (!host || !port) continue;
      DiscoveredInstance d;
      d.instance_id = eureka_json::text(eureka_json::member(o, "instanceId")).value_or(*host);
      d.app = eureka_json::text(eureka_json::member(o, "app")).value_or("");
      d.url = (tls ? "https://" : "http://") + *host + ":" + std::to_string(port->number);
      d.status = eureka_json::text(eureka_json::member(o, "status")).value_or("UNKNOWN");
      d.metadata = eureka_json::string_map(eureka_json::member(o, "metadata"));
      out.push_back(std::move(d));
    }
  }
  return out;
}

std::optional<std::vector<DiscoveredInstance>> fetch_instances(
    const std::vector<BaseUrl>& registries, const std::string& app,
    std::chrono::milliseconds timeout) {
  for (const auto& registry : registries) {
    auto r =
        http_request(http::verb::get, registry, "/apps/" + encode_path_segment(upper_case(app)), {},
                     kJsonHeaders, timeout);
    if (!r.ok()) continue;
    if (r.res.result_int() == 404) return std::vector<DiscoveredInstance>{};
    if (r.res.result_int() != 200) continue;
    if (auto parsed = parse_discovered(r.res.body())) return parsed;
  }
  return std::nullopt;
}

bool is_wildcard_bind(const std::string& bind) { return bind == "0.0.0.0" || bind == "::"; }

std::optional<std::string> reachable_host(const std::string& bind,
                                          const std::vector<BaseUrl>& towards) {
  if (!is_wildcard_bind(bind)) return bind;
  namespace asio = boost::asio;
  using udp = asio::ip::udp;
  asio::io_context ioc;
  for (const auto& url : towards) {
    boost::system::error_code ec;
    udp::resolver resolver(ioc);
    auto found = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec) continue;
    for (const auto& entry : found) {
      udp::socket probe(ioc);
      probe.open(entry.endpoint().protocol(), ec);
      if (ec) continue;
      probe.connect(entry.endpoint(), ec);  // chooses the route and source; sends nothing
      if (ec) continue;
      auto local = probe.local_endpoint(ec);
      if (ec || local.address().is_unspecified()) continue;
      return local.address().to_string();
    }
  }
  return std::nullopt;
}

}  // namespace status::common
