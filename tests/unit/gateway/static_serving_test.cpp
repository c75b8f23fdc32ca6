// The gateway's static serving: content negotiation, conditional requests, the HTML rewriting
// (hashed URLs, the tile meta tags, modulepreload), the module scanner, the CSP with and without
// a tile host and the tile URL validation.
#include "common/config.hpp"
#include "gateway/cors.hpp"
#include "gateway/options.hpp"
#include "gateway/static_files.hpp"

#include <gtest/gtest.h>

#include "../gunzip.hpp"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

using namespace status::gateway;
namespace fs = std::filesystem;
namespace http = status::common::http;

namespace {

constexpr auto kId = Encoding::kIdentity;
constexpr auto kGz = Encoding::kGzip;
constexpr auto kBr = Encoding::kBrotli;

Encoding choose(std::optional<std::string_view> ae) { return choose_encoding(ae, true, true); }

using status::test::gunzip;

}  // namespace

TEST(AcceptEncoding, PrefersBrotliThenGzip) {
  EXPECT_EQ(choose(std::nullopt), kId);  // no field: identity
  EXPECT_EQ(choose(""), kId);            // empty: no coding wanted
  EXPECT_EQ(choose("gzip, deflate, br"), kBr);
  EXPECT_EQ(choose("gzip, deflate, br, zstd"), kBr);
  EXPECT_EQ(choose("gzip"), kGz);
  EXPECT_EQ(choose("x-gzip"), kGz);
  EXPECT_EQ(choose("GZIP"), kGz);
  EXPECT_EQ(choose("br"), kBr);
  EXPECT_EQ(choose("deflate"), kId);
  EXPECT_EQ(choose("identity"), kId);
  EXPECT_EQ(choose(" gzip ;q=1 , br ; q=1 "), kBr);
}

TEST(AcceptEncoding, QValues) {
  EXPECT_EQ(choose("br;q=0.5, gzip;q=0.8"), kGz);
  EXPECT_EQ(choose("br;q=0.8, gzip;q=0.8"), kBr);  // a tie: br
  EXPECT_EQ(choose("br;q=0, gzip"), kGz);           // q=0 refuses
  EXPECT_EQ(choose("br;q=0, gzip;q=0"), kId);
  EXPECT_EQ(choose("gzip;q=0.001"), kGz);
  EXPECT_EQ(choose("gzip;q=0.5, identity;q=0.9"), kId);
  EXPECT_EQ(choose("gzip;q=0.9, identity;q=0.5"), kGz);
  EXPECT_EQ(choose("gzip;Q=0.000"), kId);
  // A malformed q-value says nothing about its coding.
  EXPECT_EQ(choose("br;q=abc, gzip"), kGz);
  EXPECT_EQ(choose("br;q=1.5"), kId);
  EXPECT_EQ(choose("br;q=0.1234"), kId);
  EXPECT_EQ(choose("gzip;level=9;q=0.4"), kGz);  // other parameters are ignored
}

TEST(AcceptEncoding, WildcardAndIdentity) {
  EXPECT_EQ(choose("*"), kBr);
  EXPECT_EQ(choose("*;q=0.5, gzip"), kGz);    // gzip 1 beats br (from *) 0.5
  EXPECT_EQ(choose("*;q=0.5, br;q=0.1"), kGz);  // gzip from *: 0.5
  EXPECT_EQ(choose("*;q=0"), kId);  // everything refused, identity too: identity anyway
  EXPECT_EQ(choose("identity;q=0, gzip;q=0.2"), kGz);
  EXPECT_EQ(choose("*;q=0, br"), kBr);
  // Only codings that exist for the file count.
  EXPECT_EQ(choose_encoding("br", true, false), kId);
  EXPECT_EQ(choose_encoding("br, gzip;q=0.1", true, false), kGz);
  EXPECT_EQ(choose_encoding("gzip, br", false, false), kId);
}

