// LD_PRELOAD shim for wrk (any OpenSSL client): counts the TLS handshakes the client completes,
// how many of them resumed a session and how many were TLS 1.3, and at exit appends one line
// "handshakes=N resumed=M tls13=K" to the file named by $TLS_RESUMED_OUT.
// With TLS_NO_RESUME=1 it drops the session a reused SSL object carries before each new
// handshake, so that every handshake is a full one; otherwise SSL_connect is passed through.
//   cc -shared -fPIC -O2 -o tls_resumed.so bench/lib/tls_resumed.c -ldl -lssl
// Used by bench/gateway.sh.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long handshakes, resumed, tls13;
static int no_resume = -1;

int SSL_connect(SSL* ssl) {
  static int (*real)(SSL*);
  if (!real) real = (int (*)(SSL*))dlsym(RTLD_NEXT, "SSL_connect");
  if (no_resume < 0) {
    const char* v = getenv("TLS_NO_RESUME");
    no_resume = v && *v == '1';
  }
  if (no_resume && SSL_in_before(ssl)) SSL_set_session(ssl, NULL);
  int r = real(ssl);
  if (r == 1) {
    __atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
    if (SSL_session_reused(ssl)) __atomic_add_fetch(&resumed, 1, __ATOMIC_RELAXED);
    if (SSL_version(ssl) == TLS1_3_VERSION) __atomic_add_fetch(&tls13, 1, __ATOMIC_RELAXED);
  }
  return r;
}

__attribute__((destructor)) static void report(void) {
  const char* path = getenv("TLS_RESUMED_OUT");
  if (!path || !*path) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "handshakes=%lu resumed=%lu tls13=%lu\n", handshakes, resumed, tls13);
  fclose(f);
}
