#include "server/federation/crl_fetcher.h"

#include "absl/strings/str_cat.h"
#include "certs/file_util.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "proto/status_macros.h"
#include "server/logging/log.h"

namespace havengate::server {
namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace

CrlFetcher::CrlFetcher(CrlFetcherOptions options,
                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : options_(std::move(options)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(4 << 20);
  channel_ = grpc::CreateCustomChannel(options_.address, std::move(credentials), args);
}

absl::Status CrlFetcher::Accept(const pki::Crl& fetched) const {
  HG_ASSIGN_OR_RETURN(std::string ca_pem, pki::ReadFileToString(options_.ca_file));
  HG_ASSIGN_OR_RETURN(pki::Certificate ca, pki::Certificate::FromPem(ca_pem));
  absl::Status issued = fetched.CheckIssuedBy(ca);
  if (!issued.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the CRL is not signed by the CA pinned for ", options_.partner, ": ",
        issued.message()));
  }
  absl::StatusOr<pki::Crl> copy = pki::Crl::ReadFile(options_.crl_file);
  if (!copy.ok()) return absl::OkStatus();  // no usable copy: take the new one
  bool older = fetched.crl_number() >= 0 && copy->crl_number() >= 0
                   ? fetched.crl_number() < copy->crl_number()
                   : fetched.this_update() < copy->this_update();
  if (older) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CRL served (number ", fetched.crl_number(),
        ") is older than the copy held (number ", copy->crl_number(), ")"));
  }
  return absl::OkStatus();
}

absl::Status CrlFetcher::FetchOnce() {
  auto stub = v1::Federation::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  v1::GetCrlResponse response;
  grpc::Status call = stub->GetCrl(&context, v1::GetCrlRequest(), &response);
  if (!call.ok()) return FromGrpc(call);
  HG_ASSIGN_OR_RETURN(pki::Crl fetched, pki::Crl::FromPem(response.pem()));
  HG_RETURN_IF_ERROR(Accept(fetched));
  std::string pem = fetched.ToPem();
  absl::StatusOr<pki::Crl> copy = pki::Crl::ReadFile(options_.crl_file);
  if (copy.ok() && copy->ToPem() == pem) return absl::OkStatus();
  HG_RETURN_IF_ERROR(pki::WriteFileAtomically(options_.crl_file, pem, 0644));
  log::Info("peer_crl_updated", {{"peer", options_.partner},
                                 {"crl_number", fetched.crl_number()},
                                 {"revoked", static_cast<int64_t>(
                                                 fetched.RevokedSerials().size())},
                                 {"next_update", absl::FormatTime(fetched.next_update())},
                                 {"file", options_.crl_file}});
  if (options_.on_updated) {
    options_.on_updated(options_.partner, fetched.crl_number(), fetched.next_update());
  }
  return absl::OkStatus();
}

CrlCopyState CrlFetcher::state() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return state_;
}

void CrlFetcher::Tick(absl::Time now) {
  if (now >= next_fetch_) {
    next_fetch_ = now + options_.refresh;
    absl::Status fetched = FetchOnce();
    std::string error = fetched.ok() ? "" : fetched.ToString();
    // One line per kind of failure, not one per attempt.
    if (!fetched.ok() && error != last_error_) {
      log::Warn("peer_crl_refused_or_unavailable",
                {{"peer", options_.partner}, {"reason", error}});
    }
    last_error_ = error;
    if (fetched.ok()) {
      std::lock_guard<std::mutex> lock(state_mu_);
      state_.ever_fetched = true;
      state_.last_fetched = now;
    }
  }
  ReportCopy(now);
}

void CrlFetcher::ReportCopy(absl::Time now) {
  absl::StatusOr<pki::Crl> copy = pki::Crl::ReadFile(options_.crl_file);
  absl::Time next_update = copy.ok() ? copy->next_update() : absl::InfiniteFuture();
  bool stale = copy.ok() && next_update < now;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    state_.stale = stale;
    state_.next_update = next_update;
    state_.crl_number = copy.ok() ? copy->crl_number() : -1;
  }
  if (stale != stale_.exchange(stale)) {
    if (stale) {
      log::Warn("peer_crl_stale", {{"peer", options_.partner},
                                   {"next_update", absl::FormatTime(next_update)},
                                   {"file", options_.crl_file}});
    } else {
      log::Info("peer_crl_fresh", {{"peer", options_.partner}});
    }
  }
  if (options_.on_state) options_.on_state(options_.partner, next_update, stale);
}

}  // namespace havengate::server
