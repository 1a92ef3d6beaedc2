// Mutual-TLS channel credentials for dialling a havengate gateway: the one
// place where both the gateway daemon (dialling peer gateways) and the client
// library (integration clients, havenctl) decide whom they trust.
//
// The dialler presents its own certificate and key, trusts exactly ONE CA -
// the CA of the organisation it dials - and accepts the server only if its
// certificate, verified against that CA (and its CRL, if given) at the time of
// the handshake, carries exactly the expected SPIFFE id. Host names play no
// part: gRPC's hostname and per-call host checks are replaced by the SPIFFE
// check (set_check_call_host(false) is set only together with that
// verifier). gRPC's own chain verification against the CA stays on as a
// second, independent check.
//
// Rotation: the certificate, key and CA files are watched by gRPC's
// FileWatcherCertificateProvider and the CA and CRL by our verifier, every
// `reload_interval_seconds`; new connections use what is on disk. Replace the
// key first and the certificate second (or swap a directory), as gRPC 1.51
// reads the two files separately.
//
// Thread-safety: MakeChannelCredentials is thread-safe; the credentials it
// returns may be shared by any number of channels and threads.
#ifndef HAVENGATE_CERTS_CHANNEL_CREDENTIALS_H_
#define HAVENGATE_CERTS_CHANNEL_CREDENTIALS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/x509.h"
#include "grpcpp/security/credentials.h"

namespace havengate::pki {

struct ChannelCredentialsOptions {
  // Our certificate (PEM; the leaf first) and private key (PEM, mode 0600).
  std::string certificate_file;
  std::string private_key_file;
  // The CA certificate of the organisation we dial - the only CA trusted.
  std::string ca_file;
  // That CA's CRL (optional but recommended).
  std::string crl_file;
  // The SPIFFE id the server must present, e.g.
  // "spiffe://police.nl.example/gateway".
  std::string expected_server_id;
  // How often files are re-read, in seconds (at least 1).
  unsigned reload_interval_seconds = 60;
  // Called (on a gRPC thread; must not block) whenever a server is refused,
  // with the reason and a message naming no secret. Optional.
  std::function<void(RejectReason, absl::string_view)> on_server_rejected;
};

// Builds the credentials. Fails (naming the file and the problem) if a file
// is missing or invalid, the key does not match the certificate, our
// certificate is expired or cannot authenticate a client, the CA is not a
// self-signed CA of the expected server's trust domain, or the CRL is not
// that CA's.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const ChannelCredentialsOptions& options);

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_CHANNEL_CREDENTIALS_H_
