#include "server/gateway.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "certs/channel_credentials.h"
#include "certs/file_util.h"
#include "evidence/checkpoint_signature.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "proto/status_macros.h"
#include "proto/timestamp.h"
#include "server/audit/audit_record.h"
#include "server/audit/checkpointer.h"
#include "server/config/config_diff.h"
#include "server/security/peer_identity.h"
#include "server/federation/crl_fetcher.h"
#include "server/federation/federation_service.h"
#include "server/evidence_service.h"
#include "server/policy_admin_service.h"
#include "server/cooperation/cooperation_service.h"
#include "server/cooperation/hit_asker.h"
#include "server/field_requests_service.h"
#include "server/requests/field_request_desk.h"
#include "server/hits_service.h"
#include "server/gateway_status_service.h"
#include "server/inbox_service.h"
#include "server/ingest_service.h"
#include "server/logging/log.h"
#include "server/security/malformed_requests.h"
#include "server/handshake_recorder.h"
#include "server/maintenance.h"
#include "server/metrics/gateway_metrics.h"
#include "server/metrics/metrics_server.h"
#include "server/metrics/registry.h"
#include "server/federation/peer_link.h"
#include "server/policy_holder/policy_holder.h"
#include "server/preflight/preflight.h"
#include "server/sharing/sharing.h"
#include "server/store/open_store.h"
#include "server/store/outbox_lease.h"
#include "server/security/transport_security.h"

