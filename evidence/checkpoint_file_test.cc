#include "evidence/checkpoint_file.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace havengate::evidence {
namespace {

using ::testing::HasSubstr;

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("checkpoint_file_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "gateway.db.checkpoints").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static v1::AuditCheckpoint Make(uint64_t sequence) {
    v1::AuditRecord record;
    record.set_type(v1::CHECKPOINT);
    record.set_sequence(sequence);
    record.set_previous_hash(std::string(32, static_cast<char>(sequence)));
    record.set_hash(std::string(32, static_cast<char>(sequence + 1)));
    record.set_checkpoint_signature("sig");
    record.set_checkpoint_key_id("abc");
    record.mutable_recorded_at()->set_seconds(1'800'000'000);
    return CheckpointOf(record);
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(CheckpointFileTest, AppendsOneJsonLinePerCheckpointAndReadsThemBack) {
  EXPECT_EQ(DefaultCheckpointFile("/var/lib/hg/gw.db"),
            "/var/lib/hg/gw.db.checkpoints");
  ASSERT_TRUE(AppendCheckpoints(path_, {Make(10), Make(20)}).ok());
  ASSERT_TRUE(AppendCheckpoints(path_, {Make(30)}).ok());
  std::ifstream in(path_);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_THAT(line, HasSubstr("\"sequence\""));
    EXPECT_EQ(line.find('\n'), std::string::npos);
  }
  EXPECT_EQ(lines, 3);
  auto file = ReadCheckpointFile(path_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->checkpoints.size(), 3u);
  EXPECT_EQ(file->checkpoints[2].sequence(), 30u);
  EXPECT_EQ(file->checkpoints[2].hash(), Make(30).hash());
  EXPECT_TRUE(file->bad_lines.empty());
  EXPECT_FALSE(file->incomplete_last_line);
  auto last = ReadLastCheckpoint(path_);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->sequence(), 30u);
}

TEST_F(CheckpointFileTest, IncompleteLastLineIsACrashNotTampering) {
  ASSERT_TRUE(AppendCheckpoints(path_, {Make(10)}).ok());
  std::ofstream(path_, std::ios::app) << "{\"sequence\":\"2";
  auto file = ReadCheckpointFile(path_);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->checkpoints.size(), 1u);
  EXPECT_TRUE(file->incomplete_last_line);
  EXPECT_TRUE(file->bad_lines.empty());
  auto last = ReadLastCheckpoint(path_);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->sequence(), 10u);
}

TEST_F(CheckpointFileTest, GarbageLineInTheMiddleIsReported) {
  ASSERT_TRUE(AppendCheckpoints(path_, {Make(10)}).ok());
  std::ofstream(path_, std::ios::app) << "not json\n";
  ASSERT_TRUE(AppendCheckpoints(path_, {Make(20)}).ok());
  auto file = ReadCheckpointFile(path_);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->checkpoints.size(), 2u);
  ASSERT_EQ(file->bad_lines.size(), 1u);
  EXPECT_THAT(file->bad_lines[0], HasSubstr("line 2"));
}

TEST_F(CheckpointFileTest, LastCheckpointOfALongFileReadsOnlyItsEnd) {
  std::vector<v1::AuditCheckpoint> many;
  for (uint64_t s = 1; s <= 2000; ++s) many.push_back(Make(s * 10));
  ASSERT_TRUE(AppendCheckpoints(path_, many).ok());
  ASSERT_GT(std::filesystem::file_size(path_), 64u * 1024u);
  auto last = ReadLastCheckpoint(path_);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->sequence(), 20000u);
}

TEST_F(CheckpointFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadCheckpointFile(path_).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadLastCheckpoint(path_).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace havengate::evidence
