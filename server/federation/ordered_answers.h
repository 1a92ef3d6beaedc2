// OrderedAnswers: the answers of one bidirectional stream (PushStream,
// Federation.Exchange), released strictly in the order the requests
// arrived, although they complete out of order (a refused item is answered
// at once, an accepted one when the store has made it durable). It also
// bounds how many requests are unanswered: the reader blocks when the window
// is full, which is the stream's flow control towards the sender.
//
// Thread-safe: one reader reserves slots, any thread completes them, one
// writer takes answers. Each party is woken only when it can progress (the
// writer when the oldest answer completes, the reader when a slot frees),
// so a store batch completing hundreds of answers wakes the writer once,
// and the writer can take them all at once with NextReady.
#ifndef HAVENGATE_SERVER_FEDERATION_ORDERED_ANSWERS_H_
#define HAVENGATE_SERVER_FEDERATION_ORDERED_ANSWERS_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace havengate::server {

template <typename Answer>
class OrderedAnswers {
 public:
  explicit OrderedAnswers(int window) : window_(window) {}

  // Reserves the next slot, blocking while `window` answers are pending.
  // Returns false if the stream was abandoned. `before_waiting`, if set,
  // runs (without the lock) before it blocks: a reader holding requests
  // back to hand them on together must hand them on then, or the answers
  // it waits for might be among them.
  bool Reserve(uint64_t* index,
               const std::function<void()>& before_waiting = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    auto has_space = [&] {
      return abandoned_ || static_cast<int>(slots_.size()) < window_;
    };
    if (!has_space() && before_waiting) {
      lock.unlock();
      before_waiting();
      lock.lock();
    }
    space_cv_.wait(lock, has_space);
    if (abandoned_) return false;
    *index = next_index_++;
    slots_.emplace_back();
    ++incomplete_;
    return true;
  }

  void Complete(uint64_t index, Answer answer) {
    // Notified under the lock: once AwaitAllCompleted returns, the owner
    // may destroy this object.
    std::lock_guard<std::mutex> lock(mu_);
    slots_[static_cast<size_t>(index - first_index_)] = std::move(answer);
    if (index == first_index_) ready_cv_.notify_one();
    if (--incomplete_ == 0) completed_cv_.notify_all();
  }

  // The oldest answer once it is complete; nullopt when the reader is done
  // and every answer was taken, or the stream was abandoned.
  std::optional<Answer> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitForReady(lock)) return std::nullopt;
    Answer answer = PopFront();
    space_cv_.notify_one();
    return answer;
  }

  // Like Next, but takes every consecutive completed answer at once
  // (replacing the contents of `answers`, in order). Returns false, with
  // `answers` empty, when Next would return nullopt.
  bool NextReady(std::vector<Answer>* answers) {
    answers->clear();
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitForReady(lock)) return false;
    while (!slots_.empty() && slots_.front().has_value()) {
      answers->push_back(PopFront());
    }
    space_cv_.notify_one();
    return true;
  }

  // No more requests will be reserved.
  void ReadingDone() {
    std::lock_guard<std::mutex> lock(mu_);
    reading_done_ = true;
    ready_cv_.notify_all();
  }

  // The peer went away: wake everyone, answer nothing more.
  void Abandon() {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
    ready_cv_.notify_all();
    space_cv_.notify_all();
  }

  // Blocks until every reserved slot was completed, so no pending callback
  // still refers to this object.
  void AwaitAllCompleted() {
    std::unique_lock<std::mutex> lock(mu_);
    completed_cv_.wait(lock, [&] { return incomplete_ == 0; });
  }

  // After AwaitAllCompleted: the answers never taken (the stream was
  // abandoned), in order, so their outcomes can still be recorded.
  std::vector<Answer> TakeUntaken() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Answer> answers;
    while (!slots_.empty() && slots_.front().has_value()) {
      answers.push_back(PopFront());
    }
    return answers;
  }

 private:
  // Waits until the oldest answer is complete (true), or there will be
  // none to take (false).
  bool WaitForReady(std::unique_lock<std::mutex>& lock) {
    ready_cv_.wait(lock, [&] {
      return abandoned_ || (!slots_.empty() && slots_.front().has_value()) ||
             (reading_done_ && slots_.empty());
    });
    return !abandoned_ && !slots_.empty();
  }

  Answer PopFront() {
    Answer answer = std::move(*slots_.front());
    slots_.pop_front();
    ++first_index_;
    return answer;
  }

  const int window_;
  std::mutex mu_;
  std::condition_variable ready_cv_;      // the writer waits here
  std::condition_variable space_cv_;      // the reader waits here
  std::condition_variable completed_cv_;  // AwaitAllCompleted waits here
  std::deque<std::optional<Answer>> slots_;
  uint64_t first_index_ = 0;
  uint64_t next_index_ = 0;
  // Reserved slots not yet completed.
  int64_t incomplete_ = 0;
  bool reading_done_ = false;
  bool abandoned_ = false;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_ORDERED_ANSWERS_H_
