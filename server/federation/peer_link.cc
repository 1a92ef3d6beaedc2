#include "server/federation/peer_link.h"

#include <map>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/audit/audit_record.h"
#include "proto/push_batch.h"
#include "server/federation/wire_batch.h"
#include "server/logging/log.h"

namespace havengate::server {
namespace {

constexpr int kReadBatch = 128;
constexpr absl::Duration kIdleWait = absl::Milliseconds(250);
constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
// How long sent messages may go unacknowledged, with nothing more to send,
// before the stream is half-closed. A receiver that defers a message (out
// of space, store unavailable) sends no acknowledgement and ends the stream
// only when it reads again; half-closing lets it finish and say why.
constexpr absl::Duration kAckStall = absl::Seconds(1);
constexpr absl::Duration kProbeTimeout = absl::Seconds(1);

// Sent (or locally settled) messages of one session, by sequence.
struct Pending {
  v1::AuditRecord record;    // what to audit once settled
  absl::Time enqueued_at;
  bool settled = false;      // acknowledged, refused or expired
  bool delivered = false;    // acknowledged OK
};

}  // namespace

PeerLink::PeerLink(PeerLinkOptions options,
                   std::shared_ptr<grpc::ChannelCredentials> credentials,
                   store::Store& store, PeerLinkObserver observer)
    : options_(std::move(options)),
      credentials_(std::move(credentials)),
      store_(store),
      observer_(std::move(observer)) {}

PeerLink::~PeerLink() { Stop(); }

void PeerLink::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void PeerLink::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (active_context_ != nullptr) active_context_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PeerLink::WaitForConnected(grpc::Channel& channel) {
  // In short slices, so that Stop() does not wait out a connection attempt
  // to a partner that is down.
  const absl::Time deadline = absl::Now() + kConnectTimeout;
  while (!stopping_) {
    absl::Time slice = std::min(deadline, absl::Now() + kIdleWait);
    if (channel.WaitForConnected(absl::ToChronoTime(slice))) return true;
    if (absl::Now() >= deadline) return false;
  }
  return false;
}

void PeerLink::Run() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_bytes);
  args.SetMaxSendMessageSize(options_.max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  // Reconnection pacing is ours (below); keep gRPC's own short.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(options_.address, credentials_, args);
  auto stub = v1::Federation::NewStub(channel);

  std::mt19937_64 random(std::random_device{}());
  absl::Duration backoff = options_.initial_backoff;
  while (!stopping_) {
    if (!MayDeliver()) {  // another replica holds the outbox lease
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(kIdleWait),
                   [&] { return stopping_.load(); });
      continue;
    }
    // Connect only when there is something to send.
    uint64_t cursor = store_.LastCursor();
    auto head = store_.ReadOutbox(options_.partner, 0, 1);
    if (head.ok() && head->empty()) {
      store_.WaitForEvents(cursor, absl::Now() + kIdleWait);
      continue;
    }
    SessionEnd end;
    bool progress = false;
    if (!WaitForConnected(*channel)) {
      if (stopping_) break;
      end.detail = ConnectError(*channel, *stub);
      if (stopping_) break;
      end.reason = ClassifyConnectFailure(end.detail);
    } else {
      connected_ = true;
      if (observer_.on_state) observer_.on_state(options_.partner, true);
      log::Info("peer_link_connected", {{"partner", options_.partner},
                                        {"address", options_.address}});
      end = RunSession(*stub, &progress);
      connected_ = false;
      if (observer_.on_state) observer_.on_state(options_.partner, false);
    }
    if (stopping_) break;
    if (!MayDeliver()) continue;  // the lease moved on: not a break
    if (progress) {
      backoff = options_.initial_backoff;
      // Messages flowed and the link broke for another reason: the
      // earlier episode is over. (The same reason again continues it: a
      // peer nearly out of space may take a few messages at a time.)
      if (static_cast<int>(end.reason) != episode_reason_) NoteProgress();
    }
    // Full jitter: a uniformly random wait up to the current backoff, so
    // many gateways reconnecting to one peer do not arrive in lockstep. A
    // peer that answered is asked again soon: it may have space again.
    absl::Duration limit = backoff;
    if (RetrySoon(end.reason)) {
      limit = std::min(limit, options_.answering_max_backoff);
    }
    std::uniform_int_distribution<int64_t> jitter(
        0, absl::ToInt64Milliseconds(limit));
    absl::Duration wait = absl::Milliseconds(jitter(random));
    NoteBreak(end.reason, end.detail, wait);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(wait),
                 [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::string PeerLink::break_reason() const {
  int reason = episode_reason_;
  if (reason < 0) return "";
  return std::string(LinkBreakName(static_cast<LinkBreak>(reason)));
}

std::string PeerLink::ConnectError(grpc::Channel& channel,
                                   v1::Federation::Stub& stub) {
  // A channel whose attempt failed (rather than one still trying) fails a
  // call at once with the attempt's error: connection refused, or the
  // handshake's failure. The call sends nothing.
  if (channel.GetState(false) != GRPC_CHANNEL_TRANSIENT_FAILURE) {
    return "no connection within the connect timeout";
  }
  grpc::ClientContext probe;
  probe.set_deadline(absl::ToChronoTime(absl::Now() + kProbeTimeout));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return "";
    active_context_ = &probe;
  }
  auto stream = stub.Exchange(&probe);
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_context_ = nullptr;
  }
  return status.error_message();
}

