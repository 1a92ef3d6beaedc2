// Helpers for the policy library's tests and benchmark (not linked into
// production code): a temporary directory that holds key files, loading a
// policy from inline YAML with its key files generated, and reading the
// sample items and demo policies from the source tree.
//
// Key files written here hold fixed or random bytes and live only in the
// temporary directory: key material is never committed.
#ifndef HAVENGATE_POLICY_POLICY_TESTING_H_
#define HAVENGATE_POLICY_POLICY_TESTING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "havengate/v1/item.pb.h"
#include "policy/diagnostic.h"
#include "policy/policy.h"

namespace havengate::policy::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed with its contents
// when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to `relative` (creating parent directories).
  void WriteFile(const std::string& relative, absl::string_view content) const;

 private:
  std::string path_;
};

// $HAVENGATE_SOURCE_DIR (set by hg_cc_test), or the source dir compiled in.
std::string SourceDir();
// $HAVENGATE_BINARY_DIR, or the build dir compiled in.
std::string BinaryDir();

// Reads a whole file; aborts the test binary if it cannot.
std::string ReadFileOrDie(const std::string& path);

// Parses deploy/samples/<name> (proto3 JSON); aborts if it cannot.
v1::Item SampleItem(const std::string& name);

// Writes 32 bytes derived from `seed` to `path` (mode 0600).
void WriteKeyFile(const std::string& path, int seed = 1);

// Loads `yaml` as a policy whose base directory is `dir`, after writing a
// key file for every `keys[].file` it names that does not exist yet.
absl::StatusOr<std::shared_ptr<const CompiledPolicy>> LoadWithKeys(
    absl::string_view yaml, const TempDir& dir,
    std::vector<Diagnostic>* diagnostics = nullptr);

// Copies deploy/policies/<org>/policy.yaml into `dir` and creates its keys;
// returns the path of the copy.
std::string CopyDeployPolicy(const std::string& org, const TempDir& dir);

}  // namespace havengate::policy::testing

#endif  // HAVENGATE_POLICY_POLICY_TESTING_H_
