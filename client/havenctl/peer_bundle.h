// Partner bundles: what two organisations hand each other to federate, as
// one file each — the organisation id and trust domain, the CA certificate
// (and its current CRL, and where newer ones can be had), the gateway's
// address and SPIFFE id. `havenctl peer bundle export` writes one from a
// gateway's configuration; `havenctl peer add` checks a partner's bundle
// and adds the partner to a gateway's configuration: its CA and CRL files
// under `peers/<id>/` beside the config, and a `peers:` entry.
//
// A bundle is YAML:
//
//   havengate_partner_bundle: 1
//   organisation: {id: customs-nl, domain: customs.nl.example}
//   gateway: {address: gw.customs.example:7443, spiffe_id: spiffe://customs.nl.example/gateway}
//   ca_sha256: 3f9a...          # compare it with the partner by phone
//   ca_certificate: |
//     -----BEGIN CERTIFICATE-----
//   crl: |                      # optional: the CA's current CRL
//     -----BEGIN X509 CRL-----
//   crl_url: https://pki.customs.example/crl.pem   # optional
//
// Pure functions apart from the file I/O their names say; thread-compatible.
#ifndef HAVENGATE_CLIENT_HAVENCTL_PEER_BUNDLE_H_
#define HAVENGATE_CLIENT_HAVENCTL_PEER_BUNDLE_H_

#include <string>

#include "absl/status/statusor.h"

namespace havengate::havenctl {

struct PartnerBundle {
  std::string organisation_id;
  std::string domain;
  std::string address;      // host:port of the partner's gateway
  std::string spiffe_id;    // spiffe://<domain>/gateway
  std::string ca_pem;
  std::string ca_sha256;    // SHA-256 of the CA certificate's DER, hex
  std::string crl_pem;      // may be empty
  std::string crl_url;      // may be empty
};

// The bundle of the gateway configured by `config_file`, reachable at
// `address`. Reads the config's organisation, tls.certificate (which must
// be that organisation's gateway), tls.ca and tls.crl.
[[nodiscard]] absl::StatusOr<PartnerBundle> ExportBundle(const std::string& config_file,
                                                         const std::string& address,
                                                         const std::string& crl_url);

std::string BundleToYaml(const PartnerBundle& bundle);

// Reads and checks a bundle: a valid organisation id and trust domain, a
// self-signed CA certificate of that domain, the gateway's SPIFFE id in that
// domain, a CRL signed by that CA, an address host:port, the fingerprint
// matching the certificate. INVALID_ARGUMENT naming the first problem.
[[nodiscard]] absl::StatusOr<PartnerBundle> ParseBundle(const std::string& yaml,
                                                        const std::string& name);

// Adds the partner of `bundle` to the gateway configured by `config_file`:
// writes peers/<id>/ca.crt (and crl.pem) beside it and appends the entry to
// its `peers:` list, keeping the rest of the file as it is. Refuses a
// partner that is this organisation or already a peer (by id or domain).
// Returns the entry added, as written.
[[nodiscard]] absl::StatusOr<std::string> AddPeerToConfig(const std::string& config_file,
                                                          const PartnerBundle& bundle);

}  // namespace havengate::havenctl

#endif  // HAVENGATE_CLIENT_HAVENCTL_PEER_BUNDLE_H_
