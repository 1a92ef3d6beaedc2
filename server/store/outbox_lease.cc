#include "server/store/outbox_lease.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "proto/status_macros.h"
#include "server/logging/log.h"
#include "server/store/pg_connection.h"
#include "server/store/postgres_schema.h"

namespace havengate::store {
namespace {

class EveryOutboxLeased final : public OutboxLeases {
 public:
  bool MayDeliver(const std::string&) override { return true; }
  void SetPartners(const std::vector<std::string>&) override {}
};

// Advisory lock keys: (kLockSpace, hashtext('outbox ' || partner)).
constexpr int kLockSpace = 4812;

class PostgresOutboxLeases final : public OutboxLeases {
 public:
  PostgresOutboxLeases(std::string dsn, std::vector<std::string> partners,
                       std::string holder)
      : dsn_(std::move(dsn)), holder_(std::move(holder)) {
    for (std::string& p : partners) held_[std::move(p)] = false;
  }
  ~PostgresOutboxLeases() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  absl::Status Start() {
    HG_ASSIGN_OR_RETURN(connection_, pg::Connection::Open(dsn_));
    HG_RETURN_IF_ERROR(EnsurePostgresSchema(*connection_));
    Round();
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  bool MayDeliver(const std::string& partner) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(partner);
    return it != held_.end() && it->second;
  }

  void SetPartners(const std::vector<std::string>& partners) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, bool> next;
    for (const std::string& p : partners) {
      auto it = held_.find(p);
      next[p] = it != held_.end() && it->second;
    }
    for (const auto& [partner, held] : held_) {
      if (held && next.count(partner) == 0) releasing_.push_back(partner);
    }
    held_ = std::move(next);
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(kLeaseRound),
                         [&] { return stopping_; })) {
      lock.unlock();
      Round();
      lock.lock();
    }
  }

  // One round: check the connection (losing it loses every lease), then
  // try to take the leases not held.
  void Round() {
    absl::Status up = connection_->EnsureConnected();
    if (up.ok()) up = connection_->Exec("SELECT 1").status();
    if (!up.ok()) {
      SetAll(false, up.message());
      return;
    }
    std::vector<std::string> free;
    std::vector<std::string> releasing;
    {
      std::lock_guard<std::mutex> lock(mu_);
      releasing.swap(releasing_);
    }
    for (const std::string& partner : releasing) {
      // A lost connection released it already; nothing to undo then.
      (void)connection_->Exec(
          "SELECT pg_advisory_unlock($1, hashtext('outbox ' || $2))",
          {pg::Int(kLockSpace), pg::Text(partner)});
      (void)connection_->Exec(
          "DELETE FROM outbox_leases WHERE partner = $1 AND holder = $2",
          {pg::Text(partner), pg::Text(holder_)});
      log::Info("outbox_lease_released", {{"partner", partner}, {"holder", holder_}});
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [partner, held] : held_) {
        if (!held) free.push_back(partner);
      }
    }
    for (const std::string& partner : free) {
      absl::StatusOr<pg::Result> taken = connection_->Exec(
          "SELECT pg_try_advisory_lock($1, hashtext('outbox ' || $2))",
          {pg::Int(kLockSpace), pg::Text(partner)});
      if (!taken.ok()) {
        SetAll(false, taken.status().message());
        return;
      }
      if (taken->Int(0, 0) == 0) continue;  // another replica holds it
      (void)connection_->Exec(
          "INSERT INTO outbox_leases(partner, holder, expires_at_us) "
          "VALUES ($1, $2, 0) ON CONFLICT(partner) DO UPDATE SET "
          "holder = excluded.holder",
          {pg::Text(partner), pg::Text(holder_)});
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = held_.find(partner);
        if (it == held_.end()) {
          releasing_.push_back(partner);  // removed meanwhile: next round
          continue;
        }
        it->second = true;
      }
      log::Info("outbox_lease_taken", {{"partner", partner}, {"holder", holder_}});
    }
  }

  void SetAll(bool held, absl::string_view reason) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [partner, h] : held_) {
      if (h && !held) {
        log::Warn("outbox_lease_lost",
                  {{"partner", partner}, {"reason", std::string(reason)}});
      }
      h = held;
    }
  }

  const std::string dsn_;
  const std::string holder_;
  std::unique_ptr<pg::Connection> connection_;  // the lease thread's
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, bool> held_;  // guarded by mu_
  // Leases of removed partners still to give back.
  std::vector<std::string> releasing_;  // guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OutboxLeases>> OpenOutboxLeases(
    const config::StoreConfig& config, const std::vector<std::string>& partners,
    const std::string& holder) {
  if (config.backend != config::StoreBackend::kPostgresql) {
    return std::unique_ptr<OutboxLeases>(std::make_unique<EveryOutboxLeased>());
  }
  auto leases =
      std::make_unique<PostgresOutboxLeases>(config.dsn, partners, holder);
  HG_RETURN_IF_ERROR(leases->Start());
  return std::unique_ptr<OutboxLeases>(std::move(leases));
}

}  // namespace havengate::store
