// CrlFetcher: keeps this gateway's copy of one partner's CRL fresh. Every
// `refresh` it asks the partner's gateway for its current CRL
// (Federation.GetCrl, over the same mutual-TLS credentials as the peer
// link), checks that the CA pinned for that partner signed it and that it
// is not older than the copy on disk (crlNumber, then thisUpdate), and
// replaces the copy atomically. The trust layer reloads the file
// (pki::TrustAnchorFiles), so a certificate the partner revoked is refused
// at the next handshake without anyone copying files.
//
// It also reports the copy's nextUpdate: a copy past it is stale (logged
// once per episode, `peer_crl_stale`, and passed to `on_state`).
//
// Threads: Tick() runs on the gateway's CRL maintenance thread only;
// stale() may be read from any thread.
#ifndef HAVENGATE_SERVER_FEDERATION_CRL_FETCHER_H_
#define HAVENGATE_SERVER_FEDERATION_CRL_FETCHER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "certs/x509.h"
#include "grpcpp/grpcpp.h"

namespace havengate::server {

struct CrlFetcherOptions {
  // The partner's organisation id (for logs and metrics).
  std::string partner;
  // host:port of its gateway.
  std::string address;
  // The CA pinned for it (peers[].ca): the only acceptable CRL issuer.
  std::string ca_file;
  // This gateway's copy of its CRL (peers[].crl), replaced by a newer one.
  std::string crl_file;
  absl::Duration refresh = absl::Minutes(5);
  absl::Duration call_timeout = absl::Seconds(10);
  // Called after each Tick with the copy's nextUpdate (InfiniteFuture if
  // it has none or cannot be read) and whether it is stale.
  std::function<void(const std::string& partner, absl::Time next_update, bool stale)>
      on_state;
};

class CrlFetcher {
 public:
  CrlFetcher(CrlFetcherOptions options,
             std::shared_ptr<grpc::ChannelCredentials> credentials);

  // Fetches if `refresh` has passed since the last attempt (the first
  // Tick fetches at once), then reports the copy's state.
  void Tick(absl::Time now);

  // One fetch: OK if the copy is now the partner's current CRL (written,
  // or already the same); INVALID_ARGUMENT for a CRL the pinned CA did not
  // sign, FAILED_PRECONDITION for one older than the copy; the call's
  // error otherwise. Nothing is written unless OK.
  absl::Status FetchOnce();

  bool stale() const { return stale_.load(); }
  const std::string& partner() const { return options_.partner; }

 private:
  // Checks `fetched` against the pinned CA and the copy on disk.
  absl::Status Accept(const pki::Crl& fetched) const;
  void ReportCopy(absl::Time now);

  const CrlFetcherOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Time next_fetch_ = absl::InfinitePast();  // Tick's thread only
  std::string last_error_;                        // Tick's thread only
  std::atomic<bool> stale_{false};
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_CRL_FETCHER_H_
