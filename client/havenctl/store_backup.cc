// Backup and restore of a gateway's state (see store_backup.h).
#include "client/havenctl/store_backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/file_util.h"
#include "proto/digest.h"
#include "proto/status_macros.h"
#include "sqlite/statement.h"
#include "yaml-cpp/yaml.h"

namespace havengate::havenctl {
namespace {

namespace fs = std::filesystem;

// Names inside a backup directory.
constexpr char kManifestName[] = "MANIFEST";
constexpr char kManifestHeader[] = "havengate-backup 1";
constexpr char kStoreName[] = "store.db";
constexpr char kPoliciesName[] = "policies.db";
constexpr char kCheckpointsName[] = "checkpoints";
constexpr char kTlsName[] = "tls";

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Closes a file descriptor when the scope ends.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status SyncPath(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 || fsync(fd.get()) != 0) return ErrnoError("cannot sync", path);
  return absl::OkStatus();
}

// Reads `path` from start to end, handing each block read to `consume`.
absl::Status ReadBlocks(const std::string& path,
                        const std::function<void(absl::string_view)>& consume) {
  Fd in(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return ErrnoError("cannot open", path);
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = read(in.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read", path);
    if (n == 0) return absl::OkStatus();
    consume(absl::string_view(buffer, static_cast<size_t>(n)));
  }
}

// Creates `dir` and its missing parents, owner-only.
absl::Status MakeDirectories(const std::string& dir) {
  if (dir.empty() || fs::is_directory(dir)) return absl::OkStatus();
  HG_RETURN_IF_ERROR(MakeDirectories(fs::path(dir).parent_path().string()));
  return pki::EnsureDirectory(dir, 0700);
}

// Copies `from` to the new file `to` (0600) and syncs it. With
// `whole_lines`, stops after the last newline (a line being appended while
// we read is left for the next backup).
absl::Status CopyFile(const std::string& from, const std::string& to,
                      bool whole_lines = false) {
  std::string contents;
  HG_RETURN_IF_ERROR(ReadBlocks(from, [&](absl::string_view block) {
    contents.append(block.data(), block.size());
  }));
  if (whole_lines) contents.resize(contents.rfind('\n') + 1);  // npos+1 == 0
  return pki::WriteNewFile(to, contents, 0600);
}

// SHA-256 of a file, read in blocks.
absl::StatusOr<std::string> FileSha256(const std::string& path) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  HG_RETURN_IF_ERROR(ReadBlocks(path, [&](absl::string_view block) {
    EVP_DigestUpdate(ctx.get(), block.data(), block.size());
  }));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string hex;
  AppendHex(absl::string_view(reinterpret_cast<const char*>(digest), length), &hex);
  return hex;
}

absl::StatusOr<sqlite::Db> OpenSqlite(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  sqlite::Db db(raw);
  if (rc != SQLITE_OK) return sqlite::Error(db.get(), rc, absl::StrCat("open ", path));
  sqlite3_busy_timeout(db.get(), 10'000);
  return db;
}

// Copies the live database `from` (WAL; its gateway may be writing) to the
// new file `to` with the online backup API, in one step: one read
// transaction, so the copy is one committed state. The copy is left in
// rollback-journal mode, a single self-contained file.
absl::Status BackupDatabase(const std::string& from, const std::string& to) {
  HG_ASSIGN_OR_RETURN(sqlite::Db source, OpenSqlite(from, SQLITE_OPEN_READONLY));
  HG_ASSIGN_OR_RETURN(sqlite::Db copy,
                      OpenSqlite(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  chmod(to.c_str(), 0600);
  sqlite3_backup* backup = sqlite3_backup_init(copy.get(), "main", source.get(), "main");
  if (backup == nullptr) {
    return sqlite::Error(copy.get(), sqlite3_errcode(copy.get()),
                         absl::StrCat("back up ", from));
  }
  int rc;
  while ((rc = sqlite3_backup_step(backup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return sqlite::Error(copy.get(), rc, absl::StrCat("back up ", from));
  HG_RETURN_IF_ERROR(sqlite::Exec(copy.get(), "PRAGMA journal_mode=DELETE"));
  copy.reset();
  return SyncPath(to);
}

// The sequence of the last audit record in the store copy `path`.
absl::StatusOr<uint64_t> AuditHead(const std::string& path) {
  HG_ASSIGN_OR_RETURN(sqlite::Db db, OpenSqlite(path, SQLITE_OPEN_READONLY));
  HG_ASSIGN_OR_RETURN(auto head, sqlite::Statement::Prepare(
                                     db.get(), "SELECT COALESCE(MAX(sequence), 0) FROM audit"));
  HG_ASSIGN_OR_RETURN(bool row, head.Step());
  if (!row) return absl::DataLossError(absl::StrCat(path, ": no audit head"));
  return static_cast<uint64_t>(head.Int(0));
}

// Copies the regular files under `from` into the new directory `to`.
absl::Status CopyTree(const std::string& from, const std::string& to) {
  HG_RETURN_IF_ERROR(pki::EnsureDirectory(to, 0700));
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    const std::string target = pki::JoinPath(to, entry.path().filename().string());
    if (entry.is_symlink()) continue;  // the gateway writes none
    if (entry.is_directory()) {
      HG_RETURN_IF_ERROR(CopyTree(entry.path().string(), target));
    } else if (entry.is_regular_file()) {
      HG_RETURN_IF_ERROR(CopyFile(entry.path().string(), target));
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", from, ": ", ec.message()));
  return SyncPath(to);
}

// Every regular file under `dir`, as paths relative to it, sorted.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      names.push_back(fs::relative(entry.path(), dir).string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string FormatManifest(const Manifest& m) {
  std::string text = absl::StrCat(kManifestHeader, "\ncreated_at ", m.created_at,
                                   "\naudit_head_sequence ", m.audit_head_sequence, "\n");
  for (const ManifestFile& f : m.files) {
    absl::StrAppend(&text, "file ", f.size, " ", f.sha256, " ", f.name, "\n");
  }
  return text;
}

absl::StatusOr<Manifest> ParseManifest(const std::string& path) {
  HG_ASSIGN_OR_RETURN(std::string text, pki::ReadFileToString(path));
  Manifest m;
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  if (lines.empty() || lines[0] != kManifestHeader) {
    return bad(absl::StrCat("not a havengate backup manifest (expected '",
                            kManifestHeader, "')"));
  }
  bool has_head = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], absl::MaxSplits(' ', 3));
    if (f.size() == 2 && f[0] == "created_at") {
      m.created_at = f[1];
    } else if (f.size() == 2 && f[0] == "audit_head_sequence" &&
               absl::SimpleAtoi(f[1], &m.audit_head_sequence)) {
      has_head = true;
    } else if (f.size() == 4 && f[0] == "file") {
      ManifestFile& file = m.files.emplace_back();
      file.sha256 = f[2];
      file.name = f[3];
      if (!absl::SimpleAtoi(f[1], &file.size) || file.name.empty() ||
          fs::path(file.name).is_absolute() || absl::StrContains(file.name, "..")) {
        return bad(absl::StrCat("line ", i + 1, " is not a file entry"));
      }
    } else {
      return bad(absl::StrCat("line ", i + 1, " is not understood"));
    }
  }
  if (!has_head) return bad("no audit_head_sequence");
  return m;
}

bool Listed(const Manifest& m, absl::string_view name) {
  for (const ManifestFile& f : m.files) {
    if (f.name == name) return true;
  }
  return false;
}

// Checks every file of the manifest: present, same size, same SHA-256;
// and the store copy's audit head.
absl::Status CheckBackup(const std::string& dir, const Manifest& m) {
  if (!Listed(m, kStoreName)) {
    return absl::DataLossError(absl::StrCat(dir, ": the manifest lists no ", kStoreName));
  }
  for (const ManifestFile& f : m.files) {
    const std::string path = pki::JoinPath(dir, f.name);
    std::error_code ec;
    uint64_t size = fs::file_size(path, ec);
    if (ec) return absl::DataLossError(absl::StrCat(path, ": missing (", ec.message(), ")"));
    if (size != f.size) {
      return absl::DataLossError(absl::StrCat(path, ": ", size, " bytes, the manifest says ",
                                              f.size));
    }
    HG_ASSIGN_OR_RETURN(std::string sha, FileSha256(path));
    if (sha != f.sha256) {
      return absl::DataLossError(absl::StrCat(path, ": SHA-256 differs from the manifest"));
    }
  }
  HG_ASSIGN_OR_RETURN(uint64_t head, AuditHead(pki::JoinPath(dir, kStoreName)));
  if (head != m.audit_head_sequence) {
    return absl::DataLossError(absl::StrCat(dir, ": the store's audit head is ", head,
                                            ", the manifest says ",
                                            m.audit_head_sequence));
  }
  return absl::OkStatus();
}

// The files a gateway's state at `to` consists of, with SQLite's sidecars.
std::vector<std::string> StatePaths(const StateLocation& to) {
  std::vector<std::string> paths;
  for (const std::string& db : {to.store, to.policies}) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      paths.push_back(absl::StrCat(db, suffix));
    }
  }
  paths.push_back(to.checkpoints);
  paths.push_back(to.tls_dir);
  return paths;
}

// Puts `from` at `to` through a temporary name beside it, so a restore cut
// short leaves no half-written file under the real name.
absl::Status Install(const std::string& from, const std::string& to, bool tree) {
  HG_RETURN_IF_ERROR(MakeDirectories(fs::path(to).parent_path().string()));
  const std::string staged = absl::StrCat(to, ".restoring");
  std::error_code ec;
  fs::remove_all(staged, ec);
  HG_RETURN_IF_ERROR(tree ? CopyTree(from, staged) : CopyFile(from, staged));
  if (!tree) HG_RETURN_IF_ERROR(SyncPath(staged));
  if (rename(staged.c_str(), to.c_str()) != 0) return ErrnoError("cannot rename to", to);
  return SyncPath(fs::path(to).parent_path().string());
}

std::string ConfigString(const YAML::Node& root, const char* section, const char* key) {
  YAML::Node map = root[section];
  if (!map || !map.IsMap() || !map[key] || !map[key].IsScalar()) return "";
  return map[key].as<std::string>();
}

}  // namespace

StateLocation StateLocationOfStore(const std::string& store_path) {
  StateLocation l;
  l.store = store_path;
  l.policies = absl::StrCat(store_path, ".policies");
  l.checkpoints = absl::StrCat(store_path, ".checkpoints");
  l.tls_dir = absl::StrCat(store_path, ".tls");
  return l;
}

absl::StatusOr<StateLocation> StateLocationFromConfig(const std::string& config_file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(config_file);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(config_file, ": ", e.what()));
  }
  const fs::path base = fs::path(config_file).parent_path();
  auto resolve = [&](std::string path) {
    if (path.empty() || fs::path(path).is_absolute()) return path;
    return (base / path).lexically_normal().string();
  };
  std::string store = resolve(ConfigString(root, "store", "path"));
  if (store.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(config_file, ": store.path is not set"));
  }
  StateLocation l = StateLocationOfStore(store);
  if (std::string c = resolve(ConfigString(root, "audit", "checkpoint_file")); !c.empty()) {
    l.checkpoints = c;
  }
  if (std::string t = resolve(ConfigString(root, "tls", "state_dir")); !t.empty()) {
    l.tls_dir = t;
  }
  return l;
}