TEST(IfNoneMatch, ListsWeakComparisonAndStar) {
  EXPECT_TRUE(if_none_match("\"abc\"", "\"abc\""));
  EXPECT_TRUE(if_none_match("W/\"abc\"", "\"abc\""));  // weak comparison
  EXPECT_TRUE(if_none_match("\"abc\"", "W/\"abc\""));
  EXPECT_TRUE(if_none_match("\"x\", \"abc-gz\" ,\"y\"", "\"abc-gz\""));
  EXPECT_TRUE(if_none_match("\"a,b\", \"abc\"", "\"abc\""));  // a comma inside a tag
  EXPECT_TRUE(if_none_match("*", "\"abc\""));
  EXPECT_TRUE(if_none_match(" *", "\"abc\""));
  EXPECT_FALSE(if_none_match("\"abc\"", "\"abc-gz\""));  // another representation
  EXPECT_FALSE(if_none_match("\"abc-br\"", "\"abc-gz\""));
  EXPECT_FALSE(if_none_match("abc", "\"abc\""));  // unquoted: malformed
  EXPECT_FALSE(if_none_match("\"x\", abc, \"abc\"", "\"abc\""));  // nothing after the bad one
  EXPECT_FALSE(if_none_match("\"abc", "\"abc\""));
  EXPECT_FALSE(if_none_match("", "\"abc\""));
  EXPECT_FALSE(if_none_match("w/\"abc\"", "\"abc\""));  // W/ is case-sensitive
}

TEST(Compression, RoundTrips) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "export const line" + std::to_string(i) + " = 'status';\n";
  auto gz = gzip_compress(text);
  ASSERT_FALSE(gz.empty());
  EXPECT_LT(gz.size(), text.size() / 4);
  EXPECT_EQ(gunzip(gz), text);
  auto br = brotli_compress(text);
  ASSERT_FALSE(br.empty());
  EXPECT_LT(br.size(), gz.size());
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abc", 16), "ba7816bf8f01cfea");
}

TEST(ModuleImports, StaticImportsOnly) {
  auto got = module_imports(R"JS(
// import { no } from './comment.js';
/* import './block.js'; */
import { a, b as c } from './a.js';
import * as ns from "../b.js";
import d, { e } from './d.js'
import './side-effect.js';
import {
  multi,
  line,
} from './multi.js';
export { x } from './re.js';
export * from './star.js';
export * as all from './star-as.js';
export { y };
export const z = 1;
const s = "import './in-string.js'";
const t = `import './in-template.js' ${"x" + `nested`}`;
const r = /import '.\/in-regex.js'/g;
const lazy = import('./dynamic.js');
const url = new URL('../vendor/x.json', import.meta.url);
obj.import('./method.js');
const q = a / 2; import { late } from './late.js';
)JS");
  std::vector<std::string> want = {"./a.js",        "../b.js",  "./d.js",       "./side-effect.js",
                                   "./multi.js",    "./re.js",  "./star.js",    "./star-as.js",
                                   "./late.js"};
  EXPECT_EQ(got, want);
}

TEST(ResolveReference, RelativeToThePage) {
  EXPECT_EQ(resolve_reference("index.html", "css/app.css"), "css/app.css");
  EXPECT_EQ(resolve_reference("js/app.js", "./api.js"), "js/api.js");
  EXPECT_EQ(resolve_reference("js/app.js", "../vendor/l.js"), "vendor/l.js");
  EXPECT_EQ(resolve_reference("a/b/c.html", "../../x.js"), "x.js");
  EXPECT_EQ(resolve_reference("a/b/c.html", "/css/y.css"), "css/y.css");
  EXPECT_EQ(resolve_reference("a/b.html", "./././z"), "a/z");
  EXPECT_FALSE(resolve_reference("index.html", "../secret"));
  EXPECT_FALSE(resolve_reference("js/app.js", "../../etc/passwd"));
}

