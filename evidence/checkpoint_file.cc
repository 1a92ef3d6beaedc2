#include "evidence/checkpoint_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/file_util.h"
#include "proto/json.h"

namespace havengate::evidence {
namespace {

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

std::string DefaultCheckpointFile(const std::string& store_path) {
  return absl::StrCat(store_path, ".checkpoints");
}

v1::AuditCheckpoint CheckpointOf(const v1::AuditRecord& record) {
  v1::AuditCheckpoint line;
  line.set_sequence(record.sequence());
  *line.mutable_recorded_at() = record.recorded_at();
  line.set_previous_hash(record.previous_hash());
  line.set_hash(record.hash());
  line.set_signature(record.checkpoint_signature());
  line.set_key_id(record.checkpoint_key_id());
  return line;
}

absl::Status AppendCheckpoints(const std::string& path,
                               const std::vector<v1::AuditCheckpoint>& lines,
                               bool create) {
  if (lines.empty() && !create) return absl::OkStatus();
  JsonStyle one_line;
  one_line.pretty = false;
  std::string text;
  for (const auto& line : lines) {
    absl::StrAppend(&text, ToJson(line, one_line), "\n");
  }
  bool existed = std::filesystem::exists(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("open", path);
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status status = Errno("write", path);
      ::close(fd);
      return status;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    absl::Status status = Errno("fsync", path);
    ::close(fd);
    return status;
  }
  if (::close(fd) != 0) return Errno("close", path);
  if (!existed) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::AuditCheckpoint> ReadLastCheckpoint(
    const std::string& path) {
  constexpr off_t kTail = 64 * 1024;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return Errno("open", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = Errno("stat", path);
    ::close(fd);
    return status;
  }
  off_t start = st.st_size > kTail ? st.st_size - kTail : 0;
  std::string tail(static_cast<size_t>(st.st_size - start), '\0');
  ssize_t n = ::pread(fd, &tail[0], tail.size(), start);
  ::close(fd);
  if (n < 0) return Errno("read", path);
  tail.resize(static_cast<size_t>(n));
  // Complete lines only, newest first.
  size_t end = tail.rfind('\n');
  while (end != std::string::npos && end > 0) {
    size_t begin = tail.rfind('\n', end - 1);
    begin = begin == std::string::npos ? 0 : begin + 1;
    if (begin == 0 && start > 0) break;  // may be the middle of a line
    v1::AuditCheckpoint checkpoint;
    if (ParseJson(absl::string_view(tail).substr(begin, end - begin),
                  &checkpoint)
            .ok()) {
      return checkpoint;
    }
    if (begin == 0) break;
    end = begin - 1;
  }
  return absl::NotFoundError(
      absl::StrCat(path, ": holds no complete checkpoint"));
}

absl::StatusOr<CheckpointFile> ReadCheckpointFile(const std::string& path) {
  absl::StatusOr<std::string> text =
      pki::ReadFileToString(path, /*max_bytes=*/size_t{1} << 30);
  if (!text.ok()) return text.status();
  CheckpointFile file;
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  // A file ending in a newline splits into a last empty piece.
  const bool ends_with_newline = !text->empty() && text->back() == '\n';
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) continue;
    v1::AuditCheckpoint checkpoint;
    absl::Status parsed = ParseJson(line, &checkpoint);
    if (parsed.ok()) {
      file.checkpoints.push_back(std::move(checkpoint));
    } else if (i + 1 == lines.size() && !ends_with_newline) {
      file.incomplete_last_line = true;
    } else {
      file.bad_lines.push_back(
          absl::StrCat("line ", i + 1, ": not a checkpoint (", parsed.message(),
                       ")"));
    }
  }
  return file;
}

}  // namespace havengate::evidence