absl::StatusOr<Manifest> BackupState(const StateLocation& from, const std::string& out_dir) {
  if (!fs::exists(from.store)) {
    return absl::NotFoundError(absl::StrCat("no store at ", from.store));
  }
  if (fs::exists(out_dir) && !fs::is_empty(out_dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat(out_dir, " is not empty; back up into a new directory"));
  }
  HG_RETURN_IF_ERROR(MakeDirectories(out_dir));
  chmod(out_dir.c_str(), 0700);
  auto out = [&](absl::string_view name) { return pki::JoinPath(out_dir, name); };
  Manifest m;
  m.created_at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  // The checkpoint file first: it never runs ahead of the audit log, so
  // nothing copied after it can be behind it.
  if (fs::exists(from.checkpoints)) {
    HG_RETURN_IF_ERROR(CopyFile(from.checkpoints, out(kCheckpointsName), true));
  }
  if (fs::is_directory(from.tls_dir)) {
    HG_RETURN_IF_ERROR(CopyTree(from.tls_dir, out(kTlsName)));
  }
  HG_RETURN_IF_ERROR(BackupDatabase(from.store, out(kStoreName)));
  if (fs::exists(from.policies)) {
    HG_RETURN_IF_ERROR(BackupDatabase(from.policies, out(kPoliciesName)));
  }
  HG_ASSIGN_OR_RETURN(m.audit_head_sequence, AuditHead(out(kStoreName)));
  for (const std::string& name : FilesUnder(out_dir)) {
    ManifestFile& f = m.files.emplace_back();
    f.name = name;
    f.size = fs::file_size(out(name));
    HG_ASSIGN_OR_RETURN(f.sha256, FileSha256(out(name)));
  }
  HG_RETURN_IF_ERROR(pki::WriteNewFile(out(kManifestName), FormatManifest(m), 0600));
  HG_RETURN_IF_ERROR(SyncPath(out_dir));
  return m;
}

