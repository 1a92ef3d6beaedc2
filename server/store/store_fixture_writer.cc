// store_fixture_writer: writes the small store (and policy history beside
// it) kept as server/store/testdata/schema<N>.db, with this build's code
// and a fixed clock, so that later builds can be tested against a store
// this release wrote (store_fixture_test.cc). See testdata/README.md.
//
//   store_fixture_writer OUT.db
#include <sqlite3.h>

#include <filesystem>
#include <iostream>

#include "absl/time/time.h"
#include "server/store/sqlite_store.h"
#include "sqlite/statement.h"

namespace havengate::store {
namespace {

v1::Item Alert(const std::string& id, uint32_t version, const std::string& origin) {
  v1::Item item;
  item.set_item_id(id);
  item.set_version(version);
  item.set_origin(origin);
  item.mutable_alert()->set_title("Stolen release PIN used");
  item.mutable_alert()->set_category(v1::Alert::PIN_CODE_FRAUD);
  return item;
}

absl::Status WriteStore(const std::string& path) {
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  StoreOptions options;
  options.now = [t0] { return t0; };
  SqliteOptions sqlite;
  sqlite.path = path;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(sqlite, options);
  if (!store.ok()) return store.status();
  // a1: pushed here, shared with customs-nl, then updated.
  for (uint32_t version : {1u, 2u}) {
    ItemWrite write(Alert("a1", version, "police-nl"), "police-nl");
    write.copies.push_back({"customs-nl", write.item, absl::InfinitePast()});
    v1::AuditRecord& record = write.audit.emplace_back();
    record.set_type(v1::ITEM_RECEIVED);
    if (auto r = (*store)->WriteItem(std::move(write)); !r.ok()) return r.status();
  }
  // c1: received from customs-nl, then retracted by it.
  ItemWrite received(Alert("c1", 1, "customs-nl"), "customs-nl");
  if (auto r = (*store)->WriteItem(std::move(received)); !r.ok()) return r.status();
  RetractionWrite retraction;
  retraction.retraction.set_origin("customs-nl");
  retraction.retraction.set_item_id("c1");
  retraction.retraction.set_reason("entered in error");
  retraction.retraction.set_kind(v1::Retraction::RETRACTED_BY_ORIGIN);
  retraction.received_from = "customs-nl";
  if (absl::Status s = (*store)->WriteRetraction(std::move(retraction)); !s.ok()) return s;
  (*store)->Close();

  absl::StatusOr<std::unique_ptr<PolicyHistory>> history =
      OpenSqlitePolicyHistory(SqlitePolicyHistoryPath(path));
  if (!history.ok()) return history.status();
  v1::PolicyProposal proposal;
  proposal.set_version("fixture-1");
  proposal.set_state(v1::PolicyProposal::ACTIVE);
  proposal.set_policy_text("organisation: police-nl\n");
  proposal.set_proposed_by("spiffe://police.nl.example/officer/a");
  return (*history)->Add(proposal).status();
}

// One self-contained file each: no -wal beside it, smallest size.
absl::Status Compact(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open(path.c_str(), &raw);
  sqlite::Db db(raw);
  if (rc != SQLITE_OK) return sqlite::Error(db.get(), rc, "open");
  return sqlite::Exec(db.get(), "PRAGMA journal_mode=DELETE; VACUUM");
}

}  // namespace
}  // namespace havengate::store

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: store_fixture_writer OUT.db\n";
    return 2;
  }
  const std::string path = argv[1];
  for (const char* suffix : {"", ".policies", ".policies-wal", "-wal"}) {
    std::filesystem::remove(path + suffix);
  }
  absl::Status status = havengate::store::WriteStore(path);
  if (status.ok()) status = havengate::store::Compact(path);
  if (status.ok()) status = havengate::store::Compact(path + ".policies");
  if (!status.ok()) {
    std::cerr << "store_fixture_writer: " << status << "\n";
    return 1;
  }
  return 0;
}
