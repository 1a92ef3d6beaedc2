#include "tests/bench/load.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/ingest.grpc.pb.h"
#include "tests/bench/bench_alert.h"

namespace havengate::bench {
namespace {

StreamResult MakeStreamResult(int items, Clock::time_point started,
                              Clock::time_point finished) {
  StreamResult result;
  result.items = items;
  result.started = started;
  result.finished = finished;
  const absl::Duration elapsed = Since(started, finished);
  result.elapsed = elapsed;
  result.items_per_second = items / absl::ToDoubleSeconds(elapsed);
  return result;
}

// Counts answers and remembers the first refusal.
struct AnswerTally {
  int answered = 0;
  int refused = 0;
  std::string first_refusal;
  Clock::time_point last_answer;

  void Add(const v1::PushResult& result) {
    if (result.code() != 0 && refused++ == 0) {
      first_refusal = absl::StrCat("item ", result.item_id(), ": code ",
                                   result.code(), ": ", result.message());
    }
    ++answered;
    last_answer = Clock::now();
  }

  absl::Status Check(int items) const {
    if (refused > 0) {
      return absl::InternalError(
          absl::StrCat(refused, " items refused, first: ", first_refusal));
    }
    if (answered != items) {
      return absl::InternalError(
          absl::StrCat(answered, " of ", items, " items answered"));
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<StreamResult> StreamWithClient(client::Client& client,
                                              const v1::Item& item,
                                              const std::string& id_prefix,
                                              int items, int window,
                                              bool batches) {
  int sent = 0;
  AnswerTally tally;
  client::Client::PushStreamOptions options;
  options.window = window;
  options.batches = batches;
  client::Client::PushStreamStats stats;
  Clock::time_point start = Clock::now();
  absl::Status status = client.PushStream(
      [&]() -> std::optional<v1::Item> {
        if (sent == items) return std::nullopt;
        v1::Item copy = item;
        MakeBenchCopy(copy, id_prefix, sent++);
        return copy;
      },
      [&](const v1::PushResult& result) { tally.Add(result); }, options, &stats);
  if (!status.ok()) return status;
  if (absl::Status s = tally.Check(items); !s.ok()) return s;
  StreamResult result = MakeStreamResult(items, start, tally.last_answer);
  result.messages = stats.messages_sent;
  return result;
}

absl::StatusOr<StreamResult> StreamWithStub(
    const std::shared_ptr<grpc::Channel>& channel, const v1::Item& item,
    const std::string& id_prefix, int items, int window) {
  std::unique_ptr<v1::Ingest::Stub> stub = v1::Ingest::NewStub(channel);
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  bool reading_done = false;
  AnswerTally tally;

  Clock::time_point start = Clock::now();
  grpc::ClientContext context;
  auto stream = stub->PushStream(&context);
  std::thread writer([&] {
    v1::PushRequest request;
    *request.mutable_item() = item;
    for (int i = 0; i < items; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return in_flight < window || reading_done; });
        if (reading_done) break;
        ++in_flight;
      }
      *request.mutable_item() = item;
      MakeBenchCopy(*request.mutable_item(), id_prefix, i);
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  v1::PushResult result;
  while (stream->Read(&result)) {
    tally.Add(result);
    std::lock_guard<std::mutex> lock(mu);
    --in_flight;
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    reading_done = true;
    cv.notify_one();
  }
  writer.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return client::FromGrpcStatus(status);
  if (absl::Status s = tally.Check(items); !s.ok()) return s;
  return MakeStreamResult(items, start, tally.last_answer);
}

absl::StatusOr<LatencyResult> OpenLoopPush(
    const std::shared_ptr<grpc::Channel>& channel, const v1::Item& item,
    const std::string& id_prefix, double rate, absl::Duration duration,
    std::vector<PushTiming>* timings) {
  struct Call {
    int index = 0;
    grpc::ClientContext context;
    v1::PushRequest request;
    v1::PushResponse response;
    grpc::Status status;
    Clock::time_point scheduled;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::PushResponse>> rpc;
  };
  const int calls = std::max(
      1, static_cast<int>(rate * absl::ToDoubleSeconds(duration)));
  const auto interval = std::chrono::nanoseconds(
      static_cast<int64_t>(1e9 / rate));
  std::unique_ptr<v1::Ingest::Stub> stub = v1::Ingest::NewStub(channel);
  grpc::CompletionQueue cq;

  std::vector<absl::Duration> latencies;
  latencies.reserve(static_cast<size_t>(calls));
  if (timings != nullptr) timings->assign(static_cast<size_t>(calls), {});
  std::string first_failure;
  int failures = 0;
  std::mutex mu;
  std::condition_variable all_done;
  int completed = 0;
  std::thread completer([&] {
    void* tag;
    bool ok;
    while (cq.Next(&tag, &ok)) {
      std::unique_ptr<Call> call(static_cast<Call*>(tag));
      const Clock::time_point answered = Clock::now();
      latencies.push_back(Since(call->scheduled, answered));
      if (timings != nullptr) {
        (*timings)[static_cast<size_t>(call->index)] = {call->scheduled,
                                                        answered};
      }
      if (!ok || !call->status.ok()) {
        if (failures++ == 0) {
          first_failure = absl::StrCat(call->request.item().item_id(), ": ",
                                       call->status.error_message());
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      if (++completed == calls) all_done.notify_one();
    }
  });

  // Each request is built before its slot, so the send happens on time.
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(20);
  for (int i = 0; i < calls; ++i) {
    auto call = std::make_unique<Call>();
    call->index = i;
    call->scheduled = start + i * interval;
    *call->request.mutable_item() = item;
    MakeBenchCopy(*call->request.mutable_item(), id_prefix, i);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
    std::this_thread::sleep_until(call->scheduled);
    call->rpc = stub->AsyncPush(&call->context, call->request, &cq);
    Call* raw = call.release();
    raw->rpc->Finish(&raw->response, &raw->status, raw);
  }
  {
    // Every call has a deadline, so every call completes.
    std::unique_lock<std::mutex> lock(mu);
    all_done.wait(lock, [&] { return completed == calls; });
  }
  cq.Shutdown();
  completer.join();

  if (failures > 0) {
    return absl::InternalError(absl::StrCat(failures, " of ", calls,
                                            " pushes failed, first: ",
                                            first_failure));
  }
  std::sort(latencies.begin(), latencies.end());
  LatencyResult result;
  result.calls = calls;
  result.offered_per_second = rate;
  result.p50 = Percentile(latencies, 0.50);
  result.p99 = Percentile(latencies, 0.99);
  result.max = latencies.back();
  return result;
}

}  // namespace havengate::bench
