// RAII ownership of OpenSSL objects and conversion of OpenSSL's error queue to
// absl::Status, for the PKI layer (certs/) and the gRPC trust layer
// (server/security/). Every OpenSSL object that havengate creates is held by
// one of the unique_ptr aliases below, so no path can leak or double-free it.
//
// Thread-safety: the aliases are as thread-safe as the objects they own
// (OpenSSL objects are safe to read concurrently once built). The error
// helpers read and clear the calling thread's OpenSSL error queue only.
#ifndef HAVENGATE_CERTS_OPENSSL_UTIL_H_
#define HAVENGATE_CERTS_OPENSSL_UTIL_H_

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace havengate::pki {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};

inline void FreeBio(BIO* b) { BIO_free_all(b); }
inline void FreeGeneralNames(GENERAL_NAMES* n) { GENERAL_NAMES_free(n); }
inline void FreeX509Stack(STACK_OF(X509)* s) { sk_X509_pop_free(s, X509_free); }
inline void FreeOpenSslString(char* s) { OPENSSL_free(s); }
inline void FreeExtendedKeyUsage(EXTENDED_KEY_USAGE* e) {
  EXTENDED_KEY_USAGE_free(e);
}

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, FreeBio>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BIGNUM, BN_free>>;
using EvpPkeyPtr =
    std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using EvpPkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using X509CrlPtr =
    std::unique_ptr<X509_CRL, OpenSslDeleter<X509_CRL, X509_CRL_free>>;
using X509RevokedPtr =
    std::unique_ptr<X509_REVOKED, OpenSslDeleter<X509_REVOKED, X509_REVOKED_free>>;
using X509StorePtr =
    std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using X509StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION,
                    OpenSslDeleter<X509_EXTENSION, X509_EXTENSION_free>>;
using X509NamePtr =
    std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME, X509_NAME_free>>;
using GeneralNamesPtr =
    std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES, FreeGeneralNames>>;
using X509StackPtr =
    std::unique_ptr<STACK_OF(X509), OpenSslDeleter<STACK_OF(X509), FreeX509Stack>>;
using Asn1IntegerPtr =
    std::unique_ptr<ASN1_INTEGER, OpenSslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1TimePtr =
    std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME, ASN1_TIME_free>>;
using OpenSslStringPtr =
    std::unique_ptr<char, OpenSslDeleter<char, FreeOpenSslString>>;
using ExtendedKeyUsagePtr =
    std::unique_ptr<EXTENDED_KEY_USAGE,
                    OpenSslDeleter<EXTENDED_KEY_USAGE, FreeExtendedKeyUsage>>;

// Returns a status with `code` whose message is `context` followed by the
// reasons on this thread's OpenSSL error queue, which it clears. OpenSSL's
// reason strings name algorithms and structures, never key material.
[[nodiscard]] absl::Status OpenSslError(absl::StatusCode code,
                                        absl::string_view context);
// Same with code INTERNAL: for failures of OpenSSL calls that should not fail
// on well-formed input (allocation, encoding of our own objects).
[[nodiscard]] absl::Status OpenSslInternalError(absl::string_view context);

// Discards this thread's OpenSSL error queue (after an expected failure).
void ClearOpenSslErrors();

// The bytes held by a memory BIO, as a string.
std::string BioToString(BIO* bio);

// ASN1_TIME <-> absl::Time. ToAsn1Time fails only on times OpenSSL cannot
// represent (before year 0000 or after 9999).
[[nodiscard]] absl::Status SetAsn1Time(ASN1_TIME* target, absl::Time t);
absl::Time Asn1TimeToTime(const ASN1_TIME* t);

}  // namespace havengate::pki

#endif  // HAVENGATE_CERTS_OPENSSL_UTIL_H_
