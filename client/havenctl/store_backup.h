// Backup and restore of a gateway's state, for `havenctl store`: the store
// database (items, outboxes, audit log), the policy history beside it, the
// audit checkpoint file and the TLS state directory.
//
// A backup is taken while the gateway runs. The databases are copied with
// SQLite's online backup API, each in one read transaction, so each copy
// is a committed state of its database; the checkpoint file is copied
// first (complete lines only): the gateway appends a checkpoint's line
// after its record committed, so every checkpoint in the copied file is in
// the copied audit log and `havenctl audit verify` passes on the copy.
// A MANIFEST in the backup directory lists each file with its size and
// SHA-256 and the audit head sequence; restore checks them all before it
// writes anything, refuses a location a gateway holds (`<store>.lock`,
// held by a running gateway) and refuses to replace existing state unless
// forced. Everything written is owner-only (files 0600, directories 0700).
//
// The client never links the server: the state location comes from the
// gateway's config file, read here (only the keys it needs), or from the
// store path with the gateway's default names beside it.
#ifndef HAVENGATE_CLIENT_HAVENCTL_STORE_BACKUP_H_
#define HAVENGATE_CLIENT_HAVENCTL_STORE_BACKUP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace havengate::havenctl {

// Where one gateway keeps its state.
struct StateLocation {
  std::string store;        // store.path
  std::string policies;     // `<store.path>.policies`
  std::string checkpoints;  // audit.checkpoint_file
  std::string tls_dir;      // tls.state_dir
};

// The gateway's default names beside `store_path`.
StateLocation StateLocationOfStore(const std::string& store_path);

// Reads store.path, audit.checkpoint_file and tls.state_dir from the
// gateway's config file (relative paths against its directory, defaults as
// the gateway's). INVALID_ARGUMENT naming the file if store.path is missing.
absl::StatusOr<StateLocation> StateLocationFromConfig(
    const std::string& config_file);

// One file of a backup: its name inside the backup directory.
struct ManifestFile {
  std::string name;
  uint64_t size = 0;
  std::string sha256;  // lower-case hex
};

struct Manifest {
  std::string created_at;  // RFC 3339, UTC
  uint64_t audit_head_sequence = 0;
  std::vector<ManifestFile> files;
};

// Copies the state at `from` into the new (or empty) directory `out_dir`
// and writes its MANIFEST. The gateway may run and write meanwhile.
absl::StatusOr<Manifest> BackupState(const StateLocation& from,
                                     const std::string& out_dir);

// Checks the backup in `backup_dir` against its MANIFEST and puts it at
// `to`. FAILED_PRECONDITION if a gateway holds `to` or (unless `force`)
// any state exists there; the backup is checked before anything is
// written.
absl::StatusOr<Manifest> RestoreState(const std::string& backup_dir,
                                      const StateLocation& to, bool force);

}  // namespace havengate::havenctl

#endif  // HAVENGATE_CLIENT_HAVENCTL_STORE_BACKUP_H_
