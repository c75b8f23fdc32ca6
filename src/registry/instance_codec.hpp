#pragma once
// Eureka's JSON for instances and applications: lenient on input (what real clients send),
// exact on output (what real clients parse: arrays always, ports as {"$":…,"@enabled":…}).

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "registry/instance.hpp"
#include "registry/registry.hpp"

namespace status::registry {

/// A registration body that cannot be accepted; `reason` is shown to the client (400).
struct BadInstance {
  std::string reason;
};

/// Parses a registration body {"instance":{…}} (the bare instance object is accepted too).
/// An "owner" is read as sent; the registry honours it from peers only.
/// Checks what Eureka's ApplicationResource checks: hostName, app and dataCenterInfo present.
/// A missing instanceId falls back to hostName, a missing ipAddr to hostName (as Eureka does
/// for the id). Does not compare the app with the path: the handler does.
std::variant<Instance, BadInstance> parse_registration(std::string_view body);

/// Which status goes into the "status" field.
enum class StatusView {
  kEffective,  // what clients see: the override if any (GET answers)
  kOwn,        // the instance's own status (replication to peers, which re-apply the override)
};

/// Whether a document carries each instance's owner (a field of ours, "owner"): only for peer
/// registries, which must keep enforcing the no-takeover rule when a client fails over to them.
enum class OwnerView { kHidden, kShown };

/// {"instance":{…}}
std::string instance_document(const Instance& instance, StatusView view = StatusView::kEffective,
                              OwnerView owner = OwnerView::kHidden);
/// {"application":{"name":…,"instance":[…]}}
std::string application_document(const std::string& app, const std::vector<Instance>& instances);
/// {"applications":{"versions__delta":…,"apps__hashcode":…,"application":[…]}}
std::string applications_document(const Snapshot& snapshot, OwnerView owner = OwnerView::kHidden);
/// Reads an applications document (a peer's GET /apps) back into instances; nullopt when
/// the body is not one. Instances that fail the registration checks are skipped.
std::optional<std::vector<Instance>> parse_applications(std::string_view body);

}  // namespace status::registry
