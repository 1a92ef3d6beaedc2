// A federation of real havengate processes for end-to-end tests: one CA and
// set of certificates per organisation, a port per organisation chosen up
// front (so that a peer can be configured before, or without, its gateway
// running), policies from deploy/policies or written by the test, clients,
// inbox reads, audit reads from the store files, and the view a partner
// should hold of an item according to the sender's policy.
//
// Not thread-safe, except where a method says otherwise: a test drives its
// Federation from one thread.
#ifndef HAVENGATE_TESTS_E2E_FEDERATION_FIXTURE_H_
#define HAVENGATE_TESTS_E2E_FEDERATION_FIXTURE_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "havengate/v1/audit.pb.h"
#include "havengate/v1/inbox.pb.h"
#include "havengate/v1/item.pb.h"
#include "policy/policy.h"
#include "tests/testing/harness.h"

namespace havengate::testing {

// The trust domain of a demo organisation (deploy/policies/README.md).
std::string DemoDomain(const std::string& organisation);

// (origin, item_id, version): what a receiver deduplicates on.
using ItemKey = std::tuple<std::string, std::string, uint32_t>;

class Federation {
 public:
  Federation() = default;
  ~Federation();
  Federation(const Federation&) = delete;
  Federation& operator=(const Federation&) = delete;

  // Creates the organisation's CA and certificates and picks its port.
  absl::Status AddOrg(const std::string& id);
  const TestOrg& org(const std::string& id) const;
  int port(const std::string& id) const { return ports_.at(id); }
  const std::string& root() const { return dir_.path(); }

  // Installs deploy/policies/<id>/policy.yaml (with new keys) for `id`;
  // returns its path.
  absl::StatusOr<std::string> InstallDeployPolicy(const std::string& id);
  // Writes `yaml` as `id`'s policy file (creating its keys); returns its
  // path. Overwrites an earlier policy (a running gateway reloads it).
  absl::StatusOr<std::string> WritePolicy(const std::string& id,
                                          const std::string& yaml);
  // The policy file last installed for `id`, compiled here (same keys as
  // the gateway's).
  absl::StatusOr<std::shared_ptr<const policy::CompiledPolicy>> LoadPolicy(
      const std::string& id) const;

  // Starts `id`'s gateway with the installed policy and the given peers
  // (which need not run).
  absl::Status Start(const std::string& id, const std::vector<std::string>& peers,
                     const std::string& extra_yaml = "");
  GatewayProcess& gateway(const std::string& id) { return *gateways_.at(id); }
  bool started(const std::string& id) const { return gateways_.count(id) > 0; }

  // A client of `id`'s gateway (connected once, reused; gRPC reconnects
  // it after the gateway restarts).
  client::Client& ClientOf(const std::string& id);

  // Pushes an item as `id`'s integration client (origin and provenance are
  // set by the gateway: cleared here first).
  absl::StatusOr<v1::Receipt> Push(const std::string& id, v1::Item item);

  // Every current entry of `id`'s inbox matching `filter`, all pages,
  // newest first.
  absl::StatusOr<std::vector<v1::InboxEntry>> Inbox(
      const std::string& id, const v1::ItemFilter& filter = {});
  // Current entries for `item_id` (any origin) shown in `id`'s inbox.
  std::vector<v1::InboxEntry> Shown(const std::string& id,
                                    const std::string& item_id,
                                    bool include_retracted = false);
  // Waits until `id` shows `item_id` at `version`; the error carries the
  // gateways' logs.
  absl::StatusOr<v1::InboxEntry> AwaitItem(
      const std::string& id, const std::string& item_id, uint32_t version = 1,
      absl::Duration timeout = absl::Seconds(30));
  // Waits until `id` no longer shows `item_id`.
  bool AwaitGone(const std::string& id, const std::string& item_id,
                 absl::Duration timeout = absl::Seconds(30));

  // Inbox events of `id` from the start, in cursor order, up to and
  // including `last_cursor` (which must exist). Through Inbox.Subscribe.
  absl::StatusOr<std::vector<v1::InboxEvent>> Events(const std::string& id,
                                                     uint64_t last_cursor);

  // Every inbox event of `id` from the start, through Inbox.Subscribe: the
  // events sent until none came for `quiet`.
  absl::StatusOr<std::vector<v1::InboxEvent>> Replay(
      const std::string& id, absl::Duration quiet = absl::Seconds(2));

  // `id`'s audit records, read from its store file (the gateway may run),
  // as events: a combined record reads as one record per partner or item.
  std::vector<v1::AuditRecord> Audit(const std::string& id);
  // The records of `id` matching `match`.
  std::vector<v1::AuditRecord> AuditWhere(
      const std::string& id,
      const std::function<bool(const v1::AuditRecord&)>& match);
  // Waits for a record of `id` matching `match`.
  absl::StatusOr<v1::AuditRecord> AwaitAudit(
      const std::string& id,
      const std::function<bool(const v1::AuditRecord&)>& match,
      absl::Duration timeout = absl::Seconds(30));

  // How many times each (origin, item_id, version) was stored at `id`
  // (rows of its store's event log; read-only, the gateway may run).
  absl::StatusOr<std::map<ItemKey, int>> StoredVersions(const std::string& id);

  // The logs of every started gateway, for failure messages.
  std::string Logs();

 private:
  TempDir dir_;
  std::map<std::string, std::unique_ptr<TestOrg>> orgs_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::string> policies_;
  std::map<std::string, std::unique_ptr<GatewayProcess>> gateways_;
  std::map<std::string, std::unique_ptr<client::Client>> clients_;
};

// The copy `partner` should hold of `item` released by `sender` under
// `policy` (the sender's): released or not, and the projection. The item
// must be as the sender stored it (origin set; provenance as received).
policy::PartnerDecision ExpectedRelease(const policy::CompiledPolicy& policy,
                                        const v1::Item& item,
                                        const std::string& partner,
                                        bool received_from_partner);

// Differences between the item a partner holds and `expected` (the
// projection its sender's policy released), field by field, ignoring the
// provenance hop the sender added (checked by the caller). Empty if equal.
std::string DiffItems(const v1::Item& expected, const v1::Item& held);

// A minimal valid alert from MakeAlert, moved to `unlocode` and given
// `category`.
v1::Item MakeAlertAt(const std::string& item_id, const std::string& unlocode,
                     v1::Alert::Category category = v1::Alert::PIN_CODE_FRAUD);

}  // namespace havengate::testing

#endif  // HAVENGATE_TESTS_E2E_FEDERATION_FIXTURE_H_
