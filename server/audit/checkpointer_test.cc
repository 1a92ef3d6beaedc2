// The checkpointer with a real SQLite store and real keys, and offline
// verification of what they leave behind (the end-to-end version, with a
// gateway process and havenctl, is tests/e2e/audit_test.cc).
#include "server/audit/checkpointer.h"

#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "certs/ca.h"
#include "evidence/audit_chain.h"
#include "evidence/audit_store.h"
#include "evidence/checkpoint_file.h"
#include "evidence/checkpoint_signature.h"
#include "evidence/verify.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"

namespace havengate::audit {
namespace {

using ::havengate::evidence::AuditProblem;
using ::havengate::evidence::AuditProblemKind;
using ::havengate::evidence::AuditRecordBytes;
using ::havengate::evidence::AuditStore;
using ::havengate::evidence::CheckpointSigner;
using ::havengate::evidence::CheckpointVerifier;
using ::havengate::evidence::DefaultCheckpointFile;
using ::havengate::evidence::ReadCheckpointFile;
using ::havengate::evidence::VerifyAuditStore;
using ::havengate::evidence::VerifyOptions;
using ::havengate::evidence::VerifyResult;
using ::testing::HasSubstr;

bool WaitFor(const std::function<bool()>& condition) {
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("checkpointer_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cert_ = IssueGateway("police-nl", "police.nl.example", &key_);
    other_cert_ = IssueGateway("customs-nl", "customs.nl.example", nullptr);
    store_path_ = (dir_ / "gateway.db").string();
  }
  void TearDown() override {
    StopAll();
    std::filesystem::remove_all(dir_);
  }

  std::string IssueGateway(const std::string& org, const std::string& domain,
                           std::string* key_file) {
    std::filesystem::create_directories(dir_ / org);
    auto ca = pki::CertificateAuthority::Create((dir_ / org / "ca").string(),
                                                {org, domain});
    EXPECT_TRUE(ca.ok()) << ca.status();
    if (!ca.ok()) return "";
    pki::IssueRequest request;
    request.role = pki::Role::kGateway;
    auto issued = ca->Issue(request, (dir_ / org).string());
    EXPECT_TRUE(issued.ok()) << issued.status();
    if (!issued.ok()) return "";
    if (key_file != nullptr) *key_file = issued->key_file;
    return issued->cert_file;
  }

  // A store wired as the gateway wires it.
  void StartAll(CheckpointerOptions options) {
    options.file = DefaultCheckpointFile(store_path_);
    auto signer = CheckpointSigner::Create(cert_, key_);
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = std::move(*signer);
    checkpointer_ = std::make_unique<Checkpointer>(options);
    store::SqliteOptions sqlite;
    sqlite.path = store_path_;
    store::StoreOptions store_options;
    store_options.sign_checkpoint = [this](uint64_t sequence,
                                           const std::string& previous_hash)
        -> absl::StatusOr<store::StoreOptions::CheckpointSignature> {
      auto s = signer_->Sign(sequence, previous_hash);
      if (!s.ok()) return s.status();
      return store::StoreOptions::CheckpointSignature{s->signature, s->key_id};
    };
    store_options.on_audit_committed = [this](const v1::AuditRecord& r) {
      checkpointer_->OnCommitted(r);
    };
    auto store = store::OpenSqliteStore(sqlite, store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    ASSERT_TRUE(checkpointer_->Start(*store_).ok());
  }
  void StopAll() {
    if (checkpointer_ != nullptr) checkpointer_->Stop();
    if (store_ != nullptr) store_->Close();
    store_.reset();
    checkpointer_.reset();
  }

  void Record(int n) {
    for (int i = 0; i < n; ++i) {
      v1::AuditRecord r;
      r.set_type(v1::ITEM_INGESTED);
      r.mutable_item()->set_item_id(absl::StrCat("item-", i));
      ASSERT_TRUE(store_->AppendAudit({r}).ok());
    }
  }

  VerifyResult Verify(const std::string& cert, const std::string& store_path,
                      const std::string& checkpoints = "") {
    VerifyOptions options;
    options.store_path = store_path;
    options.checkpoint_file = checkpoints;
    auto verifier = CheckpointVerifier::FromCertificateFiles({cert});
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    if (verifier.ok()) options.signatures = std::move(*verifier);
    auto result = VerifyAuditStore(options);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : VerifyResult{};
  }

  static std::vector<std::string> Problems(const VerifyResult& r) {
    std::vector<std::string> out;
    for (const auto& p : r.report.problems) out.push_back(p.ToString());
    return out;
  }

  // Runs SQL on a store file with the sqlite3 library.
  static void Sql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  std::filesystem::path dir_;
  std::string cert_, key_, other_cert_, store_path_;
  std::unique_ptr<CheckpointSigner> signer_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(CheckpointerTest, ChecksEveryNRecordsAndAtStopAndTheResultVerifies) {
  CheckpointerOptions options;
  options.every_records = 10;
  options.interval = absl::Hours(1);
  StartAll(options);
  Record(10);
  ASSERT_TRUE(WaitFor([&] { return checkpointer_->checkpoints() == 1; }));
  Record(10);
  ASSERT_TRUE(WaitFor([&] { return checkpointer_->checkpoints() == 2; }));
  Record(5);
  StopAll();

  // 25 records and 3 checkpoints: after 10, after 20, and at stop.
  auto file = ReadCheckpointFile(DefaultCheckpointFile(store_path_));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->checkpoints.size(), 3u);
  EXPECT_EQ(file->checkpoints[0].sequence(), 11u);
  EXPECT_EQ(file->checkpoints[1].sequence(), 22u);
  EXPECT_EQ(file->checkpoints[2].sequence(), 28u);

  VerifyResult result = Verify(cert_, store_path_);
  EXPECT_TRUE(result.report.ok()) << ::testing::PrintToString(Problems(result));
  EXPECT_EQ(result.report.records, 28u);
  EXPECT_EQ(result.report.checkpoints, 3u);
  EXPECT_EQ(result.file_checkpoints, 3u);
  EXPECT_EQ(result.signatures_verified, 6u);  // 3 records + 3 file lines
  EXPECT_EQ(result.unsealed_tail, 0u);
}

TEST_F(CheckpointerTest, ChecksAfterTheIntervalWhenRecordsWait) {
  CheckpointerOptions options;
  options.every_records = 1000;
  options.interval = absl::Milliseconds(200);
  StartAll(options);
  Record(1);
  ASSERT_TRUE(WaitFor([&] { return checkpointer_->checkpoints() == 1; }));
  // Nothing new: no further checkpoints.
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(checkpointer_->checkpoints(), 1u);
}

TEST_F(CheckpointerTest, CutOffTailIsFoundWithTheCheckpointFile) {
  CheckpointerOptions options;
  options.every_records = 10;
  options.interval = absl::Hours(1);
  StartAll(options);
  Record(10);
  ASSERT_TRUE(WaitFor([&] { return checkpointer_->checkpoints() == 1; }));
  Record(5);
  StopAll();  // checkpoints at 11 and 17
  const std::string copy = (dir_ / "copy.db").string();
  std::filesystem::copy_file(store_path_, copy);
  // Remove the last 4 records, the final checkpoint among them.
  Sql(copy, "DELETE FROM audit WHERE sequence > 13");
  VerifyResult result =
      Verify(cert_, copy, DefaultCheckpointFile(store_path_));
  ASSERT_EQ(result.report.problems.size(), 1u)
      << ::testing::PrintToString(Problems(result));
  const AuditProblem& p = result.report.problems[0];
  EXPECT_EQ(p.kind, AuditProblemKind::kCutOff);
  EXPECT_EQ(p.first_sequence, 14u);
  EXPECT_EQ(p.last_sequence, 17u);
  EXPECT_THAT(p.ToString(), HasSubstr("the log ends at record 13"));

  // Without the file the chain alone looks whole; verify says what it
  // could not check.
  std::filesystem::remove(DefaultCheckpointFile(copy));
  VerifyResult alone = Verify(cert_, copy);
  EXPECT_TRUE(alone.report.ok());
  EXPECT_THAT(::testing::PrintToString(alone.notes),
              HasSubstr("no checkpoint file"));
  EXPECT_EQ(alone.unsealed_tail, 2u);
}

TEST_F(CheckpointerTest, SignaturesFailWithAnotherGatewaysCertificate) {
  CheckpointerOptions options;
  options.every_records = 5;
  StartAll(options);
  Record(5);
  StopAll();
  VerifyResult result = Verify(other_cert_, store_path_);
  ASSERT_FALSE(result.report.ok());
  EXPECT_EQ(result.signatures_verified, 0u);
  for (const AuditProblem& p : result.report.problems) {
    EXPECT_EQ(p.kind, AuditProblemKind::kBadSignature) << p.ToString();
  }
  // The record and its line in the file.
  EXPECT_EQ(result.report.problems.size(), 2u);
}

TEST_F(CheckpointerTest, ChangedCheckpointRecordIsOneProblem) {
  CheckpointerOptions options;
  options.every_records = 5;
  StartAll(options);
  Record(5);
  StopAll();  // checkpoint at 6
  // Its signature replaced, its hash left as it was.
  {
    auto reader = AuditStore::Open(store_path_);
    ASSERT_TRUE(reader.ok());
    v1::AuditRecord checkpoint;
    ASSERT_TRUE((*reader)
                    ->ForEachRecord([&](const v1::AuditRecord& r) {
                      if (r.sequence() == 6) checkpoint = r;
                      return true;
                    })
                    .ok());
    ASSERT_EQ(checkpoint.type(), v1::CHECKPOINT);
    checkpoint.set_checkpoint_signature("forged");
    reader->reset();
    Sql(store_path_, absl::StrCat("UPDATE audit SET record = X'",
                                  absl::BytesToHexString(AuditRecordBytes(checkpoint)),
                                  "' WHERE sequence = 6"));
  }
  VerifyResult result = Verify(cert_, store_path_);
  std::vector<std::string> problems = Problems(result);
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  EXPECT_THAT(problems[0], HasSubstr("record 6 (CHECKPOINT): changed"));
}

TEST_F(CheckpointerTest, UnwritableCheckpointFileIsFoundAtStart) {
  CheckpointerOptions options;
  options.file = (dir_ / "no-such-dir" / "gateway.db.checkpoints").string();
  Checkpointer checkpointer(options);
  store::SqliteOptions sqlite;
  sqlite.path = store_path_;
  auto store = store::OpenSqliteStore(sqlite);
  ASSERT_TRUE(store.ok());
  absl::Status started = checkpointer.Start(**store);
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(started.message(), HasSubstr("no-such-dir"));
  checkpointer.Stop();
}

TEST_F(CheckpointerTest, RewrittenLogDisagreesWithTheFile) {
  CheckpointerOptions options;
  options.every_records = 5;
  StartAll(options);
  Record(5);
  StopAll();  // checkpoint at 6
  // Cut the end, then let a gateway write on: record 6 is now another one.
  Sql(store_path_, "DELETE FROM audit WHERE sequence >= 5");
  StartAll(options);
  Record(3);
  StopAll();
  VerifyResult result = Verify(cert_, store_path_);
  std::vector<std::string> problems = Problems(result);
  ASSERT_FALSE(problems.empty());
  EXPECT_THAT(::testing::PrintToString(problems),
              HasSubstr("record 6 (ITEM_INGESTED): checkpoint mismatch"));
}

}  // namespace
}  // namespace havengate::audit
