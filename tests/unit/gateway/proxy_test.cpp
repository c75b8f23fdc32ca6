#include "gateway/proxy.hpp"

#include <gtest/gtest.h>

using namespace status::gateway;
namespace http = status::common::http;

// What may go to a second node after the first got it and failed (review F22).
TEST(MayResend, SafeAndUnconditionalIdempotentOnly) {
  auto req = [](http::verb v) { return status::common::Request{v, "/api/statuses/a", 11}; };
  for (auto v : {http::verb::get, http::verb::head, http::verb::options, http::verb::put,
                 http::verb::delete_})
    EXPECT_TRUE(may_resend(req(v))) << http::to_string(v);
  for (auto v : {http::verb::post, http::verb::patch, http::verb::mkcol, http::verb::unknown})
    EXPECT_FALSE(may_resend(req(v))) << http::to_string(v);
  for (auto field : {http::field::if_match, http::field::if_none_match,
                     http::field::if_unmodified_since}) {
    auto put = req(http::verb::put);
    put.set(field, "\"1\"");
    EXPECT_FALSE(may_resend(put)) << "conditional PUT";
    auto del = req(http::verb::delete_);
    del.set(field, "\"1\"");
    EXPECT_FALSE(may_resend(del)) << "conditional DELETE";
  }
}