absl::StatusOr<Manifest> RestoreState(const std::string& backup_dir, const StateLocation& to,
                                      bool force) {
  HG_ASSIGN_OR_RETURN(Manifest m, ParseManifest(pki::JoinPath(backup_dir, kManifestName)));
  HG_RETURN_IF_ERROR(CheckBackup(backup_dir, m));

  // The gateway holds this lock while it runs (and we hold it while we
  // restore, so the gateway cannot start meanwhile).
  HG_RETURN_IF_ERROR(MakeDirectories(fs::path(to.store).parent_path().string()));
  absl::StatusOr<pki::FileLock> lock =
      pki::FileLock::TryAcquire(absl::StrCat(to.store, ".lock"));
  if (absl::IsFailedPrecondition(lock.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a gateway is running on ", to.store, "; stop it before restoring"));
  }
  HG_RETURN_IF_ERROR(lock.status());

  std::vector<std::string> existing;
  for (const std::string& path : StatePaths(to)) {
    if (fs::exists(fs::symlink_status(path))) existing.push_back(path);
  }
  if (!existing.empty() && !force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state exists at ", existing.front(),
        existing.size() > 1 ? absl::StrCat(" (and ", existing.size() - 1, " more)") : "",
        "; restore into an empty location, or pass --force to replace it"));
  }
  for (const std::string& path : existing) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot remove ", path, ": ", ec.message()));
  }
  auto in = [&](absl::string_view name) { return pki::JoinPath(backup_dir, name); };
  HG_RETURN_IF_ERROR(Install(in(kStoreName), to.store, false));
  if (Listed(m, kPoliciesName)) {
    HG_RETURN_IF_ERROR(Install(in(kPoliciesName), to.policies, false));
  }
  if (Listed(m, kCheckpointsName)) {
    HG_RETURN_IF_ERROR(Install(in(kCheckpointsName), to.checkpoints, false));
  }
  if (fs::is_directory(in(kTlsName))) {
    HG_RETURN_IF_ERROR(Install(in(kTlsName), to.tls_dir, true));
  }
  return m;
}

}  // namespace havengate::havenctl