namespace havengate::server {
namespace {

using audit::MakeAuditRecord;

constexpr absl::Duration kMaintenanceInterval = absl::Seconds(1);
// How often a replica checks which policy the replicas share.
constexpr absl::Duration kReplicaPolicyInterval = absl::Milliseconds(200);
// grpc.health.v1 service name whose status says whether partners' gateways
// are reachable (metrics::FederationServing); the overall status follows the
// store.
constexpr char kFederationHealthService[] = "havengate.v1.Federation";
// grpc.health.v1 service name that is NOT_SERVING while the policy file on
// disk is invalid (an edit the gateway refused: the last good policy stays
// active, and the next start would refuse the file).
constexpr char kPolicyFileHealthService[] = "havengate.v1.PolicyFile";
// grpc.health.v1 service name that is NOT_SERVING while the last reload of
// the configuration file (SIGHUP) was refused: the gateway runs the
// configuration it had, and the file on disk says something else.
constexpr char kConfigHealthService[] = "havengate.v1.Config";

std::set<std::string> PeerIds(const std::vector<config::PeerConfig>& peers) {
  std::set<std::string> ids;
  for (const config::PeerConfig& peer : peers) ids.insert(peer.id);
  return ids;
}

// The limits of the client and federation services that a reload changes.
ItemLimits ItemLimitsOf(const config::LimitsConfig& limits) {
  ItemLimits item_limits;
  item_limits.max_item_bytes = static_cast<size_t>(limits.max_item_bytes);
  return item_limits;
}

// What the Ingest service runs with: the item limits and stream window of
// `limits` (reloadable); the message size as the server was built with
// (`running`, restart-only).
IngestOptions IngestOptionsOf(const config::LimitsConfig& limits,
                              const config::GatewayConfig& running) {
  IngestOptions options;
  options.limits = ItemLimitsOf(limits);
  options.stream_window = limits.stream_window;
  options.max_message_bytes = static_cast<int>(running.limits.max_message_bytes);
  options.offer_batches = !running.unbatched_push_streams_for_testing;
  return options;
}

// Hit/no-hit questions one partner gateway may ask: a call rate only (its
// open calls are bounded by limits.per_caller already).
limits::CallerLimitsOptions HitQuestionLimits(const config::LimitsConfig& limits) {
  limits::CallerLimitsOptions options;
  options.calls_per_second = limits.hit_questions_per_second;
  options.call_burst = limits.hit_question_burst;
  options.calls_setting = "limits.hit_questions_per_second";
  options.max_concurrent_calls = 0;
  return options;
}

// Writes `port` to `path` atomically, so a reader never sees half a number.
absl::Status WritePortFile(const std::string& path, int port) {
  std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

// Limits every connection and call gets. They bound what an authenticated
// but misbehaving peer can make the gateway hold (gRPC 1.51 advisories).
void ApplyTransportLimits(const config::LimitsConfig& limits,
                          grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(limits.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.max_concurrent_streams);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_MS,
      static_cast<int>(absl::ToInt64Milliseconds(limits.max_connection_age)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  // Keepalive enforcement: clients may ping at most every 10 s.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
}

class GatewayImpl final : public Gateway {
 public:
  explicit GatewayImpl(config::GatewayConfig config)
      : config_(std::move(config)) {}
  ~GatewayImpl() override { Shutdown(absl::ZeroDuration()); }

  absl::Status Init();
  int port() const override { return port_; }
  absl::Status Reload(const std::string& config_path) override;
  void Shutdown(absl::Duration grace) override;

 private:
  absl::Status StartPeerLinks();
  // This gateway's mutual-TLS credentials towards `peer`'s gateway.
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> LinkCredentials(
      const config::PeerConfig& peer) const;
  // Starts `peer`'s link (and CRL fetcher); requires links_mu_.
  void StartPeer(const config::PeerConfig& peer,
                 std::shared_ptr<grpc::ChannelCredentials> credentials);
  // Checks the file at `path` as a whole, then applies it (see Reload).
  absl::Status ApplyConfigFile(const std::string& path);
  // Maintenance task: the overall health status follows the store.
  void FollowStoreHealth();
  // --- Evidence and observability (audit checkpoints, metrics, health) ---
  // Before the store opens: metrics, the checkpoint signer and the
  // checkpointer, hooked into the store's audit appends.
  absl::Status PrepareEvidence(store::StoreOptions& store_options);
  // Once the store is open and the server listens.
  absl::Status StartEvidence();
  PeerLinkObserver PeerMetrics();
  // Each maintenance tick: outbox gauges, store gauge, federation health.
  void RefreshObservability(bool store_healthy, bool overall_changed);
  // --- end evidence and observability ---

  // Fixed from the start, except `peers` and `limits`, which a reload
  // replaces under links_mu_.
  config::GatewayConfig config_;
  // `<store.path>.lock`, held while the gateway runs: a second gateway on
  // the same state, or `havenctl store restore`, is refused.
  std::optional<pki::FileLock> state_lock_;
  // --- Evidence and observability: declared before the store, so they
  // outlive the store's writer thread that calls their hooks.
  metrics::Registry metrics_registry_;
  std::unique_ptr<metrics::GatewayMetrics> metrics_;
  std::unique_ptr<evidence::CheckpointSigner> checkpoint_signer_;
  std::unique_ptr<audit::Checkpointer> checkpointer_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  int federation_serving_ = -1;  // maintenance thread: last status set
  std::atomic<bool> policy_file_valid_{true};
  std::string federation_detail_;  // maintenance thread: last detail logged
  // What GatewayStatus answers: rebuilt each maintenance tick, so callers
  // never touch the links and fetchers themselves.
  std::mutex peer_status_mu_;
  std::vector<v1::PeerStatus> peer_status_;  // peer_status_mu_
  // --- end evidence and observability ---
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<security::TransportSecurity> security_;
  std::unique_ptr<PolicyHolder> policies_;
  std::unique_ptr<Sharing> sharing_;
  // Per-caller limits shared by the client services (Ingest, Inbox).
  std::unique_ptr<limits::CallerLimits> caller_limits_;
  // Hit/no-hit questions per partner gateway (limits.hit_questions_*).
  std::unique_ptr<limits::CallerLimits> question_limits_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<InboxService> inbox_;
  std::unique_ptr<HitsService> hits_;
  std::unique_ptr<HitAsker> hit_asker_;
  std::unique_ptr<HitQuestionsService> hit_questions_;
  std::unique_ptr<CooperationService> cooperation_;
  std::unique_ptr<FederationService> federation_;
  // Requests for withheld fields: the desk, its peer and client services.
  std::unique_ptr<FieldRequestDesk> field_requests_;
  std::unique_ptr<FieldRequestExchangeService> field_request_exchange_;
  std::unique_ptr<FieldRequestsService> field_requests_service_;
  std::unique_ptr<ProposalStore> proposals_;
  std::unique_ptr<PolicyLifecycle> lifecycle_;
  std::unique_ptr<PolicyAdminService> policy_admin_;
  std::unique_ptr<EvidenceService> evidence_;
  std::unique_ptr<GatewayStatusService> status_;
  // Guards config_.peers, config_.limits, peer_links_ and crl_fetchers_
  // (a reload changes them while the maintenance threads read them).
  mutable std::mutex links_mu_;
  // Declared before the links, which ask it (so it outlives them).
  std::unique_ptr<store::OutboxLeases> outbox_leases_;
  // One per configured peer, by organisation id.
  std::map<std::string, std::unique_ptr<PeerLink>> peer_links_;
  // One per peer with a `crl` file, run by crl_maintenance_ (its own
  // thread, so a partner that does not answer delays no other task).
  std::map<std::string, std::shared_ptr<CrlFetcher>> crl_fetchers_;
  std::mutex reload_mu_;  // serialises reloads
  std::atomic<bool> last_reload_ok_{true};
  Maintenance crl_maintenance_{kMaintenanceInterval};
  // Replicas sharing a database: following the shared active policy.
  Maintenance replica_maintenance_{kReplicaPolicyInterval};
  bool SharedStore() const {
    return config_.store.backend == config::StoreBackend::kPostgresql;
  }
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  Maintenance maintenance_{kMaintenanceInterval};
  bool last_healthy_ = true;  // maintenance thread only
  std::mutex mu_;
  bool stopping_ = false;  // guarded by mu_
};

// A peer as GatewayStatus reports it; `crl` is null for a peer without a
// `crl:` file.
v1::PeerStatus PeerStatusOf(const metrics::LinkState& link, const CrlCopyState* crl) {
  v1::PeerStatus status;
  status.set_partner(link.partner);
  status.set_connected(link.connected);
  status.set_link_break_reason(link.break_reason);
  status.set_crl_number(-1);
  if (crl == nullptr) {
    status.set_crl_state(v1::PEER_CRL_NOT_CONFIGURED);
    return status;
  }
  status.set_crl_state(crl->stale          ? v1::PEER_CRL_STALE
                       : crl->ever_fetched ? v1::PEER_CRL_FRESH
                                           : v1::PEER_CRL_NEVER_FETCHED);
  status.set_crl_number(crl->crl_number);
  if (crl->next_update != absl::InfiniteFuture()) {
    *status.mutable_crl_next_update() = ToTimestamp(crl->next_update);
  }
  if (crl->ever_fetched) *status.mutable_crl_last_fetched() = ToTimestamp(crl->last_fetched);
  return status;
}

// Each partner's outbox depth and oldest entry, into its status.
void AddQueues(const std::vector<store::OutboxStats>& outboxes,
               std::vector<v1::PeerStatus>& peers) {
  for (v1::PeerStatus& peer : peers) {
    for (const store::OutboxStats& outbox : outboxes) {
      if (outbox.partner != peer.partner()) continue;
      peer.set_queue_depth(outbox.depth);
      if (outbox.depth > 0 && outbox.oldest_enqueued_at != absl::InfinitePast()) {
        *peer.mutable_oldest_undelivered() = ToTimestamp(outbox.oldest_enqueued_at);
      }
    }
  }
}

// The lock on the gateway's state location (store, policy history,
// checkpoints, TLS state), taken before any of it is opened.
absl::StatusOr<pki::FileLock> LockState(const std::string& store_path) {
  std::filesystem::path parent = std::filesystem::path(store_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create directory ", parent.string(), ": ", ec.message()));
  }
  absl::StatusOr<pki::FileLock> lock =
      pki::FileLock::TryAcquire(absl::StrCat(store_path, ".lock"));
  if (absl::IsFailedPrecondition(lock.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store ", store_path, " is in use by another gateway or a restore (",
        lock.status().message(), ")"));
  }
  return lock;
}

absl::Status GatewayImpl::Init() {
  // A database store is shared by replicas on purpose: no file lock.
  if (config_.store.backend == config::StoreBackend::kSqlite) {
    HG_ASSIGN_OR_RETURN(state_lock_, LockState(config_.store.path));
  }
  store::StoreOptions store_options;
  store_options.discard_audit_for_benchmark = config_.discard_audit_for_benchmark;
  if (config_.discard_audit_for_benchmark) {
    log::Warn("audit_discarded_for_benchmark",
              {{"effect", "no audit record is kept; never run this way in production"}});
  }
  HG_RETURN_IF_ERROR(PrepareEvidence(store_options));  // evidence/observability
  HG_ASSIGN_OR_RETURN(store::OpenedStore opened,
                      store::OpenStore(config_.store, std::move(store_options)));
  store_ = std::move(opened.store);
  proposals_ = std::make_unique<ProposalStore>(std::move(opened.policy_history));
  HG_ASSIGN_OR_RETURN(
      security_, security::TransportSecurity::Create(
                     config_, std::make_shared<HandshakeRecorder>(*metrics_, *store_)));

  PolicyHolderOptions policy_options;
  policy_options.path = config_.policy_path;
  policy_options.organisation = config_.organisation_id;
  policy_options.peers = PeerIds(config_.peers);
  absl::StatusOr<std::unique_ptr<PolicyHolder>> policies =
      PolicyHolder::Load(policy_options);
  if (!policies.ok()) {
    return absl::Status(policies.status().code(),
                        absl::StrCat("policy: ", policies.status().message()));
  }
  policies_ = std::move(*policies);
  policies_->OnActivated([this](const auto& policy) {
    metrics_->SetActivePolicyVersion(policy->version());
  });
  if (auto policy = policies_->current()) {
    metrics_->SetActivePolicyVersion(policy->version());
  } else {
    log::Warn("no_policy", {{"effect", "nothing is shared with or accepted from partners"}});
  }

  lifecycle_ = std::make_unique<PolicyLifecycle>(*policies_, *proposals_, *store_);
  lifecycle_->OnPolicyFileChecked([this](bool valid) {
    policy_file_valid_ = valid;
    metrics_->SetPolicyFileValid(valid);
    if (server_ != nullptr) {
      server_->GetHealthCheckService()->SetServingStatus(kPolicyFileHealthService, valid);
    }
  });
  if (SharedStore()) {
    // A replica starts on the policy the replicas share (its own file may
    // be older: it was not running when the policy last changed).
    HG_RETURN_IF_ERROR(lifecycle_->AdoptActiveFromHistory().status());
  }
  HG_RETURN_IF_ERROR(lifecycle_->RecordLoadedPolicy());

  SharingOptions sharing_options;
  sharing_options.organisation = config_.organisation_id;
  sharing_options.gateway_spiffe_id =
      absl::StrCat("spiffe://", config_.organisation_domain, "/gateway");
  sharing_ = std::make_unique<Sharing>(sharing_options, *policies_);

  const IngestOptions ingest_options = IngestOptionsOf(config_.limits, config_);
  caller_limits_ =
      std::make_unique<limits::CallerLimits>(config_.limits.per_caller);
  ingest_ = std::make_unique<IngestService>(ingest_options,
                                            security_->authenticator(),
                                            *caller_limits_, *sharing_, *store_);
  inbox_ = std::make_unique<InboxService>(security_->authenticator(),
                                          *caller_limits_, *store_);
  hits_ = std::make_unique<HitsService>(security_->authenticator(),
                                        *caller_limits_, *store_);
  FederationServiceOptions federation_options;
  federation_options.organisation = config_.organisation_id;
  federation_options.peers = PeerIds(config_.peers);
  federation_options.limits = ingest_options.limits;
  federation_options.stream_window = config_.limits.stream_window;
  federation_options.max_message_bytes =
      static_cast<int>(config_.limits.max_message_bytes);
  federation_options.caller_limits = caller_limits_.get();
  federation_options.own_crl_file = config_.tls.crl;
  FieldRequestDeskOptions desk_options;
  desk_options.organisation = config_.organisation_id;
  desk_options.gateway_spiffe_id = sharing_options.gateway_spiffe_id;
  field_requests_ = std::make_unique<FieldRequestDesk>(desk_options, *policies_, *store_);
  federation_options.on_request_outcome =
      [desk = field_requests_.get()](const v1::FieldRequestOutcome& outcome,
                                     const security::PeerIdentity& peer) {
        return desk->TakeOutcome(outcome, peer);
      };
  federation_ = std::make_unique<FederationService>(
      federation_options, security_->authenticator(), *sharing_, *store_);
  field_request_exchange_ = std::make_unique<FieldRequestExchangeService>(
      federation_options.peers, security_->authenticator(), *caller_limits_,
      *field_requests_, *store_);
  field_requests_service_ = std::make_unique<FieldRequestsService>(
      security_->authenticator(), *caller_limits_, *field_requests_, *store_);
  hit_asker_ = std::make_unique<HitAsker>(*store_);
  hit_questions_ = std::make_unique<HitQuestionsService>(
      security_->authenticator(), *caller_limits_, *policies_, *hit_asker_);
  CooperationServiceOptions cooperation_options;
  cooperation_options.organisation = config_.organisation_id;
  cooperation_options.peers = federation_options.peers;
  cooperation_options.caller_limits = caller_limits_.get();
  question_limits_ =
      std::make_unique<limits::CallerLimits>(HitQuestionLimits(config_.limits));
  cooperation_options.question_limits = question_limits_.get();
  cooperation_ = std::make_unique<CooperationService>(
      cooperation_options, security_->authenticator(), *policies_, *store_);

  policy_admin_ = std::make_unique<PolicyAdminService>(
      config_.organisation_id, security_->authenticator(), *caller_limits_,
      *policies_, *proposals_, *lifecycle_, *store_);
  EvidenceServiceOptions evidence_options;
  evidence_options.store_path = config_.store.path;
  evidence_options.checkpoint_file = config_.audit.checkpoint_file;
  evidence_options.gateway_certificate = config_.tls.certificate;
  evidence_ = std::make_unique<EvidenceService>(std::move(evidence_options),
                                                security_->authenticator(), *caller_limits_,
                                                *policies_, *proposals_, *store_);

  status_ = std::make_unique<GatewayStatusService>(
      security_->authenticator(), *caller_limits_, *store_, [this] {
        std::lock_guard<std::mutex> lock(peer_status_mu_);
        return peer_status_;
      });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen_address,
                           security_->server_credentials(), &port_);
  // gRPC sets SO_REUSEPORT by default: a second process on this machine
  // could then bind the same port and take a share of the connections.
  // A gateway listens alone; a second one on its port fails to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ApplyTransportLimits(config_.limits, builder);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(security::MakeMalformedRequestInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(ingest_.get());
  builder.RegisterService(inbox_.get());
  builder.RegisterService(hits_.get());
  builder.RegisterService(hit_questions_.get());
  builder.RegisterService(cooperation_.get());
  builder.RegisterService(field_request_exchange_.get());
  builder.RegisterService(field_requests_service_.get());
  builder.RegisterService(federation_.get());
  builder.RegisterService(policy_admin_.get());
  builder.RegisterService(evidence_.get());
  builder.RegisterService(status_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config_.listen_address,
        " (address in use, or not an address of this machine)"));
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  server_->GetHealthCheckService()->SetServingStatus(kPolicyFileHealthService, true);
  server_->GetHealthCheckService()->SetServingStatus(kConfigHealthService, true);

  v1::AuditRecord started = MakeAuditRecord(v1::GATEWAY_STARTED, "");
  started.set_detail(absl::StrCat("listening on port ", port_));
  if (auto policy = policies_->current()) {
    started.set_policy_version(policy->version());
  }
  HG_RETURN_IF_ERROR(store_->AppendAudit({std::move(started)}));
  HG_RETURN_IF_ERROR(StartEvidence());  // evidence/observability
  HG_RETURN_IF_ERROR(StartPeerLinks());
  maintenance_.Add([this] { FollowStoreHealth(); });
  maintenance_.Add([this] { lifecycle_->PickUpEditedFile(); });
  maintenance_.Add([this] {
    if (absl::Status s = field_requests_->ExpireDue();
        !s.ok() && !absl::IsUnimplemented(s)) {
      log::Warn("field_request_expiry_failed", {{"reason", s.message()}});
    }
  });
  maintenance_.Start();
  if (SharedStore()) {
    // A policy activated through another replica is in force here within
    // a tick.
    replica_maintenance_.Add([this] {
      absl::StatusOr<bool> adopted = lifecycle_->AdoptActiveFromHistory();
      if (!adopted.ok()) {
        log::Error("policy_adoption_failed", {{"reason", adopted.status().message()}});
      }
    });
    replica_maintenance_.Start();
  }
  // Last: scripts and tests take the port file as "ready", so everything
  // (the metrics listener, the links) must be up when it appears.
  if (!config_.port_file.empty()) {
    HG_RETURN_IF_ERROR(WritePortFile(config_.port_file, port_));
  }
  log::Info("gateway_started", {{"organisation", config_.organisation_id},
                                {"listen", config_.listen_address},
                                {"port", port_},
                                {"store", store::DescribeStore(config_.store)}});
  return absl::OkStatus();
}

// One sending link per configured peer, dialling with this gateway's own
// certificate and trusting only that peer's CA for that peer's gateway id.
absl::Status GatewayImpl::StartPeerLinks() {
  // Replicas sharing a database deliver each partner's outbox from one
  // process at a time.
  std::vector<std::string> partners;
  for (const config::PeerConfig& peer : config_.peers) partners.push_back(peer.id);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  HG_ASSIGN_OR_RETURN(outbox_leases_,
                      store::OpenOutboxLeases(config_.store, partners,
                                              absl::StrCat(host, ":", getpid())));
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    for (const config::PeerConfig& peer : config_.peers) {
      HG_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          LinkCredentials(peer));
      StartPeer(peer, std::move(credentials));
    }
  }
  crl_maintenance_.Add([this] {
    // Ticked outside the lock: a partner that does not answer must not
    // hold up a reload.
    std::vector<std::shared_ptr<CrlFetcher>> fetchers;
    {
      std::lock_guard<std::mutex> lock(links_mu_);
      for (const auto& [partner, fetcher] : crl_fetchers_) fetchers.push_back(fetcher);
    }
    for (auto& fetcher : fetchers) fetcher->Tick(absl::Now());
  });
  crl_maintenance_.Start();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GatewayImpl::LinkCredentials(
    const config::PeerConfig& peer) const {
  pki::ChannelCredentialsOptions tls;
  tls.certificate_file = config_.tls.certificate;
  tls.private_key_file = config_.tls.private_key;
  tls.ca_file = peer.ca;
  tls.crl_file = peer.crl;
  tls.expected_server_id = absl::StrCat("spiffe://", peer.domain, "/gateway");
  tls.reload_interval_seconds =
      static_cast<unsigned>(absl::ToInt64Seconds(config_.tls.reload_interval));
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      pki::MakeChannelCredentials(tls);
  if (!credentials.ok()) {
    return absl::Status(credentials.status().code(),
                        absl::StrCat("peers: ", peer.id, ": ",
                                     credentials.status().message()));
  }
  return credentials;
}

void GatewayImpl::StartPeer(const config::PeerConfig& peer,
                            std::shared_ptr<grpc::ChannelCredentials> credentials) {
  PeerLinkOptions options;
  options.partner = peer.id;
  options.address = peer.address;
  options.gateway_spiffe_id = sharing_->options().gateway_spiffe_id;
  options.max_message_bytes = static_cast<int>(config_.limits.max_message_bytes);
  options.batches = !config_.unbatched_links_for_benchmark;
  options.may_deliver = [leases = outbox_leases_.get(), partner = peer.id] {
    return leases->MayDeliver(partner);
  };
  auto link = std::make_unique<PeerLink>(options, credentials, *store_, PeerMetrics());
  link->Start();
  peer_links_[peer.id] = std::move(link);
  hit_asker_->AddPeer(peer.id, peer.address, credentials);
  field_requests_->AddPeer(peer.id, peer.address, credentials);
  if (peer.crl.empty()) return;
  CrlFetcherOptions fetch;
  fetch.partner = peer.id;
  fetch.address = peer.address;
  fetch.ca_file = peer.ca;
  fetch.crl_file = peer.crl;
  fetch.refresh = peer.crl_refresh;
  fetch.on_state = [this](const std::string& partner, absl::Time next_update,
                          bool stale) {
    metrics_->PeerCrl(partner, next_update, stale);
  };
  fetch.on_updated = [this](const std::string& partner, int64_t crl_number,
                            absl::Time next_update) {
    v1::AuditRecord record = MakeAuditRecord(v1::PEER_CRL_UPDATED, "");
    record.set_partner(partner);
    record.set_detail(absl::StrCat("crl_number=", crl_number, " next_update=",
                                   absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", next_update,
                                                    absl::UTCTimeZone())));
    absl::Status appended = store_->AppendAudit({std::move(record)});
    if (!appended.ok()) {
      log::Error("audit_write_failed",
                 {{"event", "PEER_CRL_UPDATED"}, {"reason", appended.message()}});
    }
  };
  crl_fetchers_[peer.id] = std::make_shared<CrlFetcher>(fetch, std::move(credentials));
}

