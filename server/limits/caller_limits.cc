#include "server/limits/caller_limits.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace havengate::limits {
namespace {

// Adds what `rate` per second earned since the last refill, up to `burst`.
template <typename Bucket>
void Refill(Bucket& bucket, int64_t rate, int64_t burst, absl::Time now) {
  if (bucket.refilled == absl::InfinitePast() || now < bucket.refilled) {
    bucket.refilled = now;
    return;
  }
  bucket.tokens = std::min<double>(
      static_cast<double>(burst),
      bucket.tokens + static_cast<double>(rate) *
                          absl::ToDoubleSeconds(now - bucket.refilled));
  bucket.refilled = now;
}

template <typename Bucket>
bool Full(const Bucket& bucket, int64_t rate, int64_t burst, absl::Time now) {
  if (rate == 0) return true;
  double tokens = bucket.tokens + static_cast<double>(rate) *
                                      absl::ToDoubleSeconds(now - bucket.refilled);
  return tokens >= static_cast<double>(burst);
}

// How long until a bucket with `tokens` holds one.
absl::Duration TimeToToken(double tokens, int64_t rate) {
  return absl::Seconds((1.0 - tokens) / static_cast<double>(rate));
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.1f s", std::max(0.1, absl::ToDoubleSeconds(d)));
}

}  // namespace

CallerLimits::CallSlot::CallSlot(CallSlot&& other) noexcept
    : limits_(std::exchange(other.limits_, nullptr)),
      caller_(std::move(other.caller_)) {}

CallerLimits::CallSlot& CallerLimits::CallSlot::operator=(
    CallSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
    caller_ = std::move(other.caller_);
  }
  return *this;
}

CallerLimits::CallSlot::~CallSlot() { Release(); }

void CallerLimits::CallSlot::Release() {
  if (limits_ != nullptr) limits_->EndCall(caller_);
  limits_ = nullptr;
}

CallerLimits::CallerLimits(CallerLimitsOptions options)
    : options_(std::move(options)) {}

CallerLimits::Entry& CallerLimits::Lookup(absl::string_view caller,
                                          absl::Time now) {
  auto it = entries_.find(std::string(caller));
  if (it != entries_.end()) return it->second;
  MaybeSweep(now);
  Entry& entry = entries_[std::string(caller)];
  entry.calls.tokens = static_cast<double>(options_.call_burst);
  entry.calls.refilled = now;
  entry.items.tokens = static_cast<double>(options_.item_burst);
  entry.items.refilled = now;
  return entry;
}

void CallerLimits::MaybeSweep(absl::Time now) {
  if (entries_.size() < sweep_at_) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    const bool idle =
        e.open_calls == 0 && e.refusals_unreported == 0 &&
        Full(e.calls, options_.calls_per_second, options_.call_burst, now) &&
        Full(e.items, options_.items_per_second, options_.item_burst, now);
    it = idle ? entries_.erase(it) : std::next(it);
  }
  sweep_at_ = std::max<size_t>(1024, 2 * entries_.size());
}

absl::StatusOr<CallerLimits::CallSlot> CallerLimits::StartCall(
    absl::string_view caller) {
  const absl::Time now = options_.now();
  std::lock_guard<std::mutex> lock(mu_);
  Entry& entry = Lookup(caller, now);
  if (options_.max_concurrent_calls > 0 &&
      entry.open_calls >= options_.max_concurrent_calls) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many calls at once: ", caller, " has ", entry.open_calls,
        " calls open, the most one caller may have "
        "(limits.per_caller.max_concurrent_calls); finish or cancel one "
        "first"));
  }
  if (options_.calls_per_second > 0) {
    Refill(entry.calls, options_.calls_per_second, options_.call_burst, now);
    if (entry.calls.tokens < 1.0) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "rate limit: ", caller, " may start ", options_.calls_per_second,
          " calls per second (burst ", options_.call_burst,
          "; ", options_.calls_setting, "); retry in ",
          Seconds(TimeToToken(entry.calls.tokens, options_.calls_per_second))));
    }
    entry.calls.tokens -= 1.0;
  }
  ++entry.open_calls;
  return CallSlot(this, std::string(caller));
}

void CallerLimits::SetLimits(const CallerLimitsOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  // Field by field: `now` is read without the lock.
  options_.calls_per_second = options.calls_per_second;
  options_.call_burst = options.call_burst;
  options_.items_per_second = options.items_per_second;
  options_.item_burst = options.item_burst;
  options_.max_concurrent_calls = options.max_concurrent_calls;
}

absl::Status CallerLimits::TakeItem(absl::string_view caller,
                                    absl::Duration* retry_after) {
  const absl::Time now = options_.now();
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.items_per_second == 0) return absl::OkStatus();
  Entry& entry = Lookup(caller, now);
  Refill(entry.items, options_.items_per_second, options_.item_burst, now);
  if (entry.items.tokens >= 1.0) {
    entry.items.tokens -= 1.0;
    return absl::OkStatus();
  }
  const absl::Duration wait =
      TimeToToken(entry.items.tokens, options_.items_per_second);
  if (retry_after != nullptr) *retry_after = wait;
  return absl::ResourceExhaustedError(absl::StrCat(
      "rate limit: ", caller, " may push ", options_.items_per_second,
      " items per second (burst ", options_.item_burst,
      "; limits.per_caller.items_per_second); nothing was stored; retry in ",
      Seconds(wait)));
}

int64_t CallerLimits::NoteRefusal(absl::string_view caller) {
  const absl::Time now = options_.now();
  std::lock_guard<std::mutex> lock(mu_);
  Entry& entry = Lookup(caller, now);
  ++entry.refusals_unreported;
  if (entry.last_report != absl::InfinitePast() &&
      now - entry.last_report < kReportInterval) {
    return 0;
  }
  entry.last_report = now;
  return std::exchange(entry.refusals_unreported, 0);
}

void CallerLimits::EndCall(const std::string& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(caller);
  if (it != entries_.end() && it->second.open_calls > 0) --it->second.open_calls;
}

size_t CallerLimits::TrackedCallersForTesting() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace havengate::limits
