// The two loads of the ingest benchmark.
//
// Stream throughput: one client pushes `items` copies of a template item
// (distinct item_ids) on one PushStream, keeping up to `window` unanswered;
// the rate is items / (first send .. last answer).
//
// Push latency: unary Push calls at a fixed rate, open loop. Send times are
// scheduled in advance and calls are issued asynchronously, so a slow
// answer never delays the next send; latency is completion minus the
// scheduled send time, so any queueing (in the client too) counts.
#ifndef HAVENGATE_TESTS_BENCH_LOAD_H_
#define HAVENGATE_TESTS_BENCH_LOAD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "grpcpp/channel.h"
#include "havengate/v1/item.pb.h"
#include "tests/bench/bench_util.h"

namespace havengate::bench {

struct StreamResult {
  int items = 0;
  // First send and last answer.
  Clock::time_point started, finished;
  absl::Duration elapsed;
  double items_per_second = 0;
  // gRPC messages the client wrote (StreamWithClient).
  uint64_t messages = 0;
};

// Through the client library's Client::PushStream (what integrations use),
// with batches if `batches` (and the gateway offers them). Fails if the
// stream fails or any item is refused.
absl::StatusOr<StreamResult> StreamWithClient(client::Client& client,
                                              const v1::Item& item,
                                              const std::string& id_prefix,
                                              int items, int window,
                                              bool batches = true);

// Through a raw generated stub on `channel`: the same window discipline,
// nothing else.
absl::StatusOr<StreamResult> StreamWithStub(
    const std::shared_ptr<grpc::Channel>& channel, const v1::Item& item,
    const std::string& id_prefix, int items, int window);

struct LatencyResult {
  int calls = 0;
  double offered_per_second = 0;
  absl::Duration p50, p99, max;
};

// When one Push call was due and when its answer arrived.
struct PushTiming {
  Clock::time_point scheduled;
  Clock::time_point answered;
};

// `rate` unary Push calls per second for `duration`. Fails if any call
// fails. If `timings` is set, it receives each call's timing, indexed by
// the number in its item id (BenchItemId(id_prefix, i)).
absl::StatusOr<LatencyResult> OpenLoopPush(
    const std::shared_ptr<grpc::Channel>& channel, const v1::Item& item,
    const std::string& id_prefix, double rate, absl::Duration duration,
    std::vector<PushTiming>* timings = nullptr);

}  // namespace havengate::bench

#endif  // HAVENGATE_TESTS_BENCH_LOAD_H_
