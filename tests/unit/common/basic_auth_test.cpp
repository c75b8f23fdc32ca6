#include "common/basic_auth.hpp"

#include <gtest/gtest.h>

using namespace status::common;

TEST(BasicAuth, EncodesAsRfc7617) {
  // RFC 7617 section 2's example.
  EXPECT_EQ(basic_authorization("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(basic_authorization("a", ""), "Basic YTo=");
  EXPECT_EQ(basic_authorization("ab", "c"), "Basic YWI6Yw==");
  EXPECT_EQ(basic_authorization("ab", "cd"), "Basic YWI6Y2Q=");
}

TEST(BasicAuth, ParsesWhatItEncodes) {
  for (auto [user, password] : {std::pair{"node", "s3cret"},
                                {"u", "pass:with:colons"},
                                {"user", ""},
                                {"ü", "p\xc3\xa4ss w0rd"}}) {
    auto parsed = parse_basic_authorization(basic_authorization(user, password));
    ASSERT_TRUE(parsed) << user;
    EXPECT_EQ(parsed->first, user);
    EXPECT_EQ(parsed->second, password);
  }
  auto aladdin = parse_basic_authorization("basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  ASSERT_TRUE(aladdin) << "the scheme is case-insensitive";
  EXPECT_EQ(aladdin->second, "open sesame");
}

TEST(BasicAuth, RefusesOtherSchemesAndMalformedValues) {
  for (const char* bad : {"", "Basic", "Basic ", "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                          "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=",    // length not a multiple of 4
                          "Basic QWxh ZGRpbjpvcGVuIHNlc2FtZQ==",  // space inside
                          "Basic QWxhZGRpbjpvcGVuIHNlc2Ft====",   // too much padding
                          "Basic QWxh=GRpbjpvcGVuIHNlc2FtZQ==",   // padding inside
                          "Basic YWxhZGRpbg==",                   // "aladdin": no ':'
                          "Basic ****"})
    EXPECT_FALSE(parse_basic_authorization(bad)) << bad;
}
