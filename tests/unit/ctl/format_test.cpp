// What statusctl prints of a server's data never carries terminal control sequences.
#include "ctl/format.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace status::ctl;

TEST(FormatTest, OneLineCutsC0AndC1Controls) {
  EXPECT_EQ(one_line("a\x1b[31mred\x07", 100), "a [31mred ");
  EXPECT_EQ(one_line("x\xc2\x9b" "2Jy", 100), "x 2Jy");  // U+009B, a one-byte CSI
  EXPECT_EQ(one_line("caf\xc3\xa9 \xf0\x9f\x93\x85", 100), "caf\xc3\xa9 \xf0\x9f\x93\x85");
}

TEST(FormatTest, TablesSanitiseEveryField) {
  auto services = boost::json::parse(
                      R"([{"instanceId":"n1\u001b]0;pwned\u0007","url":"http://x\u009b2J","status":"UP"}])")
                      .as_array();
  auto table = render_services_table(services);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_EQ(table.find('\x07'), std::string::npos) << table;
  EXPECT_EQ(table.find("\xc2\x9b"), std::string::npos) << table;
}
