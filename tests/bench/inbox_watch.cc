#include "tests/bench/inbox_watch.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "havengate/v1/inbox.grpc.pb.h"

namespace havengate::bench {

InboxWatch::InboxWatch(std::shared_ptr<grpc::Channel> channel) {
  thread_ = std::thread([this, channel = std::move(channel)] { Run(channel); });
}

InboxWatch::~InboxWatch() {
  context_.TryCancel();
  thread_.join();
}

void InboxWatch::Run(std::shared_ptr<grpc::Channel> channel) {
  std::unique_ptr<v1::Inbox::Stub> stub = v1::Inbox::NewStub(channel);
  v1::SubscribeRequest request;
  auto reader = stub->Subscribe(&context_, request);
  v1::InboxEvent event;
  while (reader->Read(&event)) {
    if (event.has_entry()) Record(event.entry().item().item_id(), Clock::now());
  }
  grpc::Status status = reader->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = status.ok() ? absl::UnavailableError("the subscription ended")
                       : client::FromGrpcStatus(status);
  cv_.notify_all();
}

void InboxWatch::Record(const std::string& item_id, Clock::time_point at) {
  // Benchmark items are "<prefix>-<n>" (BenchItemId); others are ignored.
  size_t dash = item_id.rfind('-');
  int n = 0;
  if (dash == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(item_id).substr(dash + 1), &n) ||
      n < 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  PrefixState& state = prefixes_[item_id.substr(0, dash)];
  if (state.seen.size() <= static_cast<size_t>(n)) state.seen.resize(n + 1);
  if (state.seen[n].has_value()) return;  // a new version of a seen item
  state.seen[n] = at;
  ++state.count;
  state.last = at;
  cv_.notify_all();
}

absl::Status InboxWatch::WaitForItems(const std::string& prefix, int count,
                                      absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() +
                        absl::ToChronoNanoseconds(timeout);
  cv_.wait_until(lock, deadline, [&] {
    return ended_.has_value() || prefixes_[prefix].count >= count;
  });
  if (prefixes_[prefix].count >= count) return absl::OkStatus();
  if (ended_.has_value()) return *ended_;
  return absl::DeadlineExceededError(
      absl::StrCat(prefixes_[prefix].count, " of ", count, " items ", prefix,
                   "-* visible after ", absl::FormatDuration(timeout)));
}

std::vector<std::optional<Clock::time_point>> InboxWatch::SeenTimes(
    const std::string& prefix, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::optional<Clock::time_point>> times = prefixes_[prefix].seen;
  times.resize(static_cast<size_t>(count));
  return times;
}

std::optional<Clock::time_point> InboxWatch::LastSeen(
    const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  const PrefixState& state = prefixes_[prefix];
  if (state.count == 0) return std::nullopt;
  return state.last;
}

}  // namespace havengate::bench
