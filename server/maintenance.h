// Maintenance: the gateway's periodic work on one thread of its own — the
// health status following the store, metrics and federation health, the
// policy file picked up after an edit on disk. Tasks run one after another,
// once per interval, in the order they were added.
//
// Add every task before Start(); Stop() wakes the thread at once and waits
// for the task that runs, if any. Thread-safe for Start/Stop from any thread
// except a task's own.
#ifndef HAVENGATE_SERVER_MAINTENANCE_H_
#define HAVENGATE_SERVER_MAINTENANCE_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace havengate::server {

class Maintenance {
 public:
  explicit Maintenance(absl::Duration interval) : interval_(interval) {}
  ~Maintenance() { Stop(); }
  Maintenance(const Maintenance&) = delete;
  Maintenance& operator=(const Maintenance&) = delete;

  void Add(std::function<void()> task) { tasks_.push_back(std::move(task)); }
  // Starts the thread; the first round runs one interval from now.
  void Start();
  // Idempotent.
  void Stop();

 private:
  void Run();

  const absl::Duration interval_;
  std::vector<std::function<void()>> tasks_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_MAINTENANCE_H_