// --- Configuration reload (SIGHUP) --------------------------------------------

absl::Status GatewayImpl::Reload(const std::string& config_path) {
  std::lock_guard<std::mutex> serial(reload_mu_);
  absl::Status outcome = ApplyConfigFile(config_path);
  metrics_->ConfigReload(outcome.ok());
  last_reload_ok_ = outcome.ok();
  server_->GetHealthCheckService()->SetServingStatus(kConfigHealthService, outcome.ok());
  if (outcome.ok()) return outcome;
  // One line per problem, each naming the key (and the file's line).
  for (absl::string_view line : absl::StrSplit(outcome.message(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line == "invalid configuration:") continue;
    log::Error("config_reload_refused", {{"file", config_path}, {"problem", line}});
  }
  log::Error("config_reload_refused",
             {{"file", config_path},
              {"effect", "the file is refused as a whole; the running configuration "
                         "stays in force"}});
  return outcome;
}

absl::Status GatewayImpl::ApplyConfigFile(const std::string& path) {
  HG_ASSIGN_OR_RETURN(config::GatewayConfig next, config::LoadGatewayConfig(path));
  config::ConfigDiff diff;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    diff = config::DiffConfigs(config_, next);
  }
  // Every problem at once: settings only a restart applies, and everything
  // a start would check (files, certificates, the policy with the new
  // peers) but the ports this gateway holds itself.
  std::vector<std::string> problems;
  for (const std::string& key : diff.restart_required) {
    problems.push_back(absl::StrCat(key,
                                    ": changed; only a restart applies this setting "
                                    "(restart the gateway, or undo the change and reload)"));
  }
  preflight::PreflightOptions preflight_options;
  preflight_options.check_ports = false;
  absl::Status ready = preflight::CheckBeforeStart(next, preflight_options);
  if (!ready.ok()) problems.emplace_back(ready.message());
  if (!problems.empty()) {
    return absl::FailedPreconditionError(absl::StrJoin(problems, "\n"));
  }
  const bool peers_changed =
      !diff.added.empty() || !diff.removed.empty() || !diff.changed.empty();
  std::shared_ptr<security::TrustStore> trust;
  if (peers_changed) {
    HG_ASSIGN_OR_RETURN(trust, security_->PreparePeers(next));
  }
  std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>> credentials;
  for (const auto* peers : {&diff.added, &diff.changed}) {
    for (const config::PeerConfig& peer : *peers) {
      HG_ASSIGN_OR_RETURN(credentials[peer.id], LinkCredentials(peer));
    }
  }

  // Checked as a whole; from here on nothing fails. The policy first, under
  // the new peers (the file was checked against them above), so that no
  // policy in force names a peer without a link for longer than this takes.
  const std::set<std::string> peer_ids = PeerIds(next.peers);
  policies_->SetPeers(peer_ids);
  lifecycle_->PickUpEditedFile();
  if (trust != nullptr) security_->InstallPeers(std::move(trust));
  federation_->SetPeers(peer_ids);
  cooperation_->SetPeers(peer_ids);
  field_request_exchange_->SetPeers(peer_ids);
  for (const std::string& id : diff.removed) {
    hit_asker_->RemovePeer(id);
    field_requests_->RemovePeer(id);
  }
  if (diff.limits_changed) {
    const IngestOptions ingest_options = IngestOptionsOf(next.limits, config_);
    ingest_->SetOptions(ingest_options);
    federation_->SetLimits(ingest_options.limits, next.limits.stream_window);
    caller_limits_->SetLimits(next.limits.per_caller);
    question_limits_->SetLimits(HitQuestionLimits(next.limits));
  }
  // Links: a removed or changed peer's link stops (its outbox stays) before
  // a changed one starts again, so one outbox never has two senders.
  std::vector<std::unique_ptr<PeerLink>> stopping;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    std::vector<std::string> ending = diff.removed;
    for (const config::PeerConfig& peer : diff.changed) ending.push_back(peer.id);
    for (const std::string& id : ending) {
      auto link = peer_links_.find(id);
      if (link != peer_links_.end()) {
        stopping.push_back(std::move(link->second));
        peer_links_.erase(link);
      }
      crl_fetchers_.erase(id);
    }
  }
  for (auto& link : stopping) link->Stop();
  stopping.clear();
  std::vector<std::string> added_ids;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    config_.peers = next.peers;
    config_.limits = next.limits;
    // After the removed links stopped: a removed partner's lease is given
    // back, an added one's taken in the lease thread's next round.
    std::vector<std::string> partners;
    for (const config::PeerConfig& peer : next.peers) partners.push_back(peer.id);
    outbox_leases_->SetPartners(partners);
    for (const auto* peers : {&diff.added, &diff.changed}) {
      for (const config::PeerConfig& peer : *peers) {
        StartPeer(peer, credentials[peer.id]);
        if (peers == &diff.added) added_ids.push_back(peer.id);
      }
    }
  }
  metrics_->AddPartners(added_ids);
  // The metrics listener's certificate and key, checked above with the
  // gateway's (the gRPC port watches its files by itself).
  if (metrics_server_ != nullptr) {
    if (absl::Status identity = metrics_server_->ReloadIdentity(); !identity.ok()) {
      log::Error("metrics_identity_kept", {{"reason", identity.message()}});
    }
  }

  const std::string changes = config::DescribeDiff(diff);
  log::Info("config_reloaded", {{"file", path}, {"changes", changes}});
  if (diff.empty()) return absl::OkStatus();
  v1::AuditRecord record = MakeAuditRecord(v1::CONFIG_RELOADED, "");
  record.set_detail(changes);
  if (absl::Status audited = store_->AppendAudit({std::move(record)}); !audited.ok()) {
    log::Error("audit_write_failed", {{"reason", audited.message()}});
  }
  return absl::OkStatus();
}