void PeerLink::NoteBreak(LinkBreak reason, const std::string& detail,
                         absl::Duration retry_in) {
  if (observer_.on_break) observer_.on_break(options_.partner, reason);
  const int code = static_cast<int>(reason);
  if (episode_reason_ == code) {
    ++episode_breaks_;
    return;
  }
  episode_reason_ = code;
  episode_start_ = absl::Now();
  episode_breaks_ = 1;
  log::Warn("peer_link_broken",
            {{"partner", options_.partner},
             {"reason", std::string(LinkBreakName(reason))},
             {"detail", detail},
             {"retry_in_ms", absl::ToInt64Milliseconds(retry_in)}});
}

void PeerLink::NoteProgress() {
  const int code = episode_reason_.exchange(-1);
  if (code < 0) return;
  log::Info("peer_link_recovered",
            {{"partner", options_.partner},
             {"reason", std::string(LinkBreakName(static_cast<LinkBreak>(code)))},
             {"breaks", episode_breaks_},
             {"down_ms", absl::ToInt64Milliseconds(absl::Now() - episode_start_)}});
}

PeerLink::SessionEnd PeerLink::RunSession(v1::Federation::Stub& stub,
                                          bool* made_progress) {
  grpc::ClientContext context;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return {};
    active_context_ = &context;
  }
  if (options_.batches) context.AddMetadata(kBatchKey, kBatchValue);
  auto stream = stub.Exchange(&context);

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Pending> pending;
  bool broken = false;

  // Settles the oldest messages that are done, in order, and removes them
  // from the outbox together with their audit records. Called with `mu`.
  auto advance = [&]() {
    uint64_t watermark = 0;
    std::vector<v1::AuditRecord> records;
    while (!pending.empty() && pending.begin()->second.settled) {
      Pending& p = pending.begin()->second;
      if (p.delivered && observer_.on_delivered) {
        observer_.on_delivered(options_.partner, absl::Now() - p.enqueued_at);
      }
      audit::AddSettledRecord(std::move(p.record), records);
      watermark = pending.begin()->first;
      pending.erase(pending.begin());
    }
    if (watermark == 0) return;
    *made_progress = true;
    store_.AckOutboxAsync(options_.partner, watermark, std::move(records),
                          [partner = options_.partner](absl::Status s) {
                            if (!s.ok()) {
                              log::Error("outbox_ack_failed",
                                         {{"partner", partner},
                                          {"reason", s.message()}});
                            }
                          });
    cv.notify_all();
  };

  absl::Time last_activity = absl::Now();  // guarded by mu
  // Settles one acknowledged message. Called with `mu`.
  auto settle = [&](const v1::FederationAck& ack) {
    auto it = pending.find(ack.sequence());
    if (it == pending.end() || it->second.settled) return;
    Pending& p = it->second;
    p.settled = true;
    if (ack.code() == 0) {
      p.delivered = true;
      return;
    }
    // Refused for good by the partner: audited, not resent.
    p.record.set_type(v1::DELIVERY_REFUSED);
    p.record.set_reason(absl::StrCat(
        absl::StatusCodeToString(static_cast<absl::StatusCode>(ack.code())),
        ": ", ack.message()));
    log::Warn("delivery_refused", {{"partner", options_.partner},
                                   {"sequence", ack.sequence()},
                                   {"reason", ack.message()}});
  };
  // The largest batch the partner takes, in bytes; 0 until it announced
  // batches (its initial metadata, which the reader waits for).
  std::atomic<int> peer_batch_bytes{0};
  std::thread reader([&] {
    stream->WaitForInitialMetadata();
    const auto& initial = context.GetServerInitialMetadata();
    if (auto it = initial.find(kBatchKey); it != initial.end()) {
      peer_batch_bytes = BatchBytesFor(
          absl::string_view(it->second.data(), it->second.size()),
          options_.batch_max_bytes);
    }
    v1::FederationAck ack;
    while (stream->Read(&ack)) {
      std::lock_guard<std::mutex> lock(mu);
      last_activity = absl::Now();
      if (ack.batch_size() > 0) {
        for (const v1::FederationAck& entry : ack.batch()) settle(entry);
      } else {
        settle(ack);
      }
      advance();
    }
    std::lock_guard<std::mutex> lock(mu);
    broken = true;
    cv.notify_all();
  });

  uint64_t sent = 0;
  bool local_error = false;
  v1::FederationMessage message;
  while (!stopping_) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (broken) break;
    }
    if (!MayDeliver()) {
      stream->WritesDone();
      break;
    }
    uint64_t cursor = store_.LastCursor();
    auto records = store_.ReadOutbox(options_.partner, sent, kReadBatch);
    if (!records.ok()) {
      log::Error("outbox_read_failed", {{"partner", options_.partner},
                                        {"reason", records.status().message()}});
      local_error = true;
      break;
    }
    if (records->empty()) {
      bool drained;
      bool stalled;
      {
        std::lock_guard<std::mutex> lock(mu);
        drained = pending.empty() && *made_progress;
        stalled = !pending.empty() && absl::Now() - last_activity > kAckStall;
      }
      if (stalled) {
        stream->WritesDone();
        break;
      }
      // Everything queued was settled: the episode of breaks, if any, is over.
      if (drained) NoteProgress();
      store_.WaitForEvents(cursor, absl::Now() + kIdleWait);
      continue;
    }
    bool write_failed = false;
    // What is ready goes out now, several entries per message when the
    // partner takes batches: a batch is flushed when it is full, when the
    // window is, and when the records read are all in it.
    message.Clear();
    size_t batch_bytes = 0;
    auto flush = [&]() {
      if (message.batch_size() == 0 && message.payload_case() ==
                                           v1::FederationMessage::PAYLOAD_NOT_SET) {
        return true;
      }
      bool written = stream->Write(message);
      message.Clear();
      batch_bytes = 0;
      return written;
    };
    for (store::OutboxRecord& record : *records) {
      std::unique_lock<std::mutex> lock(mu);
      if (static_cast<int>(pending.size()) >= options_.window &&
          message.batch_size() > 0) {
        lock.unlock();
        if (!flush()) {
          write_failed = true;
          break;
        }
        lock.lock();
      }
      cv.wait(lock, [&] {
        return broken || stopping_ ||
               static_cast<int>(pending.size()) < options_.window;
      });
      if (broken || stopping_) {
        write_failed = true;
        break;
      }
      sent = record.sequence;
      if (!record.readable()) {
        log::Error("outbox_entry_unreadable", {{"partner", options_.partner},
                                               {"sequence", record.sequence}});
        // Settled (it can never be sent) and on record as such; without a
        // type the record would have gone into the chain as UNSPECIFIED.
        Pending& p = pending[record.sequence];
        p.settled = true;
        p.record = audit::MakeAuditRecord(v1::DELIVERY_REFUSED, options_.gateway_spiffe_id);
        p.record.set_partner(options_.partner);
        p.record.set_reason("the outbox entry cannot be read; it was not sent");
        p.record.set_detail(absl::StrCat("outbox sequence ", record.sequence));
        advance();
        continue;
      }
      Pending& p = pending[record.sequence];
      p.enqueued_at = record.enqueued_at;
      const bool outcome = record.request_outcome.has_value();
      const bool retraction = !record.item.has_value() && !outcome;
      p.record = audit::MakeAuditRecord(
          v1::ITEM_DELIVERED, options_.gateway_spiffe_id,
          record.item.has_value() ? &*record.item : nullptr);
      p.record.set_partner(options_.partner);
      if (retraction) {
        p.record.mutable_item()->set_origin(record.retraction->origin());
        p.record.mutable_item()->set_item_id(record.retraction->item_id());
        p.record.set_detail("retraction");
      } else if (outcome) {
        const v1::FieldRequestOutcome& o = *record.request_outcome;
        p.record.set_request_id(o.request_id());
        p.record.set_detail(absl::StrCat("request outcome: ",
                                         v1::FieldRequest::State_Name(o.state())));
        if (o.has_release()) {
          p.record.mutable_item()->set_origin(o.release().origin());
          p.record.mutable_item()->set_item_id(o.release().item_id());
          p.record.mutable_item()->set_version(o.release().version());
        }
      }
      if (record.expires_at != absl::InfinitePast() &&
          absl::Now() >= record.expires_at) {
        p.settled = true;
        p.record.set_type(v1::DELIVERY_EXPIRED);
        p.record.set_reason("expires_at passed before delivery");
        advance();
        continue;
      }
      last_activity = absl::Now();
      lock.unlock();
      // The wire entry: what the store says this partner is sent.
      const int batch_limit = peer_batch_bytes;
      const size_t entry_bytes =
          outcome      ? record.request_outcome->ByteSizeLong()
          : retraction ? record.retraction->ByteSizeLong()
                       : record.item->ByteSizeLong();
      if (batch_limit > 0 && message.batch_size() > 0 &&
          (message.batch_size() >= options_.batch_max_entries ||
           batch_bytes + entry_bytes > static_cast<size_t>(batch_limit))) {
        if (!flush()) {
          write_failed = true;
          break;
        }
      }
      v1::FederationMessage* entry =
          batch_limit > 0 ? message.add_batch() : &message;
      entry->set_sequence(record.sequence);
      if (outcome) {
        entry->mutable_request_outcome()->Swap(&*record.request_outcome);
      } else if (retraction) {
        entry->mutable_retraction()->Swap(&*record.retraction);
      } else {
        entry->mutable_item()->Swap(&*record.item);
      }
      batch_bytes += entry_bytes + 16;
      if (batch_limit == 0 && !flush()) {
        write_failed = true;
        break;
      }
    }
    if (!write_failed && !flush()) write_failed = true;
    if (write_failed) break;
  }
  // The status the peer ended the stream with says why it broke: read it
  // before cancelling anything. A failed write means the call is over and
  // the reader ends by itself; the wait is bounded all the same.
  {
    std::unique_lock<std::mutex> lock(mu);
    if (!stopping_ && !local_error) {
      cv.wait_for(lock, absl::ToChronoMilliseconds(kConnectTimeout),
                  [&] { return broken; });
    }
    if (!broken) context.TryCancel();
  }
  reader.join();
  grpc::Status status = stream->Finish();
  // Store writes run in order: once this empty append is done, every
  // acknowledgement queued above has removed its messages, so the next
  // session does not resend (or re-audit) them.
  (void)store_.AppendAudit({});
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_context_ = nullptr;
  }
  SessionEnd end;
  if (local_error) {
    end.reason = LinkBreak::kLocalError;
    end.detail = "cannot read the outbox";
    return end;
  }
  std::string peer_reason;
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find(kBreakReasonKey); it != trailers.end()) {
    peer_reason.assign(it->second.data(), it->second.size());
  }
  end.reason = ClassifyStreamEnd(status, peer_reason);
  end.detail = status.ok() ? "the partner closed the stream"
                           : absl::StrCat(absl::StatusCodeToString(
                                              static_cast<absl::StatusCode>(
                                                  status.error_code())),
                                          ": ", status.error_message());
  return end;
}

}  // namespace havengate::server