TEST(RewriteHtml, HashedUrlsMetaTagsAndPreloads) {
  std::set<std::string> files = {"css/app.css", "js/app.js", "js/api.js", "fav icon.svg",
                                 "vendor/l.css", "cluster.html", "img/x.png"};
  auto exists = [&](const std::string& p) { return files.contains(p); };
  PageSettings settings{"https://tile.example.org/{z}/{x}/{y}.png?k=1&v=2",
                        "© Example \"tiles\" <3"};
  std::vector<std::string> modules;
  std::string html = R"(<!doctype html>
<html><head>
<meta name="tile-url" content="">
<meta content='' name="tile-attribution">
<link rel="stylesheet" href="css/app.css">
<link rel=stylesheet href=vendor/l.css>
<link rel="icon" href="fav%20icon.svg">
<!-- <script src="js/app.js"></script> -->
<script type="module" src="./js/app.js?v=1"></script>
<script>var s = '<img src="img/x.png">';</script>
</head><body>
<a href="#main">skip</a> <a href="cluster.html">cluster</a> <a href="https://leafletjs.com">L</a>
<img src="//cdn.example/x.png"> <img src="data:image/png;base64,AA"> <img src='/img/x.png'>
<img SRC="img/missing.png"> <a href="../outside.css">x</a> <a href="mailto:a@b">m</a>
</body></html>)";
  auto out = rewrite_html(html, "index.html", "0123456789abcdef", settings, exists,
                          {"js/api.js"}, &modules);
  const std::string p = "/_/0123456789abcdef/";
  EXPECT_NE(out.find("href=\"" + p + "css/app.css\""), std::string::npos) << out;
  EXPECT_NE(out.find("href=\"" + p + "vendor/l.css\""), std::string::npos) << out;
  EXPECT_NE(out.find("href=\"" + p + "fav%20icon.svg\""), std::string::npos) << out;
  EXPECT_NE(out.find("src=\"" + p + "js/app.js?v=1\""), std::string::npos) << out;
  EXPECT_NE(out.find("src=\"" + p + "img/x.png\""), std::string::npos) << out;  // "/img/x.png"
  // Left alone: comments, inline script text, fragments, other pages, other hosts, data:,
  // missing files, references out of the root, other schemes.
  EXPECT_NE(out.find("<!-- <script src=\"js/app.js\"></script> -->"), std::string::npos);
  EXPECT_NE(out.find("'<img src=\"img/x.png\">'"), std::string::npos);
  for (auto kept : {"href=\"#main\"", "href=\"cluster.html\"", "href=\"https://leafletjs.com\"",
                    "src=\"//cdn.example/x.png\"", "src=\"data:image/png;base64,AA\"",
                    "SRC=\"img/missing.png\"", "href=\"../outside.css\"", "href=\"mailto:a@b\""})
    EXPECT_NE(out.find(kept), std::string::npos) << kept << "\n" << out;
  EXPECT_NE(out.find("<meta name=\"tile-url\" content=\"https://tile.example.org/{z}/{x}/{y}.png?k=1&amp;v=2\">"),
            std::string::npos) << out;
  EXPECT_NE(out.find("<meta content=\"© Example &quot;tiles&quot; &lt;3\" name=\"tile-attribution\">"),
            std::string::npos) << out;
  EXPECT_NE(out.find("<link rel=\"modulepreload\" href=\"" + p + "js/api.js\">\n</head>"),
            std::string::npos) << out;
  EXPECT_EQ(modules, std::vector<std::string>{"js/app.js"});
  // Without settings the tags stay empty.
  auto plain = rewrite_html(html, "index.html", "0123456789abcdef", {}, exists);
  EXPECT_NE(plain.find("<meta name=\"tile-url\" content=\"\">"), std::string::npos);
  EXPECT_EQ(plain.find("modulepreload"), std::string::npos);
  // A page in a directory resolves from there.
  auto sub = rewrite_html("<link href=\"../css/app.css\">", "docs/page.html", "ab", {}, exists);
  EXPECT_EQ(sub, "<link href=\"/_/ab/css/app.css\">");
  // A meta tag without content gets one.
  auto bare = rewrite_html("<meta name=\"tile-url\">", "index.html", "ab", settings, exists);
  EXPECT_EQ(bare, "<meta name=\"tile-url\" content=\"https://tile.example.org/{z}/{x}/{y}.png?k=1&amp;v=2\">");
}