// --- end configuration reload ------------------------------------------------

void GatewayImpl::FollowStoreHealth() {
  bool healthy = store_->Healthy();
  bool overall_changed = healthy != last_healthy_;
  if (overall_changed) {
    server_->GetHealthCheckService()->SetServingStatus(healthy);
    log::Warn("health_changed", {{"serving", healthy ? "true" : "false"}});
    last_healthy_ = healthy;
  }
  RefreshObservability(healthy, overall_changed);  // evidence/observability
}

void GatewayImpl::Shutdown(absl::Duration grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && server_ == nullptr) return;
    stopping_ = true;
  }
  maintenance_.Stop();
  crl_maintenance_.Stop();
  replica_maintenance_.Stop();
  // Unsent and unacknowledged messages stay in the outboxes for next time.
  std::map<std::string, std::unique_ptr<PeerLink>> links;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    links.swap(peer_links_);
  }
  for (auto& [partner, link] : links) link->Stop();
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    if (inbox_ != nullptr) inbox_->Stop();
    if (federation_ != nullptr) federation_->Stop();
    // In-flight calls finish within the grace period; the rest are
    // cancelled. Acknowledged items are already durable either way.
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    server_.reset();
  }
  if (metrics_server_ != nullptr) metrics_server_->Stop();  // observability
  if (store_ != nullptr) {
    (void)store_->AppendAudit({MakeAuditRecord(v1::GATEWAY_STOPPED, "")});
    // A last signed checkpoint seals the log up to GATEWAY_STOPPED.
    if (checkpointer_ != nullptr) checkpointer_->Stop();  // evidence
    store_->Close();
    log::Info("gateway_stopped", {{"organisation", config_.organisation_id}});
  }
}

