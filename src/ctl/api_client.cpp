#include "ctl/api_client.hpp"

#include <strings.h>

namespace status::ctl {

namespace http = common::http;

std::string ApiReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return {};
}

ApiClient::ApiClient(const std::string& base_url, std::chrono::milliseconds timeout,
                     std::string token)
    : url_(common::redact_url(base_url)),
      base_(common::parse_base_url(base_url)),
      timeout_(timeout),
      token_(std::move(token)) {}

common::Headers ApiClient::with_credentials(common::Headers headers) const {
  if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
  return headers;
}

ApiReply ApiClient::call(http::verb method, const std::string& target, const std::string& body,
                         const common::Headers& headers) const {
  common::Headers all = with_credentials(headers);
  all.emplace_back("Accept", "application/json");
  if (!body.empty()) all.emplace_back("Content-Type", "application/json");
  auto r = common::http_request(method, base_, target, body, all, timeout_, 64 * 1024 * 1024);
  ApiReply out;
  if (!r.ok()) {
    out.error = r.ec.message();
    return out;
  }
  out.reached = true;
  out.status = r.res.result_int();
  out.body = std::move(r.res.body());
  for (const auto& f : r.res)
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

ApiReply ApiClient::get(const std::string& target) const {
  return call(http::verb::get, target, {}, {});
}

ApiReply ApiClient::post(const std::string& target, const std::string& json) const {
  return call(http::verb::post, target, json, {});
}

ApiReply ApiClient::put(const std::string& target, const std::string& json,
                        const common::Headers& headers) const {
  return call(http::verb::put, target, json, headers);
}

ApiReply ApiClient::del(const std::string& target, const common::Headers& headers) const {
  return call(http::verb::delete_, target, {}, headers);
}

int ApiClient::stream(const std::string& target,
                      const std::function<bool(std::string_view)>& on_data) const {
  return common::http_stream(
      base_, target,
      with_credentials({{"User-Agent", "statusctl"}, {"Accept", "text/event-stream"}}), timeout_,
      on_data);
}

std::string encode_segment(std::string_view s) { return common::percent_encode_segment(s); }

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params)
    out.append(out.empty() ? "?" : "&")
        .append(encode_segment(name))
        .append("=")
        .append(encode_segment(value));
  return out;
}

}  // namespace status::ctl
