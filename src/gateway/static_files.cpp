#include "gateway/static_files.hpp"

#include "common/config.hpp"
#include "common/log.hpp"

#include <brotli/encode.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

namespace status::gateway {

namespace fs = std::filesystem;
using common::http::field;

std::optional<std::string> sanitize_path(std::string_view path) {
  auto decoded = common::percent_decode(path);
  if (!decoded || decoded->empty() || decoded->front() != '/') return std::nullopt;
  std::string out;
  std::string_view rest(*decoded);
  rest.remove_prefix(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (seg.empty()) {
      if (!last) return std::nullopt;  // "//" inside the path
    } else {
      if (seg.front() == '.') return std::nullopt;  // "..", "." and hidden files
      for (unsigned char c : seg)
        if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return std::nullopt;
      if (!out.empty()) out += '/';
      out += seg;
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  // A directory ("/" or "/docs/") means its index.html.
  if (out.empty() || decoded->back() == '/') out += out.empty() ? "index.html" : "/index.html";
  return out;
}

std::string_view mime_type(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
  };
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || name.find('/', dot) != std::string_view::npos)
    return "application/octet-stream";
  std::string ext(name.substr(dot));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto [e, type] : kTypes)
    if (e == ext) return type;
  return "application/octet-stream";
}

bool compressible(std::string_view type) {
  return type.starts_with("text/") || type.starts_with("application/json") ||
         type.starts_with("application/manifest+json") || type.starts_with("image/svg+xml") ||
         type.find("javascript") != std::string_view::npos;
}

// ------------------------------------------------------------------- content negotiation

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A qvalue (RFC 9110 §12.4.2): "0", "0.5", "1", "1.000"; in thousandths, or -1 if malformed.
int parse_qvalue(std::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
  int whole = v[0] - '0';
  if (v.size() == 1) return whole * 1000;
  if (v[1] != '.') return -1;
  int frac = 0, digits = 0;
  for (char c : v.substr(2)) {
    if (c < '0' || c > '9') return -1;
    frac = frac * 10 + (c - '0');
    ++digits;
  }
  while (digits++ < 3) frac *= 10;
  int q = whole * 1000 + frac;
  return q > 1000 ? -1 : q;
}

}  // namespace

Encoding choose_encoding(std::optional<std::string_view> accept, bool have_gzip,
                         bool have_brotli) {
  if (!accept) return Encoding::kIdentity;
  // q in thousandths per coding named; -1: not named.
  int q_br = -1, q_gzip = -1, q_identity = -1, q_any = -1;
  std::string_view rest = *accept;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    auto semi = item.find(';');
    std::string coding = lower(trim(item.substr(0, semi)));
    int q = 1000;
    while (semi != std::string_view::npos) {
      item.remove_prefix(semi + 1);
      semi = item.find(';');
      std::string_view param = trim(item.substr(0, semi));
      auto eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      if (lower(trim(param.substr(0, eq))) == "q") q = parse_qvalue(trim(param.substr(eq + 1)));
    }
    if (q < 0) continue;  // a malformed entry says nothing
    if (coding == "br") q_br = std::max(q_br, q);
    else if (coding == "gzip" || coding == "x-gzip") q_gzip = std::max(q_gzip, q);
    else if (coding == "identity") q_identity = std::max(q_identity, q);
    else if (coding == "*") q_any = std::max(q_any, q);
  }
  auto effective = [&](int named) { return named >= 0 ? named : q_any >= 0 ? q_any : 0; };
  int br = have_brotli ? effective(q_br) : 0;
  int gz = have_gzip ? effective(q_gzip) : 0;
  // identity is acceptable unless refused explicitly or by "*;q=0" (RFC 9110 §12.5.3).
  int id = q_identity >= 0 ? q_identity : q_any == 0 ? 0 : std::max(q_any, 1);
  if (br > 0 && br >= gz && br >= id) return Encoding::kBrotli;
  if (gz > 0 && gz >= id) return Encoding::kGzip;
  return Encoding::kIdentity;
}