// --- Evidence and observability ----------------------------------------------

absl::Status GatewayImpl::PrepareEvidence(store::StoreOptions& store_options) {
  std::vector<std::string> partners;
  for (const config::PeerConfig& peer : config_.peers) partners.push_back(peer.id);
  metrics_ = std::make_unique<metrics::GatewayMetrics>(metrics_registry_, partners);
  absl::StatusOr<std::unique_ptr<evidence::CheckpointSigner>> signer =
      evidence::CheckpointSigner::Create(config_.tls.certificate,
                                         config_.tls.private_key,
                                         config_.tls.reload_interval);
  if (!signer.ok()) {
    return absl::Status(signer.status().code(),
                        absl::StrCat("audit checkpoints: ", signer.status().message()));
  }
  checkpoint_signer_ = std::move(*signer);
  audit::CheckpointerOptions checkpoints;
  checkpoints.every_records = config_.audit.checkpoint_every_records;
  checkpoints.interval = config_.audit.checkpoint_interval;
  checkpoints.file = config_.audit.checkpoint_file;
  checkpointer_ = std::make_unique<audit::Checkpointer>(checkpoints);
  store_options.sign_checkpoint = [signer = checkpoint_signer_.get()](
                                      uint64_t sequence,
                                      const std::string& previous_hash)
      -> absl::StatusOr<store::StoreOptions::CheckpointSignature> {
    HG_ASSIGN_OR_RETURN(evidence::CheckpointSignature s,
                        signer->Sign(sequence, previous_hash));
    return store::StoreOptions::CheckpointSignature{std::move(s.signature),
                                                    std::move(s.key_id)};
  };
  store_options.on_audit_committed = [this](const v1::AuditRecord& record) {
    metrics_->OnAuditCommitted(record);
    checkpointer_->OnCommitted(record);
  };
  return absl::OkStatus();
}

