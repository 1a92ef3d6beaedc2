#include "evidence/audit_chain.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::evidence {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A sealed chain of `n` records; record 5 is a CHECKPOINT.
std::vector<v1::AuditRecord> MakeChain(int n) {
  std::vector<v1::AuditRecord> records;
  std::string previous(kAuditHashBytes, '\0');
  for (int i = 1; i <= n; ++i) {
    v1::AuditRecord r;
    r.set_type(i == 5 ? v1::CHECKPOINT : v1::ITEM_INGESTED);
    r.set_actor("spiffe://police.nl.example/client/harbour-app");
    r.mutable_item()->set_origin("police-nl");
    r.mutable_item()->set_item_id(absl::StrCat("secret-item-", i));
    r.mutable_recorded_at()->set_seconds(1'800'000'000 + i);
    SealAuditRecord(static_cast<uint64_t>(i), previous, r);
    previous = r.hash();
    records.push_back(std::move(r));
  }
  return records;
}

// SealAuditRecord returns the sealed record's encoding without encoding it
// twice; it must be exactly AuditRecordBytes of the sealed record.
TEST(AuditChainTest, SealReturnsTheSealedRecordsBytes) {
  v1::AuditRecord full;
  full.set_type(v1::SHARE_DECIDED);
  full.set_actor("spiffe://police.nl.example/gateway");
  full.mutable_item()->set_origin("police-nl");
  full.mutable_item()->set_item_id("01JDQD3N8R1T5W7Y9A2C4E6G8J");
  full.mutable_item()->set_version(3);
  full.set_partner("customs-nl");
  full.set_policy_version("2026-11-28.1");
  full.set_released(true);
  full.add_released_fields("title");
  full.add_withheld_fields("persons.document_number");
  full.add_transformed_fields("persons.name: pseudonymise");
  full.add_matched_rules("harc-container-crime-to-customs");
  full.set_digest("sha256:00");
  full.set_reason("r");
  full.set_detail("d");
  full.mutable_recorded_at()->set_seconds(1'800'000'000);
  v1::AuditRecord checkpoint;
  checkpoint.set_type(v1::CHECKPOINT);
  checkpoint.set_checkpoint_signature("sig");
  checkpoint.set_checkpoint_key_id("key-1");
  for (v1::AuditRecord record : {v1::AuditRecord(), full, checkpoint}) {
    std::string bytes = SealAuditRecord(7, std::string(kAuditHashBytes, 'p'), record);
    EXPECT_EQ(bytes, AuditRecordBytes(record)) << record.ShortDebugString();
    EXPECT_EQ(record.hash(), ComputeAuditHash(record));
  }
}

// One stored row as the store keeps it.
struct Row {
  uint64_t key;
  std::string bytes;
};

std::vector<Row> Rows(const std::vector<v1::AuditRecord>& records) {
  std::vector<Row> rows;
  for (const auto& r : records) rows.push_back({r.sequence(), AuditRecordBytes(r)});
  return rows;
}

AuditChainReport VerifyRows(const std::vector<Row>& rows) {
  AuditChainVerifier verifier;
  for (const Row& row : rows) verifier.AddStored(row.key, row.bytes);
  return verifier.Finish();
}

std::vector<std::string> Describe(const AuditChainReport& report) {
  std::vector<std::string> out;
  for (const auto& p : report.problems) out.push_back(p.ToString());
  return out;
}

TEST(AuditChainTest, SealedChainVerifies) {
  auto records = MakeChain(10);
  AuditChainReport report = VerifyAuditChain(records);
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(Describe(report));
  EXPECT_EQ(report.records, 10u);
  EXPECT_EQ(report.first_sequence, 1u);
  EXPECT_EQ(report.last_sequence, 10u);
  EXPECT_EQ(report.checkpoints, 1u);
  EXPECT_EQ(report.last_checkpoint_sequence, 5u);
  EXPECT_EQ(report.last_hash, records.back().hash());
  EXPECT_TRUE(VerifyRows(Rows(records)).ok());
}

TEST(AuditChainTest, EmptyChainIsValid) {
  EXPECT_TRUE(VerifyAuditChain({}).ok());
}

TEST(AuditChainTest, HashIsSha256OfPreviousHashAndUnsealedEncoding) {
  auto records = MakeChain(2);
  // Independent of SealAuditRecord: the definition in audit.proto.
  v1::AuditRecord second = records[1];
  EXPECT_EQ(second.previous_hash(), records[0].hash());
  EXPECT_EQ(second.hash().size(), 32u);
  EXPECT_EQ(ComputeAuditHash(second), second.hash());
  second.set_actor("someone else");
  EXPECT_NE(ComputeAuditHash(second), records[1].hash());
}

TEST(AuditChainTest, CheckpointSignedBytesAreDomainSequenceAndHash) {
  std::string hash(32, '\x7f');
  std::string bytes = CheckpointSignedBytes(0x0102030405060708ull, hash);
  std::string expected = std::string("havengate.v1.AuditCheckpoint") +
                         std::string(1, '\0') +
                         "\x01\x02\x03\x04\x05\x06\x07\x08" + hash;
  EXPECT_EQ(bytes, expected);
}

struct TamperCase {
  std::string name;
  std::function<void(std::vector<Row>&)> tamper;
  AuditProblemKind kind;
  uint64_t first, last;
};

class TamperTest : public ::testing::TestWithParam<TamperCase> {};

TEST_P(TamperTest, IsReportedOnceWithKindAndPlace) {
  const TamperCase& c = GetParam();
  std::vector<Row> rows = Rows(MakeChain(12));
  c.tamper(rows);
  AuditChainReport report = VerifyRows(rows);
  ASSERT_EQ(report.problems.size(), 1u)
      << ::testing::PrintToString(Describe(report));
  const AuditProblem& p = report.problems[0];
  EXPECT_EQ(p.kind, c.kind) << p.ToString();
  EXPECT_EQ(p.first_sequence, c.first) << p.ToString();
  EXPECT_EQ(p.last_sequence, c.last) << p.ToString();
  // Places and types only: never a record's contents.
  EXPECT_THAT(p.ToString(), Not(HasSubstr("secret-item")));
  EXPECT_THAT(p.ToString(), Not(HasSubstr("harbour-app")));
}

Row Forge(uint64_t key, uint64_t sequence, const std::string& previous_hash) {
  v1::AuditRecord r;
  r.set_type(v1::ITEM_RETRACTED);
  SealAuditRecord(sequence, previous_hash, r);
  return {key, AuditRecordBytes(r)};
}

v1::AuditRecord Decode(const Row& row) {
  v1::AuditRecord r;
  EXPECT_TRUE(r.ParseFromString(row.bytes));
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TamperTest,
    ::testing::Values(
        TamperCase{"ChangedByteInAString",
                   [](std::vector<Row>& rows) {
                     size_t at = rows[3].bytes.find("secret-item-4");
                     rows[3].bytes[at + 7] ^= 0x20;
                   },
                   AuditProblemKind::kChanged, 4, 4},
        TamperCase{"ChangedByteInTheStoredHash",
                   [](std::vector<Row>& rows) {
                     rows[3].bytes[rows[3].bytes.size() - 1] ^= 0x01;
                   },
                   AuditProblemKind::kChanged, 4, 4},
        TamperCase{"ChangedSequenceField",
                   [](std::vector<Row>& rows) {
                     v1::AuditRecord r = Decode(rows[6]);
                     r.set_sequence(700);
                     rows[6].bytes = AuditRecordBytes(r);
                   },
                   AuditProblemKind::kChanged, 7, 7},
        TamperCase{"UndecodableBytes",
                   [](std::vector<Row>& rows) { rows[2].bytes = "\xff\xff\xff"; },
                   AuditProblemKind::kChanged, 3, 3},
        TamperCase{"DeletedRecord",
                   [](std::vector<Row>& rows) { rows.erase(rows.begin() + 5); },
                   AuditProblemKind::kRemoved, 6, 6},
        TamperCase{"DeletedRange",
                   [](std::vector<Row>& rows) {
                     rows.erase(rows.begin() + 2, rows.begin() + 5);
                   },
                   AuditProblemKind::kRemoved, 3, 5},
        TamperCase{"DeletedFirstRecords",
                   [](std::vector<Row>& rows) {
                     rows.erase(rows.begin(), rows.begin() + 2);
                   },
                   AuditProblemKind::kRemoved, 1, 2},
        TamperCase{"SwappedNeighbours",
                   [](std::vector<Row>& rows) {
                     std::swap(rows[4].bytes, rows[5].bytes);
                   },
                   AuditProblemKind::kReordered, 5, 5},
        TamperCase{"RecordMovedLater",
                   [](std::vector<Row>& rows) {
                     Row moved = rows[2];
                     rows.erase(rows.begin() + 2);
                     moved.key = 1000;
                     rows.push_back(moved);
                   },
                   AuditProblemKind::kReordered, 3, 3},
        TamperCase{"CopyInsertedAtTheEnd",
                   [](std::vector<Row>& rows) {
                     Row copy = rows[2];
                     copy.key = 13;
                     rows.push_back(copy);
                   },
                   AuditProblemKind::kInserted, 3, 3},
        TamperCase{"ForgedRecordWithValidHashInTheMiddle",
                   // Rows 7.. renumbered to make room; the forgery links to
                   // record 6 and carries a correct hash.
                   [](std::vector<Row>& rows) {
                     for (size_t i = 6; i < rows.size(); ++i) rows[i].key += 1;
                     rows.insert(rows.begin() + 6,
                                 Forge(7, 7, Decode(rows[5]).hash()));
                   },
                   AuditProblemKind::kInserted, 7, 7},
        TamperCase{"ForgedRecordAppended",
                   [](std::vector<Row>& rows) {
                     rows.push_back(Forge(13, 13, std::string(32, 'x')));
                   },
                   AuditProblemKind::kInserted, 13, 13},
        TamperCase{"ForgedRecordReplacesOne",
                   // A record replaced by a well-formed forgery: its own hash
                   // is right, the next record no longer links to it.
                   [](std::vector<Row>& rows) {
                     rows[4] = Forge(5, 5, Decode(rows[3]).hash());
                   },
                   AuditProblemKind::kInserted, 6, 6},
        TamperCase{"ForgedFirstRecord",
                   [](std::vector<Row>& rows) {
                     rows[0] = Forge(1, 1, std::string(32, 'y'));
                     // Keep the rest linked to the forgery so only the
                     // start of the chain is wrong.
                     std::string previous = Decode(rows[0]).hash();
                     for (size_t i = 1; i < rows.size(); ++i) {
                       v1::AuditRecord r = Decode(rows[i]);
                       SealAuditRecord(r.sequence(), previous, r);
                       previous = r.hash();
                       rows[i].bytes = AuditRecordBytes(r);
                     }
                   },
                   AuditProblemKind::kInserted, 1, 1}),
    [](const ::testing::TestParamInfo<TamperCase>& info) {
      return info.param.name;
    });

TEST(AuditChainTest, NonCanonicalEncodingIsAChange) {
  std::vector<Row> rows = Rows(MakeChain(3));
  // A redundant varint byte (field 1 = 2 written in two bytes) decodes to
  // the same record but is not what the gateway wrote.
  v1::AuditRecord r = Decode(rows[1]);
  std::string bytes = rows[1].bytes;
  ASSERT_EQ(bytes.substr(0, 2), std::string("\x08\x02", 2));
  rows[1].bytes = std::string("\x08\x82\x00", 3) + bytes.substr(2);
  AuditChainReport report = VerifyRows(rows);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].kind, AuditProblemKind::kChanged);
  EXPECT_EQ(report.problems[0].first_sequence, 2u);
}

