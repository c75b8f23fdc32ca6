#pragma once
// A handler for HttpServer tests: answers 200 with the request's target as the body.
#include "common/http.hpp"
#include "common/http_server.hpp"

namespace status::test {

inline common::Handler echo_handler() {
  return [](common::Request&& req, common::ExchangePtr ex) {
    common::Response res{common::http::status::ok, req.version()};
    res.body() = std::string(req.target());
    res.prepare_payload();
    ex->respond(std::move(res));
  };
}

}  // namespace status::test
