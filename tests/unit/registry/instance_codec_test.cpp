#include "registry/instance_codec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "test_support.hpp"

using namespace status::registry;
using status::registry::testing::FakeClock;
using status::registry::testing::make_instance;
namespace json = boost::json;

namespace {

// What eureka-js-client sends (README configuration; the client adds status UP): port as a
// bare number or {"$":…,"@enabled":true} with a boolean, no instanceId, no leaseInfo.
constexpr const char* kJsClientBody = R"({"instance":{
  "app":"jqservice","hostName":"localhost","ipAddr":"127.0.0.1",
  "port":{"$":8080,"@enabled":true},"vipAddress":"jq.test.something.com",
  "dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
  "status":"UP"}})";

// What the Eureka Java client (Spring Cloud Netflix) sends: timestamps as strings, "@enabled"
// as a string, the empty-metadata marker, both status spellings over the versions.
constexpr const char* kJavaClientBody = R"({"instance":{
  "instanceId":"host1:orders:8080","hostName":"host1","app":"ORDERS","ipAddr":"10.0.0.5",
  "status":"UP","overriddenstatus":"UNKNOWN",
  "port":{"$":8080,"@enabled":"true"},"securePort":{"$":443,"@enabled":"false"},
  "countryId":1,
  "dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
  "leaseInfo":{"renewalIntervalInSecs":5,"durationInSecs":15,"registrationTimestamp":0,
               "lastRenewalTimestamp":0,"evictionTimestamp":0,"serviceUpTimestamp":0},
  "metadata":{"management.port":"8080","zone":"a"},
  "homePageUrl":"http://host1:8080/","statusPageUrl":"http://host1:8080/actuator/info",
  "healthCheckUrl":"http://host1:8080/actuator/health","vipAddress":"orders",
  "secureVipAddress":"orders","isCoordinatingDiscoveryServer":"false",
  "lastUpdatedTimestamp":"1700000000000","lastDirtyTimestamp":"1700000000001"}})";

Instance parse_ok(const std::string& body) {
  auto parsed = parse_registration(body);
  if (auto* bad = std::get_if<BadInstance>(&parsed)) ADD_FAILURE() << bad->reason;
  return std::holds_alternative<Instance>(parsed) ? std::get<Instance>(parsed) : Instance{};
}

std::string parse_error(const std::string& body) {
  auto parsed = parse_registration(body);
  auto* bad = std::get_if<BadInstance>(&parsed);
  return bad ? bad->reason : "";
}

}  // namespace

TEST(InstanceCodec, ParsesEurekaJsClientBody) {
  Instance in = parse_ok(kJsClientBody);
  EXPECT_EQ(in.app, "JQSERVICE");
  EXPECT_EQ(in.instance_id, "localhost") << "instanceId falls back to hostName, as in Eureka";
  EXPECT_EQ(in.port, 8080);
  EXPECT_TRUE(in.port_enabled);
  EXPECT_EQ(in.renewal_interval_s, 30);
  EXPECT_EQ(in.duration_s, 90);
  EXPECT_EQ(in.status, Status::kUp);
  EXPECT_EQ(in.vip_address, "jq.test.something.com");
}

TEST(InstanceCodec, ParsesJavaClientBody) {
  Instance in = parse_ok(kJavaClientBody);
  EXPECT_EQ(in.instance_id, "host1:orders:8080");
  EXPECT_EQ(in.ip_addr, "10.0.0.5");
  EXPECT_EQ(in.port, 8080);
  EXPECT_EQ(in.secure_port, 443);
  EXPECT_FALSE(in.secure_port_enabled);
  EXPECT_EQ(in.renewal_interval_s, 5);
  EXPECT_EQ(in.duration_s, 15);
  EXPECT_EQ(in.last_dirty_ts, 1700000000001);
  EXPECT_EQ(in.metadata.at("management.port"), "8080");
  EXPECT_EQ(in.overridden_status, Status::kUnknown);
  EXPECT_EQ(in.health_check_url, "http://host1:8080/actuator/health");
}

