#include "certs/file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace havengate::pki {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what,
                         const std::string& path) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      code = absl::StatusCode::kNotFound;
      break;
    case EEXIST:
      code = absl::StatusCode::kAlreadyExists;
      break;
    case EACCES:
    case EPERM:
      code = absl::StatusCode::kPermissionDenied;
      break;
    case ENOSPC:
    case EDQUOT:
      code = absl::StatusCode::kResourceExhausted;
      break;
    default:
      break;
  }
  return absl::Status(code, absl::StrCat(what, " ", path, ": ", strerror(err)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports close(2)'s error, which can carry a write error.
  int Close() {
    int rc = close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, absl::string_view contents,
                      const std::string& path) {
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status SyncDirectory(const std::string& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open directory", dir);
  if (fsync(fd.get()) != 0) return ErrnoStatus(errno, "cannot sync", dir);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open", path);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a regular file"));
  }
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          path, " is larger than the limit of ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Status WriteNewFile(const std::string& path, absl::string_view contents,
                          mode_t mode) {
  Fd fd(open(path.c_str(),
             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(
          path, " already exists; refusing to overwrite it (move it away "
                "first if you really mean to replace it)"));
    }
    return ErrnoStatus(errno, "cannot create", path);
  }
  // The umask may have removed bits; set exactly what was asked for.
  if (fchmod(fd.get(), mode) != 0) {
    return ErrnoStatus(errno, "cannot set mode of", path);
  }
  absl::Status written = WriteAll(fd.get(), contents, path);
  if (written.ok() && fsync(fd.get()) != 0) {
    written = ErrnoStatus(errno, "cannot sync", path);
  }
  if (written.ok() && fd.Close() != 0) {
    written = ErrnoStatus(errno, "cannot close", path);
  }
  if (!written.ok()) {
    unlink(path.c_str());
    return written;
  }
  return SyncDirectory(DirName(path));
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode) {
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  Fd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot create temporary for", path);
  absl::Status status;
  if (fchmod(fd.get(), mode) != 0) {
    status = ErrnoStatus(errno, "cannot set mode of", tmp);
  }
  if (status.ok()) status = WriteAll(fd.get(), contents, tmp);
  if (status.ok() && fsync(fd.get()) != 0) {
    status = ErrnoStatus(errno, "cannot sync", tmp);
  }
  if (status.ok() && fd.Close() != 0) {
    status = ErrnoStatus(errno, "cannot close", tmp);
  }
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "cannot rename temporary onto", path);
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return status;
  }
  return SyncDirectory(DirName(path));
}

absl::Status EnsureDirectory(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) == 0) {
    if (chmod(path.c_str(), mode) != 0) {
      return ErrnoStatus(errno, "cannot set mode of", path);
    }
    return absl::OkStatus();
  }
  if (errno != EEXIST) return ErrnoStatus(errno, "cannot create directory", path);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status CheckOwnerOnlyMode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "private key file %s is accessible by group or others (mode %04o); "
        "run chmod 600 on it",
        path, st.st_mode & 07777));
  }
  return absl::OkStatus();
}

FileFingerprint FingerprintFile(const std::string& path) {
  FileFingerprint fp;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return fp;
  fp.exists = true;
  fp.device = static_cast<uint64_t>(st.st_dev);
  fp.inode = static_cast<uint64_t>(st.st_ino);
  fp.size = static_cast<int64_t>(st.st_size);
  fp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                st.st_mtim.tv_nsec;
  fp.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 +
                st.st_ctim.tv_nsec;
  return fp;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

absl::StatusOr<FileLock> FileLock::Acquire(const std::string& path) {
  return Lock(path, /*wait=*/true);
}

absl::StatusOr<FileLock> FileLock::TryAcquire(const std::string& path) {
  return Lock(path, /*wait=*/false);
}

absl::StatusOr<FileLock> FileLock::Lock(const std::string& path, bool wait) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, "cannot open lock file", path);
  while (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is locked by another process"));
    }
    return ErrnoStatus(err, "cannot lock", path);
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // Closing releases the flock.
}

}  // namespace havengate::pki
