#include "server/security/trust_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/identifiers.h"
#include "proto/status_macros.h"

namespace havengate::security {

using pki::Certificate;
using pki::RejectionError;
using pki::RejectReason;

absl::Status TrustStore::AddDomain(const TrustDomainConfig& config, bool own,
                                   const Domain* reuse) {
  const std::string what = own ? std::string("own organisation")
                               : absl::StrCat("peer ", config.organisation_id);
  absl::Status id_ok = ValidateOrganisationId(config.organisation_id);
  if (!id_ok.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": organisation id: ", id_ok.message()));
  }
  absl::Status domain_ok = pki::SpiffeId::ValidateTrustDomain(config.trust_domain);
  if (!domain_ok.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", domain_ok.message()));
  }
  for (const auto& [name, domain] : domains_) {
    if (domain.organisation_id == config.organisation_id) {
      return absl::InvalidArgumentError(absl::StrCat(
          "organisation ", config.organisation_id, " is configured twice"));
    }
  }
  if (domains_.count(config.trust_domain) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trust domain ", config.trust_domain,
        " is configured twice; each organisation needs its own"));
  }
  Domain domain;
  domain.config = config;
  domain.organisation_id = config.organisation_id;
  domain.own = own;
  if (reuse != nullptr) {
    domain.files = reuse->files;
    domain.crl_unusable = reuse->crl_unusable;
  } else {
    absl::StatusOr<std::unique_ptr<pki::TrustAnchorFiles>> files =
        pki::TrustAnchorFiles::Load(config.trust_domain, config.ca_file,
                                    config.crl_file);
    if (!files.ok()) {
      return absl::Status(files.status().code(),
                          absl::StrCat(what, " (trust domain ", config.trust_domain,
                                       "): ", files.status().message()));
    }
    domain.files = std::shared_ptr<pki::TrustAnchorFiles>(*std::move(files));
  }
  domains_.emplace(config.trust_domain, std::move(domain));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<TrustStore>> TrustStore::Create(
    const TrustDomainConfig& own, const std::vector<TrustDomainConfig>& peers,
    std::function<void(const absl::Status&)> on_problem) {
  std::shared_ptr<TrustStore> store(new TrustStore());
  store->own_domain_ = own.trust_domain;
  store->on_problem_ = std::move(on_problem);
  HG_RETURN_IF_ERROR(store->AddDomain(own, true, nullptr));
  for (const TrustDomainConfig& peer : peers) {
    HG_RETURN_IF_ERROR(store->AddDomain(peer, false, nullptr));
  }
  return store;
}

absl::StatusOr<std::shared_ptr<TrustStore>> TrustStore::WithPeers(
    const std::vector<TrustDomainConfig>& peers) const {
  std::shared_ptr<TrustStore> next(new TrustStore());
  next->own_domain_ = own_domain_;
  next->on_problem_ = on_problem_;
  const Domain& own = domains_.at(own_domain_);
  HG_RETURN_IF_ERROR(next->AddDomain(own.config, true, &own));
  for (const TrustDomainConfig& peer : peers) {
    auto it = domains_.find(peer.trust_domain);
    const bool same = it != domains_.end() && !it->second.own &&
                      it->second.config.organisation_id == peer.organisation_id &&
                      it->second.config.ca_file == peer.ca_file &&
                      it->second.config.crl_file == peer.crl_file;
    HG_RETURN_IF_ERROR(next->AddDomain(peer, false, same ? &it->second : nullptr));
  }
  next->retired_ = retired_;
  for (const auto& [name, domain] : domains_) {
    if (!domain.own) next->retired_[name] = domain.organisation_id;
  }
  for (const auto& [name, domain] : next->domains_) next->retired_.erase(name);
  return next;
}

void TrustStore::Report(const absl::Status& problem) const {
  if (!problem.ok() && on_problem_) on_problem_(problem);
}

