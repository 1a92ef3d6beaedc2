// Requests for withheld fields across real gateways (real processes, real
// mutual TLS). police-nl shares intelligence reports with customs-nl
// without the persons' names and document numbers; customs-nl forwards
// what it received to port-rtm (forward_received), persons included.
// police-nl's `requests` section lets customs-nl ask for persons.name and
// persons.document_number (two approvers) and persons.nationality (one
// approver, expiring after 2 s); port-rtm may ask for
// persons.document_number only.
// - The full path: customs-nl asks (havenctl items request), two police-nl
//   officers approve (the same officer twice is refused); customs-nl holds
//   exactly the approved fields, marked as released on request with the
//   request id, the approvers and no_reshare; port-rtm gets nothing new;
//   both sides audit it all; a later version is decided under the policy
//   again (no names).
// - A refusal with a reason reaches customs-nl; nothing is released.
// - A request nobody decides expires, and customs-nl learns it.
// - port-rtm, which never received the item from police-nl, is refused
//   (FAILED_PRECONDITION); asking for a field the policy does not allow it
//   is PERMISSION_DENIED; both audited at police-nl.
// - No withheld value appears in the audit chain or the log of any
//   gateway.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "havengate/v1/requests.pb.h"
#include "policy/item_paths.h"
#include "proto/json.h"
#include "tests/e2e/federation_fixture.h"
#include "tests/testing/harness.h"

namespace havengate::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kName[] = "Joris Verhoeven";
constexpr char kDocument[] = "NXR881234";
constexpr char kNationality[] = "NL";
constexpr char kBadge[] = "RWG-55120";
constexpr char kContainer[] = "MSCU4812360";

constexpr char kPolicePolicy[] = R"yaml(
organisation: police-nl
version: "requests-1"
partners:
  - {id: customs-nl, kind: CUSTOMS, country: NL}
  - {id: port-rtm, kind: PORT_OPERATOR, country: NL}
rules:
  - name: reports-to-customs
    to: [customs-nl]
    kinds: [REPORT]
    share: [title, containers, persons.role, persons.badge_id]
requests:
  - from: [customs-nl]
    fields: [persons.name, persons.document_number]
  - from: [customs-nl]
    fields: [persons.nationality]
    approvers: 1
    expires_after: 2s
  - from: [port-rtm]
    fields: [persons.document_number]
)yaml";

constexpr char kCustomsPolicy[] = R"yaml(
organisation: customs-nl
version: "requests-1"
partners:
  - {id: police-nl, kind: POLICE, country: NL}
  - {id: port-rtm, kind: PORT_OPERATOR, country: NL}
rules:
  - name: forward-police-reports-to-port
    to: [port-rtm]
    kinds: [REPORT]
    forward_received: true
    share: [title, containers, persons]
inbound:
  accept:
    - {from: [police-nl], kinds: [REPORT]}
)yaml";

constexpr char kPortPolicy[] = R"yaml(
organisation: port-rtm
version: "requests-1"
partners:
  - {id: customs-nl, kind: CUSTOMS, country: NL}
  - {id: police-nl, kind: POLICE, country: NL}
inbound:
  accept:
    - {from: [customs-nl], kinds: [REPORT]}
)yaml";

v1::Item PoliceReport(const std::string& item_id, uint32_t version = 1) {
  v1::Item item;
  item.set_item_id(item_id);
  item.set_version(version);
  item.mutable_classification()->set_tlp(v1::Classification::GREEN);
  v1::IntelligenceReport* r = item.mutable_report();
  r->set_title(absl::StrCat("Insider at the reefer terminal, v", version));
  r->add_containers()->set_number(kContainer);
  v1::Person* p = r->add_persons();
  p->set_name(kName);
  p->set_document_number(kDocument);
  p->set_nationality(kNationality);
  p->set_badge_id(kBadge);
  p->set_role(v1::Person::SUSPECT);
  return item;
}

// Values police-nl's policy withholds from everyone: never in an audit
// record or a log line.
const std::vector<std::string>& Withheld() {
  static const std::vector<std::string> values = {kName, kDocument};
  return values;
}

class RequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* org : {"police-nl", "customs-nl", "port-rtm"}) {
      ASSERT_TRUE(f_.AddOrg(org).ok());
    }
    ASSERT_TRUE(f_.WritePolicy("police-nl", kPolicePolicy).ok());
    ASSERT_TRUE(f_.WritePolicy("customs-nl", kCustomsPolicy).ok());
    ASSERT_TRUE(f_.WritePolicy("port-rtm", kPortPolicy).ok());
    absl::Status s = f_.Start("police-nl", {"customs-nl", "port-rtm"});
    ASSERT_TRUE(s.ok()) << s;
    s = f_.Start("customs-nl", {"police-nl", "port-rtm"});
    ASSERT_TRUE(s.ok()) << s;
    s = f_.Start("port-rtm", {"customs-nl", "police-nl"});
    ASSERT_TRUE(s.ok()) << s;
    auto bob = IssueCert(f_.org("police-nl"), pki::Role::kOfficer, "bob", "bob");
    ASSERT_TRUE(bob.ok()) << bob.status();
    bob_cert_ = bob->cert_file;
    bob_key_ = bob->key_file;
  }

  std::unique_ptr<client::Client> PoliceOfficer(bool bob) {
    const TestOrg& police = f_.org("police-nl");
    auto client = ConnectClient(police, f_.port("police-nl"),
                                bob ? bob_cert_ : police.officer_cert,
                                bob ? bob_key_ : police.officer_key);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // Pushes the report at police-nl and waits until customs-nl (and
  // port-rtm, which customs-nl forwards it to) hold it.
  void PushReport(const std::string& item_id, uint32_t version = 1) {
    ASSERT_TRUE(f_.Push("police-nl", PoliceReport(item_id, version)).ok());
    ASSERT_TRUE(f_.AwaitItem("customs-nl", item_id, version).ok()) << f_.Logs();
    ASSERT_TRUE(f_.AwaitItem("port-rtm", item_id, version).ok()) << f_.Logs();
  }

  absl::StatusOr<v1::FieldRequest> Ask(const std::string& org, const std::string& item_id,
                                       const std::vector<std::string>& fields) {
    v1::NewFieldRequest request;
    request.set_origin("police-nl");
    request.set_item_id(item_id);
    for (const std::string& field : fields) request.add_fields(field);
    request.set_reason("suspected insider in case CUS-2026-118");
    request.set_case_reference("CUS-2026-118");
    return f_.ClientOf(org).RequestFields(request);
  }

  // customs-nl's stored copy of a request it sent, once no longer pending.
  v1::FieldRequest AwaitOutcome(const std::string& request_id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    v1::FieldRequest last;
    while (absl::Now() < deadline) {
      v1::ListFieldRequestsRequest list;
      list.set_sent(true);
      auto sent = f_.ClientOf("customs-nl").ListFieldRequests(list);
      if (sent.ok()) {
        for (const v1::FieldRequest& r : sent->requests()) {
          if (r.request_id() != request_id) continue;
          last = r;
          if (r.state() != v1::FieldRequest::PENDING) return r;
        }
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "request " << request_id << " is still pending at customs-nl\n"
                  << f_.Logs();
    return last;
  }

  std::vector<v1::AuditRecord> RequestRecords(const std::string& org,
                                              const std::string& request_id) {
    return f_.AuditWhere(org, [&](const v1::AuditRecord& r) {
      return r.request_id() == request_id;
    });
  }

  void ExpectNoWithheldValueAnywhere() {
    for (const char* org : {"police-nl", "customs-nl", "port-rtm"}) {
      for (const v1::AuditRecord& record : f_.Audit(org)) {
        const std::string text = ToJson(record, {.pretty = false});
        for (const std::string& value : Withheld()) {
          EXPECT_THAT(text, ::testing::Not(HasSubstr(value)))
              << org << " audit record " << record.sequence();
        }
      }
      const std::string log = f_.gateway(org).ReadLog();
      for (const std::string& value : Withheld()) {
        EXPECT_THAT(log, ::testing::Not(HasSubstr(value))) << org << " log";
      }
    }
  }

  Federation f_;
  std::string bob_cert_, bob_key_;
};

std::vector<std::string> Types(const std::vector<v1::AuditRecord>& records) {
  std::vector<std::string> types;
  for (const v1::AuditRecord& r : records) types.push_back(v1::AuditEventType_Name(r.type()));
  return types;
}

TEST_F(RequestsTest, TwoOfficersApproveAndOnlyTheRequesterGetsExactlyTheFields) {
  PushReport("rq-report-1");
  const v1::InboxEntry customs_before = f_.Shown("customs-nl", "rq-report-1").at(0);
  ASSERT_EQ(customs_before.item().report().persons_size(), 1);
  EXPECT_EQ(customs_before.item().report().persons(0).name(), "");
  auto port_versions_before = f_.StoredVersions("port-rtm");
  ASSERT_TRUE(port_versions_before.ok());

  // customs-nl asks through havenctl, as its analysts do.
  const TestOrg& customs = f_.org("customs-nl");
  CommandResult asked = RunCommand(
      {HavenctlBinary(), "items", "request", "rq-report-1", "--fields",
       "persons.name,persons.document_number", "--reason", "suspected insider",
       "--case", "CUS-2026-118", "--json", "--address",
       absl::StrCat("127.0.0.1:", f_.port("customs-nl")), "--cert", customs.client_cert,
       "--key", customs.client_key, "--ca", customs.ca_file, "--gateway-id",
       customs.gateway_id()});
  ASSERT_EQ(asked.exit_code, 0) << asked.err << f_.Logs();
  v1::FieldRequest sent;
  ASSERT_TRUE(ParseJson(asked.out, &sent).ok()) << asked.out;
  EXPECT_EQ(sent.state(), v1::FieldRequest::PENDING);
  EXPECT_EQ(sent.approvals_needed(), 2);
  const std::string id = sent.request_id();

  // The officers see it, with what the item holds and what customs has.
  auto alice = PoliceOfficer(false);
  auto bob = PoliceOfficer(true);
  auto view = alice->ShowFieldRequest(id);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->request().requester(), "customs-nl");
  EXPECT_THAT(view->request().fields(),
              ElementsAre("persons.name", "persons.document_number"));
  EXPECT_EQ(view->item().report().persons(0).name(), kName);
  EXPECT_THAT(view->held_fields(), ::testing::Contains("persons.name"));
  EXPECT_THAT(view->partner_withheld_fields(), ::testing::Contains("persons.name"));
  EXPECT_THAT(view->partner_released_fields(), ::testing::Contains("persons.badge_id"));
  // An integration client is no officer.
  auto as_client = f_.ClientOf("police-nl").ShowFieldRequest(id);
  EXPECT_EQ(as_client.status().code(), absl::StatusCode::kPermissionDenied);

  auto first = alice->ApproveFieldRequest(id);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->state(), v1::FieldRequest::PENDING);
  auto twice = alice->ApproveFieldRequest(id);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("already approved"));
  auto second = bob->ApproveFieldRequest(id);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->state(), v1::FieldRequest::APPROVED);

  const v1::FieldRequest outcome = AwaitOutcome(id);
  ASSERT_EQ(outcome.state(), v1::FieldRequest::APPROVED) << outcome.DebugString();
  const v1::Item& release = outcome.release();
  // Exactly the approved fields, with their values.
  EXPECT_THAT(policy::PresentLeafPaths(release),
              UnorderedElementsAre("persons.name", "persons.document_number"));
  ASSERT_EQ(release.report().persons_size(), 1);
  EXPECT_EQ(release.report().persons(0).name(), kName);
  EXPECT_EQ(release.report().persons(0).document_number(), kDocument);
  EXPECT_EQ(release.report().persons(0).nationality(), "");
  EXPECT_EQ(release.report().title(), "");
  EXPECT_TRUE(release.classification().no_reshare());
  ASSERT_EQ(release.provenance_size(), 1);
  const v1::ProvenanceHop& hop = release.provenance(0);
  EXPECT_EQ(hop.organisation(), "police-nl");
  EXPECT_EQ(hop.released_to(), "customs-nl");
  EXPECT_EQ(hop.released_on_request(), id);
  EXPECT_THAT(hop.release_approvers(),
              ElementsAre("spiffe://police.nl.example/officer/officer-a",
                          "spiffe://police.nl.example/officer/bob"));

  // The inbox copy is untouched: the release is not an item version.
  const v1::InboxEntry customs_after = f_.Shown("customs-nl", "rq-report-1").at(0);
  EXPECT_EQ(customs_after.item().report().persons(0).name(), "");
  EXPECT_EQ(customs_after.cursor(), customs_before.cursor());
  // port-rtm, which customs-nl forwards police reports to, gets nothing
  // new: no name, no new version.
  absl::SleepFor(absl::Seconds(1));
  const v1::InboxEntry port = f_.Shown("port-rtm", "rq-report-1").at(0);
  EXPECT_EQ(port.item().report().persons(0).name(), "");
  EXPECT_EQ(port.item().report().persons(0).document_number(), "");
  auto port_versions_after = f_.StoredVersions("port-rtm");
  ASSERT_TRUE(port_versions_after.ok());
  EXPECT_EQ(*port_versions_after, *port_versions_before);
  EXPECT_TRUE(f_.AuditWhere("port-rtm", [](const v1::AuditRecord& r) {
                  return r.type() == v1::FIELD_RELEASED_ON_REQUEST;
                }).empty());

  // Audited at both ends: who asked, who approved, what was released.
  ASSERT_TRUE(f_.AwaitAudit("police-nl", [&](const v1::AuditRecord& r) {
                  return r.type() == v1::ITEM_DELIVERED && r.request_id() == id;
                }).ok());
  EXPECT_THAT(Types(RequestRecords("customs-nl", id)),
              ElementsAre("FIELD_REQUEST_SENT", "FIELD_RELEASED_ON_REQUEST"));
  const std::vector<v1::AuditRecord> police = RequestRecords("police-nl", id);
  EXPECT_THAT(Types(police),
              ElementsAre("FIELD_REQUEST_RECEIVED", "FIELD_REQUEST_APPROVED",
                          "FIELD_REQUEST_APPROVED", "FIELD_RELEASED_ON_REQUEST",
                          "ITEM_DELIVERED"));
  if (police.size() == 5) {
    EXPECT_EQ(police[0].partner(), "customs-nl");
    EXPECT_THAT(police[0].withheld_fields(),
                ElementsAre("persons.name", "persons.document_number"));
    EXPECT_EQ(police[1].actor(), "spiffe://police.nl.example/officer/officer-a");
    EXPECT_EQ(police[2].actor(), "spiffe://police.nl.example/officer/bob");
    EXPECT_THAT(police[3].released_fields(),
                UnorderedElementsAre("persons.name", "persons.document_number"));
    EXPECT_THAT(police[3].detail(), HasSubstr("officer/bob"));
    EXPECT_EQ(police[3].item().item_id(), "rq-report-1");
  }

  // `havenctl audit requests` answers who asked what and which fields left
  // outside the policy on whose approval (offline, on the store file).
  CommandResult audit = RunCommand({HavenctlBinary(), "audit", "requests", "--store",
                                    f_.gateway("police-nl").store_file(), "--item",
                                    "rq-report-1"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_THAT(audit.out, AllOf(HasSubstr("FIELD_REQUEST_RECEIVED"), HasSubstr(id),
                               HasSubstr("asked: persons.name,persons.document_number"),
                               HasSubstr("officer/bob"),
                               HasSubstr("1 release(s) outside the policy")));
  CommandResult other = RunCommand({HavenctlBinary(), "audit", "requests", "--store",
                                    f_.gateway("police-nl").store_file(), "--partner",
                                    "port-rtm", "--json"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(other.out, "");

  // A later version is decided under the policy again: no names.
  PushReport("rq-report-1", 2);
  const v1::InboxEntry v2 = f_.Shown("customs-nl", "rq-report-1").at(0);
  EXPECT_EQ(v2.item().version(), 2u);
  EXPECT_EQ(v2.item().report().persons(0).name(), "");
  EXPECT_EQ(v2.item().report().persons(0).document_number(), "");
  EXPECT_EQ(v2.item().report().persons(0).badge_id(), kBadge);
  // Nor does a decided request take a further approval.
  auto late = alice->ApproveFieldRequest(id);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  ExpectNoWithheldValueAnywhere();
}

TEST_F(RequestsTest, RefusalWithReasonReachesTheRequesterAndReleasesNothing) {
  PushReport("rq-report-2");
  auto asked = Ask("customs-nl", "rq-report-2", {"persons.name"});
  ASSERT_TRUE(asked.ok()) << asked.status();
  auto alice = PoliceOfficer(false);
  auto no_reason = alice->RefuseFieldRequest(asked->request_id(), "");
  EXPECT_EQ(no_reason.status().code(), absl::StatusCode::kInvalidArgument);
  auto refused =
      alice->RefuseFieldRequest(asked->request_id(), "no legal basis for names yet");
  ASSERT_TRUE(refused.ok()) << refused.status();
  const v1::FieldRequest outcome = AwaitOutcome(asked->request_id());
  EXPECT_EQ(outcome.state(), v1::FieldRequest::REFUSED);
  EXPECT_EQ(outcome.outcome_reason(), "no legal basis for names yet");
  EXPECT_FALSE(outcome.has_release());
  auto bob = PoliceOfficer(true);
  auto after = bob->ApproveFieldRequest(asked->request_id());
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Types(RequestRecords("customs-nl", asked->request_id())),
              ElementsAre("FIELD_REQUEST_SENT", "FIELD_REQUEST_REFUSED"));
  EXPECT_TRUE(f_.AuditWhere("police-nl", [&](const v1::AuditRecord& r) {
                  return r.type() == v1::FIELD_RELEASED_ON_REQUEST;
                }).empty());
  ExpectNoWithheldValueAnywhere();
}

TEST_F(RequestsTest, UndecidedRequestExpiresAndTheRequesterLearnsIt) {
  PushReport("rq-report-3");
  auto asked = Ask("customs-nl", "rq-report-3", {"persons.nationality"});
  ASSERT_TRUE(asked.ok()) << asked.status();
  EXPECT_EQ(asked->approvals_needed(), 1);
  const v1::FieldRequest outcome = AwaitOutcome(asked->request_id());
  EXPECT_EQ(outcome.state(), v1::FieldRequest::EXPIRED);
  EXPECT_THAT(outcome.outcome_reason(), HasSubstr("expired"));
  EXPECT_FALSE(outcome.has_release());
  auto late = PoliceOfficer(false)->ApproveFieldRequest(asked->request_id());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Types(RequestRecords("police-nl", asked->request_id())),
              ::testing::IsSupersetOf({"FIELD_REQUEST_RECEIVED", "FIELD_REQUEST_EXPIRED"}));
}

TEST_F(RequestsTest, PartnersNotAllowedOrNeverReleasedToAreRefusedAndAudited) {
  PushReport("rq-report-4");
  // port-rtm holds the item (from customs-nl), but police-nl never
  // released it to port-rtm.
  auto never = Ask("port-rtm", "rq-report-4", {"persons.document_number"});
  EXPECT_EQ(never.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(never.status().message()),
              HasSubstr("never released item rq-report-4 to port-rtm"));
  // Names: not for port-rtm under police-nl's policy.
  auto denied = Ask("port-rtm", "rq-report-4", {"persons.name"});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("persons.name"));
  // customs-nl asking for what no rule allows it.
  auto badge = Ask("customs-nl", "rq-report-4", {"persons.date_of_birth"});
  EXPECT_EQ(badge.status().code(), absl::StatusCode::kPermissionDenied);
  // A path that is no field at all is refused by the requester's gateway.
  auto typo = Ask("customs-nl", "rq-report-4", {"persons.nmae"});
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);

  const auto refused = f_.AuditWhere("police-nl", [](const v1::AuditRecord& r) {
    return r.type() == v1::FIELD_REQUEST_REFUSED;
  });
  ASSERT_EQ(refused.size(), 3u);
  EXPECT_EQ(refused[0].partner(), "port-rtm");
  EXPECT_THAT(refused[0].reason(), HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(refused[1].partner(), "port-rtm");
  EXPECT_THAT(refused[1].reason(), HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(refused[2].partner(), "customs-nl");
  // The requesters keep their refused requests, with the reason.
  v1::ListFieldRequestsRequest list;
  list.set_sent(true);
  auto port_sent = f_.ClientOf("port-rtm").ListFieldRequests(list);
  ASSERT_TRUE(port_sent.ok()) << port_sent.status();
  ASSERT_EQ(port_sent->requests_size(), 2);
  EXPECT_EQ(port_sent->requests(0).state(), v1::FieldRequest::REFUSED);
  EXPECT_THAT(port_sent->requests(0).outcome_reason(), HasSubstr("never released"));
  EXPECT_EQ(f_.AuditWhere("port-rtm", [](const v1::AuditRecord& r) {
              return r.type() == v1::FIELD_REQUEST_SENT;
            }).size(), 2u);
  // Nothing is pending at police-nl.
  v1::ListFieldRequestsRequest received;
  auto pending = PoliceOfficer(false)->ListFieldRequests(received);
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(pending->requests_size(), 0);
  ExpectNoWithheldValueAnywhere();
}

}  // namespace
}  // namespace havengate::testing
