#include "registry/instance_codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/eureka_client.hpp"

namespace status::registry {

namespace json = boost::json;
using common::eureka_json::member;
using common::eureka_json::text;

namespace {

// Text of `key`, or "" when absent (optional fields).
std::string field(const json::object& o, std::string_view key) {
  return text(member(o, key)).value_or("");
}

Status status_field(const json::object& o, std::string_view key, Status fallback) {
  auto t = text(member(o, key));
  if (!t) return fallback;
  // Eureka's InstanceStatus.toEnum: anything it does not know is UNKNOWN.
  return parse_status(upper_case(*t)).value_or(Status::kUnknown);
}

std::variant<Instance, BadInstance> parse_instance_object(const json::object& o) {
  namespace ej = common::eureka_json;
  Instance in;
  in.host_name = field(o, "hostName");
  if (in.host_name.empty()) return BadInstance{"Missing hostname (instance.hostName)"};
  in.app = upper_case(field(o, "app"));
  if (in.app.empty()) return BadInstance{"Missing appName (instance.app)"};
  const json::value* dc = member(o, "dataCenterInfo");
  if (!dc || !dc->is_object())
    return BadInstance{"Missing dataCenterInfo (instance.dataCenterInfo)"};

  in.instance_id = field(o, "instanceId");
  if (in.instance_id.empty()) in.instance_id = in.host_name;
  in.ip_addr = field(o, "ipAddr");
  if (in.ip_addr.empty()) in.ip_addr = in.host_name;
  in.status = status_field(o, "status", Status::kUp);
  // Eureka has written both spellings over the years.
  in.overridden_status = status_field(o, "overriddenStatus", Status::kUnknown);
  if (in.overridden_status == Status::kUnknown)
    in.overridden_status = status_field(o, "overriddenstatus", Status::kUnknown);

  if (const json::value* p = member(o, "port")) {
    auto port = ej::port(p);
    if (!port)
      return BadInstance{"instance.port must be a port number or {\"$\":port,\"@enabled\":…}"};
    in.port = port->number;
    in.port_enabled = port->enabled.value_or(true);
  }
  if (const json::value* p = member(o, "securePort")) {
    auto port = ej::port(p);
    if (!port) return BadInstance{"instance.securePort must be a port number or {\"$\":port,…}"};
    in.secure_port = port->number;
    in.secure_port_enabled = port->enabled.value_or(false);
  }
  in.country_id = static_cast<int>(ej::integer(member(o, "countryId")).value_or(1));

  const auto& dco = dc->get_object();
  in.data_center_class = text(member(dco, "@class")).value_or(std::string(kDefaultDataCenterClass));
  in.data_center_name = text(member(dco, "name")).value_or("MyOwn");
  in.data_center_metadata = ej::string_map(member(dco, "metadata"));

  if (const json::value* lease = member(o, "leaseInfo"); lease && lease->is_object()) {
    const auto& lo = lease->get_object();
    // Eureka falls back to its defaults for non-positive values; so do we.
    auto renewal = ej::integer(member(lo, "renewalIntervalInSecs")).value_or(0);
    auto duration = ej::integer(member(lo, "durationInSecs")).value_or(0);
    if (renewal > 0 && renewal <= 86400) in.renewal_interval_s = static_cast<int>(renewal);
    if (duration > 0 && duration <= 86400) in.duration_s = static_cast<int>(duration);
  }
  in.metadata = ej::string_map(member(o, "metadata"));
  in.vip_address = field(o, "vipAddress");
  in.secure_vip_address = field(o, "secureVipAddress");
  in.home_page_url = field(o, "homePageUrl");
  in.status_page_url = field(o, "statusPageUrl");
  in.health_check_url = field(o, "healthCheckUrl");
  in.secure_health_check_url = field(o, "secureHealthCheckUrl");
  in.app_group_name = field(o, "appGroupName");
  in.last_dirty_ts = ej::integer(member(o, "lastDirtyTimestamp")).value_or(0);
  in.owner = field(o, "owner");
  return in;
}

json::object port_object(int port, bool enabled) {
  return {{"$", port}, {"@enabled", enabled ? "true" : "false"}};
}

json::object string_object(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

json::object instance_object(const Instance& in, StatusView view, OwnerView owner) {
  json::object dc{{"@class", in.data_center_class}, {"name", in.data_center_name}};
  if (!in.data_center_metadata.empty()) dc["metadata"] = string_object(in.data_center_metadata);
  json::object metadata = string_object(in.metadata);
  // Eureka's Java codec marks an empty map this way; its readers skip the key.
  if (metadata.empty()) metadata["@class"] = "java.util.Collections$EmptyMap";
  std::string_view overridden = to_string(in.overridden_status);
  json::object o{
      {"instanceId", in.instance_id},
      {"hostName", in.host_name},
      {"app", in.app},
      {"ipAddr", in.ip_addr},
      {"status", to_string(view == StatusView::kOwn ? in.status : in.effective_status())},
      // Eureka 1.x's Jackson codec writes "overriddenstatus", later codecs "overriddenStatus":
      // both, so readers of either find theirs.
      {"overriddenStatus", overridden},
      {"overriddenstatus", overridden},
      {"port", port_object(in.port, in.port_enabled)},
      {"securePort", port_object(in.secure_port, in.secure_port_enabled)},
      {"countryId", in.country_id},
      {"dataCenterInfo", std::move(dc)},
      {"leaseInfo",
       {{"renewalIntervalInSecs", in.renewal_interval_s},
        {"durationInSecs", in.duration_s},
        {"registrationTimestamp", in.registration_ts},
        {"lastRenewalTimestamp", in.last_renewal_ts},
        {"evictionTimestamp", in.eviction_ts},
        {"serviceUpTimestamp", in.service_up_ts}}},
      {"metadata", std::move(metadata)},
  };
  // Optional strings are left out when the client sent none (Eureka writes no nulls either).
  for (const auto& [key, value] : {std::pair{"homePageUrl", &in.home_page_url},
                                   {"statusPageUrl", &in.status_page_url},
                                   {"healthCheckUrl", &in.health_check_url},
                                   {"secureHealthCheckUrl", &in.secure_health_check_url},
                                   {"vipAddress", &in.vip_address},
                                   {"secureVipAddress", &in.secure_vip_address},
                                   {"appGroupName", &in.app_group_name}})
    if (!value->empty()) o[key] = *value;
  o["isCoordinatingDiscoveryServer"] = "false";
  o["lastUpdatedTimestamp"] = std::to_string(in.last_updated_ts);
  o["lastDirtyTimestamp"] = std::to_string(in.last_dirty_ts);
  o["actionType"] = to_string(in.action_type);
  if (owner == OwnerView::kShown && !in.owner.empty()) o["owner"] = in.owner;
  return o;
}

// Instances sorted by app → [{"name":APP,"instance":[…]}, …], arrays even for one element.
json::array application_array(const std::vector<Instance>& instances, OwnerView owner) {
  json::array apps;
  json::array* current = nullptr;
  std::string current_name;
  for (const auto& in : instances) {
    if (!current || in.app != current_name) {
      current_name = in.app;
      apps.push_back(json::object{{"name", in.app}, {"instance", json::array{}}});
      current = &apps.back().get_object()["instance"].get_array();
    }
    current->push_back(instance_object(in, StatusView::kEffective, owner));
  }
  return apps;
}

}  // namespace

std::variant<Instance, BadInstance> parse_registration(std::string_view body) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec) return BadInstance{"malformed JSON: " + ec.message()};
  if (!root.is_object()) return BadInstance{"the body must be a JSON object {\"instance\":{…}}"};
  const json::object* o = &root.get_object();
  if (const json::value* wrapped = member(*o, "instance")) {
    if (!wrapped->is_object()) return BadInstance{"\"instance\" must be a JSON object"};
    o = &wrapped->get_object();
  }
  return parse_instance_object(*o);
}

