// Key material for the `pseudonymise` transform and the keyed hash that uses
// it.
//
// A pseudonym is `ps:` followed by the first 32 lower-case hex characters
// of HMAC-SHA-256(key, value): the same value under the same key always
// gives the same pseudonym, so a partner can correlate repeats without
// learning the value, and without the key nobody can test guesses.
//
// `SecretKey` holds key bytes as a type of its own, in the spirit of Tink's
// SecretData: it has no accessor, no printer and no copy, so key material
// cannot end up in a log line or an error message by accident; it is wiped
// when destroyed. Policies refer to key files, never to key bytes.
//
// `Pseudonymiser` is immutable after construction and thread-safe; it keeps
// the HMAC inner and outer SHA-256 states precomputed so each pseudonym
// costs two compressions, not a key schedule.
#ifndef HAVENGATE_POLICY_PSEUDONYMISER_H_
#define HAVENGATE_POLICY_PSEUDONYMISER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace havengate::policy {

// Key files must hold at least this many bytes (256 bits).
inline constexpr size_t kMinKeyBytes = 32;
// Larger files are refused: a key file is not a place for anything else.
inline constexpr size_t kMaxKeyBytes = 4096;

class SecretKey {
 public:
  // Reads the whole file as raw key bytes. NOT_FOUND if it does not exist,
  // PERMISSION_DENIED if unreadable, INVALID_ARGUMENT if it holds fewer
  // than kMinKeyBytes or more than kMaxKeyBytes bytes. Messages name the
  // path, never the content.
  [[nodiscard]] static absl::StatusOr<SecretKey> ReadFile(
      const std::string& path);
  // Key bytes from memory; for tests only (grep for ForTesting).
  static SecretKey FromBytesForTesting(absl::string_view bytes);

  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  size_t size() const { return bytes_.size(); }

 private:
  friend class Pseudonymiser;
  explicit SecretKey(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string bytes_;
};

class Pseudonymiser {
 public:
  // Precomputes the HMAC state for `key`. INTERNAL if libcrypto fails.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<const Pseudonymiser>>
  Create(const SecretKey& key);

  ~Pseudonymiser();
  Pseudonymiser(const Pseudonymiser&) = delete;
  Pseudonymiser& operator=(const Pseudonymiser&) = delete;

  // `ps:` + 32 hex characters. Fails closed: if libcrypto fails, returns
  // `ps:error` (which carries nothing of the value) rather than the value.
  std::string Pseudonymise(absl::string_view value) const;
  void PseudonymiseTo(absl::string_view value, std::string* out) const;

  // The raw 32-byte HMAC-SHA-256, for known-answer tests of the construction.
  std::string HmacForTesting(absl::string_view value) const;

 private:
  struct State;
  explicit Pseudonymiser(std::unique_ptr<State> state);
  bool Hmac(absl::string_view value, unsigned char out[32]) const;
  std::unique_ptr<State> state_;
};

// Creates `path` holding 32 random bytes from the operating system, readable
// by the owner only (0600). Never overwrites: ALREADY_EXISTS if the file
// exists. For key set-up by tests, the demo and `havenctl policy keygen`.
[[nodiscard]] absl::Status CreateRandomKeyFile(const std::string& path);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_PSEUDONYMISER_H_
