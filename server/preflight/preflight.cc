#include "server/preflight/preflight.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/file_util.h"
#include "certs/spiffe_id.h"
#include "certs/x509.h"
#include "server/policy_holder/policy_holder.h"
#include "server/store/open_store.h"

namespace havengate::preflight {
namespace {

class Problems {
 public:
  void Add(const std::string& key, absl::string_view what) {
    list_.push_back(absl::StrCat(key, ": ", what));
  }
  absl::Status ToStatus() const {
    if (list_.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrJoin(list_, "\n"));
  }

 private:
  std::vector<std::string> list_;
};

void CheckReadable(const std::string& key, const std::string& path, Problems& problems) {
  if (path.empty()) return;
  if (access(path.c_str(), R_OK) != 0) {
    problems.Add(key, absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
}

void CheckCertificates(const config::GatewayConfig& c, Problems& problems) {
  absl::StatusOr<pki::Certificate> cert = pki::ReadCertificateFile(c.tls.certificate);
  if (!cert.ok()) {
    problems.Add("tls.certificate", cert.status().message());
  } else {
    absl::StatusOr<pki::SpiffeId> id = cert->GetSpiffeId();
    const std::string expected = absl::StrCat("spiffe://", c.organisation_domain, "/gateway");
    if (!id.ok()) {
      problems.Add("tls.certificate", absl::StrCat(c.tls.certificate, ": ", id.status().message()));
    } else if (id->ToString() != expected) {
      problems.Add("tls.certificate",
                   absl::StrCat(c.tls.certificate, " is the certificate of ", id->ToString(),
                                ", not of this organisation's gateway ", expected,
                                " (organisation.domain is ", c.organisation_domain, ")"));
    }
    if (cert->not_after() < absl::Now()) {
      problems.Add("tls.certificate", absl::StrCat(c.tls.certificate, " expired on ",
                                                   absl::FormatTime(cert->not_after())));
    }
    absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::ReadFile(c.tls.private_key);
    if (!key.ok()) {
      problems.Add("tls.private_key", key.status().message());
    } else if (!key->Matches(*cert)) {
      problems.Add("tls.private_key", absl::StrCat(c.tls.private_key, " is not the key of ",
                                                   c.tls.certificate));
    }
  }
  absl::StatusOr<pki::Certificate> ca = pki::ReadCertificateFile(c.tls.ca);
  if (!ca.ok()) {
    problems.Add("tls.ca", ca.status().message());
  } else if (absl::StatusOr<std::string> domain = ca->CaTrustDomain();
             domain.ok() && *domain != c.organisation_domain) {
    problems.Add("tls.ca", absl::StrCat(c.tls.ca, " is the CA of ", *domain,
                                        ", not of organisation.domain ",
                                        c.organisation_domain));
  }
  CheckReadable("tls.crl", c.tls.crl, problems);
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const config::PeerConfig& peer = c.peers[i];
    const std::string key = absl::StrCat("peers[", i, "] (", peer.id, ")");
    absl::StatusOr<pki::Certificate> peer_ca = pki::ReadCertificateFile(peer.ca);
    if (!peer_ca.ok()) {
      problems.Add(key + ".ca", peer_ca.status().message());
    } else if (absl::StatusOr<std::string> domain = peer_ca->CaTrustDomain();
               domain.ok() && *domain != peer.domain) {
      problems.Add(key + ".ca", absl::StrCat(peer.ca, " is the CA of ", *domain,
                                             ", not of the peer's domain ", peer.domain));
    }
    CheckReadable(key + ".crl", peer.crl, problems);
  }
}

void CheckPolicy(const config::GatewayConfig& c, Problems& problems) {
  if (c.policy_path.empty()) return;
  server::PolicyHolderOptions options;
  options.path = c.policy_path;
  options.organisation = c.organisation_id;
  for (const config::PeerConfig& peer : c.peers) options.peers.insert(peer.id);
  absl::StatusOr<std::unique_ptr<server::PolicyHolder>> loaded =
      server::PolicyHolder::Load(options);
  if (!loaded.ok()) problems.Add("policy", loaded.status().message());
}

void CheckStoreLocation(const config::GatewayConfig& c, Problems& problems) {
  if (c.store.backend == config::StoreBackend::kPostgresql) {
    // Reachable, and a schema this build can use (never the password).
    absl::Status reachable = store::CheckStoreReachable(c.store);
    if (!reachable.ok()) problems.Add("store.dsn", reachable.message());
    return;
  }
  std::filesystem::path store(c.store.path);
  std::error_code error;
  if (std::filesystem::exists(store, error)) {
    if (access(store.c_str(), R_OK | W_OK) != 0) {
      problems.Add("store.path", absl::StrCat("cannot write ", c.store.path, ": ",
                                              std::strerror(errno)));
    }
    return;
  }
  // The gateway creates missing directories: the nearest one that exists
  // must let it.
  std::filesystem::path dir = store.parent_path();
  if (dir.empty()) dir = ".";
  while (!std::filesystem::exists(dir, error) && dir.has_parent_path() &&
         dir.parent_path() != dir) {
    dir = dir.parent_path();
  }
  if (!std::filesystem::is_directory(dir, error)) {
    problems.Add("store.path", absl::StrCat("cannot create the store under ", dir.string(),
                                            ": it is not a directory"));
  } else if (access(dir.c_str(), W_OK | X_OK) != 0) {
    problems.Add("store.path", absl::StrCat("cannot create the store under ", dir.string(),
                                            ": ", std::strerror(errno)));
  }
}

// Binds `address` (host:port) and releases it. Port 0 always passes.
void CheckPortFree(const std::string& key, const std::string& address, Problems& problems) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return;  // the config check says so
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  int number = 0;
  if (!absl::SimpleAtoi(port, &number) || number == 0) return;
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  int resolved = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (resolved != 0) {
    problems.Add(key, absl::StrCat(address, ": cannot resolve ", host, ": ",
                                   gai_strerror(resolved)));
    return;
  }
  // In use on any address: refused (gRPC would fail to bind it). Not
  // bindable on any: refused. Bindable on some (e.g. localhost without
  // IPv6): gRPC listens on those, so it passes.
  int bound = 0, tried = 0, other_error = 0;
  bool in_use = false;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    ++tried;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ++bound;
    } else if (errno == EADDRINUSE) {
      in_use = true;
    } else {
      other_error = errno;
    }
    close(fd);
  }
  if (in_use) {
    problems.Add(key, absl::StrCat(address, " is in use by another process"));
  } else if (tried > 0 && bound == 0) {
    problems.Add(key, absl::StrCat("cannot listen on ", address, ": ",
                                   std::strerror(other_error)));
  }
  freeaddrinfo(found);
}

}  // namespace

absl::Status CheckBeforeStart(const config::GatewayConfig& config,
                              const PreflightOptions& options) {
  Problems problems;
  CheckCertificates(config, problems);
  CheckPolicy(config, problems);
  CheckStoreLocation(config, problems);
  if (options.check_ports) {
    CheckPortFree("listen", config.listen_address, problems);
    if (!config.metrics_listen_address.empty()) {
      CheckPortFree("metrics.listen", config.metrics_listen_address, problems);
    }
  }
  return problems.ToStatus();
}

}  // namespace havengate::preflight