std::string instance_document(const Instance& instance, StatusView view, OwnerView owner) {
  return json::serialize(json::object{{"instance", instance_object(instance, view, owner)}});
}

std::string application_document(const std::string& app, const std::vector<Instance>& instances) {
  json::array list;
  for (const auto& in : instances)
    list.push_back(instance_object(in, StatusView::kEffective, OwnerView::kHidden));
  return json::serialize(
      json::object{{"application", {{"name", app}, {"instance", std::move(list)}}}});
}

std::string applications_document(const Snapshot& snapshot, OwnerView owner) {
  return json::serialize(
      json::object{{"applications",
                    {{"versions__delta", std::to_string(snapshot.version)},
                     {"apps__hashcode", snapshot.apps_hashcode},
                     {"application", application_array(snapshot.instances, owner)}}}});
}

std::optional<std::vector<Instance>> parse_applications(std::string_view body) {
  namespace ej = common::eureka_json;
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec || !root.is_object()) return std::nullopt;
  const json::value* apps = member(root.get_object(), "applications");
  if (!apps || !apps->is_object()) return std::nullopt;
  std::vector<Instance> out;
  for (const auto* app : ej::elements(member(apps->get_object(), "application"))) {
    if (!app->is_object()) continue;
    for (const auto* iv : ej::elements(member(app->get_object(), "instance"))) {
      if (!iv->is_object()) continue;
      auto parsed = parse_instance_object(iv->get_object());
      if (auto* in = std::get_if<Instance>(&parsed)) out.push_back(std::move(*in));
    }
  }
  return out;
}

}  // namespace status::registry
