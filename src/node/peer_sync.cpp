#include "node/peer_sync.hpp"

#include "common/http_client.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <iterator>
#include <thread>

namespace status::node {

namespace http = common::http;
using namespace std::chrono_literals;

PeerSync::PeerSync(Store& store, std::function<std::vector<std::string>()> peers)
    : store_(store), peers_(std::move(peers)) {}

std::size_t PeerSync::apply_and_wait(std::vector<Status> states) {
  if (states.empty()) return 0;
  std::promise<std::int64_t> p;
  auto f = p.get_future();
  store_.apply(std::move(states), [&p](std::int64_t n) { p.set_value(n); });
  auto n = f.get();
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

bool PeerSync::bootstrap() {
  for (const auto& url : peers_()) {
    try {
      auto r = common::http_request(http::verb::get, common::parse_base_url(url), "/internal/snapshot",
                                    {}, {}, 30s);
      if (!r.ok() || r.res.result_int() != 200) continue;
      auto states = from_wire_array(r.res.body());
      if (!states) continue;
      std::size_t n = states->size();
      std::size_t applied = apply_and_wait(std::move(*states));
      spdlog::info("event=bootstrapped peer={} states={} applied={}", url, n, applied);
      return true;
    } catch (const std::exception& e) {
      spdlog::warn("event=bootstrap_failed peer={} error=\"{}\"", url, e.what());
    }
  }
  return false;
}

std::string PeerSync::digest_json(const Store& store, std::size_t buckets) {
  boost::json::array a;
  for (auto d : store.digest(buckets)) a.push_back(boost::json::value(std::to_string(d)));
  return boost::json::serialize(a);
}

namespace {

// The indices where two digests differ; nullopt if `theirs` is not a digest of that size.
std::optional<std::vector<std::size_t>> differing(const boost::json::value& theirs,
                                                  const std::vector<std::uint64_t>& mine) {
  if (!theirs.is_array() || theirs.as_array().size() != mine.size()) return std::nullopt;
  std::vector<std::size_t> out;
  const auto& a = theirs.as_array();
  for (std::size_t i = 0; i < mine.size(); ++i) {
    if (!a[i].is_string()) return std::nullopt;
    if (std::string_view(a[i].as_string()) != std::to_string(mine[i])) out.push_back(i);
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::size_t>> PeerSync::compare(const std::string& url) {
  auto r = common::http_request(http::verb::get, common::parse_base_url(url),
                                "/internal/digest?buckets=" + std::to_string(kBuckets), {}, {}, 3s);
  if (!r.ok() || r.res.result_int() != 200) return std::nullopt;
  boost::system::error_code ec;
  auto theirs = boost::json::parse(r.res.body(), ec);
  if (ec) return std::nullopt;
  return differing(theirs, store_.digest(kBuckets));
}

std::size_t PeerSync::anti_entropy_round(std::chrono::milliseconds recheck) {
  // 1. Compare digests with every peer. Under a steady write load some buckets differ only
  //    because changes are in flight (milliseconds); those must not cost a transfer.
  std::vector<std::pair<std::string, std::vector<std::size_t>>> suspects;
  for (const auto& url : peers_()) {
    try {
      if (auto d = compare(url); d && !d->empty()) suspects.emplace_back(url, std::move(*d));
    } catch (const std::exception& e) {
      spdlog::debug("event=anti_entropy_failed peer={} error=\"{}\"", url, e.what());
    }
  }
  if (suspects.empty()) return 0;
  // 2. After a pause far longer than replication takes, compare again; pull only the buckets
  //    that differed both times, several per request.
  std::this_thread::sleep_for(recheck);
  std::size_t changed = 0;
  for (auto& [url, first] : suspects) {
    try {
      auto second = compare(url);
      if (!second) continue;
      std::vector<std::size_t> both;
      std::set_intersection(first.begin(), first.end(), second->begin(), second->end(),
                            std::back_inserter(both));
      auto base = common::parse_base_url(url);
      for (std::size_t from = 0; from < both.size(); from += kBucketsPerPull) {
        std::string list;
        for (std::size_t k = from; k < std::min(both.size(), from + kBucketsPerPull); ++k)
          list += (list.empty() ? "" : ",") + std::to_string(both[k]);
        auto b = common::http_request(
            http::verb::get, base, "/internal/bucket?n=" + std::to_string(kBuckets) + "&i=" + list,
            {}, {}, 10s);
        if (!b.ok() || b.res.result_int() != 200) break;
        if (auto states = from_wire_array(b.res.body())) changed += apply_and_wait(std::move(*states));
      }
    } catch (const std::exception& e) {
      spdlog::debug("event=anti_entropy_failed peer={} error=\"{}\"", url, e.what());
    }
  }
  if (changed) spdlog::info("event=anti_entropy_repaired states={}", changed);
  return changed;
}

ReplicationReport PeerSync::push_all(const Status& s, std::chrono::milliseconds timeout) {
  auto peers = peers_();
  std::string body = to_wire_array({s});
  std::vector<std::future<bool>> results;
  for (const auto& url : peers)
    results.push_back(std::async(std::launch::async, [url, body, timeout] {
      try {
        auto r = common::http_request(http::verb::post, common::parse_base_url(url), "/internal/apply",
                                      body, {}, timeout);
        return r.ok() && r.res.result_int() == 200;
      } catch (const std::exception&) {
        return false;
      }
    }));
  ReplicationReport rep{1, 1 + static_cast<int>(peers.size())};
  for (auto& f : results)
    if (f.get()) ++rep.applied;
  return rep;
}

}  // namespace status::node
