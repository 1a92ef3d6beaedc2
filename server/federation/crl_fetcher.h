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
// once per episode, `peer_crl_stale`, and passed to `on_state`). A copy
// replaced by a fetch is passed to `on_updated` (the gateway audits it).
//
// Threads: Tick() runs on the gateway's CRL maintenance thread only;
// stale() and state() may be read from any thread.
#ifndef HAVENGATE_SERVER_FEDERATION_CRL_FETCHER_H_
#define HAVENGATE_SERVER_FEDERATION_CRL_FETCHER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
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
  // Called after a fetch replaced the copy, with the new CRL's number (-1 if
  // it has none) and nextUpdate.
  std::function<void(const std::string& partner, int64_t crl_number, absl::Time next_update)>
      on_updated;
};

// What the gateway knows of its copy of a partner's CRL, for status calls.
struct CrlCopyState {
  bool stale = false;
  // A fetch from the partner succeeded since this fetcher was created.
  bool ever_fetched = false;
  absl::Time last_fetched = absl::InfinitePast();
  // The copy's nextUpdate (InfiniteFuture if none or unreadable) and
  // cRLNumber (-1 if none or unreadable), as of the last Tick.
  absl::Time next_update = absl::InfiniteFuture();
  int64_t crl_number = -1;
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
  CrlCopyState state() const;
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
  mutable std::mutex state_mu_;
  CrlCopyState state_;  // state_mu_
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_CRL_FETCHER_H_
