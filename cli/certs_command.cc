// `tributary certs`: a private CA, a server certificate and client certificates for a test
// deployment of TLS and mutual TLS. Keys are ECDSA P-256; nothing is sent anywhere and no key
// is printed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <regex>

#include "cli/certificates.h"
#include "cli/command.h"
#include "common/result.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(FILE* p) const { std::fclose(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free>;
using Cert = std::unique_ptr<X509, Free>;

Status OpenSslError(const std::string& what) {
  return Status::Internal(what + " failed (OpenSSL)");
}

Result<Key> NewKey() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("generating a P-256 key");
  return key;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return OpenSslError("extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? Status::Ok() : OpenSslError("adding extension " + value);
}

// A certificate for `key` named CN=`cn`, signed by `issuer` (itself when null).
Result<Cert> Issue(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                   const std::vector<std::pair<int, std::string>>& extensions, int days) {
  Cert cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return OpenSslError("RAND_bytes");
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, Free> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) ||
      !X509_set_version(cert.get(), 2) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days) ||
      !X509_set_pubkey(cert.get(), key) ||
      !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>("Tributary test"), -1,
                                  -1, 0) ||
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) ||
      !X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name)) {
    return OpenSslError("filling certificate " + cn);
  }
  X509* signer = issuer ? issuer : cert.get();
  for (const auto& [nid, value] : extensions) {
    TRIBUTARY_RETURN_IF_ERROR(AddExtension(cert.get(), signer, nid, value));
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    return OpenSslError("signing certificate " + cn);
  }
  return cert;
}

Status WritePem(const fs::path& path, mode_t mode, X509* cert, EVP_PKEY* key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::FromErrno("creating " + path.string());
  if (fchmod(fd, mode) != 0) {
    ::close(fd);
    return Status::FromErrno("chmod " + path.string());
  }
  std::unique_ptr<FILE, Free> f(fdopen(fd, "w"));
  if (!f) {
    ::close(fd);
    return Status::FromErrno("fdopen " + path.string());
  }
  const int ok = cert ? PEM_write_X509(f.get(), cert)
                      : PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  if (!ok || std::fflush(f.get()) != 0) return Status::Internal("writing " + path.string());
  return Status::Ok();
}

Status WritePair(const fs::path& dir, const std::string& stem, X509* cert, EVP_PKEY* key) {
  TRIBUTARY_RETURN_IF_ERROR(WritePem(dir / (stem + ".pem"), 0644, cert, nullptr));
  return WritePem(dir / (stem + "-key.pem"), 0600, nullptr, key);
}

// The CA of `dir`: reused when ca.pem and ca-key.pem exist, made otherwise.
Status LoadOrMakeCa(const fs::path& dir, int days, Cert* ca, Key* ca_key) {
  if (fs::exists(dir / "ca.pem") && fs::exists(dir / "ca-key.pem")) {
    std::unique_ptr<FILE, Free> c(std::fopen((dir / "ca.pem").c_str(), "r"));
    std::unique_ptr<FILE, Free> k(std::fopen((dir / "ca-key.pem").c_str(), "r"));
    if (c) ca->reset(PEM_read_X509(c.get(), nullptr, nullptr, nullptr));
    if (k) ca_key->reset(PEM_read_PrivateKey(k.get(), nullptr, nullptr, nullptr));
    if (!*ca || !*ca_key) return Status::InvalidArgument("cannot read the CA in " + dir.string());
    std::cout << "reusing the CA in " << dir.string() << '\n';
    return Status::Ok();
  }
  TRIBUTARY_ASSIGN_OR_RETURN(*ca_key, NewKey());
  TRIBUTARY_ASSIGN_OR_RETURN(
      *ca, Issue(ca_key->get(), "Tributary test CA", nullptr, nullptr,
                 {{NID_basic_constraints, "critical,CA:TRUE"},
                  {NID_key_usage, "critical,keyCertSign,cRLSign"},
                  {NID_subject_key_identifier, "hash"}},
                 days));
  return WritePair(dir, "ca", ca->get(), ca_key->get());
}

Status CheckId(const std::string& id) {
  static const std::regex kId("[A-Za-z0-9][A-Za-z0-9._@-]{0,63}");
  if (!std::regex_match(id, kId)) {
    return Status::InvalidArgument("id '" + id + "' must be 1 to 64 of A-Z a-z 0-9 . _ @ - "
                                   "(and start with a letter or digit)");
  }
  if (id == "ca" || id == "server") {
    return Status::InvalidArgument("id '" + id + "' would overwrite the " + id + " files");
  }
  return Status::Ok();
}

