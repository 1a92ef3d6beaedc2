// End-to-end tests of what a gateway does with overload and bad input, on a
// real havengate process over mutual TLS:
// - per-caller limits (limits.per_caller): item and call rates, calls open
//   at once, each caller on its own, a peer gateway's streams included;
// - bad input sent as raw bytes (deep nesting, invalid UTF-8) or as items
//   no honest client builds (huge repeated fields, unknown enum values);
// - a bulk push of JSON lines through `havenctl items push`, good and bad
//   lines mixed;
// - a full disk: a tmpfs under the store, filled, then grown while the
//   gateway runs.
// Oversized items are covered by gateway_e2e_test.
#include <sys/mount.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cerrno>
#include <cstring>
#include <future>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "havengate/v1/inbox.grpc.pb.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kClientId[] = "spiffe://police.nl.example/client/integration";

// --- raw protobuf encoding, for messages the generated code would not send

std::string Varint(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

// Field `number` with wire type 2 (length-delimited).
std::string Delimited(int number, const std::string& bytes) {
  return Varint((static_cast<uint64_t>(number) << 3) | 2) + Varint(bytes.size()) + bytes;
}

// A PushRequest around raw Item bytes.
std::string PushRequestBytes(const std::string& item_bytes) {
  return Delimited(1, item_bytes);
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto police = CreateTestOrg(dir_.path(), "police-nl", "police.nl.example");
    ASSERT_TRUE(police.ok()) << police.status();
    police_ = *police;
  }

  void TearDown() override {
    gateway_.reset();  // before its file system goes
    if (!tmpfs_.empty()) umount2(tmpfs_.c_str(), MNT_DETACH);
  }

  void Start(const std::string& extra_yaml = "") {
    GatewaySpec spec;
    spec.org = &police_;
    spec.extra_yaml = extra_yaml;
    auto gateway = GatewayProcess::Start(spec);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
    auto client = ConnectClient(police_, gateway_->port());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  // A second integration client of the same organisation.
  std::unique_ptr<client::Client> OtherClient(const std::string& name) {
    auto issued = IssueCert(police_, pki::Role::kClient, name, "other-clients");
    EXPECT_TRUE(issued.ok()) << issued.status();
    auto client = ConnectClient(police_, gateway_->port(), issued->cert_file,
                                issued->key_file);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // Every item id the inbox holds.
  std::set<std::string> Held() {
    std::set<std::string> ids;
    v1::ListRequest request;
    request.set_page_size(1000);
    for (;;) {
      auto page = client_->List(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return ids;
      for (const auto& e : page->entries()) ids.insert(e.item().item_id());
      if (page->next_page_token().empty()) return ids;
      request.set_page_token(page->next_page_token());
    }
  }

  // Sends raw request bytes to `method` and returns the status.
  grpc::Status RawCall(const std::string& method, const std::string& request) {
    grpc::GenericStub stub(client_->channel());
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    grpc::Slice slice(request);
    grpc::ByteBuffer buffer(&slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &buffer, &response,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  // Audit records (JSON lines) whose text contains every one of `parts`.
  int AuditLinesWith(std::initializer_list<absl::string_view> parts) {
    CommandResult exported = RunCommand(
        {HavenctlBinary(), "audit", "export", "--store", gateway_->store_file()});
    int n = 0;
    for (absl::string_view line : absl::StrSplit(exported.out, '\n')) {
      bool all = !line.empty();
      for (absl::string_view p : parts) all = all && absl::StrContains(line, p);
      n += all ? 1 : 0;
    }
    return n;
  }

  // The gateway still answers and stores a good item.
  void ExpectStillServing(const std::string& item_id) {
    ASSERT_TRUE(gateway_->running()) << gateway_->ReadLog();
    auto receipt = client_->Push(MakeAlert(item_id));
    EXPECT_TRUE(receipt.ok()) << receipt.status();
  }

  TempDir dir_;
  TestOrg police_;
  std::unique_ptr<GatewayProcess> gateway_;
  std::unique_ptr<client::Client> client_;
  std::string tmpfs_;  // mounted by the test, unmounted in TearDown
};

// --- per-caller limits -------------------------------------------------------

TEST_F(LimitsTest, PushOverTheItemRateIsRefusedPerCallerAndNothingIsStored) {
  Start("limits:\n  per_caller: {items_per_second: 1, item_burst: 3}\n");
  std::set<std::string> accepted;
  std::vector<absl::Status> refused;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 10; ++i) {
    const std::string id = absl::StrCat("rate-", i);
    absl::Status status = client_->Push(MakeAlert(id)).status();
    if (status.ok()) {
      accepted.insert(id);
    } else {
      refused.push_back(status);
    }
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  // The burst, plus one item per second that passed.
  EXPECT_GE(accepted.size(), 3u);
  EXPECT_LE(static_cast<double>(accepted.size()), 3 + elapsed + 1);
  ASSERT_FALSE(refused.empty());
  for (const absl::Status& s : refused) {
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("rate limit: ", kClientId,
                                                    " may push 1 items per second")));
    EXPECT_THAT(s.message(), HasSubstr("limits.per_caller.items_per_second"));
    EXPECT_THAT(s.message(), HasSubstr("nothing was stored"));
  }
  EXPECT_EQ(Held(), accepted);

  // Another client has its own budget.
  auto other = OtherClient("risk-engine");
  ASSERT_NE(other, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto receipt = other->Push(MakeAlert(absl::StrCat("other-", i)));
    EXPECT_TRUE(receipt.ok()) << receipt.status();
  }
  // Refusals are audited, but not one record per refusal: at most one per
  // caller every 10 s.
  EXPECT_TRUE(WaitFor([&] { return AuditLinesWith({"CALL_REJECTED", "rate limit"}) >= 1; }));
  if (elapsed < 9) {
    EXPECT_EQ(AuditLinesWith({"CALL_REJECTED", "rate limit", kClientId}), 1);
  }
}

TEST_F(LimitsTest, PushStreamOverTheItemRateIsSlowedDownNotRefused) {
  Start("limits:\n  per_caller: {items_per_second: 20, item_burst: 5}\n");
  constexpr int kItems = 25;
  int next = 0;
  std::vector<v1::PushResult> results;
  const absl::Time start = absl::Now();
  absl::Status status = client_->PushStream(
      [&]() -> std::optional<v1::Item> {
        if (next == kItems) return std::nullopt;
        return MakeAlert(absl::StrCat("paced-", next++));
      },
      [&](const v1::PushResult& r) { results.push_back(r); });
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(results.size(), static_cast<size_t>(kItems));
  for (const v1::PushResult& r : results) EXPECT_EQ(r.code(), 0) << r.message();
  EXPECT_EQ(Held().size(), static_cast<size_t>(kItems));
  // 5 at once, the other 20 at 20 per second: it cannot be faster than
  // that (a lower bound, not a timing assumption).
  EXPECT_GE(elapsed, absl::Milliseconds(950));
}

TEST_F(LimitsTest, CallsOverTheCallRateAreRefused) {
  Start("limits:\n  per_caller: {calls_per_second: 1, call_burst: 3}\n");
  int ok = 0;
  absl::Status refused;
  for (int i = 0; i < 8; ++i) {
    absl::Status s = client_->List({}).status();
    if (s.ok()) {
      ++ok;
    } else {
      refused = s;
    }
  }
  EXPECT_GE(ok, 3);
  EXPECT_LT(ok, 8);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("may start 1 calls per second (burst 3"));
  EXPECT_THAT(refused.message(), HasSubstr("limits.per_caller.calls_per_second"));
  // Push is a call too.
  EXPECT_EQ(client_->Push(MakeAlert("one-call-too-many")).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(OtherClient("risk-engine")->List({}).ok());
}

TEST_F(LimitsTest, OpenCallsPerCallerAreCappedAndFreedWhenAStreamEnds) {
  Start("limits:\n  per_caller: {max_concurrent_calls: 2}\n");
  // Two subscriptions that stay open (the inbox is empty).
  auto stub = v1::Inbox::NewStub(client_->channel());
  grpc::ClientContext first, second;
  v1::SubscribeRequest request;
  auto reader_1 = stub->Subscribe(&first, request);
  auto reader_2 = stub->Subscribe(&second, request);
  absl::Status third;
  ASSERT_TRUE(WaitFor([&] {
    third = client_->List({}).status();
    return !third.ok();
  })) << "a third call was never refused";
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted) << third;
  EXPECT_THAT(third.message(), HasSubstr(absl::StrCat(kClientId, " has 2 calls open")));
  EXPECT_THAT(third.message(), HasSubstr("limits.per_caller.max_concurrent_calls"));
  // Others are not held up by this caller's streams.
  EXPECT_TRUE(OtherClient("risk-engine")->List({}).ok());
  // Ending one stream frees its place.
  first.TryCancel();
  v1::InboxEvent event;
  while (reader_1->Read(&event)) {
  }
  (void)reader_1->Finish();
  EXPECT_TRUE(WaitFor([&] { return client_->List({}).ok(); }));
  second.TryCancel();
  while (reader_2->Read(&event)) {
  }
  (void)reader_2->Finish();
}

TEST_F(LimitsTest, PeerGatewayStreamsAreCallsUnderItsLimits) {
  auto customs = CreateTestOrg(dir_.path(), "customs-nl", "customs.nl.example");
  ASSERT_TRUE(customs.ok()) << customs.status();
  GatewaySpec spec;
  spec.org = &police_;
  spec.peers = {{&*customs, PickUnusedPort()}};
  spec.extra_yaml = "limits:\n  per_caller: {max_concurrent_calls: 2}\n";
  auto gateway = GatewayProcess::Start(spec);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  gateway_ = std::move(*gateway);
  // The customs gateway (its certificate, any process) opening Exchange
  // streams to the police gateway.
  client::ConnectionOptions options = ClientOptions(police_, gateway_->port());
  options.certificate = customs->gateway_cert;
  options.private_key = customs->gateway_key;
  auto customs_gateway = client::Client::Connect(options);
  ASSERT_TRUE(customs_gateway.ok());
  auto stub = v1::Federation::NewStub((*customs_gateway)->channel());
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<
      grpc::ClientReaderWriter<v1::FederationMessage, v1::FederationAck>>>
      streams;
  auto open = [&] {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stub->Exchange(contexts.back().get()));
  };
  open();
  open();
  ASSERT_TRUE(WaitFor([&] {
    return CountOccurrences(gateway_->ReadLog(), "peer_connected peer=customs-nl") >= 2;
  })) << gateway_->ReadLog();
  // A third stream is refused at once.
  open();
  v1::FederationAck ack;
  EXPECT_FALSE(streams[2]->Read(&ack));
  grpc::Status third = streams[2]->Finish();
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << third.error_message();
  EXPECT_THAT(third.error_message(),
              HasSubstr("spiffe://customs.nl.example/gateway has 2 calls open"));
  // Closing one makes room again.
  streams[0]->WritesDone();
  EXPECT_TRUE(streams[0]->Finish().ok());
  open();
  EXPECT_TRUE(WaitFor([&] {
    return CountOccurrences(gateway_->ReadLog(), "peer_connected peer=customs-nl") >= 3;
  })) << gateway_->ReadLog();
  for (size_t i : {size_t{1}, size_t{3}}) {
    streams[i]->WritesDone();
    EXPECT_TRUE(streams[i]->Finish().ok());
  }
}

// --- bad input ---------------------------------------------------------------

TEST_F(LimitsTest, DeeplyNestedMessageIsRefusedAndTheGatewayStaysUp) {
  Start();
  // A valid alert followed by an unknown field 99 holding groups nested
  // 100,000 deep (the deepest a schema-less parser could be made to go).
  std::string item;
  ASSERT_TRUE(MakeAlert("nested").SerializeToString(&item));
  constexpr int kDepth = 100'000;
  const std::string start_group = Varint((99 << 3) | 3);
  const std::string end_group = Varint((99 << 3) | 4);
  std::string nest;
  nest.reserve(kDepth * 4);
  for (int i = 0; i < kDepth; ++i) nest += start_group;
  for (int i = 0; i < kDepth; ++i) nest += end_group;
  grpc::Status status =
      RawCall("/havengate.v1.Ingest/Push", PushRequestBytes(item + nest));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("not a valid protocol buffer message"));
  // Shallow nesting in an unknown field parses, and is refused by name.
  status = RawCall("/havengate.v1.Ingest/Push",
                   PushRequestBytes(item + start_group + start_group + end_group +
                                    end_group));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("item: unknown field number 99"));
  EXPECT_TRUE(Held().empty());
  ExpectStillServing("after-nesting");
}