bool if_none_match(std::string_view field, std::string_view etag) {
  auto opaque = [](std::string_view t) {
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  std::string_view want = opaque(etag);
  std::size_t i = 0, n = field.size();
  while (i < n) {
    while (i < n && (field[i] == ' ' || field[i] == '\t' || field[i] == ',')) ++i;
    if (i >= n) break;
    if (field[i] == '*') return true;
    std::size_t start = i;
    if (field.compare(i, 2, "W/") == 0) i += 2;
    if (i >= n || field[i] != '"') return false;  // malformed: stop here
    auto close = field.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (opaque(field.substr(start, close + 1 - start)) == want) return true;
    i = close + 1;
  }
  return false;
}

// ------------------------------------------------------------------- hashing, compression

std::string sha256_hex(std::string_view data, std::size_t hex_chars) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && out.size() < hex_chars; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  out.resize(std::min(out.size(), hex_chars));
  return out;
}

std::string gzip_compress(std::string_view data, int level) {
  z_stream zs{};
  // windowBits 15 + 16: the gzip wrapper; memLevel 9.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string();
}

std::string brotli_compress(std::string_view data) {
  std::size_t size = BrotliEncoderMaxCompressedSize(data.size());
  if (size == 0) return {};
  std::string out(size, '\0');
  if (!BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT,
                             data.size(), reinterpret_cast<const uint8_t*>(data.data()), &size,
                             reinterpret_cast<uint8_t*>(out.data())))
    return {};
  out.resize(size);
  return out;
}

// ------------------------------------------------------------------- HTML and modules

std::string html_attribute_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// A small JavaScript scanner: enough to find static import/export specifiers without being
// fooled by comments, strings, template literals or regular expressions.
class JsScanner {
 public:
  explicit JsScanner(std::string_view s) : s_(s) {}

  std::vector<std::string> imports() {
    scan(false);
    return std::move(out_);
  }

