/* A real third-party HTTP server: Debian's nginx on loopback, started here,
 * serving files with ranges; read byte-exact through the library. */
#include "aisfetch.h"
#include "testutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static char base[512];
static char tls_base[512];
static char dir[256];
static pid_t nginx_pid;

static int free_port(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  REQUIRE(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
          getsockname(s, (struct sockaddr *)&a, &l) == 0);
  close(s);
  return ntohs(a.sin_port);
}

static void write_file(const char *path, uint64_t seed, size_t size)
{
  FILE *f = fopen(path, "wb");
  REQUIRE(f);
  char *buf = malloc(size ? size : 1);
  REQUIRE(buf);
  tu_gen(seed, 0, buf, size);
  REQUIRE(fwrite(buf, 1, size, f) == size);
  fclose(f);
  free(buf);
}

static void start_nginx(void)
{
  const char *ng = getenv("NGINX_BIN");
  REQUIRE(ng);
  char *d = tu_mkdtemp();
  snprintf(dir, sizeof dir, "%s", d);
  free(d);
  char p[600];
  snprintf(p, sizeof p, "%s/www", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/www/v1", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/www/v1/objects", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/www/v1/objects/files", dir);
  mkdir(p, 0755);
  int port = free_port();
  int tls_port = free_port();
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
           "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
           dir, dir);
  REQUIRE(system(cmd) == 0);
  snprintf(p, sizeof p, "%s/nginx.conf", dir);
  FILE *f = fopen(p, "w");
  REQUIRE(f);
  fprintf(f,
          "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
          "events { worker_connections 256; }\n"
          "http {\n access_log off;\n client_body_temp_path %s/tmp;\n proxy_temp_path %s/tmp;\n"
          " fastcgi_temp_path %s/tmp;\n uwsgi_temp_path %s/tmp;\n scgi_temp_path %s/tmp;\n"
          " keepalive_requests 100000;\n"
          " server {\n  listen 127.0.0.1:%d;\n  root %s/www;\n }\n"
          " server {\n  listen 127.0.0.1:%d ssl;\n  root %s/www;\n"
          "  ssl_certificate %s/cert.pem;\n  ssl_certificate_key %s/key.pem;\n }\n}\n",
          dir, dir, dir, dir, dir, dir, dir, port, dir, tls_port, dir, dir, dir);
  fclose(f);
  const char *argv[] = {ng, "-c", p, "-p", dir, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
  REQUIRE(posix_spawn(&nginx_pid, ng, &fa, NULL, (char *const *)argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
  snprintf(tls_base, sizeof tls_base, "https://127.0.0.1:%d", tls_port);
  char url[600];
  snprintf(url, sizeof url, "%s/", base);
  for (int i = 0; i < 500; i++) {
    long st = tu_http("GET", url, NULL, 0, NULL, 0);
    if (st > 0)
      return;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "nginx did not start\n");
  kill(nginx_pid, SIGKILL);
  exit(1);
}

static void stop_nginx(void)
{
  kill(nginx_pid, SIGTERM);
  for (int i = 0; i < 300; i++) {
    if (waitpid(nginx_pid, NULL, WNOHANG) == nginx_pid)
      goto done;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  kill(nginx_pid, SIGKILL);
  waitpid(nginx_pid, NULL, 0);
done:
  tu_rm_rf(dir);
}

/* TLS: the CA file (option or $AIS_CLIENT_CA), the system's CAs (which do
 * not know this certificate) and the switch that skips verification */
static void test_tls(void)
{
  char path[700], ca[600];
  snprintf(path, sizeof path, "%s/www/v1/objects/files/tls.bin", dir);
  write_file(path, 77, 300000);
  snprintf(ca, sizeof ca, "%s/cert.pem", dir);
  for (int variant = 0; variant < 4; variant++) {
    aisfetch_options o;
    aisfetch_options_init(&o);
    o.uri = "ais://files/tls.bin";
    o.endpoint = tls_base;
    o.num_workers = 4;
    o.chunk_size = 65536;
    o.retries = 0;
    if (variant == 0)
      o.ca_file = ca;
    if (variant == 1)
      setenv("AIS_CLIENT_CA", ca, 1);
    if (variant == 3)
      o.skip_verify = 1;
    aisfetch_reader *r = NULL;
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_open(&o, &r, &e);
    unsetenv("AIS_CLIENT_CA");
    if (variant == 2) {
      CHECKF(k == AISFETCH_E_NETWORK && strstr(e.message, "certificate"), "unverified TLS: %s",
             e.message);
      continue;
    }
    CHECKF(k == AISFETCH_OK, "TLS variant %d: %s", variant, e.message);
    if (k)
      continue;
    char *buf = malloc(300000);
    REQUIRE(buf);
    CHECKF(aisfetch_read_all(r, buf, 300000, &e) == AISFETCH_OK, "%s", e.message);
    CHECK(tu_gen_cmp(77, 0, buf, 300000) < 0);
    free(buf);
    aisfetch_close(r);
  }
}

int main(void)
{
  start_nginx();
  const size_t sizes[] = {0, 1, 65535, 65536, 65537, 5 * 1024 * 1024 + 3};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char path[700], uri[128];
    snprintf(path, sizeof path, "%s/www/v1/objects/files/f%zu.bin", dir, i);
    write_file(path, 900 + i, sizes[i]);
    snprintf(uri, sizeof uri, "ais://files/f%zu.bin", i);
    const unsigned workers[] = {1, 8};
    for (int w = 0; w < 2; w++)
      for (int mode = 0; mode < 2; mode++) {
        aisfetch_options o;
        aisfetch_options_init(&o);
        o.uri = uri;
        o.endpoint = base;
        o.num_workers = workers[w];
        o.chunk_size = 65536;
        o.worker_mode = (aisfetch_worker_mode)mode;
        aisfetch_reader *r = NULL;
        aisfetch_error e;
        if (aisfetch_open(&o, &r, &e)) {
          CHECKF(0, "open %s: %s", uri, e.message);
          continue;
        }
        CHECK(aisfetch_size(r) == sizes[i]);
        char *buf = malloc(sizes[i] + 1);
        REQUIRE(buf);
        CHECKF(aisfetch_read_all(r, buf, sizes[i], &e) == AISFETCH_OK, "%s", e.message);
        CHECKF(tu_gen_cmp(900 + i, 0, buf, sizes[i]) < 0, "%s workers %u mode %d", uri,
               workers[w], mode);
        aisfetch_object_info info;
        aisfetch_object_info_get(r, &info);
        CHECK(sizes[i] == 0 || info.etag[0] != '\0');
        free(buf);
        aisfetch_close(r);
      }
  }
  /* a file replaced during the read: nginx's ETag and size change */
  char path[700];
  snprintf(path, sizeof path, "%s/www/v1/objects/files/changing.bin", dir);
  write_file(path, 1, 1 << 20);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://files/changing.bin";
  o.endpoint = base;
  o.num_workers = 1;
  o.slots = 1;
  o.chunk_size = 65536;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK);
  struct timespec ts = {1, 100000000}; /* a new mtime second for the ETag */
  nanosleep(&ts, NULL);
  char tmp[720];
  snprintf(tmp, sizeof tmp, "%s.new", path);
  write_file(tmp, 2, (1 << 20) + 1);
  REQUIRE(rename(tmp, path) == 0);
  aisfetch_release(r, &c);
  aisfetch_errkind k = AISFETCH_OK;
  for (int g = 0; g < 100 && !k; g++) {
    k = aisfetch_next(r, &c, &e);
    if (!k && !c.len)
      break;
    if (!k) {
      CHECK(tu_gen_cmp(1, c.offset, c.data, c.len) < 0);
      aisfetch_release(r, &c);
    }
  }
  CHECKF(k == AISFETCH_E_CHANGED, "replaced file: %s (%s)", aisfetch_errkind_name(k), e.message);
  aisfetch_close(r);
  test_tls();
  stop_nginx();
  CHECK(tu_wait_no_children(1000) == 0);
  return tu_finish("test_nginx");
}
