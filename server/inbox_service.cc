#include "server/inbox_service.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/identifiers.h"
#include "proto/status_macros.h"
#include "server/security/grpc_status.h"
#include "server/logging/log.h"

namespace havengate::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kEventsPerRead = 256;
// How often an idle Subscribe checks for cancellation and shutdown.
constexpr absl::Duration kIdlePoll = absl::Milliseconds(250);

}  // namespace

absl::Status ValidateFilter(const v1::ItemFilter& filter) {
  for (int i = 0; i < filter.origins_size(); ++i) {
    absl::Status s = ValidateOrganisationId(filter.origins(i));
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.origins[", i, "]: ", s.message()));
    }
  }
  if (!v1::ItemKind_IsValid(filter.kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.kind: unknown value ", filter.kind()));
  }
  for (int i = 0; i < filter.categories_size(); ++i) {
    if (!v1::Alert::Category_IsValid(filter.categories(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter.categories[", i, "]: unknown value ", filter.categories(i)));
    }
  }
  if (!filter.item_id().empty()) {
    absl::Status s = ValidateItemId(filter.item_id());
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.item_id: ", s.message()));
    }
  }
  return absl::OkStatus();
}

InboxService::InboxService(const security::Authenticator& authenticator,
                           limits::CallerLimits& limits, store::Store& store)
    : authenticator_(authenticator), limits_(limits), store_(store) {}

absl::StatusOr<limits::CallerLimits::CallSlot> AdmitOwnClient(
    const security::Authenticator& authenticator, limits::CallerLimits& limits,
    const grpc::ServerContext& context, const char* service) {
  HG_ASSIGN_OR_RETURN(security::PeerIdentity caller, authenticator.Identify(context));
  absl::Status allowed = security::RequireOwnClient(caller);
  if (!allowed.ok()) {
    log::Warn("call_rejected", {{"service", service},
                                {"caller", caller.spiffe_id},
                                {"reason", allowed.message()}});
    return allowed;
  }
  absl::StatusOr<limits::CallerLimits::CallSlot> slot =
      limits.StartCall(caller.spiffe_id);
  if (!slot.ok()) {
    if (int64_t refused = limits.NoteRefusal(caller.spiffe_id); refused > 0) {
      log::Warn("call_rejected", {{"service", service},
                                  {"caller", caller.spiffe_id},
                                  {"reason", slot.status().message()},
                                  {"refused_since_last_report", refused}});
    }
  }
  return slot;
}

absl::StatusOr<limits::CallerLimits::CallSlot> InboxService::Authorise(
    const grpc::ServerContext& context) {
  return AdmitOwnClient(authenticator_, limits_, context, "Inbox");
}

grpc::Status InboxService::List(grpc::ServerContext* context,
                                const v1::ListRequest* request,
                                v1::ListResponse* response) {
  absl::StatusOr<limits::CallerLimits::CallSlot> admitted = Authorise(*context);
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  absl::Status status = ValidateFilter(request->filter());
  if (!status.ok()) return security::ToGrpcStatus(status);
  int page_size = request->page_size();
  if (page_size < 0 || page_size > kMaxPageSize) {
    return security::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("page_size: must be between 0 and ", kMaxPageSize)));
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  absl::StatusOr<store::ListPage> page =
      store_.ListItems(request->filter(), page_size, request->page_token());
  if (!page.ok()) return security::ToGrpcStatus(page.status());
  for (auto& entry : page->entries) *response->add_entries() = std::move(entry);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status InboxService::Subscribe(
    grpc::ServerContext* context, const v1::SubscribeRequest* request,
    grpc::ServerWriter<v1::InboxEvent>* writer) {
  absl::StatusOr<limits::CallerLimits::CallSlot> admitted = Authorise(*context);
  if (!admitted.ok()) return security::ToGrpcStatus(admitted.status());
  absl::Status status = ValidateFilter(request->filter());
  if (!status.ok()) return security::ToGrpcStatus(status);
  uint64_t cursor = request->from_now() ? store_.LastCursor() : request->after_cursor();
  const bool items = !request->hits_only();
  const bool hits = request->include_hits() || request->hits_only();
  while (!context->IsCancelled() && !stopping_) {
    // Everything committed up to `last` is visible to the reads below, so
    // once they come back short the stream has caught up to `last`, even
    // if no event matched the filter.
    const uint64_t last = store_.LastCursor();
    absl::StatusOr<std::vector<v1::InboxEvent>> events =
        items ? store_.ReadEvents(cursor, request->filter(), kEventsPerRead)
              : std::vector<v1::InboxEvent>{};
    if (!events.ok()) return security::ToGrpcStatus(events.status());
    absl::StatusOr<std::vector<v1::Hit>> found =
        hits ? store_.ReadHits(cursor, kEventsPerRead) : std::vector<v1::Hit>{};
    if (!found.ok()) return security::ToGrpcStatus(found.status());
    // Merged in cursor order, up to where both reads are complete.
    const bool events_full = static_cast<int>(events->size()) == kEventsPerRead;
    const bool hits_full = static_cast<int>(found->size()) == kEventsPerRead;
    uint64_t upto = UINT64_MAX;
    if (events_full) upto = events->back().cursor();
    if (hits_full) upto = std::min(upto, found->back().cursor());
    size_t e = 0, h = 0;
    for (;;) {
      const bool take_event =
          e < events->size() && (*events)[e].cursor() <= upto &&
          (h >= found->size() || (*events)[e].cursor() < (*found)[h].cursor());
      const bool take_hit = !take_event && h < found->size() &&
                            (*found)[h].cursor() <= upto;
      if (!take_event && !take_hit) break;
      v1::InboxEvent hit_event;
      const v1::InboxEvent* event = &hit_event;
      if (take_event) {
        event = &(*events)[e++];
      } else {
        hit_event.set_cursor((*found)[h].cursor());
        *hit_event.mutable_hit() = std::move((*found)[h++]);
      }
      if (!writer->Write(*event)) return grpc::Status::OK;  // client left
      cursor = event->cursor();
    }
    if (events_full || hits_full) continue;
    cursor = std::max(cursor, last);
    store_.WaitForEvents(cursor, absl::Now() + kIdlePoll);
  }
  return grpc::Status::OK;
}

}  // namespace havengate::server
