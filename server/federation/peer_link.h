// PeerLink: the sending side of federation towards one partner. It keeps
// one Exchange stream open to the partner's gateway and sends that
// partner's durable outbox in order (the store says what the partner is
// sent; the link builds the wire message), with a window of unacknowledged
// messages; acknowledged messages leave the outbox (and are audited as
// delivered, or refused). A partner that announces batches (wire_batch.h)
// is sent what is ready several entries to a message and answers several
// to a message; nothing waits to fill a batch. On any failure it reconnects with capped
// exponential backoff and full jitter and resends everything not yet
// acknowledged — the receiver deduplicates. Messages past their expiry are
// dropped and audited instead of sent.
//
// Every break has a reason (LinkBreak, link_break.h): the status the peer
// ended the stream with is read before anything is cancelled. A peer that
// answers but cannot take messages now (out of space, unavailable) is
// retried within `answering_max_backoff`; one that does not answer, or
// refuses, is backed off exponentially up to `max_backoff`. A run of breaks
// with one reason is an episode: logged once when it starts
// (peer_link_broken) and once when it ends (peer_link_recovered: the queue
// was drained, or messages flowed and the next break had another reason);
// every break is reported to the observer.
//
// Ownership and threads: the link owns one thread, started by Start() and
// ended by Stop() (or the destructor). `store` must outlive the link. The
// observer's callbacks run on the link's own thread, one at a time; they
// must be thread-safe with respect to whatever else reads what they update
// and must not call back into the link. connected() may be called from any
// thread.
#ifndef HAVENGATE_SERVER_FEDERATION_PEER_LINK_H_
#define HAVENGATE_SERVER_FEDERATION_PEER_LINK_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "havengate/v1/federation.grpc.pb.h"
#include "server/federation/link_break.h"
#include "server/store/store.h"

namespace havengate::server {

struct PeerLinkOptions {
  // The partner's organisation id (the outbox name) and gateway address.
  std::string partner;
  std::string address;
  // This gateway's SPIFFE id (the actor of delivery records).
  std::string gateway_spiffe_id;
  // Messages sent but not yet acknowledged.
  int window = 512;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  // The longest wait after a break for which RetrySoon(reason) holds.
  absl::Duration answering_max_backoff = absl::Seconds(2);
  int max_message_bytes = 4 << 20;
  // Bounds of one batch (several outbox entries in one message, once the
  // partner announced it takes them). Nothing waits to fill a batch: it
  // holds what is ready to send, so batches grow only under load. An entry
  // larger than `batch_max_bytes` goes alone.
  int batch_max_entries = 128;
  int batch_max_bytes = 256 << 10;
  // false: batches are not announced, so one entry goes per message and
  // each is answered alone (as links did before batches; the federation
  // benchmark compares the two).
  bool batches = true;
};

// What the link reports, for metrics and health.
struct PeerLinkObserver {
  std::function<void(const std::string& partner, bool connected)> on_state;
  // Time from enqueue to acknowledgement of a delivered message.
  std::function<void(const std::string& partner, absl::Duration latency)>
      on_delivered;
  // Every break of the link, with its reason.
  std::function<void(const std::string& partner, LinkBreak reason)> on_break;
};

class PeerLink {
 public:
  // `store` must outlive the link; `credentials` are this gateway's
  // (mutual TLS towards the partner's gateway).
  PeerLink(PeerLinkOptions options,
           std::shared_ptr<grpc::ChannelCredentials> credentials,
           store::Store& store, PeerLinkObserver observer = {});
  // Stops the link (see Stop()).
  ~PeerLink();

  // Starts delivering on the link's thread. Call once: a second call, or a
  // call after Stop(), does nothing (a stopped link is not restarted; make
  // a new one).
  void Start();
  // Ends the stream and the thread, waiting for the thread; unacknowledged
  // messages stay queued in the store. Idempotent; safe from any thread
  // but the link's own (an observer callback).
  void Stop();

  bool connected() const { return connected_; }
  // The reason of the episode of breaks under way ("" when the link last
  // delivered, or never broke). Any thread.
  std::string break_reason() const;

 private:
  void Run();
  // Waits (a few seconds at most) until `channel` is connected; false if
  // it is not, or Stop() was called.
  bool WaitForConnected(grpc::Channel& channel);
  // Why the last connection attempt failed: the error of a short call on
  // the failed channel ("" if it could not be had).
  std::string ConnectError(grpc::Channel& channel, v1::Federation::Stub& stub);
  // One connected session: returns why it ended (meaningless once Stop()
  // was called). Sets `made_progress` if anything was settled.
  struct SessionEnd {
    LinkBreak reason = LinkBreak::kStreamBroken;
    std::string detail;
  };
  SessionEnd RunSession(v1::Federation::Stub& stub, bool* made_progress);
  // Logs the start and end of episodes and reports `reason` (link thread).
  void NoteBreak(LinkBreak reason, const std::string& detail,
                 absl::Duration retry_in);
  void NoteProgress();

  PeerLinkOptions options_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  store::Store& store_;
  PeerLinkObserver observer_;

  bool started_ = false;  // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  // The episode under way: its reason (-1: none), start and break count.
  std::atomic<int> episode_reason_{-1};
  absl::Time episode_start_;  // link thread only
  int episode_breaks_ = 0;    // link thread only
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* active_context_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_PEER_LINK_H_
