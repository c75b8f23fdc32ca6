#pragma once
// Polling for unit tests that watch background threads: true once `pred` holds, false if it
// still does not after `limit` of real time.
#include <chrono>
#include <thread>

namespace status::test {

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

}  // namespace status::test
