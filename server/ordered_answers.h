// OrderedAnswers: the answers of one bidirectional stream (PushStream,
// Federation.Exchange), released strictly in the order the requests
// arrived, although they complete out of order (a refused item is answered
// at once, an accepted one when the store has made it durable). It also
// bounds how many requests are unanswered: the reader blocks when the window
// is full, which is the stream's flow control towards the sender.
//
// Thread-safe: one reader reserves slots, any thread completes them, one
// writer takes answers.
#ifndef HAVENGATE_SERVER_ORDERED_ANSWERS_H_
#define HAVENGATE_SERVER_ORDERED_ANSWERS_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace havengate::server {

template <typename Answer>
class OrderedAnswers {
 public:
  explicit OrderedAnswers(int window) : window_(window) {}

  // Reserves the next slot, blocking while `window` answers are pending.
  // Returns false if the stream was abandoned.
  bool Reserve(uint64_t* index) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return abandoned_ || static_cast<int>(slots_.size()) < window_;
    });
    if (abandoned_) return false;
    *index = next_index_++;
    slots_.emplace_back();
    return true;
  }

  void Complete(uint64_t index, Answer answer) {
    std::lock_guard<std::mutex> lock(mu_);
    slots_[static_cast<size_t>(index - first_index_)] = std::move(answer);
    cv_.notify_all();
  }

  // The oldest answer once it is complete; nullopt when the reader is done
  // and every answer was taken, or the stream was abandoned.
  std::optional<Answer> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return abandoned_ || (!slots_.empty() && slots_.front().has_value()) ||
             (reading_done_ && slots_.empty());
    });
    if (abandoned_ || slots_.empty()) return std::nullopt;
    Answer answer = std::move(*slots_.front());
    slots_.pop_front();
    ++first_index_;
    cv_.notify_all();
    return answer;
  }

  // No more requests will be reserved.
  void ReadingDone() {
    std::lock_guard<std::mutex> lock(mu_);
    reading_done_ = true;
    cv_.notify_all();
  }

  // The peer went away: wake everyone, answer nothing more.
  void Abandon() {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
    cv_.notify_all();
  }

  // Blocks until every reserved slot was completed, so no pending callback
  // still refers to this object.
  void AwaitAllCompleted() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      for (const auto& slot : slots_) {
        if (!slot.has_value()) return false;
      }
      return true;
    });
  }

 private:
  const int window_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::optional<Answer>> slots_;
  uint64_t first_index_ = 0;
  uint64_t next_index_ = 0;
  bool reading_done_ = false;
  bool abandoned_ = false;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_ORDERED_ANSWERS_H_
