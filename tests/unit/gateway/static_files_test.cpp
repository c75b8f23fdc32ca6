#include "gateway/static_files.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace status::gateway;
namespace fs = std::filesystem;

TEST(StaticFiles, SanitizePath) {
  EXPECT_EQ(sanitize_path("/"), "index.html");
  EXPECT_EQ(sanitize_path("/app.js"), "app.js");
  EXPECT_EQ(sanitize_path("/css/site.css"), "css/site.css");
  EXPECT_EQ(sanitize_path("/docs/"), "docs/index.html");
  EXPECT_EQ(sanitize_path("/a%20b.txt"), "a b.txt");
  for (auto bad : {"/../etc/passwd", "/css/../../x", "/%2e%2e/x", "/%2E%2E%2Fx", "/./x", "/.env",
                   "/a//b", "/a\\..\\b", "/a%00b", "/a%5c..%5cb", "/%zz", "relative", "",
                   "/C:/windows", "/a%0d%0ab"})
    EXPECT_FALSE(sanitize_path(bad)) << bad;
}

TEST(StaticFiles, MimeTypes) {
  EXPECT_EQ(mime_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type("app.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("site.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type("logo.svg"), "image/svg+xml");
  EXPECT_EQ(mime_type("data.json"), "application/json");
  EXPECT_EQ(mime_type("x.png"), "image/png");
  EXPECT_EQ(mime_type("README"), "application/octet-stream");
  EXPECT_EQ(mime_type("archive.tar.zz"), "application/octet-stream");
}

TEST(StaticFiles, ServesUnderRootOnly) {
  auto base = fs::temp_directory_path() / ("gw-static-" + std::to_string(::getpid()));
  fs::create_directories(base / "web" / "css");
  std::ofstream(base / "web" / "index.html") << "<h1>hi</h1>";
  std::ofstream(base / "web" / "css" / "a.css") << "body{}";
  std::ofstream(base / "secret.txt") << "secret";
  StaticFiles files(base / "web");
  auto get = [&](std::string target, status::common::http::verb v =
                                         status::common::http::verb::get) {
    status::common::Request r{v, target, 11};
    return files.serve(r);
  };
  auto root = get("/");
  EXPECT_EQ(root.result_int(), 200);
  EXPECT_EQ(root.body(), "<h1>hi</h1>");
  EXPECT_EQ(root[status::common::http::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(get("/css/a.css")[status::common::http::field::content_type],
            "text/css; charset=utf-8");
  EXPECT_EQ(get("/css/a.css?v=2").result_int(), 200);
  EXPECT_EQ(get("/css").result_int(), 404);  // a directory without index.html
  EXPECT_EQ(get("/../secret.txt").result_int(), 404);
  EXPECT_EQ(get("/%2e%2e/secret.txt").result_int(), 404);
  auto missing = get("/nope.js");
  EXPECT_EQ(missing.result_int(), 404);
  EXPECT_EQ(missing[status::common::http::field::content_type], "application/problem+json");
  auto head = get("/", status::common::http::verb::head);
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[status::common::http::field::content_length], "11");
  EXPECT_EQ(get("/", status::common::http::verb::post).result_int(), 405);
  fs::remove_all(base);
}
