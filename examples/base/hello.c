/*
 * A program for examples/base: linked dynamically against OpenSSL, so it runs only where libssl3, libcrypto and
 * glibc resolve inside the image. It prints the OpenSSL it loaded and how many certificates the image's CA bundle
 * holds (read as a TLS client would read it).
 *
 *   gcc -O2 -o hello hello.c -lssl -lcrypto     (Debian: gcc, libssl-dev)
 *
 * then add it to the spec:
 *
 *   files:
 *     - from: hello
 *       to: /usr/local/bin/hello
 *   entrypoint: [/usr/local/bin/hello]
 */
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <unistd.h>

#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

int main(void) {
  printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, CA_BUNDLE, NULL) != 1) {
    fprintf(stderr, "cannot load %s\n", CA_BUNDLE);
    return 1;
  }
  int certificates = sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)));
  printf("%s: %d certificates\n", CA_BUNDLE, certificates);
  printf("uid %d\n", (int)getuid());
  SSL_CTX_free(ctx);
  return certificates > 0 ? 0 : 1;
}
