// File primitives for the PKI and trust layers: create-only writes (private
// keys are never overwritten), atomic replacement (a watcher never sees a
// half-written CRL or bundle), bounded reads, change fingerprints for
// reloading, and an advisory lock that serialises concurrent `havenctl pki`
// runs on one CA directory.
//
// Thread-safety: all functions are safe to call concurrently; they share no
// state. FileLock is a per-object lock and must not be shared between threads.
#ifndef HAVENGATE_CERTS_FILE_UTIL_H_
#define HAVENGATE_CERTS_FILE_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace havengate::pki {

// Largest file the PKI layer reads (certificates, CRLs, bundles, keys).
inline constexpr size_t kMaxPkiFileBytes = 16 * 1024 * 1024;

// Reads a whole file. NOT_FOUND if it does not exist, RESOURCE_EXHAUSTED if
// it is larger than `max_bytes`, otherwise the errno reason; the message
// always names the path.
[[nodiscard]] absl::StatusOr<std::string> ReadFileToString(
    const std::string& path, size_t max_bytes = kMaxPkiFileBytes);

// Creates `path` with `mode` (exactly, regardless of umask), writes
// `contents` and fsyncs. Never replaces anything: if `path` exists (even as a
// symlink) returns ALREADY_EXISTS naming the file.
[[nodiscard]] absl::Status WriteNewFile(const std::string& path,
                                        absl::string_view contents,
                                        mode_t mode);

// Replaces `path` atomically with `contents` (temporary file in the same
// directory, fsync, rename, fsync of the directory). Readers see either the
// old or the new content, never a mix.
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path,
                                               absl::string_view contents,
                                               mode_t mode);

// Creates directory `path` with `mode` if it does not exist (the parent must
// exist). FAILED_PRECONDITION if `path` exists and is not a directory.
[[nodiscard]] absl::Status EnsureDirectory(const std::string& path,
                                           mode_t mode);

// Fails with FAILED_PRECONDITION if `path` (a private key) can be read or
// written by anyone but its owner.
[[nodiscard]] absl::Status CheckOwnerOnlyMode(const std::string& path);

// Identity of a file's current content as far as stat(2) can tell: a rename
// over the file, an in-place rewrite or a touch all change it.
struct FileFingerprint {
  bool exists = false;
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;

  bool operator==(const FileFingerprint& o) const {
    return exists == o.exists && device == o.device && inode == o.inode &&
           size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
  }
  bool operator!=(const FileFingerprint& o) const { return !(*this == o); }
};

// stat(2)s `path` (following symlinks). A missing file gives exists=false.
FileFingerprint FingerprintFile(const std::string& path);

// Joins two path components with exactly one '/'.
std::string JoinPath(absl::string_view dir, absl::string_view name);

// An exclusive advisory lock (flock) on `path`, created 0600 if missing.
// Released on destruction (or when the process ends, however it ends).
class FileLock {
 public:
  // Waits for the lock.
  [[nodiscard]] static absl::StatusOr<FileLock> Acquire(const std::string& path);
  // Does not wait: FAILED_PRECONDITION naming the file if another holder
  // has it.
  [[nodiscard]] static absl::StatusOr<FileLock> TryAcquire(const std::string& path);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  static absl::StatusOr<FileLock> Lock(const std::string& path, bool wait);
  int fd_ = -1;
};

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_FILE_UTIL_H_