absl::Status GatewayImpl::StartEvidence() {
  absl::Status checkpoints = checkpointer_->Start(*store_);
  if (!checkpoints.ok()) {
    return absl::Status(checkpoints.code(),
                        absl::StrCat("audit.checkpoint_file: ", checkpoints.message()));
  }
  RefreshObservability(store_->Healthy(), /*overall_changed=*/true);
  if (config_.metrics_listen_address.empty()) return absl::OkStatus();
  metrics::MetricsServerOptions options;
  options.listen_address = config_.metrics_listen_address;
  options.certificate_file = config_.tls.certificate;
  options.private_key_file = config_.tls.private_key;
  options.trust_domain = config_.organisation_domain;
  options.client_ca_file = config_.tls.ca;
  options.crl_file = config_.tls.crl;
  HG_ASSIGN_OR_RETURN(metrics_server_,
                      metrics::MetricsServer::Start(options, [this] {
                        return metrics_registry_.Expose();
                      }));
  log::Info("metrics_listening", {{"listen", config_.metrics_listen_address},
                                  {"port", metrics_server_->port()}});
  return absl::OkStatus();
}

PeerLinkObserver GatewayImpl::PeerMetrics() {
  PeerLinkObserver observer;
  observer.on_state = [this](const std::string& partner, bool connected) {
    metrics_->PeerState(partner, connected);
  };
  observer.on_delivered = [this](const std::string& partner,
                                 absl::Duration latency) {
    metrics_->Delivered(partner, latency);
  };
  observer.on_break = [this](const std::string& partner, LinkBreak reason) {
    metrics_->LinkBroke(partner, LinkBreakName(reason));
  };
  return observer;
}