absl::StatusOr<PeerIdentity> TrustStore::VerifyClient(
    absl::string_view leaf_pem, absl::string_view chain_pem, absl::Time now,
    std::string* claimed_id) const {
  if (leaf_pem.empty()) {
    return RejectionError(RejectReason::kNoCertificate,
                          "the client presented no certificate");
  }
  absl::StatusOr<Certificate> leaf = Certificate::FromPem(leaf_pem);
  if (!leaf.ok()) {
    return RejectionError(RejectReason::kMalformedCertificate,
                          leaf.status().message());
  }
  absl::StatusOr<pki::SpiffeId> id = leaf->GetSpiffeId();
  if (!id.ok()) return id.status();
  if (claimed_id != nullptr) *claimed_id = id->ToString();
  auto it = domains_.find(id->trust_domain());
  if (it == domains_.end()) {
    return RejectionError(
        RejectReason::kUnknownTrustDomain,
        absl::StrCat("trust domain ", id->trust_domain(),
                     retired_.count(id->trust_domain()) > 0
                         ? " belonged to a peer removed from the configuration"
                         : " is neither this organisation's nor a configured "
                           "peer's"));
  }
  const Domain& domain = it->second;
  Report(domain.files->Refresh());

  std::vector<Certificate> chain;
  if (!chain_pem.empty()) {
    absl::StatusOr<std::vector<Certificate>> parsed =
        pki::ParsePemCertificates(chain_pem);
    if (parsed.ok()) chain = *std::move(parsed);
  }
  std::shared_ptr<const pki::TrustAnchorSnapshot> snapshot =
      domain.files->Current();
  absl::StatusOr<pki::SpiffeId> verified = pki::VerifyAgainstSnapshot(
      *leaf, chain, *snapshot, {now, pki::Purpose::kClientAuth});
  if (!verified.ok()) {
    std::optional<RejectReason> reason = pki::GetRejectReason(verified.status());
    if (reason == RejectReason::kUnknownIssuer) {
      // Tell a partner CA overstepping its domain apart from a stranger.
      for (const auto& [other_domain, other] : domains_) {
        if (other_domain == id->trust_domain()) continue;
        if (pki::SignedBy(*leaf, other.files->Current()->anchor.ca)) {
          return RejectionError(
              RejectReason::kForeignTrustDomain,
              absl::StrCat("certificate claims ", id->ToString(),
                           " but was issued by the CA of trust domain ",
                           other_domain, " (organisation ",
                           other.organisation_id,
                           "), which is trusted for that domain only"));
        }
      }
    }
    return verified.status();
  }
  return IdentityOf(*verified, leaf->SerialHex());
}

absl::StatusOr<PeerIdentity> TrustStore::IdentityOf(
    const pki::SpiffeId& id, std::string certificate_serial) const {
  auto it = domains_.find(id.trust_domain());
  if (auto retired = retired_.find(id.trust_domain()); it == domains_.end() &&
                                                       retired != retired_.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "organisation ", retired->second, " (trust domain ", id.trust_domain(),
        ") is no longer a peer of this gateway: it was removed from the configuration"));
  }
  if (it == domains_.end()) {
    return RejectionError(RejectReason::kUnknownTrustDomain,
                          absl::StrCat("trust domain ", id.trust_domain(),
                                       " is not configured"));
  }
  const Domain& domain = it->second;
  if (!domain.own && id.role() != pki::Role::kGateway) {
    return RejectionError(
        RejectReason::kRoleNotAllowed,
        absl::StrCat(id.ToString(), ": organisation ", domain.organisation_id,
                     " may connect only with its gateway, not as ",
                     pki::RoleName(id.role())));
  }
  PeerIdentity peer;
  peer.spiffe_id = id.ToString();
  peer.trust_domain = id.trust_domain();
  peer.organisation_id = domain.organisation_id;
  peer.role = id.role();
  peer.name = id.name();
  peer.own_organisation = domain.own;
  peer.certificate_serial = std::move(certificate_serial);
  return peer;
}

void TrustStore::RefreshAll(absl::Time now) {
  for (auto& [name, domain] : domains_) {
    Report(domain.files->Refresh());
    absl::Status usable = domain.files->CheckCrlUsable(now);
    if (!usable.ok() && !domain.crl_unusable) Report(usable);
    domain.crl_unusable = !usable.ok();
  }
}

std::string TrustStore::CaBundlePem() const {
  std::string bundle = domains_.at(own_domain_).files->Current()->anchor.ca.ToPem();
  for (const auto& [name, domain] : domains_) {
    if (!domain.own) absl::StrAppend(&bundle, domain.files->Current()->anchor.ca.ToPem());
  }
  return bundle;
}

std::shared_ptr<pki::TrustAnchorFiles> TrustStore::own_anchor() const {
  return domains_.at(own_domain_).files;
}

}  // namespace havengate::security
