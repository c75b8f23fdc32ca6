#pragma once

#include "common/http.hpp"
// The client side of the service registry (Eureka REST API, JSON): an instance registers and
// keeps its lease alive; a gateway discovers instances. Also the lenient readers of Eureka's
// JSON shapes, shared with the registry.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/background.hpp"
#include "common/http_client.hpp"

namespace boost::json {
class value;
class object;
}  // namespace boost::json

namespace status::common {

/// What an instance tells the registry about itself.
struct InstanceInfo {
  std::string app = "STATUS-NODE";
  std::string instance_id;
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  /// Serves HTTPS on `port`: registered as the enabled securePort (the plain port disabled) with
  /// https URLs, as Eureka's Java clients register a secure instance.
  bool secure = false;
  int renewal_interval_s = 1;
  int duration_s = 3;
  std::map<std::string, std::string> metadata;
};

/// One instance as a registry reports it.
struct DiscoveredInstance {
  std::string instance_id;
  std::string app;
  std::string url;     // https://host:securePort when its securePort is enabled, else http://host:port
  std::string status;  // UP, OUT_OF_SERVICE, STARTING, DOWN, UNKNOWN
  std::map<std::string, std::string> metadata;
};

/// Registers one instance and keeps its lease alive on its own thread.
///
/// Registries are tried in order: the client registers at the first that answers and stays
/// with it (the registries replicate to each other); when it stops answering, the next one
/// gets the heartbeat (and, answering 404, the registration). A heartbeat answered 404 — the
/// registry restarted or evicted us — re-registers at once. start/set_status/stop may be called
/// from any thread; stop() is idempotent and also run by the destructor.
class EurekaClient {
 public:
  EurekaClient(std::vector<BaseUrl> registries, InstanceInfo info);
  ~EurekaClient();
  EurekaClient(const EurekaClient&) = delete;
  EurekaClient& operator=(const EurekaClient&) = delete;

  /// "STARTING" or "UP": registers (retrying in the background), then heartbeats every
  /// renewal interval.
  void start(const std::string& initial_status);
  /// Changes the status the instance reports; re-registers with it promptly.
  void set_status(const std::string& status);
  /// Joins its thread, then deregisters (DELETE) at every registry that accepted its
  /// registration or a heartbeat.
  void stop();
  /// True once a registration was accepted (for tests and logs).
  bool registered() const;

  /// The instance document the client sends: {"instance":{…}} as the Eureka Java client
  /// shapes it.
  static std::string registration_body(const InstanceInfo& info, const std::string& status,
                                       std::int64_t last_dirty_ts);

 private:
  void beat();  // one registration or heartbeat (the task's run)
  bool register_at(std::size_t index, const std::string& status, std::int64_t dirty);
  bool heartbeat_at(std::size_t index, const std::string& status, std::int64_t dirty);
  std::string instance_path() const;
  std::chrono::milliseconds request_timeout() const;

  std::vector<BaseUrl> registries_;
  InstanceInfo info_;
  mutable std::mutex mutex_;
  std::string status_ = "UP";
  std::int64_t last_dirty_ts_ = 0;
  bool must_register_ = true;
  bool registered_ = false;
  int refused_ = 0;  // the refusal (401, 403, 409) last logged
  bool stopping_ = false;
  bool started_ = false;
  std::set<std::size_t> reached_;  // registries that accepted a registration or heartbeat
  std::size_t current_ = 0;        // registry in use
  bool failing_ = false;           // the task's thread only: for logging transitions
  std::unique_ptr<PeriodicTask> task_;
};

/// Whether `bind` listens on every address (0.0.0.0, ::).
bool is_wildcard_bind(const std::string& bind);

/// The host others reach a server bound to `bind` under, for its registration: `bind` itself,
/// unless that is a wildcard; then the local address this host sends from towards the first of
/// `towards` that resolves (the registries, else the peers: a UDP socket connected there, no
/// packet sent), so that a server on several hosts registers the address the others route to,
/// as Eureka's Java client picks a non-loopback interface. nullopt when nothing is given or
/// nothing resolves. An IPv6 address comes without brackets.
std::optional<std::string> reachable_host(const std::string& bind,
                                          const std::vector<BaseUrl>& towards);

/// GET {registry}/apps/{APP}, trying each registry in turn; nullopt if none answered. An
/// unknown application (404) is an empty list.
std::optional<std::vector<DiscoveredInstance>> fetch_instances(
    const std::vector<BaseUrl>& registries, const std::string& app,
    std::chrono::milliseconds timeout);

/// Parses a GET /apps/{APP} or /apps answer (application(s) as array or single object).
/// nullopt if the body is not Eureka JSON.
std::optional<std::vector<DiscoveredInstance>> parse_discovered(std::string_view body);

/// Percent-encodes one path segment (app names and instance ids are the client's choice).
inline std::string encode_path_segment(std::string_view segment) {
  return percent_encode_segment(segment);
}

/// Lenient readers of Eureka JSON values, as real clients send them: numbers may come as
/// strings, booleans as "true"/"false", ports as {"$":8080,"@enabled":"true"} or a bare number.
namespace eureka_json {
/// The member `key` of `obj`, or null when absent.
const boost::json::value* member(const boost::json::object& obj, std::string_view key);
/// String, number or boolean as text; nullopt when absent, null or structured.
std::optional<std::string> text(const boost::json::value* v);
/// Integer from a number or a numeric string.
std::optional<std::int64_t> integer(const boost::json::value* v);
/// Boolean from a bool or "true"/"false".
std::optional<bool> flag(const boost::json::value* v);
struct Port {
  int number = 0;
  std::optional<bool> enabled;
};
/// {"$":8080,"@enabled":"true"}, {"$":"8080"} or 8080.
std::optional<Port> port(const boost::json::value* v);
/// A JSON object of scalars as a string map, without Eureka's "@class" marker.
std::map<std::string, std::string> string_map(const boost::json::value* v);
/// Eureka writes arrays, but older servers and XML converters write a lone object for one
/// element: the elements of an array, or the value itself; nothing when absent.
std::vector<const boost::json::value*> elements(const boost::json::value* v);
}  // namespace eureka_json

}  // namespace status::common
