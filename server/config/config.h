// GatewayConfig: the one YAML file an operator writes to run a gateway.
//
//   organisation: {id: police-nl, domain: police.nl.example}
//   listen: 0.0.0.0:7443
//   tls: {certificate: gateway.crt, private_key: gateway.key, ca: ca.crt}
//   store: {backend: sqlite, path: /var/lib/havengate/police-nl.db}
//   policy: /etc/havengate/policy.yaml
//   peers:
//     - {id: customs-nl, domain: customs.nl.example,
//        address: customs-gw.example:7443, ca: peers/customs-nl-ca.crt,
//        crl: peers/customs-nl.crl, crl_refresh_seconds: 300}
//   metrics: {listen: 0.0.0.0:9443}   # HTTPS; own-CA client certs only
//   audit: {checkpoint_every_records: 1000, checkpoint_interval_seconds: 60}
//
// Relative paths are resolved against the directory of the config file.
// Loading validates everything it can without touching the network: every
// problem is reported (not just the first), each naming the key, e.g.
// `peers[1].address: must be host:port`; unknown keys are errors, so a typo
// never silently drops a setting. See deploy/ for complete examples.
//
// The gateway's other state lives where the configuration says: the
// checkpoint file (audit.checkpoint_file) and the generated TLS files
// (tls.state_dir) default to names beside the store file
// (`<store.path>.checkpoints`, `<store.path>.tls`); the code that uses
// them never derives a path from the store's.
//
// A GatewayConfig is a plain value: loading owns nothing and starts
// nothing; copy it freely. LoadGatewayConfig and ParseGatewayConfig read
// files and are safe to call from any thread.
#ifndef HAVENGATE_SERVER_CONFIG_CONFIG_H_
#define HAVENGATE_SERVER_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/limits/caller_limits.h"

namespace havengate::config {

struct TlsConfig {
  std::string certificate;
  std::string private_key;
  // The organisation's own CA: trusted for its clients, officers and
  // gateway replicas.
  std::string ca;
  // Optional CRL of the own CA.
  std::string crl;
  // How often certificate, key, CA and CRL files are checked for changes.
  absl::Duration reload_interval = absl::Seconds(10);
  // Directory for the files the gateway generates (staged identity, trust
  // bundle); default `<store.path>.tls`.
  std::string state_dir;
};

struct PeerConfig {
  // Organisation id, e.g. customs-nl.
  std::string id;
  // Trust domain of its SPIFFE ids, e.g. customs.nl.example.
  std::string domain;
  // host:port of its gateway.
  std::string address;
  // Its CA certificate: trusted for that peer's gateway only.
  std::string ca;
  // Optional CRL of its CA. While set, the gateway keeps it fresh: every
  // `crl_refresh` it fetches the peer's current CRL over the federation
  // connection and replaces this file with it (see CrlFetcher).
  std::string crl;
  // `peers[].crl_refresh_seconds` (1 to 86400).
  absl::Duration crl_refresh = absl::Minutes(5);
};

struct LimitsConfig {
  // Largest item accepted by Ingest (protobuf encoding).
  int64_t max_item_bytes = 1 << 20;
  // Largest gRPC message accepted (an item plus its envelope).
  int64_t max_message_bytes = 4 << 20;
  // HTTP/2 streams one connection may open at once.
  int max_concurrent_streams = 100;
  // Connections are closed (gracefully) after this age, so clients
  // re-handshake and pick up rotated certificates and CRLs.
  absl::Duration max_connection_age = absl::Hours(1);
  // Items in flight on one PushStream before the gateway stops reading.
  int stream_window = 1024;
  // Limits per caller (the SPIFFE id of a certificate): clients' calls of
  // Ingest and Inbox, peer gateways' Exchange streams (calls only; the
  // items of a stream are paced by its window); see
  // server/limits/caller_limits.h.
  limits::CallerLimitsOptions per_caller;
  // Hit/no-hit questions (cooperation.proto) one partner may put to this
  // gateway, per second sustained and at once after a quiet period; on top
  // of per_caller, so that a partner cannot sweep the index with guesses.
  // 0 per second: no limit.
  int64_t hit_questions_per_second = 2;
  int64_t hit_question_burst = 30;
};

// Signed checkpoints of the audit log (see server/audit/checkpointer.h).
struct AuditConfig {
  // A CHECKPOINT record after this many audit records ...
  int64_t checkpoint_every_records = 1000;
  // ... or once a record has waited this long without one.
  absl::Duration checkpoint_interval = absl::Seconds(60);
  // The append-only checkpoint file; default `<store.path>.checkpoints`.
  std::string checkpoint_file;
};

// Which storage backend holds the gateway's state, and where.
enum class StoreBackend {
  // One SQLite file at `path` (and the policy history beside it, at
  // `<path>.policies`).
  kSqlite,
  // A PostgreSQL database at `dsn`, which several replicas of the gateway
  // may share (server/store/postgres_store.h): every piece of state lives
  // in it; tls.state_dir must then be given.
  kPostgresql,
};

struct StoreConfig {
  // `store.backend`; sqlite unless the file says otherwise.
  StoreBackend backend = StoreBackend::kSqlite;
  // `store.path`: the database file.
  std::string path;
  // `store.dsn` (postgresql): a libpq connection string. It may hold a
  // password (better: `passfile=`); it is never logged.
  std::string dsn;
};

// The name of `backend` as the config file spells it.
absl::string_view StoreBackendName(StoreBackend backend);

struct GatewayConfig {
  // Where the file was read from (for messages).
  std::string source_path;
  std::string organisation_id;
  std::string organisation_domain;
  // host:port; port 0 picks a free port (tests).
  std::string listen_address;
  // Optional: written with the chosen port once the gateway listens.
  std::string port_file;
  TlsConfig tls;
  StoreConfig store;
  // Optional until a policy is needed (no policy: nothing is shared).
  std::string policy_path;
  std::vector<PeerConfig> peers;
  // Optional: host:port of the Prometheus metrics endpoint (HTTPS with the
  // gateway's certificate; scrapers need a client certificate of tls.ca).
  std::string metrics_listen_address;
  AuditConfig audit;
  // "text" or "json".
  std::string log_format = "text";
  LimitsConfig limits;

  // Not a key of the YAML file (LoadGatewayConfig never sets it): only a
  // gateway assembled in code, by the audit benchmark, runs with it. See
  // store::StoreOptions::discard_audit_for_benchmark: no audit record is
  // kept.
  bool discard_audit_for_benchmark = false;
  // Likewise not a key: the federation benchmark's gateways without batches
  // on their peer links (PeerLinkOptions::batches), to compare the two.
  bool unbatched_links_for_benchmark = false;
  // Likewise not a key: PushStream does not offer batches to clients
  // (IngestOptions::offer_batches), as an earlier release; for the tests
  // and benchmarks that need such a gateway.
  bool unbatched_push_streams_for_testing = false;
};

// Reads and validates a config file. INVALID_ARGUMENT lists every problem,
// one per line, each as `file: key: problem`; NOT_FOUND if the file is
// missing.
[[nodiscard]] absl::StatusOr<GatewayConfig> LoadGatewayConfig(
    const std::string& path);

// As LoadGatewayConfig, from text; relative paths resolve against
// `base_dir`.
[[nodiscard]] absl::StatusOr<GatewayConfig> ParseGatewayConfig(
    absl::string_view yaml, const std::string& display_name,
    const std::string& base_dir);

}  // namespace havengate::config

#endif  // HAVENGATE_SERVER_CONFIG_CONFIG_H_
