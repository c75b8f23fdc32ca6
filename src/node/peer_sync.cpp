#include "node/peer_sync.hpp"

#include "common/http_client.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <algorithm>
#include <future>
#include <iterator>

namespace status::node {

namespace http = common::http;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kSnapshotPageLimit = 512 * 1024 * 1024;  // bytes of one page's answer
constexpr std::size_t kPushBodyLimit = 60 * 1024;  // a node takes request bodies up to 64 KiB

}  // namespace

/// One `X-Consistency: all` write waiting for its pushes.
struct PeerSync::PushOp {
  std::mutex mutex;
  ReplicationReport report;
  int remaining = 0;
  SteadyClock::time_point deadline;
  std::function<void(ReplicationReport)> done;  // empty once answered

  bool answered() {
    std::lock_guard lock(mutex);
    return !done;
  }
  /// A peer applied it (`ok`) or gave up; answers when nobody is left.
  void peer_done(bool ok) {
    std::function<void(ReplicationReport)> f;
    ReplicationReport r;
    {
      std::lock_guard lock(mutex);
      if (ok) ++report.applied;
      if (--remaining > 0 || !done) return;
      f = std::move(done);
      done = nullptr;
      r = report;
    }
    f(r);
  }
  void answer_now() {
    std::function<void(ReplicationReport)> f;
    ReplicationReport r;
    {
      std::lock_guard lock(mutex);
      if (!done) return;
      f = std::move(done);
      done = nullptr;
      r = report;
    }
    f(r);
  }
};

/// One thread per peer: sends whatever waits for that peer in one POST /internal/apply, so a
/// slow or frozen peer delays only its own queue, and the threads are bounded by the peers.
class PeerSync::PushWorker {
 public:
  PushWorker(std::string url, common::Headers headers)
      : url_(std::move(url)), headers_(std::move(headers)) {
    headers_.emplace_back("Content-Type", "application/json");
    thread_ = std::thread([this] { loop(); });
  }
  ~PushWorker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
    for (auto& [op, body] : queue_) op->peer_done(false);
  }
  void push(std::shared_ptr<PushOp> op, std::string wire) {
    {
      std::lock_guard lock(mutex_);
      queue_.emplace_back(std::move(op), std::move(wire));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    while (true) {
      std::vector<std::pair<std::shared_ptr<PushOp>, std::string>> batch;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        // One request per round, within the peer's 64 KiB body limit.
        std::size_t bytes = 2;
        while (!queue_.empty() &&
               (batch.empty() || bytes + queue_.front().second.size() + 1 < kPushBodyLimit)) {
          bytes += queue_.front().second.size() + 1;
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      auto now = SteadyClock::now();
      auto latest = now;
      std::string body = "[";
      std::vector<std::shared_ptr<PushOp>> sent;
      for (auto& [op, wire] : batch) {
        if (op->answered() || op->deadline <= now) {
          op->peer_done(false);
          continue;
        }
        latest = std::max(latest, op->deadline);
        body += (sent.empty() ? "" : ",") + wire;
        sent.push_back(op);
      }
      body += "]";
      if (sent.empty()) continue;
      bool ok = false;
      try {
        auto timeout = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(latest - now),
                                std::chrono::milliseconds(50));
        auto r = common::http_request(http::verb::post, common::parse_base_url(url_),
                                      "/internal/apply", body, headers_, timeout);
        ok = r.ok() && r.res.result_int() == 200;
      } catch (const std::exception& e) {
        spdlog::debug("event=push_failed peer={} error=\"{}\"", url_, e.what());
      }
      for (auto& op : sent) op->peer_done(ok);
    }
  }

  std::string url_;
  common::Headers headers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::shared_ptr<PushOp>, std::string>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

PeerSync::PeerSync(Store& store, PeerDirectory& peers, common::Metrics& metrics,
                   common::Headers headers)
    : store_(store),
      peers_(peers),
      metrics_(metrics),
      headers_(std::move(headers)),
      push_sweeper_("push_sweeper", 20ms, [this] { sweep_pushes(); }) {
  metrics_.counter("status_anti_entropy_rounds_total", "anti-entropy rounds run");
  metrics_.counter("status_anti_entropy_pulled_total", "states received in anti-entropy bucket pulls");
  metrics_.counter("status_anti_entropy_repaired_total", "states that anti-entropy changed here");
  push_sweeper_.start();
}

PeerSync::~PeerSync() { stop(); }

void PeerSync::stop() {
  push_sweeper_.stop();
  std::map<std::string, std::unique_ptr<PushWorker>> workers;
  std::vector<std::shared_ptr<PushOp>> ops;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    workers.swap(workers_);
    ops.swap(open_ops_);
  }
  workers.clear();  // joins them
  for (auto& op : ops) op->answer_now();
}