TEST_F(LimitsTest, InvalidUtf8IsRefusedAndNothingIsStored) {
  Start();
  v1::PushRequest request;
  *request.mutable_item() = MakeAlert("utf8", "Stolen release PIN used");
  std::string bytes;
  ASSERT_TRUE(request.SerializeToString(&bytes));
  // Same length, so every length prefix stays right: "PIN" -> 3 bytes that
  // are not UTF-8.
  const size_t at = bytes.find("PIN");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 3, "\xff\xfe\xc0");
  grpc::Status status = RawCall("/havengate.v1.Ingest/Push", bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("a string that is not UTF-8"));
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(gateway_->ReadLog(),
                             "call_rejected method=/havengate.v1.Ingest/Push");
  }));
  // In a stream, gRPC 1.51 cannot tell the server that a message did not
  // parse (its Read just ends, as when the client is done), so the gateway
  // stops reading and answers what it read; the client library reports
  // the items left unanswered as not acknowledged. One item per message
  // (no batches): the item before the bad one is answered.
  auto stream_three = [&](const std::string& prefix, bool batches,
                          std::vector<v1::PushResult>* results) {
    std::vector<v1::Item> items = {MakeAlert(prefix + "1"),
                                   MakeAlert(prefix + "2", "Stolen \xff\xfe PIN"),
                                   MakeAlert(prefix + "3")};
    size_t next = 0;
    client::Client::PushStreamOptions options;
    options.batches = batches;
    return client_->PushStream(
        [&]() -> std::optional<v1::Item> {
          if (next == items.size()) return std::nullopt;
          return items[next++];
        },
        [&](const v1::PushResult& r) { results->push_back(r); }, options);
  };
  std::vector<v1::PushResult> results;
  absl::Status stream = stream_three("utf8-stream-", false, &results);
  EXPECT_EQ(stream.code(), absl::StatusCode::kAborted) << stream;
  EXPECT_THAT(stream.message(), HasSubstr("the gateway ended the stream without answering"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].code(), 0) << results[0].message();
  EXPECT_EQ(Held(), std::set<std::string>{"utf8-stream-1"});
  // With batches the message that does not parse may hold the items
  // before the bad one too: they are not answered either (the caller
  // resends them), and nothing after it is stored.
  results.clear();
  stream = stream_three("utf8-batch-", true, &results);
  EXPECT_EQ(stream.code(), absl::StatusCode::kAborted) << stream;
  std::set<std::string> expected_held = {"utf8-stream-1"};
  ASSERT_LE(results.size(), 1u);
  for (const v1::PushResult& r : results) {
    EXPECT_EQ(r.item_id(), "utf8-batch-1");
    EXPECT_EQ(r.code(), 0) << r.message();
    expected_held.insert(r.item_id());
  }
  EXPECT_EQ(Held(), expected_held);
  EXPECT_THAT(gateway_->ReadLog(), Not(HasSubstr("\xff\xfe")));
  ExpectStillServing("after-utf8");
}

