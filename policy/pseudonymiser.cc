#include "policy/pseudonymiser.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "proto/digest.h"

namespace havengate::policy {
namespace {

constexpr size_t kBlockBytes = 64;  // SHA-256 block size.
constexpr size_t kPseudonymHexChars = 32;

// One working digest context per thread, reused so that a pseudonym costs
// no allocation; copying the precomputed states into it is cheap.
class WorkingContext {
 public:
  WorkingContext() : ctx_(EVP_MD_CTX_new()) {}
  ~WorkingContext() { EVP_MD_CTX_free(ctx_); }
  EVP_MD_CTX* get() { return ctx_; }

 private:
  EVP_MD_CTX* ctx_;
};

EVP_MD_CTX* ThreadContext() {
  thread_local WorkingContext context;
  return context.get();
}

}  // namespace

SecretKey::SecretKey(SecretKey&& other) noexcept
    : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

SecretKey::~SecretKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

absl::StatusOr<SecretKey> SecretKey::ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("key file ", path, " does not exist"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("key file ", path, " is not readable"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot open key file ", path, ": ", std::strerror(err)));
  }
  std::string bytes(kMaxKeyBytes + 1, '\0');
  size_t total = 0;
  while (total < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + total, bytes.size() - total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      OPENSSL_cleanse(bytes.data(), bytes.size());
      return absl::UnavailableError(
          absl::StrCat("cannot read key file ", path, ": ", std::strerror(err)));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  ::close(fd);
  if (total < kMinKeyBytes || total > kMaxKeyBytes) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return absl::InvalidArgumentError(absl::StrCat(
        "key file ", path, " holds ", total > kMaxKeyBytes ? "more than " : "",
        total > kMaxKeyBytes ? kMaxKeyBytes : total, " bytes; a key needs ",
        kMinKeyBytes, " to ", kMaxKeyBytes, " random bytes"));
  }
  // Shrink in place (no reallocation) so no stray copy of the key remains.
  std::memset(bytes.data() + total, 0, bytes.size() - total);
  bytes.resize(total);
  return SecretKey(std::move(bytes));
}

SecretKey SecretKey::FromBytesForTesting(absl::string_view bytes) {
  return SecretKey(std::string(bytes));
}

struct Pseudonymiser::State {
  EVP_MD_CTX* inner = nullptr;  // SHA-256 after absorbing key ^ ipad.
  EVP_MD_CTX* outer = nullptr;  // SHA-256 after absorbing key ^ opad.
  ~State() {
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
  }
};

Pseudonymiser::Pseudonymiser(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
Pseudonymiser::~Pseudonymiser() = default;

absl::StatusOr<std::unique_ptr<const Pseudonymiser>> Pseudonymiser::Create(
    const SecretKey& key) {
  // RFC 2104: keys longer than a block are hashed first.
  unsigned char block[kBlockBytes] = {0};
  if (key.bytes_.size() > kBlockBytes) {
    unsigned int len = 0;
    if (EVP_Digest(key.bytes_.data(), key.bytes_.size(), block, &len,
                   EVP_sha256(), nullptr) != 1) {
      return absl::InternalError("SHA-256 failed");
    }
  } else {
    std::memcpy(block, key.bytes_.data(), key.bytes_.size());
  }
  auto state = std::make_unique<State>();
  state->inner = EVP_MD_CTX_new();
  state->outer = EVP_MD_CTX_new();
  unsigned char pad[kBlockBytes];
  bool ok = state->inner != nullptr && state->outer != nullptr;
  for (int i = 0; ok && i < 2; ++i) {
    unsigned char fill = i == 0 ? 0x36 : 0x5c;
    EVP_MD_CTX* ctx = i == 0 ? state->inner : state->outer;
    for (size_t j = 0; j < kBlockBytes; ++j) pad[j] = block[j] ^ fill;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
         EVP_DigestUpdate(ctx, pad, kBlockBytes) == 1;
  }
  OPENSSL_cleanse(block, sizeof(block));
  OPENSSL_cleanse(pad, sizeof(pad));
  if (!ok) return absl::InternalError("cannot set up HMAC-SHA-256");
  return std::unique_ptr<const Pseudonymiser>(
      new Pseudonymiser(std::move(state)));
}

bool Pseudonymiser::Hmac(absl::string_view value, unsigned char out[32]) const {
  EVP_MD_CTX* work = ThreadContext();
  unsigned char inner_hash[32];
  unsigned int len = 0;
  bool ok = work != nullptr && EVP_MD_CTX_copy_ex(work, state_->inner) == 1 &&
            EVP_DigestUpdate(work, value.data(), value.size()) == 1 &&
            EVP_DigestFinal_ex(work, inner_hash, &len) == 1 && len == 32 &&
            EVP_MD_CTX_copy_ex(work, state_->outer) == 1 &&
            EVP_DigestUpdate(work, inner_hash, 32) == 1 &&
            EVP_DigestFinal_ex(work, out, &len) == 1 && len == 32;
  return ok;
}

void Pseudonymiser::PseudonymiseTo(absl::string_view value,
                                   std::string* out) const {
  unsigned char mac[32];
  if (!Hmac(value, mac)) {
    out->assign("ps:error");
    return;
  }
  out->assign("ps:");
  AppendHex(absl::string_view(reinterpret_cast<const char*>(mac),
                              kPseudonymHexChars / 2),
            out);
}

std::string Pseudonymiser::Pseudonymise(absl::string_view value) const {
  std::string out;
  PseudonymiseTo(value, &out);
  return out;
}

std::string Pseudonymiser::HmacForTesting(absl::string_view value) const {
  unsigned char mac[32];
  if (!Hmac(value, mac)) return "";
  return std::string(reinterpret_cast<const char*>(mac), sizeof(mac));
}

absl::Status CreateRandomKeyFile(const std::string& path) {
  unsigned char bytes[kMinKeyBytes];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError("no randomness from the system");
    got += static_cast<size_t>(n);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    OPENSSL_cleanse(bytes, sizeof(bytes));
    if (err == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("key file ", path, " exists"));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot create key file ", path, ": ", std::strerror(err)));
  }
  size_t written = 0;
  while (written < sizeof(bytes)) {
    ssize_t n = ::write(fd, bytes + written, sizeof(bytes) - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    written += static_cast<size_t>(n);
  }
  OPENSSL_cleanse(bytes, sizeof(bytes));
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != sizeof(bytes) || !synced) {
    ::unlink(path.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write key file ", path));
  }
  return absl::OkStatus();
}

}  // namespace havengate::policy