void GatewayImpl::RefreshObservability(bool store_healthy, bool overall_changed) {
  metrics_->SetStoreHealthy(store_healthy);
  absl::StatusOr<std::vector<store::OutboxStats>> outboxes =
      store_->GetOutboxStats();
  if (outboxes.ok()) metrics_->UpdateOutboxes(*outboxes, absl::Now());
  // Federation: see metrics::FederationServing. Setting the overall status
  // resets every service, so it is re-applied then.
  std::vector<metrics::LinkState> links;
  std::vector<v1::PeerStatus> peer_status;
  {
    std::lock_guard<std::mutex> lock(links_mu_);
    for (const auto& [partner, link] : peer_links_) {
      auto fetcher = crl_fetchers_.find(partner);
      std::optional<CrlCopyState> crl;
      if (fetcher != crl_fetchers_.end()) crl = fetcher->second->state();
      links.push_back({partner, link->connected(), link->break_reason(),
                       crl.has_value() && crl->stale});
      peer_status.push_back(PeerStatusOf(links.back(), crl.has_value() ? &*crl : nullptr));
    }
  }
  if (outboxes.ok()) AddQueues(*outboxes, peer_status);
  {
    std::lock_guard<std::mutex> lock(peer_status_mu_);
    peer_status_ = std::move(peer_status);
  }
  int serving = metrics::FederationServing(
                    store_healthy, links,
                    outboxes.ok() ? *outboxes : std::vector<store::OutboxStats>{},
                    absl::Now())
                    ? 1
                    : 0;
  if (overall_changed) {
    server_->GetHealthCheckService()->SetServingStatus(kPolicyFileHealthService,
                                                       policy_file_valid_.load());
    server_->GetHealthCheckService()->SetServingStatus(kConfigHealthService,
                                                       last_reload_ok_.load());
  }
  // grpc.health.v1 carries no detail: the log says which link and why.
  std::string detail = metrics::FederationHealthDetail(links);
  if (serving != federation_serving_ || detail != federation_detail_) {
    log::Info("federation_health", {{"serving", serving == 1 ? "true" : "false"},
                                    {"detail", detail}});
    federation_detail_ = detail;
  }
  if (serving != federation_serving_ || overall_changed) {
    server_->GetHealthCheckService()->SetServingStatus(kFederationHealthService,
                                                       serving == 1);
    federation_serving_ = serving;
  }
}

// --- end evidence and observability -------------------------------------------

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const config::GatewayConfig& config) {
  // A start that would fail fails here, before a store, an audit log, TLS
  // state or a policy history entry is created.
  absl::Status ready = preflight::CheckBeforeStart(config);
  if (!ready.ok()) return ready;
  auto gateway = std::make_unique<GatewayImpl>(config);
  absl::Status status = gateway->Init();
  if (!status.ok()) {
    gateway->Shutdown(absl::ZeroDuration());
    return status;
  }
  return std::unique_ptr<Gateway>(std::move(gateway));
}

}  // namespace havengate::server