TEST(AuditChainTest, ProblemsAreCappedAndCounted) {
  std::vector<Row> rows = Rows(MakeChain(12));
  for (auto& row : rows) row.bytes[row.bytes.size() - 1] ^= 1;
  AuditChainVerifier verifier(/*max_problems=*/5);
  for (const Row& row : rows) verifier.AddStored(row.key, row.bytes);
  AuditChainReport report = verifier.Finish();
  EXPECT_EQ(report.problems.size(), 5u);
  EXPECT_EQ(report.problems_not_listed, 7u);
  EXPECT_FALSE(report.ok());
}

TEST(AuditChainTest, ProblemTextNamesPlaceTypeAndKind) {
  AuditProblem one{AuditProblemKind::kChanged, 57, 57, "ITEM_INGESTED",
                   "its content does not match its hash"};
  EXPECT_EQ(one.ToString(),
            "record 57 (ITEM_INGESTED): changed: its content does not match "
            "its hash");
  AuditProblem range{AuditProblemKind::kRemoved, 58, 60, "", "missing"};
  EXPECT_EQ(range.ToString(), "records 58..60: removed: missing");
  EXPECT_THAT(Describe(VerifyAuditChain(MakeChain(3))), IsEmpty());
}

}  // namespace
}  // namespace havengate::evidence
