// /api/gateways: what the web client may be sent to comes from the registry, which anyone with
// registry credentials can write to: only http(s) URLs without credentials are passed on.
#include "gateway/gateway.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;
using status::common::DiscoveredInstance;

namespace {

DiscoveredInstance gw(std::string url, std::string status = "UP", std::string meta_url = {}) {
  DiscoveredInstance d;
  d.app = "STATUS-GATEWAY";
  d.url = std::move(url);
  d.status = std::move(status);
  if (!meta_url.empty()) d.metadata["url"] = std::move(meta_url);
  return d;
}

}  // namespace

TEST(Gateways, ListsSelfAndTheUpOnesOnceSorted) {
  EXPECT_EQ(gateways_json("http://127.0.0.1:8080", {}), R"([{"url":"http://127.0.0.1:8080"}])");
  EXPECT_EQ(gateways_json("http://b:1", {gw("http://a:1"), gw("http://b:1"),
                                         gw("http://c:1", "DOWN"),
                                         gw("http://10.0.0.5:8080", "UP", "https://gw.example")}),
            R"([{"url":"http://a:1"},{"url":"http://b:1"},{"url":"https://gw.example"}])");
}

TEST(Gateways, LeavesOutWhatABrowserMustNotBeSentTo) {
  std::string long_url = "http://a:1/" + std::string(3000, 'x');
  EXPECT_EQ(gateways_json("http://self:1",
                          {gw("x", "UP", "javascript:alert(1)"), gw("x", "UP", "http://u:pw@a:1"),
                           gw("x", "UP", "data:text/html,hi"), gw("x", "UP", long_url),
                           gw("ftp://a:1")}),
            R"([{"url":"http://self:1"}])");
}