 private:
  // Skips whitespace and comments from i_.
  void skip_space() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') {
        auto nl = s_.find('\n', i_);
        i_ = nl == std::string_view::npos ? s_.size() : nl + 1;
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        auto end = s_.find("*/", i_ + 2);
        i_ = end == std::string_view::npos ? s_.size() : end + 2;
      } else {
        return;
      }
    }
  }
  // At a quote: reads the string literal (escapes kept as the character after the backslash).
  std::string read_string() {
    char q = s_[i_++];
    std::string v;
    while (i_ < s_.size() && s_[i_] != q && s_[i_] != '\n') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
      v += s_[i_++];
    }
    if (i_ < s_.size()) ++i_;
    return v;
  }
  std::string_view read_ident() {
    std::size_t start = i_;
    while (i_ < s_.size() && ident_char(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // At a backtick: skips the template literal, its ${…} expressions included.
  void skip_template() {
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
      } else if (c == '`') {
        ++i_;
        return;
      } else if (c == '$' && i_ + 1 < s_.size() && s_[i_ + 1] == '{') {
        i_ += 2;
        scan(true);
      } else {
        ++i_;
      }
    }
  }
  void skip_regex() {
    ++i_;
    bool in_class = false;
    while (i_ < s_.size() && s_[i_] != '\n') {
      char c = s_[i_++];
      if (c == '\\') {
        ++i_;
      } else if (c == '[') {
        in_class = true;
      } else if (c == ']') {
        in_class = false;
      } else if (c == '/' && !in_class) {
        break;
      }
    }
    while (i_ < s_.size() && ident_char(s_[i_])) ++i_;  // flags
  }
  bool at_quote() const { return i_ < s_.size() && (s_[i_] == '"' || s_[i_] == '\''); }
  // After "from": the specifier.
  bool take_from() {
    skip_space();
    if (i_ >= s_.size() || !ident_start(s_[i_])) return false;
    std::size_t save = i_;
    if (read_ident() != "from") {
      i_ = save;
      return false;
    }
    skip_space();
    if (!at_quote()) return false;
    out_.push_back(read_string());
    return true;
  }
  // After the keyword "import".
  void parse_import() {
    std::size_t save = i_;
    skip_space();
    if (i_ >= s_.size() || s_[i_] == '(' || s_[i_] == '.') {
      i_ = save;  // import(…) or import.meta
      return;
    }
    if (at_quote()) {
      out_.push_back(read_string());
      return;
    }
    int depth = 0;
    for (int tokens = 0; tokens < 500 && i_ < s_.size(); ++tokens) {
      skip_space();
      if (i_ >= s_.size()) break;
      char c = s_[i_];
      if (c == '{') {
        ++depth, ++i_;
      } else if (c == '}') {
        --depth, ++i_;
      } else if (c == ',' || c == '*') {
        ++i_;
      } else if (at_quote() && depth > 0) {
        read_string();  // import { "a-b" as c }
      } else if (ident_start(c)) {
        std::size_t at = i_;
        if (read_ident() == "from" && depth == 0) {
          i_ = at;
          if (!take_from()) i_ = save;
          return;
        }
      } else {
        break;
      }
    }
    i_ = save;
  }
  // After the keyword "export": only "export * [as x] from" and "export {…} from".
  void parse_export() {
    std::size_t save = i_;
    skip_space();
    if (i_ < s_.size() && s_[i_] == '*') {
      ++i_;
      skip_space();
      if (i_ < s_.size() && ident_start(s_[i_])) {
        std::size_t at = i_;
        if (read_ident() == "as") {
          skip_space();
          if (at_quote()) read_string();
          else read_ident();
        } else {
          i_ = at;
        }
      }
      if (!take_from()) i_ = save;
      return;
    }
    if (i_ < s_.size() && s_[i_] == '{') {
      while (i_ < s_.size() && s_[i_] != '}') {
        if (at_quote()) read_string();
        else ++i_;
      }
      if (i_ < s_.size()) ++i_;
      if (!take_from()) i_ = save;
      return;
    }
    i_ = save;
  }
  // Scans to the end (or, in a template's ${…}, to its closing brace).
  void scan(bool in_expression) {
    int depth = 0;
    char prev = 0;  // the last significant character: decides whether "/" starts a regex
    std::string_view prev_word;
    while (i_ < s_.size()) {
      skip_space();
      if (i_ >= s_.size()) break;
      char c = s_[i_];
      if (c == '"' || c == '\'') {
        read_string();
        prev = '"';
      } else if (c == '`') {
        skip_template();
        prev = '`';
      } else if (c == '/') {
        static constexpr std::string_view kBeforeRegex = "(,=:[!&|?{};~+-*%<>^";
        static const std::set<std::string_view> kWords = {
            "return", "typeof", "case", "do", "else", "in", "of", "new", "delete",
            "void", "throw", "instanceof", "yield", "await"};
        bool regex = prev == 0 || kBeforeRegex.find(prev) != std::string_view::npos ||
                     (prev == 'a' && kWords.contains(prev_word));
        if (regex) {
          skip_regex();
          prev = '/';
        } else {
          ++i_;
          prev = '-';  // an operator
        }
      } else if (ident_start(c)) {
        bool after_dot = prev == '.';
        std::string_view w = read_ident();
        if (!after_dot && w == "import") parse_import();
        else if (!after_dot && w == "export") parse_export();
        prev = 'a';
        prev_word = w;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        while (i_ < s_.size() && (ident_char(s_[i_]) || s_[i_] == '.')) ++i_;
        prev = '0';
      } else {
        ++i_;
        if (c == '{') ++depth;
        if (c == '}' && in_expression && depth-- == 0) return;
        prev = c;
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::vector<std::string> out_;
};

// The path of a URL reference: without its query and fragment.
std::pair<std::string_view, std::string_view> split_reference(std::string_view ref) {
  auto cut = ref.find_first_of("?#");
  if (cut == std::string_view::npos) return {ref, {}};
  return {ref.substr(0, cut), ref.substr(cut)};
}

// A reference that names something in this web root: no scheme, no "//", no fragment-only.
bool local_reference(std::string_view ref) {
  if (ref.empty() || ref.front() == '#' || ref.front() == '?' || ref.starts_with("//"))
    return false;
  auto colon = ref.find(':');
  auto slash = ref.find_first_of("/?#");
  return colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon);
}

std::string encode_path(std::string_view path) {
  return common::percent_encode(path, "/!$&'()*+,;=:@");
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct Attribute {
  std::string_view name;
  std::string_view value;        // without quotes
  std::size_t raw_begin = 0;     // the value as written, quotes included
  std::size_t raw_end = 0;
};

struct Edit {
  std::size_t begin, end;
  std::string text;
};

}  // namespace

std::vector<std::string> module_imports(std::string_view js) { return JsScanner(js).imports(); }

std::optional<std::string> resolve_reference(std::string_view base, std::string_view ref) {
  std::vector<std::string_view> parts;
  auto push_segments = [&](std::string_view s, bool keep_last_empty) -> bool {
    while (true) {
      auto slash = s.find('/');
      std::string_view seg = s.substr(0, slash);
      bool last = slash == std::string_view::npos;
      if (seg == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (seg == "." || (seg.empty() && !(last && keep_last_empty))) {
        // nothing
      } else {
        parts.push_back(seg);
      }
      if (last) return true;
      s.remove_prefix(slash + 1);
    }
  };
  if (ref.starts_with('/')) {
    ref.remove_prefix(1);
  } else {
    auto slash = base.rfind('/');
    if (slash != std::string_view::npos && !push_segments(base.substr(0, slash), false))
      return std::nullopt;
  }
  if (!push_segments(ref, true)) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::string rewrite_html(std::string_view html, std::string_view page, std::string_view hash,
                         const PageSettings& settings,
                         const std::function<bool(const std::string&)>& exists,
                         const std::vector<std::string>& preload,
                         std::vector<std::string>* module_scripts) {
  std::vector<Edit> edits;
  const std::string prefix = "/_/" + std::string(hash) + "/";
  // The root-relative, decoded path a reference names when it is a file of the root.
  auto target_of = [&](std::string_view ref) -> std::optional<std::pair<std::string, std::string>> {
    if (!local_reference(ref)) return std::nullopt;
    auto [path, tail] = split_reference(ref);
    auto resolved = resolve_reference(page, path);
    if (!resolved || resolved->empty()) return std::nullopt;
    auto decoded = common::percent_decode(*resolved);
    if (!decoded || !exists(*decoded)) return std::nullopt;
    return std::pair{*decoded, prefix + *resolved + std::string(tail)};
  };
  std::size_t head_end = std::string_view::npos;
  std::size_t pos = 0, n = html.size();
  while (pos < n) {
    auto lt = html.find('<', pos);
    if (lt == std::string_view::npos) break;
    if (html.compare(lt, 4, "<!--") == 0) {
      auto end = html.find("-->", lt + 4);
      pos = end == std::string_view::npos ? n : end + 3;
      continue;
    }
    std::size_t i = lt + 1;
    bool closing = i < n && html[i] == '/';
    if (closing) ++i;
    if (i >= n || !std::isalpha(static_cast<unsigned char>(html[i]))) {
      auto gt = html.find('>', lt + 1);  // <!doctype …>, <?…>, a stray "<"
      pos = gt == std::string_view::npos ? n : gt + 1;
      continue;
    }
    std::size_t name_begin = i;
    while (i < n && (std::isalnum(static_cast<unsigned char>(html[i])) || html[i] == '-')) ++i;
    std::string tag = lower(html.substr(name_begin, i - name_begin));
    std::vector<Attribute> attrs;
    std::size_t tag_end = n;  // index of the '>' (or of "/>")
    while (i < n) {
      while (i < n && std::isspace(static_cast<unsigned char>(html[i]))) ++i;
      if (i >= n) break;
      if (html[i] == '>') {
        tag_end = i;
        break;
      }
      if (html[i] == '/' && i + 1 < n && html[i + 1] == '>') {
        tag_end = i;
        break;
      }
      if (html[i] == '/') {
        ++i;
        continue;
      }
      std::size_t an = i;
      while (i < n && !std::isspace(static_cast<unsigned char>(html[i])) && html[i] != '=' &&
             html[i] != '>' && !(html[i] == '/' && i + 1 < n && html[i + 1] == '>'))
        ++i;
      Attribute a;
      a.name = html.substr(an, i - an);
      std::size_t j = i;
      while (j < n && std::isspace(static_cast<unsigned char>(html[j]))) ++j;
      if (j < n && html[j] == '=') {
        ++j;
        while (j < n && std::isspace(static_cast<unsigned char>(html[j]))) ++j;
        a.raw_begin = j;
        if (j < n && (html[j] == '"' || html[j] == '\'')) {
          char q = html[j];
          auto close = html.find(q, j + 1);
          if (close == std::string_view::npos) close = n - 1;
          a.value = html.substr(j + 1, close - j - 1);
          i = close + 1;
        } else {
          std::size_t v = j;
          while (j < n && !std::isspace(static_cast<unsigned char>(html[j])) && html[j] != '>') ++j;
          a.value = html.substr(v, j - v);
          i = j;
        }
        a.raw_end = i;
      }
      attrs.push_back(a);
    }
    pos = tag_end == n ? n : tag_end + 1;
    if (closing) {
      if (tag == "head" && head_end == std::string_view::npos) head_end = lt;
      continue;
    }
    auto attr = [&](std::string_view name) -> const Attribute* {
      for (const auto& a : attrs)
        if (iequals(a.name, name)) return &a;
      return nullptr;
    };
    for (const auto& a : attrs) {
      if (a.raw_end == 0 || !(iequals(a.name, "src") || iequals(a.name, "href"))) continue;
      auto t = target_of(trim(a.value));
      if (!t) continue;
      auto dot = t->first.rfind('.');
      std::string ext = dot == std::string::npos ? "" : lower(t->first.substr(dot));
      if (ext == ".html" || ext == ".htm") continue;  // another page: its own URL, revalidated
      edits.push_back({a.raw_begin, a.raw_end, "\"" + html_attribute_escape(t->second) + "\""});
      if (tag == "script" && module_scripts) {
        const Attribute* type = attr("type");
        if (type && iequals(trim(type->value), "module")) module_scripts->push_back(t->first);
      }
    }
    if (tag == "meta") {
      const Attribute* name = attr("name");
      const std::string* value = nullptr;
      if (name && iequals(name->value, "tile-url")) value = &settings.tile_url;
      if (name && iequals(name->value, "tile-attribution")) value = &settings.tile_attribution;
      if (value) {
        std::string text = "\"" + html_attribute_escape(*value) + "\"";
        const Attribute* content = attr("content");
        if (content && content->raw_end != 0)
          edits.push_back({content->raw_begin, content->raw_end, text});
        else if (!content && tag_end != n)
          edits.push_back({tag_end, tag_end, " content=" + text});
      }
    }
    if (tag == "script" || tag == "style") {  // raw text up to the end tag
      auto end = lower(html.substr(pos)).find("</" + tag);
      pos = end == std::string::npos ? n : pos + end;
    }
  }
  if (!preload.empty() && head_end != std::string_view::npos) {
    std::string links;
    for (const auto& m : preload)
      links += "<link rel=\"modulepreload\" href=\"" +
               html_attribute_escape(prefix + encode_path(m)) + "\">\n";
    edits.push_back({head_end, head_end, std::move(links)});
  }
  std::stable_sort(edits.begin(), edits.end(),
                   [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(html.size() + 256);
  std::size_t at = 0;
  for (const auto& e : edits) {
    if (e.begin < at) continue;  // overlapping: cannot happen, but never corrupt the page
    out.append(html.substr(at, e.begin - at)).append(e.text);
    at = e.end;
  }
  out.append(html.substr(at));
  return out;
}

// ------------------------------------------------------------------- the files

namespace {

bool is_html(std::string_view rel) {
  auto dot = rel.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext = lower(rel.substr(dot));
  return ext == ".html" || ext == ".htm";
}

bool is_js(std::string_view rel) {
  auto dot = rel.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext = lower(rel.substr(dot));
  return ext == ".js" || ext == ".mjs";
}

// Whether `rel` (a root-relative path from the directory walk) is one a request can name.
bool servable(const std::string& rel) {
  auto back = sanitize_path("/" + rel);
  if (!back || *back != rel) return false;  // hidden, control characters, ':', '\'…
  // '%' would be decoded by a request: "a%20b" on disk is unreachable; skip it.
  return rel.find('%') == std::string::npos;
}

std::string joined_fields(const common::Request& req, field f) {
  std::string out;
  for (auto [it, end] = req.equal_range(f); it != end; ++it) {
    if (!out.empty()) out += ", ";
    out.append(it->value().data(), it->value().size());
  }
  return out;
}

// An entity tag: "<hash><suffix>", quoted.
std::string entity_tag(std::string_view hash, std::string_view suffix = {}) {
  std::string t;
  t.reserve(hash.size() + suffix.size() + 2);
  t.append(1, '"').append(hash).append(suffix).append(1, '"');
  return t;
}

bool hex_string(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

StaticFiles::StaticFiles(fs::path root, PageSettings settings, StaticLimits limits)
    : root_(std::move(root)) {
  std::error_code ec;
  std::map<std::string, std::string> raw;  // sorted: the root hash does not depend on the walk
  if (fs::is_directory(root_, ec)) {
    fs::path canonical_root = fs::canonical(root_, ec);
    auto inside = [&](const fs::path& p) {
      auto rel = p.lexically_relative(canonical_root);
      return !rel.empty() && *rel.begin() != "..";
    };
    std::size_t bytes = 0;
    auto it = fs::recursive_directory_iterator(root_, fs::directory_options::skip_permission_denied,
                                               ec);
    if (ec) throw common::ConfigError("--web-root " + root_.string() + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw common::ConfigError("--web-root " + root_.string() + ": " + ec.message());
      const auto& entry = *it;
      std::string rel = entry.path().lexically_relative(root_).generic_string();
      bool dir = entry.is_directory(ec);
      if (entry.path().filename().string().starts_with('.') || rel == "_") {
        // Hidden, or "_" (the prefix of the hashed URLs): not served.
        if (dir) it.disable_recursion_pending();
        continue;
      }
      if (entry.is_symlink(ec)) {
        // Only a link to a file inside the root; the walk never follows a directory link.
        auto target = fs::canonical(entry.path(), ec);
        if (ec || !fs::is_regular_file(target, ec) || !inside(target)) {
          spdlog::warn("event=web_root_skipped path={} reason=\"a symbolic link out of the root "
                       "or to a directory\"",
                       rel);
          continue;
        }
      } else if (dir || !entry.is_regular_file(ec)) {
        continue;
      }
      if (!servable(rel)) continue;
      if (raw.size() + 1 > limits.max_files)
        throw common::ConfigError("--web-root " + root_.string() + " holds more than " +
                                  std::to_string(limits.max_files) +
                                  " files (the gateway keeps the web client in memory)");
      std::ifstream in(entry.path(), std::ios::binary);
      if (!in) throw common::ConfigError("--web-root: cannot read " + entry.path().string());
      std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      bytes += body.size();
      if (bytes > limits.max_bytes)
        throw common::ConfigError("--web-root " + root_.string() + " holds more than " +
                                  std::to_string(limits.max_bytes >> 20) +
                                  " MiB (the gateway keeps the web client in memory)");
      raw.emplace(std::move(rel), std::move(body));
    }
  } else {
    spdlog::warn("event=web_root_missing path={}", root_.string());
  }

  std::string digest;
  for (const auto& [rel, body] : raw) digest += rel + '\0' + sha256_hex(body) + '\n';
  hash_ = sha256_hex(digest, 16);

  auto exists = [&](const std::string& rel) { return raw.contains(rel); };
  // A page's module graph: every module its module scripts import, recursively (static
  // imports of relative specifiers within the root), entries themselves excluded.
  auto module_graph = [&](const std::string& page, const std::vector<std::string>& entries) {
    std::vector<std::string> order;
    std::set<std::string> seen(entries.begin(), entries.end());
    std::vector<std::string> queue(entries.begin(), entries.end());
    while (!queue.empty()) {
      std::string m = std::move(queue.back());
      queue.pop_back();
      auto src = raw.find(m);
      if (src == raw.end()) continue;
      for (const auto& spec : module_imports(src->second)) {
        if (!(spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/')))
          continue;  // a bare specifier or a URL: not a file of the root
        auto resolved = resolve_reference(m, split_reference(spec).first);
        if (!resolved) continue;
        auto decoded = common::percent_decode(*resolved);
        if (!decoded || !raw.contains(*decoded) || !is_js(*decoded)) continue;
        if (seen.insert(*decoded).second) {
          order.push_back(*decoded);
          queue.push_back(*decoded);
        }
      }
    }
    return order;
  };

  std::vector<File*> to_compress;
  for (auto& [rel, body] : raw) {
    File f;
    f.content_type = mime_type(rel);
    f.compressible = compressible(f.content_type);
    if (is_html(rel)) {
      std::vector<std::string> entries;
      rewrite_html(body, rel, hash_, settings, exists, {}, &entries);
      f.identity.body = rewrite_html(body, rel, hash_, settings, exists, module_graph(rel, entries));
    } else {
      f.identity.body = body;
    }
    f.identity.etag = entity_tag(sha256_hex(f.identity.body, 32));
    total_bytes_ += f.identity.body.size();
    auto [it, _] = files_.emplace(rel, std::move(f));
    if (it->second.compressible && it->second.identity.body.size() > 64)
      to_compress.push_back(&it->second);
  }
  // gzip and brotli (quality 11: ~0.5 s for the web client) on up to 4 threads beside the
  // start, each file by one thread; the map is not modified meanwhile, only the files' own
  // fields. The server starts listening meanwhile; serve() waits for them (only the first
  // static requests of a fresh process can: a process that serves none is not held up).
  compressor_ = std::thread([this, to_compress = std::move(to_compress)] {
    compress(to_compress);
    {
      std::lock_guard lock(ready_mu_);
      ready_ = true;
    }
    ready_cv_.notify_all();
  });
}

StaticFiles::~StaticFiles() {
  if (compressor_.joinable()) compressor_.join();
}

void StaticFiles::wait_compressed() const {
  if (ready_fast_.load(std::memory_order_acquire)) return;
  std::unique_lock lock(ready_mu_);
  ready_cv_.wait(lock, [this] { return ready_; });
  ready_fast_.store(true, std::memory_order_release);
}

void StaticFiles::compress(const std::vector<File*>& to_compress) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < to_compress.size();) {
      File& f = *to_compress[i];
      std::string h = f.identity.etag.substr(1, f.identity.etag.size() - 2);
      auto gz = gzip_compress(f.identity.body);
      if (!gz.empty() && gz.size() < f.identity.body.size())
        f.gzip = Representation{std::move(gz), entity_tag(h, "-gz")};
      auto br = brotli_compress(f.identity.body);
      if (!br.empty() && br.size() < f.identity.body.size())
        f.brotli = Representation{std::move(br), entity_tag(h, "-br")};
    }
  };
  std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4);
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < std::min(threads, to_compress.size()); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

const StaticFiles::File* StaticFiles::find(const std::string& rel) const {
  if (auto it = files_.find(rel); it != files_.end()) return &it->second;
  if (auto it = files_.find(rel + "/index.html"); it != files_.end()) return &it->second;
  auto slash = rel.rfind('/');
  auto last = slash == std::string::npos ? std::string_view(rel) : std::string_view(rel).substr(slash + 1);
  if (last.find('.') == std::string_view::npos)
    if (auto it = files_.find(rel + ".html"); it != files_.end()) return &it->second;
  return nullptr;
}

const std::string* StaticFiles::body(const std::string& rel) const {
  const File* f = find(rel);
  return f ? &f->identity.body : nullptr;
}

common::Response StaticFiles::serve(const common::Request& req, std::string_view csp) const {
  bool head = req.method() == common::http::verb::head;
  if (req.method() != common::http::verb::get && !head) {
    auto res = common::problem(405, "only GET and HEAD are allowed here", 11, req.keep_alive());
    res.set(field::allow, "GET, HEAD");
    return res;
  }
  auto [path, query] = common::split_target(req.target());
  // "/_/<hash>/<path>": the content-hashed URL of <path>.
  bool hashed_current = false;
  if (path.starts_with("/_/")) {
    auto rest = path.substr(3);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || !hex_string(rest.substr(0, slash)))
      return common::problem(404, "no such file", 11, req.keep_alive());
    hashed_current = rest.substr(0, slash) == hash_;
    path = rest.substr(slash);
  }
  auto rel = sanitize_path(path);
  const File* file = rel ? find(*rel) : nullptr;
  if (!file) return common::problem(404, "no such file", 11, req.keep_alive());

  wait_compressed();
  // A page is revalidated whatever its URL: what the gateway fills into it (the tile flags) is
  // not part of the hash.
  if (file->content_type.starts_with("text/html")) hashed_current = false;
  const Representation* rep = &file->identity;
  Encoding enc = Encoding::kIdentity;
  if (file->compressible && (file->gzip || file->brotli)) {
    std::optional<std::string_view> accept;
    std::string fields = joined_fields(req, field::accept_encoding);
    if (req.find(field::accept_encoding) != req.end()) accept = fields;
    enc = choose_encoding(accept, file->gzip.has_value(), file->brotli.has_value());
    if (enc == Encoding::kGzip) rep = &*file->gzip;
    if (enc == Encoding::kBrotli) rep = &*file->brotli;
  }
  // The policies rule documents (a page, or an SVG opened as one); on a script or a style
  // sheet they would be bytes on every answer that no browser reads.
  bool document = file->content_type.starts_with("text/html") ||
                  file->content_type.starts_with("image/svg+xml");
  auto common_fields = [&](common::Response& res) {
    res.set(field::cache_control,
            hashed_current ? "public, max-age=31536000, immutable" : "no-cache");
    res.set(field::etag, rep->etag);
    if (file->compressible) res.set(field::vary, "Accept-Encoding");
    res.set("X-Content-Type-Options", "nosniff");
    if (document) {
      res.set("Content-Security-Policy", csp);
      res.set("Referrer-Policy", "strict-origin-when-cross-origin");
    }
    res.keep_alive(req.keep_alive());
  };
  if (req.find(field::if_none_match) != req.end() &&
      if_none_match(joined_fields(req, field::if_none_match), rep->etag)) {
    common::Response res{common::http::status::not_modified, 11};
    common_fields(res);
    return res;
  }
  common::Response res{common::http::status::ok, 11};
  res.set(field::content_type, file->content_type);
  if (enc == Encoding::kGzip) res.set(field::content_encoding, "gzip");
  if (enc == Encoding::kBrotli) res.set(field::content_encoding, "br");
  common_fields(res);
  res.content_length(rep->body.size());
  if (!head) res.body() = rep->body;
  return res;
}

}  // namespace status::gateway