TEST(InstanceCodec, LenientScalars) {
  Instance in = parse_ok(R"({"instance":{"app":"a","hostName":"h","dataCenterInfo":{},
    "port":"8082","securePort":{"$":"8443","@enabled":true},
    "leaseInfo":{"renewalIntervalInSecs":"2","durationInSecs":"6"},
    "lastDirtyTimestamp":12345,"status":"out_of_service","metadata":{"n":1,"b":true}}})");
  EXPECT_EQ(in.port, 8082);
  EXPECT_EQ(in.secure_port, 8443);
  EXPECT_TRUE(in.secure_port_enabled);
  EXPECT_EQ(in.renewal_interval_s, 2);
  EXPECT_EQ(in.duration_s, 6);
  EXPECT_EQ(in.last_dirty_ts, 12345);
  EXPECT_EQ(in.status, Status::kOutOfService);
  EXPECT_EQ(in.metadata.at("n"), "1");
  EXPECT_EQ(in.metadata.at("b"), "true");
  EXPECT_EQ(in.ip_addr, "h");
  EXPECT_EQ(in.data_center_name, "MyOwn");
  // An unwrapped instance object is accepted too; an unknown status is UNKNOWN (Eureka's toEnum).
  Instance bare =
      parse_ok(R"({"app":"a","hostName":"h","dataCenterInfo":{"name":"MyOwn"},"status":"weird"})");
  EXPECT_EQ(bare.status, Status::kUnknown);
  // Non-positive lease values fall back to Eureka's defaults.
  Instance zero = parse_ok(R"({"instance":{"app":"a","hostName":"h","dataCenterInfo":{},
    "leaseInfo":{"renewalIntervalInSecs":0,"durationInSecs":-1}}})");
  EXPECT_EQ(zero.renewal_interval_s, 30);
  EXPECT_EQ(zero.duration_s, 90);
}

TEST(InstanceCodec, RejectsWithAReason) {
  EXPECT_NE(parse_error("{nope").find("malformed JSON"), std::string::npos);
  EXPECT_NE(parse_error("[1,2]").find("JSON object"), std::string::npos);
  EXPECT_NE(parse_error(R"({"instance":[]})").find("instance"), std::string::npos);
  EXPECT_NE(parse_error(R"({"instance":{"app":"a","dataCenterInfo":{}}})").find("hostName"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"instance":{"hostName":"h","dataCenterInfo":{}}})").find("app"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"instance":{"hostName":"h","app":"a"}})").find("dataCenterInfo"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"instance":{"hostName":"h","app":"a","dataCenterInfo":{},"port":{"x":1}}})")
          .find("port"),
      std::string::npos);
  EXPECT_NE(
      parse_error(R"({"instance":{"hostName":"h","app":"a","dataCenterInfo":{},"port":70000}})")
          .find("port"),
      std::string::npos);
}