std::size_t PeerSync::apply_and_wait(std::vector<Status> states) {
  if (states.empty()) return 0;
  auto p = std::make_shared<std::promise<ApplyResult>>();
  auto f = p->get_future();
  store_.apply(std::move(states), [p](ApplyResult r) { p->set_value(r); });
  auto r = f.get();
  return r.failed ? 0 : static_cast<std::size_t>(r.applied);
}

bool PeerSync::load_snapshot(const std::string& url, bool replace, SteadyClock::time_point deadline) {
  auto base = common::parse_base_url(url);
  std::size_t total = 0;
  auto started = SteadyClock::now();
  // Local entries older than what the peer still remembers of deletes, and absent there, go:
  // one horizon step and the allowed clock offset of margin beyond the peer's horizon.
  std::optional<std::uint64_t> replace_before;
  if (replace) replace_before = store_.resync_horizon_hlc();
  // One page is fetched and parsed while the writer applies the one before (the transfer and
  // the commits overlap; a page is ~1/64 of the state).
  auto fetch = [&](std::size_t first) -> std::optional<std::vector<Status>> {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left <= 0ms) {
      spdlog::warn("event=snapshot_timeout peer={} pages_done={}", url, first / kSlotsPerPage);
      return std::nullopt;
    }
    std::size_t last = first + kSlotsPerPage;
    auto r = common::http_request(http::verb::get, base,
                                  "/internal/snapshot?first=" + std::to_string(first) +
                                      "&last=" + std::to_string(last),
                                  {}, headers_, left, kSnapshotPageLimit);
    if (!r.ok() || r.res.result_int() != 200) {
      spdlog::warn("event=snapshot_page_failed peer={} first={} status={} error=\"{}\"", url, first,
                   r.ok() ? r.res.result_int() : 0, r.ec.message());
      return std::nullopt;
    }
    auto states = from_wire_array(r.res.body());
    if (!states) spdlog::warn("event=snapshot_page_malformed peer={} first={}", url, first);
    return states;
  };
  auto next = std::async(std::launch::async, fetch, std::size_t{0});
  for (std::size_t first = 0; first < StatusIndex::kDigestSlots; first += kSlotsPerPage) {
    auto states = next.get();
    if (!states) return false;
    if (first + kSlotsPerPage < StatusIndex::kDigestSlots)
      next = std::async(std::launch::async, fetch, first + kSlotsPerPage);
    total += states->size();
    // In key order: the inserts then walk SQLite's B-tree once per page instead of jumping
    // around it (a million random inserts miss the page cache on nearly every row).
    std::sort(states->begin(), states->end(),
              [](const Status& a, const Status& b) { return a.username < b.username; });
    auto p = std::make_shared<std::promise<ApplyResult>>();
    auto f = p->get_future();
    store_.apply_page(std::move(*states), first, first + kSlotsPerPage, replace_before,
                      [p](ApplyResult a) { p->set_value(a); });
    if (f.get().failed) return false;  // (a fetch under way is waited for by its future)
  }
  ::malloc_trim(0);  // the pages' buffers are freed: give the memory back to the system
  spdlog::info("event=snapshot_loaded peer={} states={} replace={} ms={}", url, total, replace,
               std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started)
                   .count());
  return true;
}

