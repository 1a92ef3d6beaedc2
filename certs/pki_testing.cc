#include "certs/pki_testing.h"

#include <stdlib.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/file_util.h"
#include "gtest/gtest.h"

namespace havengate::pki::testing {

TempDir::TempDir(absl::string_view prefix) {
  std::string tmpl = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (getenv("HAVENGATE_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
}

std::string TempDir::Path(absl::string_view name) const {
  return JoinPath(path_, name);
}

std::string ReadAll(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *std::move(text) : std::string();
}

CertificateAuthority MakeCa(const std::string& dir,
                            const std::string& organisation_id,
                            const std::string& trust_domain) {
  absl::StatusOr<CertificateAuthority> ca =
      CertificateAuthority::Create(dir, {organisation_id, trust_domain});
  EXPECT_TRUE(ca.ok()) << ca.status();
  return *std::move(ca);
}

IssuedCertificate IssueCert(const CertificateAuthority& ca, Role role,
                            const std::string& name, const std::string& out_dir,
                            std::vector<std::string> dns_names,
                            const CertificateOverridesForTesting* overrides) {
  IssueRequest request;
  request.role = role;
  request.name = name;
  request.dns_names = std::move(dns_names);
  absl::StatusOr<IssuedCertificate> issued =
      overrides == nullptr ? ca.Issue(request, out_dir)
                           : ca.IssueForTesting(request, *overrides, out_dir);
  EXPECT_TRUE(issued.ok()) << issued.status();
  return *std::move(issued);
}

}  // namespace havengate::pki::testing