// True for an IPv4 or IPv6 address (a SAN of type IP rather than DNS).
bool IsIpAddress(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

Status WriteCertificateSet(const CertificateSet& set) {
  for (const auto& id : set.ids) TRIBUTARY_RETURN_IF_ERROR(CheckId(id));
  const fs::path dir(set.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("creating " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec) return Status::Internal("chmod " + dir.string() + ": " + ec.message());

  Cert ca;
  Key ca_key;
  TRIBUTARY_RETURN_IF_ERROR(LoadOrMakeCa(dir, set.days, &ca, &ca_key));
  std::string san = "IP:127.0.0.1";
  for (const auto& name : set.server_names) {
    if (name != "127.0.0.1") san += (IsIpAddress(name) ? ",IP:" : ",DNS:") + name;
  }
  const std::string server_cn = set.server_names.empty() ? "127.0.0.1" : set.server_names[0];
  TRIBUTARY_ASSIGN_OR_RETURN(Key server_key, NewKey());
  TRIBUTARY_ASSIGN_OR_RETURN(
      Cert server, Issue(server_key.get(), server_cn, ca.get(), ca_key.get(),
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                          {NID_ext_key_usage, "serverAuth"},
                          {NID_subject_alt_name, san},
                          {NID_authority_key_identifier, "keyid"}},
                         set.days));
  TRIBUTARY_RETURN_IF_ERROR(WritePair(dir, "server", server.get(), server_key.get()));
  std::cout << "server.pem: CN=" << server_cn << ", SAN " << san << '\n';
  for (const auto& id : set.ids) {
    TRIBUTARY_ASSIGN_OR_RETURN(Key key, NewKey());
    TRIBUTARY_ASSIGN_OR_RETURN(
        Cert cert, Issue(key.get(), id, ca.get(), ca_key.get(),
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature"},
                          {NID_ext_key_usage, "clientAuth"},
                          {NID_authority_key_identifier, "keyid"}},
                         set.days));
    TRIBUTARY_RETURN_IF_ERROR(WritePair(dir, id, cert.get(), key.get()));
    std::cout << id << ".pem: CN=" << id << '\n';
  }
  return Status::Ok();
}

std::string CertificateCommonName(const std::string& path) {
  std::unique_ptr<FILE, Free> f(std::fopen(path.c_str(), "r"));
  if (!f) return "";
  Cert cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) return "";
  X509_NAME* name = X509_get_subject_name(cert.get());
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return "";
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n < 0) return "";
  std::string cn(reinterpret_cast<char*>(utf8), n);
  OPENSSL_free(utf8);
  return cn;
}

void AddCertsCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "certs", "Make a CA, a server certificate and client certificates for a test deployment");
  auto set = std::make_shared<CertificateSet>();
  auto clients = std::make_shared<std::vector<std::string>>();
  auto operators = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"operator"});
  cmd->add_option("--out", set->out_dir, "Folder of the files (created, mode 0700)")->required();
  cmd->add_option("--server-name", set->server_names,
                  "DNS name or IP address in the server certificate (repeatable; IP 127.0.0.1 "
                  "is always in). The nodes of a group may share one certificate naming them "
                  "all")
      ->capture_default_str();
  cmd->add_option("--client", *clients, "Client id: writes ID.pem and ID-key.pem, CN=ID "
                                        "(repeatable)");
  cmd->add_option("--operator", *operators,
                  "Operator identity: writes ID.pem and ID-key.pem, CN=ID (repeatable)")
      ->capture_default_str();
  cmd->add_option("--days", set->days, "Validity of the certificates in days")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650));
  cmd->callback([set, clients, operators] {
    set->ids = *clients;
    set->ids.insert(set->ids.end(), operators->begin(), operators->end());
    if (Status s = WriteCertificateSet(*set); !s.ok()) {
      std::cerr << "tributary certs: " << s << '\n';
      throw CLI::RuntimeError(1);
    }
    std::cout << "wrote a test CA and certificates to " << set->out_dir
              << " (private keys *-key.pem, mode 0600)\n";
  });
}

}  // namespace tributary::cli
