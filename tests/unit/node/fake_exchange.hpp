#pragma once
// A fake common::Exchange for handler tests: records the answer or the stream a handler makes.

#include "common/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>

namespace status::test {

using status::common::Exchange;
using status::common::Response;

/// Records what a handler does with the exchange; respond() may come from the writer thread.
class FakeExchange : public Exchange {
 public:
  void respond(Response res) override {
    std::lock_guard lock(m_);
    ++responses_;
    res_ = std::move(res);
    cv_.notify_all();
  }
  void begin_stream(Response head) override {
    std::lock_guard lock(m_);
    head_ = std::move(head);
    streaming_ = true;
    cv_.notify_all();
  }
  bool push(std::string data) override {
    std::lock_guard lock(m_);
    if (!streaming_) return false;
    chunks_ += data;
    cv_.notify_all();
    return true;
  }
  void end_stream() override {
    std::lock_guard lock(m_);
    streaming_ = false;
  }
  bool open() const override {
    std::lock_guard lock(m_);
    return streaming_;
  }
  void set_route(std::string route) override {
    std::lock_guard lock(m_);
    route_ = std::move(route);
  }
  boost::asio::any_io_executor executor() override { return ioc_.get_executor(); }
  std::string remote_address() const override { return "127.0.0.1"; }

  /// The answer, waiting (bounded) for an asynchronous one.
  Response wait() {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return responses_ > 0; }))
      ADD_FAILURE() << "no answer within 10 s";
    EXPECT_EQ(responses_, 1) << "answered more than once";
    return res_;
  }
  std::string wait_chunks(std::string_view needle) {
    std::unique_lock lock(m_);
    cv_.wait_for(lock, std::chrono::seconds(10),
                 [&] { return chunks_.find(needle) != std::string::npos; });
    return chunks_;
  }
  /// What was pushed so far (not waiting).
  std::string chunks() const {
    std::lock_guard lock(m_);
    return chunks_;
  }
  bool streaming() const { return open(); }
  Response head() const {
    std::lock_guard lock(m_);
    return head_;
  }
  std::string route() const {
    std::lock_guard lock(m_);
    return route_;
  }

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  int responses_ = 0;
  Response res_;
  Response head_;
  bool streaming_ = false;
  std::string chunks_;
  std::string route_;
  boost::asio::io_context ioc_;
};

}  // namespace status::test
