#include "server/security/identity_stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "certs/x509.h"
#include "proto/status_macros.h"

namespace havengate::security {
namespace {

constexpr char kCurrent[] = "current";
constexpr char kKeyFile[] = "key.pem";
constexpr char kCertFile[] = "cert.pem";
constexpr char kGenPrefix[] = "gen-";

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

absl::Status SetMtime(const std::string& path, int64_t seconds) {
  struct timespec times[2];
  times[0].tv_sec = static_cast<time_t>(seconds);
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("cannot set the time of", path);
  }
  return absl::OkStatus();
}

// Removes gen-<n>/ directories we created (only our two file names inside).
void RemoveGeneration(const std::string& dir) {
  unlink(pki::JoinPath(dir, kKeyFile).c_str());
  unlink(pki::JoinPath(dir, kCertFile).c_str());
  rmdir(dir.c_str());
}

std::vector<uint64_t> ListGenerations(const std::string& stage_dir) {
  std::vector<uint64_t> out;
  DIR* d = opendir(stage_dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    absl::string_view name(e->d_name);
    uint64_t n = 0;
    if (absl::ConsumePrefix(&name, kGenPrefix) && absl::SimpleAtoi(name, &n)) {
      out.push_back(n);
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<IdentityStage>> IdentityStage::Create(
    std::string certificate_file, std::string private_key_file,
    std::string stage_dir, pki::SpiffeId expected_id,
    std::shared_ptr<pki::TrustAnchorFiles> own_anchor) {
  HG_RETURN_IF_ERROR(pki::EnsureDirectory(stage_dir, 0700));
  std::unique_ptr<IdentityStage> stage(new IdentityStage(
      std::move(certificate_file), std::move(private_key_file),
      std::move(stage_dir), std::move(expected_id), std::move(own_anchor)));
  // Start from a clean stage: generations of an earlier run mean nothing now.
  unlink(pki::JoinPath(stage->stage_dir_, kCurrent).c_str());
  for (uint64_t n : ListGenerations(stage->stage_dir_)) {
    RemoveGeneration(
        pki::JoinPath(stage->stage_dir_, absl::StrCat(kGenPrefix, n)));
  }
  stage->seen_cert_ = pki::FingerprintFile(stage->certificate_file_);
  stage->seen_key_ = pki::FingerprintFile(stage->private_key_file_);
  stage->seen_anchor_generation_ = stage->own_anchor_->Current()->generation;
  HG_RETURN_IF_ERROR(stage->ValidateAndPublish());
  return stage;
}

std::string IdentityStage::staged_key_file() const {
  return pki::JoinPath(pki::JoinPath(stage_dir_, kCurrent), kKeyFile);
}

std::string IdentityStage::staged_certificate_file() const {
  return pki::JoinPath(pki::JoinPath(stage_dir_, kCurrent), kCertFile);
}

std::string IdentityStage::current_serial() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_serial_;
}

absl::Status IdentityStage::Refresh(bool* published) {
  if (published != nullptr) *published = false;
  const pki::FileFingerprint cert_fp = pki::FingerprintFile(certificate_file_);
  const pki::FileFingerprint key_fp = pki::FingerprintFile(private_key_file_);
  const uint64_t anchor_generation = own_anchor_->Current()->generation;
  if (cert_fp == seen_cert_ && key_fp == seen_key_ &&
      anchor_generation == seen_anchor_generation_) {
    return absl::OkStatus();
  }
  seen_cert_ = cert_fp;
  seen_key_ = key_fp;
  seen_anchor_generation_ = anchor_generation;
  const std::string before = current_serial();
  absl::Status status = ValidateAndPublish();
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat(status.message(),
                     "; the gateway keeps presenting certificate ", before));
  }
  if (published != nullptr) *published = current_serial() != before;
  return absl::OkStatus();
}

absl::Status IdentityStage::ValidateAndPublish() {
  // Validate.
  HG_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain,
                      pki::ReadCertificatesFile(certificate_file_));
  const pki::Certificate& leaf = chain.front();
  HG_ASSIGN_OR_RETURN(pki::PrivateKey key,
                      pki::PrivateKey::ReadFile(private_key_file_));
  if (!key.Matches(leaf)) {
    return absl::FailedPreconditionError(
        absl::StrCat(private_key_file_, " is not the private key of ",
                     certificate_file_));
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<pki::SpiffeId> id = pki::VerifyAgainstSnapshot(
      leaf, chain, *own_anchor_->Current(), {now, pki::Purpose::kServerAuth});
  if (!id.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        certificate_file_, ": not a usable gateway certificate: ",
        id.status().message()));
  }
  absl::Status client_usage = pki::CheckLeafUsage(leaf, pki::Purpose::kClientAuth);
  if (!client_usage.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        certificate_file_, ": ", client_usage.message(),
        " (a gateway also dials its peers)"));
  }
  if (*id != expected_id_) {
    return absl::FailedPreconditionError(absl::StrCat(
        certificate_file_, " is the certificate of ", id->ToString(),
        ", not of this gateway (", expected_id_.ToString(), ")"));
  }

  // Publish generation N: files, mtimes, then the atomic symlink swap.
  const uint64_t n = ++generation_;
  const std::string gen_name = absl::StrCat(kGenPrefix, n);
  const std::string gen_dir = pki::JoinPath(stage_dir_, gen_name);
  RemoveGeneration(gen_dir);  // A leftover of a failed attempt, if any.
  HG_RETURN_IF_ERROR(pki::EnsureDirectory(gen_dir, 0700));
  const std::string key_path = pki::JoinPath(gen_dir, kKeyFile);
  const std::string cert_path = pki::JoinPath(gen_dir, kCertFile);
  std::string chain_pem;
  for (const pki::Certificate& c : chain) absl::StrAppend(&chain_pem, c.ToPem());
  HG_RETURN_IF_ERROR(key.WriteToNewFile(key_path));
  HG_RETURN_IF_ERROR(pki::WriteNewFile(cert_path, chain_pem, 0644));
  const int64_t mtime = std::max<int64_t>(absl::ToUnixSeconds(now), last_mtime_ + 1);
  HG_RETURN_IF_ERROR(SetMtime(key_path, mtime));
  HG_RETURN_IF_ERROR(SetMtime(cert_path, mtime));
  last_mtime_ = mtime;
  const std::string current = pki::JoinPath(stage_dir_, kCurrent);
  const std::string tmp_link = absl::StrCat(current, ".tmp");
  unlink(tmp_link.c_str());
  if (symlink(gen_name.c_str(), tmp_link.c_str()) != 0) {
    return Errno("cannot create symlink", tmp_link);
  }
  if (rename(tmp_link.c_str(), current.c_str()) != 0) {
    absl::Status error = Errno("cannot swap symlink", current);
    unlink(tmp_link.c_str());
    return error;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_serial_ = leaf.SerialHex();
  }
  // Keep gen N-1 for a reader that is mid-swap; drop anything older.
  for (uint64_t old : ListGenerations(stage_dir_)) {
    if (old + 1 < n) {
      RemoveGeneration(pki::JoinPath(stage_dir_, absl::StrCat(kGenPrefix, old)));
    }
  }
  return absl::OkStatus();
}

}  // namespace havengate::security