TEST(Csp, WithAndWithoutTiles) {
  EXPECT_EQ(content_security_policy(""),
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  EXPECT_EQ(content_security_policy("", "https://tile.example.org"),
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: https://tile.example.org; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  auto p = make_cors_policy("http://127.0.0.1:8080", {"http://127.0.0.1:8081"},
                            "https://*.tile.example.org");
  EXPECT_NE(p.csp.find("img-src 'self' data: https://*.tile.example.org; connect-src 'self' "
                       "http://127.0.0.1:8081;"),
            std::string::npos)
      << p.csp;
  EXPECT_EQ(make_cors_policy("http://127.0.0.1:8080", {}).csp.find("openstreetmap"),
            std::string::npos);
}

TEST(TileUrl, Validation) {
  EXPECT_EQ(tile_image_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
            "https://tile.openstreetmap.org");
  EXPECT_EQ(tile_image_source("HTTP://Tiles.Example.org:8080/t/{z}/{x}/{y}{r}.png?key=a"),
            "http://tiles.example.org:8080");
  EXPECT_EQ(tile_image_source("https://tiles.example.org:443/{z}/{x}/{-y}.png"),
            "https://tiles.example.org");
  EXPECT_EQ(tile_image_source("https://{s}.tile.example.org/{z}/{x}/{y}.png"),
            "https://*.tile.example.org");
  EXPECT_EQ(tile_image_source("http://127.0.0.1:9/{z}/{x}/{y}.png"), "http://127.0.0.1:9");
  EXPECT_EQ(tile_image_source("https://t.example/{s}/{z}/{x}/{y}.png"), "https://t.example");
  for (auto bad : {"", "tile.example.org/{z}/{x}/{y}.png", "ftp://t.example/{z}/{x}/{y}.png",
                   "javascript:alert(1)//{z}/{x}/{y}", "https://t.example/{z}/{x}.png",
                   "https://t.example/{z}/{y}.png", "https://t.example",
                   "https://{z}.t.example/{x}/{y}", "https://t.example/{z}/{x}/{y}/{apikey}.png",
                   "https://t.example/{z}/{x}/{y}.png}", "https://t.example/{z}/{x}/{y",
                   "https://user:pw@t.example/{z}/{x}/{y}.png", "https://t.example/{z}/{x}/{y} .png",
                   "https://t.example/{z}/{x}/{y}.png\"", "https://t.example/{z}/{x}/{y}.png'",
                   "https://t.example/<{z}>/{x}/{y}.png", "https://t-{s}.example/{z}/{x}/{y}",
                   "https://t.example;img-src */{z}/{x}/{y}", "https://[::1]/{z}/{x}/{y}.png\\",
                   "https://{s}.[::1]/{z}/{x}/{y}.png"})
    EXPECT_FALSE(tile_image_source(bad)) << bad;
  EXPECT_FALSE(tile_image_source("https://t.example/" + std::string(2100, 'a') + "/{z}/{x}/{y}"));
}

TEST(TileUrl, Options) {
  auto o = options_from({"--upstream", "127.0.0.1:1", "--tile-url",
                         "https://{s}.tile.example.org/{z}/{x}/{y}.png", "--tile-attribution",
                         "© Example"});
  EXPECT_EQ(o.tile_source, "https://*.tile.example.org");
  EXPECT_EQ(o.tile_attribution, "© Example");
  EXPECT_TRUE(options_from({"--upstream", "127.0.0.1:1"}).tile_source.empty());
  EXPECT_THROW(options_from({"--upstream", "127.0.0.1:1", "--tile-url", "https://t.example/x.png"}),
               status::common::ConfigError);
  EXPECT_THROW(options_from({"--upstream", "127.0.0.1:1", "--tile-attribution", "x"}),
               status::common::ConfigError);  // without tiles
  EXPECT_THROW(options_from({"--upstream", "127.0.0.1:1", "--tile-url",
                             "https://t.example/{z}/{x}/{y}.png", "--tile-attribution",
                             std::string(513, 'a')}),
               status::common::ConfigError);
  EXPECT_THROW(options_from({"--upstream", "127.0.0.1:1", "--tile-url",
                             "https://t.example/{z}/{x}/{y}.png", "--tile-attribution", "a\nb"}),
               status::common::ConfigError);
  auto env = options_from({"--upstream", "127.0.0.1:1"},
                          {{"STATUS_TILE_URL", "https://t.example/{z}/{x}/{y}.png"}});
  EXPECT_EQ(env.tile_source, "https://t.example");
}

namespace {

struct WebRoot {
  fs::path dir = fs::temp_directory_path() / ("gw-serve-" + std::to_string(::getpid()));
  WebRoot() { fs::create_directories(dir / "web" / "js"); }
  ~WebRoot() { fs::remove_all(dir); }
  void write(const std::string& rel, const std::string& body) {
    fs::create_directories((dir / "web" / rel).parent_path());
    std::ofstream(dir / "web" / rel, std::ios::binary) << body;
  }
  fs::path web() const { return dir / "web"; }
};

status::common::Response get(const StaticFiles& f, std::string target,
                             std::vector<std::pair<std::string, std::string>> fields = {},
                             http::verb v = http::verb::get) {
  status::common::Request r{v, target, 11};
  for (auto& [k, val] : fields) r.insert(k, val);
  return f.serve(r);
}

std::string js_body() {
  std::string s = "import { b } from './b.js';\n";
  for (int i = 0; i < 100; ++i) s += "export const v" + std::to_string(i) + " = b + 'x';\n";
  return s;
}

}  // namespace

TEST(StaticFilesServe, NegotiatesCachesAndRevalidates) {
  WebRoot w;
  w.write("index.html",
          "<!doctype html><head><meta name=\"tile-url\" content=\"\">"
          "<script type=\"module\" src=\"js/a.js\"></script></head><body>" +
              std::string(300, 'x') + "</body>");
  w.write("cluster.html", "<!doctype html><title>cluster</title>");
  w.write("js/a.js", js_body());
  w.write("js/b.js", "import './c.js'; export const b = 1;\n");
  w.write("js/c.js", "export {};\n");
  w.write("img/p.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(500, '\0'));
  w.write(".hidden", "secret");
  w.write(".git/config", "secret");
  fs::create_symlink("/etc/hostname", w.web() / "link-out");
  StaticFiles files(w.web(), {"https://t.example/{z}/{x}/{y}.png", ""});
  EXPECT_EQ(files.file_count(), 6u);
  EXPECT_EQ(files.hash().size(), 16u);
  const std::string hp = "/_/" + files.hash() + "/";

  auto index = get(files, "/", {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(index.result_int(), 200);
  EXPECT_EQ(index[http::field::cache_control], "no-cache");
  EXPECT_EQ(index[http::field::content_encoding], "gzip");
  EXPECT_EQ(index[http::field::vary], "Accept-Encoding");
  std::string html = gunzip(index.body());
  EXPECT_EQ(html, *files.body("index.html"));
  EXPECT_NE(html.find("src=\"" + hp + "js/a.js\""), std::string::npos) << html;
  EXPECT_NE(html.find("<link rel=\"modulepreload\" href=\"" + hp + "js/b.js\">"), std::string::npos);
  EXPECT_NE(html.find("<link rel=\"modulepreload\" href=\"" + hp + "js/c.js\">"), std::string::npos);
  EXPECT_EQ(html.find("modulepreload\" href=\"" + hp + "js/a.js"), std::string::npos);
  EXPECT_NE(html.find("content=\"https://t.example/{z}/{x}/{y}.png\""), std::string::npos);
  std::string etag(index[http::field::etag]);
  EXPECT_TRUE(etag.ends_with("-gz\"")) << etag;

  // 304 for the same representation, with the cache fields and no body; 200 for another.
  auto again = get(files, "/", {{"Accept-Encoding", "gzip"}, {"If-None-Match", etag}});
  EXPECT_EQ(again.result_int(), 304);
  EXPECT_TRUE(again.body().empty());
  EXPECT_EQ(again[http::field::etag], etag);
  EXPECT_EQ(again[http::field::cache_control], "no-cache");
  EXPECT_EQ(again[http::field::vary], "Accept-Encoding");
  EXPECT_EQ(get(files, "/", {{"Accept-Encoding", "br"}, {"If-None-Match", etag}}).result_int(), 200);
  EXPECT_EQ(get(files, "/", {{"If-None-Match", "*"}}).result_int(), 304);

  // Hashed URLs: immutable; another hash: the current file, revalidated; a bad one: 404.
  auto a = get(files, hp + "js/a.js", {{"Accept-Encoding", "br, gzip"}});
  ASSERT_EQ(a.result_int(), 200);
  EXPECT_EQ(a[http::field::cache_control], "public, max-age=31536000, immutable");
  EXPECT_EQ(a[http::field::content_encoding], "br");
  EXPECT_EQ(a[http::field::content_type], "text/javascript; charset=utf-8");
  auto identity = get(files, hp + "js/a.js");
  EXPECT_EQ(identity.body(), js_body());
  EXPECT_EQ(identity[http::field::content_encoding], "");
  auto old = get(files, "/_/00000000deadbeef/js/a.js");
  EXPECT_EQ(old.result_int(), 200);
  EXPECT_EQ(old[http::field::cache_control], "no-cache");
  EXPECT_EQ(old.body(), js_body());
  EXPECT_EQ(get(files, "/_/XYZ/js/a.js").result_int(), 404);
  EXPECT_EQ(get(files, "/_/" + files.hash()).result_int(), 404);
  EXPECT_EQ(get(files, hp + "../index.html").result_int(), 404);
  // A page is always revalidated, under the prefix too.
  EXPECT_EQ(get(files, hp + "index.html")[http::field::cache_control], "no-cache");

  // HEAD: the same fields, no body.
  auto head = get(files, hp + "js/a.js", {{"Accept-Encoding", "br"}}, http::verb::head);
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[http::field::content_length], std::to_string(a.body().size()));
  EXPECT_EQ(head[http::field::etag], a[http::field::etag]);

  // Not compressible: no coding, no Vary.
  auto png = get(files, "/img/p.png", {{"Accept-Encoding", "br, gzip"}});
  EXPECT_EQ(png.result_int(), 200);
  EXPECT_EQ(png[http::field::content_encoding], "");
  EXPECT_EQ(png[http::field::vary], "");
  EXPECT_EQ(png.body().size(), 508u);

  // /cluster → cluster.html; hidden files and links out of the root are not served.
  EXPECT_EQ(get(files, "/cluster").body(), "<!doctype html><title>cluster</title>");
  EXPECT_EQ(get(files, "/cluster.html").result_int(), 200);
  EXPECT_EQ(get(files, "/link-out").result_int(), 404);
  EXPECT_EQ(get(files, "/.hidden").result_int(), 404);
  EXPECT_EQ(get(files, "/js/a").result_int(), 404);  // only .html is implied
  EXPECT_EQ(get(files, "/", {}, http::verb::post).result_int(), 405);
  EXPECT_EQ(index["Content-Security-Policy"], kContentSecurityPolicy);
}

TEST(StaticFilesServe, HashFollowsContent) {
  WebRoot w;
  w.write("index.html", "<link href=\"a.css\">");
  w.write("a.css", "body{}");
  std::string first = StaticFiles(w.web()).hash();
  EXPECT_EQ(StaticFiles(w.web()).hash(), first);
  w.write("a.css", "body{color:red}");
  EXPECT_NE(StaticFiles(w.web()).hash(), first);
}

TEST(StaticFilesServe, BoundsAreAConfigurationError) {
  WebRoot w;
  for (std::string name : {"f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"})
    w.write(name, std::string(100, 'a'));
  EXPECT_NO_THROW(StaticFiles(w.web(), {}, {.max_files = 5, .max_bytes = 500}));
  EXPECT_THROW(StaticFiles(w.web(), {}, {.max_files = 4, .max_bytes = 1 << 20}),
               status::common::ConfigError);
  EXPECT_THROW(StaticFiles(w.web(), {}, {.max_files = 100, .max_bytes = 499}),
               status::common::ConfigError);
  StaticFiles missing(w.dir / "nope");
  EXPECT_EQ(missing.file_count(), 0u);
  EXPECT_EQ(get(missing, "/").result_int(), 404);
}

// The invariants of tests/fuzz's web case, over random mutations of a few seeds (a quick run
// with every build; `make fuzz` explores much further).
TEST(StaticServingParsers, SurviveMutatedInput) {
  const std::vector<std::string> seeds = {
      "<!doctype html><head><meta name=\"tile-url\" content=\"\"><link href=\"css/a.css\">"
      "<script type=module src='js/a.js'></script><!-- x --></head>",
      "import { a } from './a.js'; export * as b from \"../b.js\"; const r = /'[/]/g; `${`x`}`",
      "gzip;q=0.5, br;q=0, *;q=0.1, identity;q=0",
      "W/\"abc\", \"abc-gz\", *",
      "https://{s}.tile.example.org:8443/{z}/{x}/{y}{r}.png?k=1"};
  std::uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  const std::string alphabet = "<>\"'=/ {}*;,.:?#-\\`$!\n\tabsrcefhimnoptuwxyz0123456789";
  auto none = [](const std::string&) { return false; };
  auto all = [](const std::string&) { return true; };
  for (int round = 0; round < 3000; ++round) {
    std::string in = seeds[next() % seeds.size()];
    for (int m = 0, n = 1 + next() % 8; m < n && !in.empty(); ++m) {
      std::size_t at = next() % in.size();
      switch (next() % 3) {
        case 0: in[at] = alphabet[next() % alphabet.size()]; break;
        case 1: in.erase(at, 1 + next() % 4); break;
        default: in.insert(at, 1, alphabet[next() % alphabet.size()]);
      }
    }
    (void)choose_encoding(in, true, true);
    (void)if_none_match(in, "\"abc-gz\"");
    (void)module_imports(in);
    (void)resolve_reference("js/app.js", in);
    std::string folded = in;
    for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (folded.find("tile") == std::string::npos) {
      ASSERT_EQ(rewrite_html(in, "index.html", "0123456789abcdef", {}, none), in);
    }
    (void)rewrite_html(in, "a/index.html", "0123456789abcdef",
                       {"https://t.example/{z}/{x}/{y}", "\"<&>"}, all, {"js/x.js"});
    if (auto src = tile_image_source(in)) {
      EXPECT_TRUE(src->starts_with("http://") || src->starts_with("https://")) << in;
      EXPECT_EQ(src->find_first_of(";, \t'\""), std::string::npos) << in << " → " << *src;
    }
  }
}
