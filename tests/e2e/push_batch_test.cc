// End-to-end tests of batches on Ingest.PushStream (ingest.proto,
// "Batches"): a real gateway process, real clients over mutual TLS. The
// client library asks for batches and falls back to one item per message
// against a gateway that does not offer them; a client that does not ask
// is answered as before; each item of a batch keeps its own outcome, its
// order, and its durability through a kill -9.
//
// The gateway that stands in for an earlier release (no batches offered)
// is this binary re-executed as a gateway (tests/bench/bench_gateway.h):
// the same server::Gateway with GatewayConfig::unbatched_push_streams_for_testing.
#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/ingest.grpc.pb.h"
#include "proto/push_batch.h"
#include "tests/bench/bench_gateway.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::HasSubstr;

class PushBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto police = CreateTestOrg(dir_.path(), "police-nl", "police.nl.example");
    ASSERT_TRUE(police.ok()) << police.status();
    police_ = *police;
  }

  // Starts the gateway (one that offers no batches if `old_release`) and
  // connects the client.
  void StartGateway(bool old_release = false) {
    GatewaySpec spec;
    spec.org = &police_;
    if (old_release) {
      spec.launcher = bench::BenchGatewayLauncher(false, false, /*old_push_streams=*/true);
    }
    auto gateway = GatewayProcess::Start(spec);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
    Reconnect();
  }

  void Reconnect() {
    auto client = ConnectClient(police_, gateway_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  // Every item_id the inbox holds (all pages).
  std::set<std::string> StoredIds() {
    std::set<std::string> ids;
    v1::ListRequest request;
    request.set_page_size(1000);
    for (;;) {
      auto page = client_->List(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const auto& e : page->entries()) ids.insert(e.item().item_id());
      if (page->next_page_token().empty()) break;
      request.set_page_token(page->next_page_token());
    }
    return ids;
  }

  // Streams `count` items "<prefix><i>" through the client library;
  // returns the answers in the order received.
  std::vector<v1::PushResult> Stream(const std::string& prefix, int count,
                                     const client::Client::PushStreamOptions& options,
                                     client::Client::PushStreamStats* stats,
                                     absl::Status* status) {
    int next = 0;
    std::vector<v1::PushResult> results;
    *status = client_->PushStream(
        [&]() -> std::optional<v1::Item> {
          if (next == count) return std::nullopt;
          return MakeAlert(absl::StrCat(prefix, next++));
        },
        [&](const v1::PushResult& r) { results.push_back(r); }, options, stats);
    return results;
  }

  // Every item answered OK at its own position, with cursors rising in
  // stream order (stored in the order sent).
  void ExpectAllAcceptedInOrder(const std::vector<v1::PushResult>& results,
                                const std::string& prefix, int count) {
    ASSERT_EQ(results.size(), static_cast<size_t>(count));
    uint64_t last_cursor = 0;
    for (int i = 0; i < count; ++i) {
      const v1::PushResult& r = results[i];
      EXPECT_EQ(r.batch_size(), 0);
      EXPECT_EQ(r.index(), static_cast<uint64_t>(i));
      EXPECT_EQ(r.item_id(), absl::StrCat(prefix, i));
      EXPECT_EQ(r.code(), 0) << r.message();
      EXPECT_GT(r.receipt().cursor(), last_cursor) << "item " << i;
      last_cursor = r.receipt().cursor();
    }
  }

  TempDir dir_;
  TestOrg police_;
  std::unique_ptr<GatewayProcess> gateway_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(PushBatchTest, ClientAndGatewayAgreeOnBatchesAndEveryItemIsAnsweredInOrder) {
  StartGateway();
  client::Client::PushStreamOptions options;
  options.window = 512;
  client::Client::PushStreamStats stats;
  absl::Status status;
  auto results = Stream("b-", 3000, options, &stats, &status);
  ASSERT_TRUE(status.ok()) << status;
  ExpectAllAcceptedInOrder(results, "b-", 3000);
  EXPECT_TRUE(stats.batched);
  EXPECT_EQ(stats.items_sent, 3000u);
  // The stream outpaces the gateway, so items gather into batches.
  EXPECT_LT(stats.messages_sent, stats.items_sent);
  EXPECT_EQ(StoredIds().size(), 3000u);
}

TEST_F(PushBatchTest, ClientThatDoesNotAskIsSentOneResultPerMessage) {
  StartGateway();
  // An earlier client: a raw stub, no batch metadata, one item per message.
  auto stub = v1::Ingest::NewStub(client_->channel());
  grpc::ClientContext context;
  auto stream = stub->PushStream(&context);
  for (int i = 0; i < 20; ++i) {
    v1::PushRequest request;
    *request.mutable_item() = MakeAlert(absl::StrCat("old-", i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::PushResult result;
  int read = 0;
  while (stream->Read(&result)) {
    EXPECT_EQ(result.batch_size(), 0);
    EXPECT_EQ(result.index(), static_cast<uint64_t>(read));
    EXPECT_EQ(result.item_id(), absl::StrCat("old-", read));
    EXPECT_EQ(result.code(), 0) << result.message();
    ++read;
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(read, 20);
  EXPECT_EQ(context.GetServerInitialMetadata().count(kPushBatchKey), 0u);
  EXPECT_EQ(StoredIds().size(), 20u);
}

TEST_F(PushBatchTest, ClientFallsBackToOneItemPerMessageWhenTheGatewayOffersNoBatches) {
  StartGateway(/*old_release=*/true);
  client::Client::PushStreamOptions options;
  options.window = 512;
  client::Client::PushStreamStats stats;
  absl::Status status;
  auto results = Stream("f-", 1000, options, &stats, &status);
  ASSERT_TRUE(status.ok()) << status;
  ExpectAllAcceptedInOrder(results, "f-", 1000);
  EXPECT_FALSE(stats.batched);
  EXPECT_EQ(stats.items_sent, 1000u);
  EXPECT_EQ(stats.messages_sent, 1000u);
  EXPECT_EQ(StoredIds().size(), 1000u);
}

TEST_F(PushBatchTest, AnInvalidItemInABatchIsRefusedAloneWithItsFieldNamed) {
  StartGateway();
  auto stub = v1::Ingest::NewStub(client_->channel());
  grpc::ClientContext context;
  context.AddMetadata(kPushBatchKey, kPushBatchAsk);
  auto stream = stub->PushStream(&context);
  v1::PushRequest request;
  for (int i = 0; i < 6; ++i) {
    v1::Item item = MakeAlert(absl::StrCat("mix-", i));
    // A wrong ISO 6346 check digit (3 is right) in the third item.
    if (i == 2) item.mutable_alert()->mutable_containers(0)->set_number("CSQU3054384");
    *request.add_batch()->mutable_item() = item;
  }
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  std::vector<v1::PushResult> answers;
  v1::PushResult result;
  while (stream->Read(&result)) {
    if (result.batch_size() == 0) {
      answers.push_back(result);
    } else {
      for (const v1::PushResult& one : result.batch()) answers.push_back(one);
    }
  }
  ASSERT_TRUE(stream->Finish().ok());
  const auto& initial = context.GetServerInitialMetadata();
  ASSERT_EQ(initial.count(kPushBatchKey), 1u);
  ASSERT_EQ(answers.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(answers[i].index(), static_cast<uint64_t>(i));
    EXPECT_EQ(answers[i].item_id(), absl::StrCat("mix-", i));
    if (i == 2) {
      EXPECT_EQ(answers[i].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_THAT(answers[i].message(),
                  HasSubstr("alert.containers[0].number: check digit is 4, expected 3"));
      EXPECT_FALSE(answers[i].has_receipt());
    } else {
      EXPECT_EQ(answers[i].code(), 0) << answers[i].message();
      EXPECT_GT(answers[i].receipt().cursor(), 0u);
    }
  }
  EXPECT_EQ(StoredIds(), (std::set<std::string>{"mix-0", "mix-1", "mix-3", "mix-4", "mix-5"}));
}

TEST_F(PushBatchTest, Kill9DuringABatchedStreamLosesNothingAcknowledged) {
  StartGateway();
  std::mutex mu;
  std::set<int> acked;
  int handed_over = 0;
  client::Client::PushStreamStats stats;
  absl::Status status;
  std::thread streamer([&] {
    client::Client::PushStreamOptions options;
    options.window = 1024;
    int next = 0;
    status = client_->PushStream(
        [&]() -> std::optional<v1::Item> {
          if (next == 200'000) return std::nullopt;
          std::lock_guard<std::mutex> lock(mu);
          handed_over = next + 1;
          return MakeAlert(absl::StrCat("k-", next++));
        },
        [&](const v1::PushResult& r) {
          EXPECT_EQ(r.code(), 0) << r.message();
          std::lock_guard<std::mutex> lock(mu);
          acked.insert(static_cast<int>(r.index()));
        },
        options, &stats);
  });
  // Kill once a good number of items were acknowledged, mid-stream.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size() >= 2000;
  }, absl::Seconds(120))) << gateway_->ReadLog();
  gateway_->Kill9();
  streamer.join();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(stats.batched);
  EXPECT_LT(stats.messages_sent, stats.items_sent);
  ASSERT_TRUE(gateway_->Restart().ok()) << gateway_->ReadLog();
  Reconnect();
  const std::set<std::string> stored = StoredIds();
  int stored_unacked = 0;
  for (int i : acked) {
    EXPECT_EQ(stored.count(absl::StrCat("k-", i)), 1u) << "k-" << i
        << " was acknowledged but is not stored";
  }
  for (const std::string& id : stored) stored_unacked += acked.count(std::stoi(id.substr(2))) == 0;
  // Answers come in order: the acknowledged items are a prefix.
  EXPECT_EQ(*acked.rbegin() + 1, static_cast<int>(acked.size()));
  EXPECT_LE(stored.size(), static_cast<size_t>(handed_over));
  RecordProperty("items_acknowledged", static_cast<int>(acked.size()));
  RecordProperty("stored_but_not_acknowledged", stored_unacked);
  // The audit chain is whole after the kill.
  ASSERT_TRUE(gateway_->Terminate().ok());
  CommandResult verify = RunCommand({HavenctlBinary(), "audit", "verify", "--store",
                                     gateway_->store_file(), "--cert",
                                     police_.gateway_cert});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace havengate::testing

// This binary is also the gateway that stands in for an earlier release.
int main(int argc, char** argv) {
  if (auto code = havengate::bench::RunBenchGatewayIfAsked(argc, argv)) return *code;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
