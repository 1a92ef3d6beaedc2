// Test helpers for code that needs real certificates: a temporary directory
// and CAs / certificates made with havengate's own CA code, reporting
// failures through GoogleTest. For tests only; links GoogleTest.
//
// Thread-safety: TempDir is not shared between threads; the functions are
// thread-safe.
#ifndef HAVENGATE_CERTS_PKI_TESTING_H_
#define HAVENGATE_CERTS_PKI_TESTING_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "certs/ca.h"

namespace havengate::pki::testing {

// A fresh directory under /tmp, removed with everything in it on
// destruction unless HAVENGATE_KEEP_TEST_DIRS is set.
class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "hg-pki-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string Path(absl::string_view name) const;

 private:
  std::string path_;
};

// The whole file, or "" (and a test failure) if it cannot be read.
std::string ReadAll(const std::string& path);

// A new CA in `dir`. On error the test fails and, having nothing to
// return, the process aborts.
CertificateAuthority MakeCa(const std::string& dir,
                            const std::string& organisation_id,
                            const std::string& trust_domain);

// A certificate issued into `out_dir`, with `overrides` if not null; errors
// as for MakeCa.
IssuedCertificate IssueCert(const CertificateAuthority& ca, Role role,
                            const std::string& name, const std::string& out_dir,
                            std::vector<std::string> dns_names = {},
                            const CertificateOverridesForTesting* overrides = nullptr);

}  // namespace havengate::pki::testing

#endif  // HAVENGATE_CERTS_PKI_TESTING_H_
