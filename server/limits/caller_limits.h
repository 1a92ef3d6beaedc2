// CallerLimits: per-identity admission control for the gateway's services
// (clients' Ingest and Inbox calls, peer gateways' Exchange streams). Each
// caller — the SPIFFE id its certificate proved — gets its
// own token buckets for calls started and items pushed, and a cap on the
// calls it may have open at once (streams count until they end), so one
// client, misbehaving or compromised, cannot take the store, the handler
// threads or the audit log from the others. Refusals are RESOURCE_EXHAUSTED
// naming the limit and its configuration key.
//
// Per identity, not per connection: gRPC 1.51 tells a server neither when a
// connection opens with which identity nor when it closes, so a caller's
// connections cannot be counted; its open calls can, and they are what a
// connection costs beyond its handshake (max_concurrent_streams bounds the
// calls of one connection).
//
// Thread-safe. Memory: one small entry per caller seen recently; entries of
// callers with no open call and full buckets are dropped as the table grows.
#ifndef HAVENGATE_SERVER_LIMITS_CALLER_LIMITS_H_
#define HAVENGATE_SERVER_LIMITS_CALLER_LIMITS_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace havengate::limits {

// Zero turns a limit off. Also the gateway configuration's
// `limits.per_caller` (server/config), hence these defaults.
struct CallerLimitsOptions {
  // Calls (RPCs of any kind) one caller may start per second, sustained ...
  int64_t calls_per_second = 200;
  // ... and at once after a quiet period (the bucket's size).
  int64_t call_burst = 1000;
  // The setting a call-rate refusal names (another instance limits one
  // kind of call under a setting of its own).
  std::string calls_setting = "limits.per_caller.calls_per_second";
  // Items one caller may push per second (a Push call, or one item of a
  // PushStream), sustained ... (the gateway refuses a Push beyond it, and
  // slows a PushStream down instead: it stops reading until a token is
  // there)
  int64_t items_per_second = 1000;
  // ... and at once after a quiet period.
  int64_t item_burst = 10000;
  // Calls one caller may have open at once; a stream counts until it ends.
  int64_t max_concurrent_calls = 64;
  // The clock (tests fix it).
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class CallerLimits {
 public:
  // One admitted call of a caller: holds its place among the caller's open
  // calls until destroyed. Move-only; a moved-from slot holds nothing.
  class CallSlot {
   public:
    CallSlot() = default;
    CallSlot(CallSlot&& other) noexcept;
    CallSlot& operator=(CallSlot&& other) noexcept;
    CallSlot(const CallSlot&) = delete;
    CallSlot& operator=(const CallSlot&) = delete;
    ~CallSlot();

   private:
    friend class CallerLimits;
    CallSlot(CallerLimits* limits, std::string caller)
        : limits_(limits), caller_(std::move(caller)) {}
    void Release();
    CallerLimits* limits_ = nullptr;
    std::string caller_;
  };

  explicit CallerLimits(CallerLimitsOptions options);
  CallerLimits(const CallerLimits&) = delete;
  CallerLimits& operator=(const CallerLimits&) = delete;
  // Every CallSlot must be gone first.
  ~CallerLimits() = default;

  // New limits from now on (a configuration reload), for every caller;
  // the clock stays. Callers keep their tokens and open calls.
  void SetLimits(const CallerLimitsOptions& options);

  // Admits a new call of `caller`: takes one call token and a place among
  // its open calls. RESOURCE_EXHAUSTED (and nothing taken) if either limit
  // is reached; the message names the limit.
  [[nodiscard]] absl::StatusOr<CallSlot> StartCall(absl::string_view caller);

  // Takes one item token of `caller`. OK, or RESOURCE_EXHAUSTED (nothing
  // taken) naming the limit; then `*retry_after` (if given) is how long
  // until a token is available.
  [[nodiscard]] absl::Status TakeItem(absl::string_view caller,
                                      absl::Duration* retry_after = nullptr);

  // Counts a refusal of `caller` and says whether to log and audit it: the
  // first refusal, then at most one per `kReportInterval`, so a caller
  // hammering a limit cannot flood the log and the audit chain. Returns the
  // refusals since the last report (this one included), or 0: stay quiet.
  int64_t NoteRefusal(absl::string_view caller);

  static constexpr absl::Duration kReportInterval = absl::Seconds(10);

  // Callers with an entry (for tests of the clean-up).
  size_t TrackedCallersForTesting();

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled = absl::InfinitePast();
  };
  struct Entry {
    Bucket calls;
    Bucket items;
    int64_t open_calls = 0;
    int64_t refusals_unreported = 0;
    absl::Time last_report = absl::InfinitePast();
  };

  // Creates a new caller's entry with full buckets. Requires mu_.
  Entry& Lookup(absl::string_view caller, absl::Time now);
  // Drops idle entries once the table has doubled. Requires mu_.
  void MaybeSweep(absl::Time now);
  void EndCall(const std::string& caller);

  // Guarded by mu_, except `now`, which never changes.
  CallerLimitsOptions options_;
  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for
  // ThreadSanitizer.
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  size_t sweep_at_ = 1024;                          // guarded by mu_
};

}  // namespace havengate::limits

#endif  // HAVENGATE_SERVER_LIMITS_CALLER_LIMITS_H_
