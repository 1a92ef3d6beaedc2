#include "server/maintenance.h"

namespace havengate::server {

void Maintenance::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void Maintenance::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Maintenance::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_));
    if (stopping_) break;
    lock.unlock();
    for (const auto& task : tasks_) task();
    lock.lock();
  }
}

}  // namespace havengate::server