TEST(InstanceCodec, ApplicationsDocumentShapeForOneInstance) {
  FakeClock clock;
  Registry r(clock.clock());
  Instance in = make_instance("STATUS-NODE", "n1", 1, 3);
  in.last_dirty_ts = 42;
  r.register_instance(in);
  json::value doc = json::parse(applications_document(r.snapshot()));
  const auto& apps = doc.at("applications");
  EXPECT_EQ(apps.at("apps__hashcode"), "UP_1_");
  EXPECT_TRUE(apps.at("versions__delta").is_string());
  ASSERT_TRUE(apps.at("application").is_array()) << "always an array, even for one";
  ASSERT_EQ(apps.at("application").as_array().size(), 1u);
  const auto& app = apps.at("application").at(0);
  EXPECT_EQ(app.at("name"), "STATUS-NODE");
  ASSERT_TRUE(app.at("instance").is_array());
  const auto& i = app.at("instance").at(0);
  EXPECT_EQ(i.at("instanceId"), "n1");
  EXPECT_EQ(i.at("app"), "STATUS-NODE");
  EXPECT_EQ(i.at("status"), "UP");
  EXPECT_EQ(i.at("overriddenstatus"), "UNKNOWN");
  EXPECT_EQ(i.at("overriddenStatus"), "UNKNOWN");
  EXPECT_EQ(i.at("port"), json::parse(R"({"$":8081,"@enabled":"true"})"));
  EXPECT_EQ(i.at("securePort").at("@enabled"), "false");
  EXPECT_EQ(i.at("dataCenterInfo").at("@class"),
            "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo");
  const auto& lease = i.at("leaseInfo");
  EXPECT_EQ(lease.at("renewalIntervalInSecs"), 1);
  EXPECT_EQ(lease.at("durationInSecs"), 3);
  EXPECT_EQ(lease.at("registrationTimestamp"), clock.now());
  EXPECT_EQ(lease.at("lastRenewalTimestamp"), clock.now());
  EXPECT_EQ(lease.at("evictionTimestamp"), 0);
  EXPECT_EQ(lease.at("serviceUpTimestamp"), clock.now());
  EXPECT_EQ(i.at("lastDirtyTimestamp"), "42");
  EXPECT_EQ(i.at("lastUpdatedTimestamp").as_string(), std::to_string(clock.now()));
  EXPECT_EQ(i.at("isCoordinatingDiscoveryServer"), "false");
  EXPECT_EQ(i.at("actionType"), "ADDED");
  EXPECT_EQ(i.at("metadata").at("@class"), "java.util.Collections$EmptyMap");
}

TEST(InstanceCodec, EmptyRegistryHasAnEmptyApplicationArray) {
  json::value doc = json::parse(applications_document(Snapshot{}));
  EXPECT_TRUE(doc.at("applications").at("application").as_array().empty());
  EXPECT_EQ(doc.at("applications").at("apps__hashcode"), "");
}

TEST(InstanceCodec, GroupsInstancesByApplication) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("A", "1"));
  r.register_instance(make_instance("A", "2"));
  r.register_instance(make_instance("B", "3"));
  json::value doc = json::parse(applications_document(r.snapshot()));
  const auto& apps = doc.at("applications").at("application").as_array();
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[0].at("instance").as_array().size(), 2u);
  EXPECT_EQ(apps[1].at("name"), "B");
  json::value one = json::parse(application_document("B", r.snapshot("B").instances));
  EXPECT_TRUE(one.at("application").at("instance").is_array());
}

TEST(InstanceCodec, OwnStatusViewForReplication) {
  Instance in = make_instance("APP", "a");
  in.overridden_status = Status::kOutOfService;
  json::value effective = json::parse(instance_document(in));
  EXPECT_EQ(effective.at("instance").at("status"), "OUT_OF_SERVICE");
  json::value own = json::parse(instance_document(in, StatusView::kOwn));
  EXPECT_EQ(own.at("instance").at("status"), "UP");
  EXPECT_EQ(own.at("instance").at("overriddenstatus"), "OUT_OF_SERVICE");
  // The peer reading it back gets both right.
  Instance back = parse_ok(instance_document(in, StatusView::kOwn));
  EXPECT_EQ(back.status, Status::kUp);
  EXPECT_EQ(back.overridden_status, Status::kOutOfService);
}

TEST(InstanceCodec, ParsesApplicationsBackIncludingSingleObjects) {
  FakeClock clock;
  Registry r(clock.clock());
  r.register_instance(make_instance("A", "1"));
  r.register_instance(make_instance("B", "2"));
  auto back = parse_applications(applications_document(r.snapshot()));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].instance_id, "2");
  // Older servers write a lone application / instance as an object, not an array.
  auto lone = parse_applications(R"({"applications":{"application":{"name":"X","instance":
    {"hostName":"h","app":"X","dataCenterInfo":{"name":"MyOwn"},"port":{"$":"81","@enabled":"true"}}}}})");
  ASSERT_TRUE(lone);
  ASSERT_EQ(lone->size(), 1u);
  EXPECT_EQ((*lone)[0].port, 81);
  EXPECT_FALSE(parse_applications("not json"));
  EXPECT_FALSE(parse_applications(R"({"application":{}})"));
}
