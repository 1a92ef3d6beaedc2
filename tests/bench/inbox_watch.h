// InboxWatch: follows a gateway's inbox the way an integration client does
// (Inbox.Subscribe from the first event, on its own thread) and records
// when each item became visible to the benchmark. The federation benchmark
// watches the partners' inboxes with it: an item counts as delivered when
// the partner's client can see it.
//
// Thread-safe.
#ifndef HAVENGATE_TESTS_BENCH_INBOX_WATCH_H_
#define HAVENGATE_TESTS_BENCH_INBOX_WATCH_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "tests/bench/bench_util.h"

namespace havengate::bench {

class InboxWatch {
 public:
  // Subscribes on `channel` (a client of the gateway) and starts reading.
  explicit InboxWatch(std::shared_ptr<grpc::Channel> channel);
  // Cancels the subscription and joins the thread.
  ~InboxWatch();
  InboxWatch(const InboxWatch&) = delete;
  InboxWatch& operator=(const InboxWatch&) = delete;

  // Waits until `count` distinct items with ids BenchItemId(prefix, n) are
  // visible. DEADLINE_EXCEEDED (saying how many were) after `timeout`;
  // UNAVAILABLE if the subscription ended.
  absl::Status WaitForItems(const std::string& prefix, int count,
                            absl::Duration timeout);

  // When each of BenchItemId(prefix, 0 .. count-1) became visible
  // (nullopt: not yet).
  std::vector<std::optional<Clock::time_point>> SeenTimes(
      const std::string& prefix, int count);

  // When the last item with that prefix became visible (nullopt: none).
  std::optional<Clock::time_point> LastSeen(const std::string& prefix);

 private:
  struct PrefixState {
    // Indexed by the item's number.
    std::vector<std::optional<Clock::time_point>> seen;
    int count = 0;
    Clock::time_point last;
  };
  void Run(std::shared_ptr<grpc::Channel> channel);
  void Record(const std::string& item_id, Clock::time_point at);

  grpc::ClientContext context_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, PrefixState> prefixes_;  // guarded by mu_
  std::optional<absl::Status> ended_;                      // guarded by mu_
  std::thread thread_;
};

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_INBOX_WATCH_H_
