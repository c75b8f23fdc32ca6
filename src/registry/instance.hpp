#pragma once
// One registered instance as the registry keeps it: what the client sent plus the lease.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace status::registry {

/// Eureka's InstanceStatus values.
enum class Status { kUp, kDown, kStarting, kOutOfService, kUnknown };

std::string_view to_string(Status status);
/// Exact (upper-case) Eureka name → status; nullopt for anything else.
std::optional<Status> parse_status(std::string_view text);

/// Eureka's ActionType, reported on every instance and used by the delta.
enum class ActionType { kAdded, kModified, kDeleted };
std::string_view to_string(ActionType action);

inline constexpr std::string_view kDefaultDataCenterClass =
    "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";

struct Instance {
  // Identity. `app` is always upper case (Eureka upper-cases application names).
  std::string instance_id;
  std::string app;
  std::string host_name;
  std::string ip_addr;

  // What the instance says about itself. `status` is its own status; an operator's override
  // (PUT …/status) is kept apart so that removing the override restores the own status.
  Status status = Status::kUp;
  Status overridden_status = Status::kUnknown;

  int port = 7001;  // Eureka's defaults when the client sends none
  bool port_enabled = true;
  int secure_port = 7002;
  bool secure_port_enabled = false;
  int country_id = 1;
  std::string vip_address;
  std::string secure_vip_address;
  std::string home_page_url;
  std::string status_page_url;
  std::string health_check_url;
  std::string secure_health_check_url;
  std::string app_group_name;
  std::string data_center_class = std::string(kDefaultDataCenterClass);
  std::string data_center_name = "MyOwn";
  std::map<std::string, std::string> data_center_metadata;
  std::map<std::string, std::string> metadata;

  // Lease, in seconds as the client asked (Eureka defaults 30 / 90).
  int renewal_interval_s = 30;
  int duration_s = 90;

  // Timestamps, epoch milliseconds. last_dirty_ts comes from the client; the others are the
  // registry's own.
  std::int64_t registration_ts = 0;
  std::int64_t last_renewal_ts = 0;
  std::int64_t eviction_ts = 0;
  std::int64_t service_up_ts = 0;
  std::int64_t last_updated_ts = 0;
  std::int64_t last_dirty_ts = 0;
  ActionType action_type = ActionType::kAdded;

  // The user whose credentials registered it ("" when the registry is open). Only that user
  // (or a peer registry) may change it while its lease lasts.
  std::string owner;

  /// What clients see as `status`: the override when there is one, else the own status.
  Status effective_status() const {
    return overridden_status == Status::kUnknown ? status : overridden_status;
  }
  /// Epoch ms after which the lease is expired.
  std::int64_t expires_at() const {
    return last_renewal_ts + static_cast<std::int64_t>(duration_s) * 1000;
  }
};

/// Eureka upper-cases application names; so do we (ASCII only).
std::string upper_case(std::string_view text);

/// Bounds of one instance, so that no client can make the registry (and every gateway and node
/// that downloads it) hold an unbounded document.
inline constexpr std::size_t kMaxIdentityBytes = 256;   // instanceId, app, hostName, ipAddr
inline constexpr std::size_t kMaxFieldBytes = 2048;     // URLs, VIP addresses, other strings
inline constexpr std::size_t kMaxMetadataEntries = 32;  // metadata, dataCenterInfo.metadata
inline constexpr std::size_t kMaxMetadataKeyBytes = 256;
inline constexpr std::size_t kMaxMetadataValueBytes = 2048;
inline constexpr std::size_t kMaxInstanceBytes = 16 * 1024;  // all strings together

/// Why `instance` exceeds those bounds (shown to the client), or nullopt when it does not.
std::optional<std::string> oversize_reason(const Instance& instance);

}  // namespace status::registry