TEST_F(LimitsTest, UnknownEnumValuesAreRefusedWithTheirPaths) {
  Start();
  v1::Item item = MakeAlert("enums");
  item.mutable_alert()->set_category(static_cast<v1::Alert::Category>(999));
  item.mutable_classification()->set_tlp(static_cast<v1::Classification::Tlp>(77));
  item.mutable_alert()->mutable_persons(0)->set_role(static_cast<v1::Person::Role>(-5));
  absl::Status status = client_->Push(item).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("alert.category: unknown value 999"));
  EXPECT_THAT(status.message(), HasSubstr("classification.tlp: unknown value 77"));
  EXPECT_THAT(status.message(), HasSubstr("alert.persons[0].role: unknown value -5"));
  // In a filter too.
  v1::ListRequest list;
  list.mutable_filter()->add_categories(static_cast<v1::Alert::Category>(1234));
  status = client_->List(list).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("filter.categories[0]: unknown value 1234"));
  EXPECT_TRUE(Held().empty());
}

TEST_F(LimitsTest, HugeRepeatedFieldsAreRefusedAndTheGatewayStaysUp) {
  Start();  // default limits: items up to 1 MiB, messages up to 4 MiB
  std::string alert;
  ASSERT_TRUE(MakeAlert("many-containers").SerializeToString(&alert));
  // The alert again (field 10; occurrences of a message field merge) with
  // 400,000 empty containers (field 7): 800 KB, under the item limit,
  // every container invalid.
  std::string containers;
  for (int i = 0; i < 400'000; ++i) containers += Delimited(7, "");
  grpc::Status status = RawCall("/havengate.v1.Ingest/Push",
                                PushRequestBytes(alert + Delimited(10, containers)));
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr("alert.containers[1].number: is required"));
  EXPECT_THAT(status.error_message(), HasSubstr("and 399990 more problems"));
  EXPECT_LT(status.error_message().size(), 4096u);
  // A report with 2,200,000 (empty) related item ids, field 12: 4.4 MB,
  // past the message limit; gRPC refuses it before it is parsed.
  v1::Item report;
  report.set_item_id("huge-report");
  report.mutable_classification()->set_tlp(v1::Classification::GREEN);
  report.mutable_report()->set_title("x");
  std::string bytes;
  ASSERT_TRUE(report.SerializeToString(&bytes));
  std::string ids;
  for (int i = 0; i < 2'200'000; ++i) ids += Delimited(12, "");
  status = RawCall("/havengate.v1.Ingest/Push",
                   PushRequestBytes(bytes + Delimited(11, ids)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_TRUE(Held().empty());
  ExpectStillServing("after-huge");
}

// --- bulk push through havenctl ----------------------------------------------

TEST_F(LimitsTest, BulkPushAcceptsGoodLinesAndReportsEachBadOneByLineNumber) {
  Start();
  auto line = [](const std::string& id, const std::string& extra = "",
                 const std::string& category = R"("PIN_CODE_FRAUD")") {
    return absl::StrCat(R"({"item_id":")", id,
                        R"(","classification":{"tlp":"AMBER"},"alert":{"category":)",
                        category, R"(,"severity":"HIGH","title":"PIN used twice")",
                        extra, "}}");
  };
  std::string deep;
  for (int i = 0; i < 50'000; ++i) deep += "[";
  for (int i = 0; i < 50'000; ++i) deep += "]";
  const std::vector<std::string> lines = {
      line("bulk-1"),                                                  // 1 good
      R"({"item_id": "bulk-2", "classification": )",                   // 2 cut off
      line("bulk-3"),                                                  // 3 good
      "",                                                              // 4 blank
      line("bulk-5", R"(,"colour":"red")"),                            // 5 unknown field
      line("bulk-6", R"(,"containers":[{"number":"CSQU3054384"}])"),   // 6 check digit
      line("bulk-7", "", "999"),                                       // 7 unknown enum value
      line("bulk-8", R"(,"persons":[{"role":"EMPEROR"}])"),            // 8 unknown enum name
      line("bulk-9", R"(,"description":)" + deep),                     // 9 deep nesting
      line("bulk-10", ",\"description\":\"caf\xe9\""),                 // 10 not UTF-8
      "not json at all",                                               // 11
      line("bulk-12"),                                                 // 12 good
  };
  const std::string file = police_.dir + "/items.jsonl";
  {
    std::ofstream out(file);
    for (const std::string& l : lines) out << l << "\n";
  }
  CommandResult result = RunCommand(
      {HavenctlBinary(), "items", "push", file, "--address", gateway_->address(),
       "--cert", police_.client_cert, "--key", police_.client_key, "--ca",
       police_.ca_file, "--gateway-id", police_.gateway_id()});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  for (int good : {1, 3, 12}) {
    EXPECT_THAT(result.out, HasSubstr(absl::StrCat(file, ":", good, ": accepted bulk-", good)))
        << result.out;
  }
  for (int bad : {2, 5, 6, 7, 8, 9, 10, 11}) {
    EXPECT_THAT(result.err, HasSubstr(absl::StrCat(file, ":", bad, ": refused")))
        << result.err;
  }
  EXPECT_THAT(result.err, HasSubstr(absl::StrCat(
                              file, ":6: refused: INVALID_ARGUMENT: "
                                    "alert.containers[0].number: check digit")));
  EXPECT_THAT(result.err, Not(HasSubstr(absl::StrCat(file, ":4:"))));
  EXPECT_THAT(result.err, Not(HasSubstr(absl::StrCat(file, ":0:"))));
  EXPECT_THAT(result.out, HasSubstr("3 accepted, 8 refused"));
  EXPECT_EQ(Held(), (std::set<std::string>{"bulk-1", "bulk-3", "bulk-12"}));

  // --json: one object per line on stdout, accepted or not; the count on
  // stderr.
  const std::vector<std::string> connection = {
      "--address", gateway_->address(), "--cert", police_.client_cert, "--key",
      police_.client_key, "--ca", police_.ca_file, "--gateway-id", police_.gateway_id()};
  auto havenctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), HavenctlBinary());
    args.insert(args.end(), connection.begin(), connection.end());
    return RunCommand(args);
  };
  CommandResult json = havenctl({"items", "push", file, "--json"});
  EXPECT_EQ(json.exit_code, 1) << json.out << json.err;
  std::vector<std::string> results = absl::StrSplit(json.out, '\n', absl::SkipEmpty());
  EXPECT_EQ(results.size(), 11u) << json.out;
  EXPECT_THAT(json.out, HasSubstr(absl::StrCat("{\"source\":\"", file,
                                               ":1\",\"accepted\":true,\"receipt\":{")));
  EXPECT_THAT(json.out, HasSubstr("\"duplicate\":true"));
  EXPECT_THAT(json.out, HasSubstr(absl::StrCat(
                            "{\"source\":\"", file, ":6\",\"accepted\":false,"
                            "\"code\":\"INVALID_ARGUMENT\",\"message\":\"alert.containers[0]")));
  EXPECT_THAT(json.err, HasSubstr("3 accepted, 8 refused"));

  // items list --json and items watch --json print the same records.
  CommandResult list = havenctl({"items", "list", "--all", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  CommandResult watch = havenctl({"items", "watch", "--from-start", "--count", "3", "--json"});
  ASSERT_EQ(watch.exit_code, 0) << watch.err;
  std::vector<std::string> listed = absl::StrSplit(list.out, '\n', absl::SkipEmpty());
  std::vector<std::string> watched = absl::StrSplit(watch.out, '\n', absl::SkipEmpty());
  std::reverse(listed.begin(), listed.end());  // list: newest first
  EXPECT_EQ(listed, watched);

  CommandResult retract = havenctl({"items", "retract", "bulk-3", "--reason", "test", "--json"});
  ASSERT_EQ(retract.exit_code, 0) << retract.err;
  EXPECT_THAT(retract.out, HasSubstr("\"item_id\":\"bulk-3\""));
  EXPECT_THAT(retract.out, HasSubstr("\"reason\":\"test\""));
  // The withdrawal as watch shows it: an entry with cursor and retraction.
  // Resume after the last cursor seen: the next event is the withdrawal.
  ASSERT_FALSE(watched.empty());
  const std::string cursor_key = "\"cursor\":\"";
  const size_t at = watched.back().find(cursor_key);
  ASSERT_NE(at, std::string::npos) << watched.back();
  const size_t start = at + cursor_key.size();
  const std::string last_cursor =
      watched.back().substr(start, watched.back().find('"', start) - start);
  CommandResult next =
      havenctl({"items", "watch", "--after", last_cursor, "--count", "1", "--json"});
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_THAT(next.out, HasSubstr("\"retraction\":{"));
  EXPECT_THAT(next.out, HasSubstr("\"item_id\":\"bulk-3\""));
}

// --- full disk ---------------------------------------------------------------

TEST_F(LimitsTest, FullDiskAnswersResourceExhaustedAndLosesNothingWhenSpaceReturns) {
  // The store, its WAL, checkpoint file and TLS state on a 4 MiB tmpfs.
  tmpfs_ = police_.dir + "/data";
  fs::create_directories(tmpfs_);
  if (mount("tmpfs", tmpfs_.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0) {
    const int error = errno;
    tmpfs_.clear();
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(error)
                 << "; needs root or CAP_SYS_ADMIN); store_test "
                    "FullDiskRefusesWithResourceExhaustedAndKeepsEarlierData "
                    "covers the store's side with a page limit";
  }
  Start();
  std::vector<std::string> acknowledged;
  absl::Status full;
  std::string refused_id;
  for (int i = 0; i < 5000 && full.ok(); ++i) {
    v1::Item item = MakeAlert(absl::StrCat("fill-", i));
    item.mutable_alert()->set_description(std::string(9000, 'x'));
    absl::StatusOr<v1::Receipt> receipt = client_->Push(item);
    if (receipt.ok()) {
      acknowledged.push_back(item.item_id());
    } else {
      full = receipt.status();
      refused_id = item.item_id();
    }
  }
  ASSERT_FALSE(full.ok()) << "4 MiB never filled up";
  ASSERT_GT(acknowledged.size(), 10u);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_THAT(full.message(), HasSubstr("storage is full; nothing was stored"));
  // Still full: the same item is refused again; a stream's items are
  // answered one by one. Whatever is refused is not stored; whatever is
  // acknowledged is (a smaller item may still fit, so no item is assumed
  // refused that was not).
  v1::Item again = MakeAlert(refused_id);
  again.mutable_alert()->set_description(std::string(9000, 'x'));
  EXPECT_EQ(client_->Push(again).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::vector<v1::PushResult> results;
  int next = 0;
  absl::Status stream = client_->PushStream(
      [&]() -> std::optional<v1::Item> {
        if (next == 3) return std::nullopt;
        v1::Item item = MakeAlert(absl::StrCat("stream-while-full-", next++));
        item.mutable_alert()->set_description(std::string(9000, 'z'));
        return item;
      },
      [&](const v1::PushResult& r) { results.push_back(r); });
  EXPECT_TRUE(stream.ok()) << stream;
  ASSERT_EQ(results.size(), 3u);
  int refused_in_stream = 0;
  for (const v1::PushResult& r : results) {
    if (r.code() == 0) {
      acknowledged.push_back(r.item_id());
    } else {
      ++refused_in_stream;
      EXPECT_EQ(r.code(), static_cast<int>(absl::StatusCode::kResourceExhausted))
          << r.item_id() << ": " << r.message();
    }
  }
  EXPECT_GE(refused_in_stream, 1);
  // Reads still work, and show exactly what was acknowledged.
  std::set<std::string> expected(acknowledged.begin(), acknowledged.end());
  EXPECT_EQ(Held(), expected);

  // Space returns (the file system grows under the running gateway): the
  // refused item is accepted now, nothing acknowledged is lost, even
  // across a kill -9.
  ASSERT_EQ(mount("tmpfs", tmpfs_.c_str(), "tmpfs", MS_REMOUNT, "size=64m,mode=0700"), 0)
      << std::strerror(errno);
  v1::Item retry = MakeAlert(refused_id);
  retry.mutable_alert()->set_description(std::string(9000, 'x'));
  absl::StatusOr<v1::Receipt> receipt = client_->Push(retry);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_FALSE(receipt->duplicate());
  expected.insert(refused_id);
  gateway_->Kill9();
  ASSERT_TRUE(gateway_->Restart().ok()) << gateway_->ReadLog();
  auto client = ConnectClient(police_, gateway_->port());
  ASSERT_TRUE(client.ok());
  client_ = std::move(*client);
  EXPECT_EQ(Held(), expected);
  ExpectStillServing("after-space-returned");

  // The audit chain survived the full disk intact.
  CommandResult verify = RunCommand(
      {HavenctlBinary(), "audit", "verify", "--store", gateway_->store_file()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  CommandResult verify_json = RunCommand(
      {HavenctlBinary(), "audit", "verify", "--store", gateway_->store_file(), "--json"});
  EXPECT_EQ(verify_json.exit_code, 0) << verify_json.out << verify_json.err;
  EXPECT_THAT(verify_json.out, HasSubstr("\"ok\":true"));
  EXPECT_THAT(verify_json.out, HasSubstr("\"problems\":[]"));
}

}  // namespace
}  // namespace havengate::testing
