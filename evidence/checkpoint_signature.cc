#include "evidence/checkpoint_signature.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/openssl_util.h"
#include "evidence/audit_chain.h"
#include "proto/digest.h"
#include "proto/status_macros.h"

namespace havengate::evidence {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

}  // namespace

absl::StatusOr<std::string> PublicKeyId(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key, &der);
  if (size <= 0) return pki::OpenSslInternalError("encoding a public key");
  std::string bytes(reinterpret_cast<const char*>(der),
                    static_cast<size_t>(size));
  OPENSSL_free(der);
  return Sha256Hex(bytes);
}

// --- CheckpointSigner -------------------------------------------------------

absl::StatusOr<std::unique_ptr<CheckpointSigner>> CheckpointSigner::Create(
    const std::string& certificate_file, const std::string& private_key_file,
    absl::Duration reload_interval) {
  std::unique_ptr<CheckpointSigner> signer(new CheckpointSigner(
      certificate_file, private_key_file, reload_interval));
  HG_ASSIGN_OR_RETURN(signer->current_, signer->Load());
  signer->loaded_at_ = absl::Now();
  return signer;
}

absl::StatusOr<std::shared_ptr<const CheckpointSigner::KeyPair>>
CheckpointSigner::Load() const {
  HG_ASSIGN_OR_RETURN(std::vector<pki::Certificate> chain,
                      pki::ReadCertificatesFile(certificate_file_));
  HG_ASSIGN_OR_RETURN(pki::PrivateKey key,
                      pki::PrivateKey::ReadFile(private_key_file_));
  if (!key.Matches(chain.front())) {
    return absl::InvalidArgumentError(
        absl::StrCat(private_key_file_, ": is not the key of the certificate in ",
                     certificate_file_));
  }
  HG_ASSIGN_OR_RETURN(std::string key_id, PublicKeyId(key.native()));
  return std::shared_ptr<const KeyPair>(
      new KeyPair{std::move(key), std::move(key_id)});
}

void CheckpointSigner::MaybeReload() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Now() - loaded_at_ < reload_interval_) return;
    loaded_at_ = absl::Now();
  }
  // A pair that does not load (half-rotated files) leaves the old one.
  absl::StatusOr<std::shared_ptr<const KeyPair>> pair = Load();
  if (!pair.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(*pair);
}

std::string CheckpointSigner::key_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_->key_id;
}

absl::StatusOr<CheckpointSignature> CheckpointSigner::Sign(
    uint64_t sequence, absl::string_view previous_hash) {
  MaybeReload();
  std::shared_ptr<const KeyPair> pair;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pair = current_;
  }
  std::string message = CheckpointSignedBytes(sequence, previous_hash);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t size = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                         pair->key.native()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return pki::OpenSslInternalError("signing an audit checkpoint");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(&signature[0]),
                     &size,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return pki::OpenSslInternalError("signing an audit checkpoint");
  }
  signature.resize(size);
  return CheckpointSignature{std::move(signature), pair->key_id};
}

// --- CheckpointVerifier -----------------------------------------------------

absl::StatusOr<CheckpointVerifier> CheckpointVerifier::FromCertificateFiles(
    const std::vector<std::string>& files) {
  std::vector<pki::Certificate> all;
  for (const std::string& file : files) {
    HG_ASSIGN_OR_RETURN(std::vector<pki::Certificate> certs,
                        pki::ReadCertificatesFile(file));
    for (auto& c : certs) all.push_back(std::move(c));
  }
  return FromCertificates(all);
}

absl::StatusOr<CheckpointVerifier> CheckpointVerifier::FromCertificates(
    const std::vector<pki::Certificate>& certificates) {
  CheckpointVerifier verifier;
  for (const pki::Certificate& cert : certificates) {
    EVP_PKEY* key = X509_get_pubkey(cert.native());
    if (key == nullptr) {
      return pki::OpenSslError(absl::StatusCode::kInvalidArgument,
                               "a certificate without a usable public key");
    }
    std::shared_ptr<EVP_PKEY> owned(key, EVP_PKEY_free);
    HG_ASSIGN_OR_RETURN(std::string key_id, PublicKeyId(key));
    verifier.keys_.push_back({std::move(key_id), std::move(owned)});
  }
  return verifier;
}

absl::Status CheckpointVerifier::Verify(uint64_t sequence,
                                        absl::string_view previous_hash,
                                        absl::string_view signature,
                                        absl::string_view key_id) const {
  std::string message = CheckpointSignedBytes(sequence, previous_hash);
  bool key_found = false;
  for (const Key& key : keys_) {
    if (!key_id.empty() && key.key_id != key_id) continue;
    key_found = true;
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (ctx != nullptr &&
        EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                             key.key.get()) == 1 &&
        EVP_DigestVerify(
            ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
            signature.size(),
            reinterpret_cast<const unsigned char*>(message.data()),
            message.size()) == 1) {
      return absl::OkStatus();
    }
    pki::ClearOpenSslErrors();
  }
  if (!key_found) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signed by key ", key_id.substr(0, 16),
        "..., which none of the given certificates holds"));
  }
  return absl::InvalidArgumentError(
      "the signature does not verify with the given certificate");
}

}  // namespace havengate::evidence