std::string PeerSync::digest_json(const Store& store, std::size_t buckets) {
  boost::json::array a;
  for (auto d : store.index().digest(buckets)) a.push_back(boost::json::value(std::to_string(d)));
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
                                "/internal/digest?buckets=" + std::to_string(kBuckets), {}, headers_, 3s);
  if (!r.ok() || r.res.result_int() != 200) return std::nullopt;
  boost::system::error_code ec;
  auto theirs = boost::json::parse(r.res.body(), ec);
  if (ec) return std::nullopt;
  return differing(theirs, store_.index().digest(kBuckets));
}

std::size_t PeerSync::anti_entropy_round(
    const std::function<bool(std::chrono::milliseconds)>& pause) {
  metrics_.inc("status_anti_entropy_rounds_total");
  // 1. Compare digests with every peer. Under a steady write load some buckets differ only
  //    because changes are in flight (milliseconds); those must not cost a transfer.
  std::vector<std::pair<std::string, std::vector<std::size_t>>> suspects;
  for (const auto& url : peers_.up_urls()) {
    try {
      if (auto d = compare(url); d && !d->empty()) suspects.emplace_back(url, std::move(*d));
    } catch (const std::exception& e) {
      spdlog::debug("event=anti_entropy_failed peer={} error=\"{}\"", url, e.what());
    }
  }
  if (suspects.empty()) return 0;
  // 2. After a pause far longer than replication takes, compare again; pull only the buckets
  //    that differed both times, several per request.
  if (!pause(300ms)) return 0;
  std::size_t changed = 0, pulled = 0;
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
            {}, headers_, 10s);
        if (!b.ok() || b.res.result_int() != 200) break;
        if (auto states = from_wire_array(b.res.body())) {
          pulled += states->size();
          changed += apply_and_wait(std::move(*states));
        }
      }
    } catch (const std::exception& e) {
      spdlog::debug("event=anti_entropy_failed peer={} error=\"{}\"", url, e.what());
    }
  }
  metrics_.inc("status_anti_entropy_pulled_total", {}, static_cast<double>(pulled));
  metrics_.inc("status_anti_entropy_repaired_total", {}, static_cast<double>(changed));
  if (changed) spdlog::info("event=anti_entropy_repaired states={} pulled={}", changed, pulled);
  return changed;
}

void PeerSync::push_all(const Status& s, SteadyClock::time_point deadline,
                        std::function<void(ReplicationReport)> done) {
  auto targets = peers_.live_urls();
  auto op = std::make_shared<PushOp>();
  op->report = {1, 1 + static_cast<int>(targets.size())};
  op->remaining = static_cast<int>(targets.size());
  op->deadline = deadline;
  op->done = std::move(done);
  if (targets.empty()) return op->answer_now();
  std::string wire = to_wire_json(s);
  {
    std::unique_lock lock(mutex_);
    if (stopped_) {
      lock.unlock();
      return op->answer_now();
    }
    open_ops_.push_back(op);
    for (const auto& url : targets) {
      auto& w = workers_[url];
      if (!w) w = std::make_unique<PushWorker>(url, headers_);
      w->push(op, wire);
    }
  }
}

void PeerSync::sweep_pushes() {
  std::vector<std::shared_ptr<PushOp>> late;
  {
    std::lock_guard lock(mutex_);
    auto now = SteadyClock::now();
    std::erase_if(open_ops_, [&](const std::shared_ptr<PushOp>& op) {
      if (op->answered()) return true;
      if (op->deadline > now) return false;
      late.push_back(op);
      return true;
    });
  }
  for (auto& op : late) op->answer_now();
}

}  // namespace status::node
