#include "certs/trust_anchor_files.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/status_macros.h"

namespace havengate::pki {

absl::StatusOr<std::unique_ptr<TrustAnchorFiles>> TrustAnchorFiles::Load(
    std::string trust_domain, std::string ca_file, std::string crl_file) {
  HG_RETURN_IF_ERROR(SpiffeId::ValidateTrustDomain(trust_domain));
  if (ca_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no CA file given for trust domain ", trust_domain));
  }
  std::unique_ptr<TrustAnchorFiles> files(new TrustAnchorFiles(
      std::move(trust_domain), std::move(ca_file), std::move(crl_file)));
  std::lock_guard<std::mutex> lock(files->refresh_mu_);
  files->seen_ca_ = FingerprintFile(files->ca_file_);
  HG_ASSIGN_OR_RETURN(Certificate ca, files->LoadCa());
  auto snapshot = std::make_shared<TrustAnchorSnapshot>(TrustAnchorSnapshot{
      TrustAnchor{files->trust_domain_, ca, std::nullopt},
      /*crl_configured=*/!files->crl_file_.empty(), /*generation=*/0});
  if (snapshot->crl_configured) {
    files->seen_crl_ = FingerprintFile(files->crl_file_);
    HG_ASSIGN_OR_RETURN(Crl crl, files->LoadCrl(ca));
    snapshot->anchor.crl = std::move(crl);
  }
  std::lock_guard<std::mutex> snapshot_lock(files->snapshot_mu_);
  files->snapshot_ = std::move(snapshot);
  return files;
}

absl::StatusOr<Certificate> TrustAnchorFiles::LoadCa() const {
  absl::StatusOr<Certificate> ca = ReadCertificateFile(ca_file_);
  if (!ca.ok()) return ca.status();
  absl::Status valid = ValidateCaCertificate(*ca, trust_domain_);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ca_file_, ": ", valid.message()));
  }
  return ca;
}

absl::StatusOr<Crl> TrustAnchorFiles::LoadCrl(const Certificate& ca) const {
  absl::StatusOr<Crl> crl = Crl::ReadFile(crl_file_);
  if (!crl.ok()) return crl.status();
  absl::Status issued = crl->CheckIssuedBy(ca);
  if (!issued.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        crl_file_, ": ", issued.message(), " (the CA in ", ca_file_,
        "); certificates of trust domain ", trust_domain_,
        " are refused until a CRL of that CA is in place"));
  }
  return crl;
}

absl::Status TrustAnchorFiles::Refresh(bool* changed) {
  if (changed != nullptr) *changed = false;
  std::lock_guard<std::mutex> lock(refresh_mu_);
  const FileFingerprint ca_fp = FingerprintFile(ca_file_);
  const FileFingerprint crl_fp =
      crl_file_.empty() ? FileFingerprint() : FingerprintFile(crl_file_);
  if (ca_fp == seen_ca_ && crl_fp == seen_crl_) return absl::OkStatus();

  std::shared_ptr<const TrustAnchorSnapshot> current = Current();
  auto next = std::make_shared<TrustAnchorSnapshot>(*current);
  absl::Status status;
  bool ca_changed = false;
  if (ca_fp != seen_ca_) {
    seen_ca_ = ca_fp;
    absl::StatusOr<Certificate> ca = LoadCa();
    if (!ca.ok()) {
      status = absl::Status(
          ca.status().code(),
          absl::StrCat(ca.status().message(), "; keeping the previous CA"));
    } else if (X509_cmp(ca->native(), current->anchor.ca.native()) != 0) {
      next->anchor.ca = *std::move(ca);
      ca_changed = true;
    }
  }
  bool crl_changed = false;
  if (!crl_file_.empty() && (crl_fp != seen_crl_ || ca_changed)) {
    seen_crl_ = crl_fp;
    absl::StatusOr<Crl> crl = LoadCrl(next->anchor.ca);
    if (crl.ok()) {
      next->anchor.crl = *std::move(crl);
      crl_changed = true;
    } else {
      if (ca_changed) {
        next->anchor.crl.reset();  // Fail closed: see the header.
        crl_changed = true;
      }
      if (status.ok()) {
        status = absl::Status(
            crl.status().code(),
            ca_changed ? crl.status().message()
                       : absl::StrCat(crl.status().message(),
                                      "; keeping the previous CRL"));
      }
    }
  }
  if (!ca_changed && !crl_changed) return status;
  next->generation = current->generation + 1;
  {
    std::lock_guard<std::mutex> snapshot_lock(snapshot_mu_);
    snapshot_ = std::move(next);
  }
  if (changed != nullptr) *changed = true;
  return status;
}

std::shared_ptr<const TrustAnchorSnapshot> TrustAnchorFiles::Current() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

absl::Status TrustAnchorFiles::CheckCrlUsable(absl::Time now) const {
  std::shared_ptr<const TrustAnchorSnapshot> snapshot = Current();
  if (!snapshot->crl_configured) return absl::OkStatus();
  if (!snapshot->anchor.crl.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no valid CRL of trust domain ", trust_domain_, " is loaded from ",
        crl_file_, "; its certificates are refused"));
  }
  if (snapshot->anchor.crl->next_update() < now) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CRL of trust domain ", trust_domain_, " in ", crl_file_,
        " expired at ",
        absl::FormatTime(snapshot->anchor.crl->next_update(), absl::UTCTimeZone()),
        "; its certificates are refused until a fresh CRL is in place"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SpiffeId> VerifyAgainstSnapshot(
    const Certificate& leaf, const std::vector<Certificate>& intermediates,
    const TrustAnchorSnapshot& snapshot, const VerifyOptions& options) {
  if (snapshot.crl_configured && !snapshot.anchor.crl.has_value()) {
    // Still say who the certificate claims to be for the caller's report.
    absl::StatusOr<SpiffeId> claimed = leaf.GetSpiffeId();
    if (!claimed.ok()) return claimed.status();
    return RejectionError(
        RejectReason::kCrlUnavailable,
        absl::StrCat("no valid CRL of the CA of trust domain ",
                     snapshot.anchor.trust_domain,
                     " is loaded; refusing its certificates"));
  }
  return VerifyPeerCertificate(leaf, intermediates, snapshot.anchor, options);
}

}  // namespace havengate::pki
