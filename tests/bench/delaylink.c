/* delaylink: a delay link in userspace, for the benchmark (this kernel has no
 * sch_netem).  It attaches to two TUN devices, each in a network namespace of
 * its own, and forwards every packet from one to the other after holding it
 * for DELAY microseconds, in both directions, first in, first out.
 *
 *   delaylink --a NETNS:DEV --b NETNS:DEV --delay-us N [--queue-mib M] [--exit-on-stdin-eof]
 *
 * The devices are made beforehand (ip tuntap add DEV mode tun vnet_hdr, one
 * in each namespace) so that addresses and routes outlive a restart with
 * another delay.  Offloads are on (virtio-net headers, TSO and checksum
 * offload): the stack hands the link TCP segments of up to 64 KiB and the far
 * end takes them whole, as a NIC with TSO and GRO does, so that the link costs
 * two copies per byte and a few syscalls per 64 KiB, not per 1500 bytes.
 *
 * Prints "ready" on stdout once attached.  On SIGTERM or SIGINT (or EOF on
 * stdin with --exit-on-stdin-eof: the benchmark's way to never leave one behind), prints one JSON line of statistics per direction and exits: packets,
 * bytes, the largest queue, packets dropped because the queue was full, and
 * how late packets left against their due time (a histogram; lateness comes
 * from scheduling on a busy machine and adds to the round trip).
 *
 * Thread safety: one thread per direction owns that direction's queue; the
 * counters the main thread prints are atomics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PKT (65536 + 64) /* a GSO packet and its virtio-net header */
#define HDR 16               /* a queued packet: due time (8), length (4), pad */
#define ALIGN 64
#define NLATE 10

static const uint64_t late_edges_us[NLATE] = {10, 50, 100, 250, 500, 1000, 2000, 5000, 10000,
                                               UINT64_MAX};

typedef struct {
  const char *name;
  int in, out;
  uint64_t delay_ns;
  uint8_t *buf;
  size_t cap, head, tail, wrap_end;
  int wrapped;
  size_t used, used_max;
  atomic_ullong pkts, bytes, drops, write_errs, max_queue;
  atomic_ullong late[NLATE];
  atomic_ullong late_max_ns;
} dir_t;

static unsigned long slack_ns = 50000;

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
  fprintf(stderr, "delaylink: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Opens DEV (a persistent TUN device with vnet_hdr) inside network namespace NS. */
static int attach(const char *spec)
{
  char ns[256], path[300];
  const char *colon = strchr(spec, ':');
  if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof ns || strlen(colon + 1) >= IFNAMSIZ) {
    fprintf(stderr, "delaylink: expected NETNS:DEV, got '%s'\n", spec);
    exit(2);
  }
  memcpy(ns, spec, (size_t)(colon - spec));
  ns[colon - spec] = 0;
  snprintf(path, sizeof path, "/var/run/netns/%s", ns);
  int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (self < 0 || nsfd < 0)
    die(path);
  if (setns(nsfd, CLONE_NEWNET) < 0)
    die("setns");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    die("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  memcpy(ifr.ifr_name, colon + 1, strlen(colon + 1));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    die("TUNSETIFF (is the device made with vnet_hdr?)");
  int hdrsz = (int)sizeof(struct virtio_net_hdr);
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0)
    die("TUNSETVNETHDRSZ");
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0)
    die("TUNSETOFFLOAD");
  if (setns(self, CLONE_NEWNET) < 0)
    die("setns back");
  close(self);
  close(nsfd);
  return fd;
}

/* Contiguous room for one more packet at the tail, or NULL when the queue is full. */
static uint8_t *room(dir_t *d)
{
  const size_t need = HDR + MAX_PKT;
  if (!d->wrapped) {
    if (d->cap - d->tail >= need)
      return d->buf + d->tail;
    if (d->head > need) {
      d->wrap_end = d->tail;
      d->tail = 0;
      d->wrapped = 1;
      return d->buf;
    }
    return NULL;
  }
  return d->head - d->tail > need ? d->buf + d->tail : NULL;
}

static void count_late(dir_t *d, uint64_t late_ns)
{
  uint64_t us = late_ns / 1000;
  int i = 0;
  while (us >= late_edges_us[i])
    i++;
  atomic_fetch_add_explicit(&d->late[i], 1, memory_order_relaxed);
  if (late_ns > atomic_load_explicit(&d->late_max_ns, memory_order_relaxed))
    atomic_store_explicit(&d->late_max_ns, late_ns, memory_order_relaxed);
}

/* Writes every packet that is due; returns the due time of the next one, or 0. */
static uint64_t flush_due(dir_t *d)
{
  for (;;) {
    if (d->wrapped && d->head == d->wrap_end) {
      d->head = 0;
      d->wrapped = 0;
    }
    if (!d->wrapped && d->head == d->tail) {
      d->head = d->tail = 0;
      return 0;
    }
    uint8_t *p = d->buf + d->head;
    uint64_t due;
    uint32_t len;
    memcpy(&due, p, 8);
    memcpy(&len, p + 8, 4);
    uint64_t t = now_ns();
    if (due > t)
      return due;
    count_late(d, t - due);
    if (write(d->out, p + HDR, len) != (ssize_t)len)
      atomic_fetch_add_explicit(&d->write_errs, 1, memory_order_relaxed);
    size_t step = (HDR + len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    d->head += step;
    d->used -= step;
  }
}

static void *run(void *arg)
{
  dir_t *d = arg;
  prctl(PR_SET_TIMERSLACK, slack_ns);
  for (;;) {
    uint64_t next = flush_due(d);
    uint8_t *slot = room(d);
    struct pollfd pfd = {.fd = d->in, .events = slot ? POLLIN : 0};
    struct timespec ts, *tp = NULL;
    if (next) {
      uint64_t t = now_ns();
      uint64_t wait = next > t ? next - t : 0;
      ts.tv_sec = (time_t)(wait / 1000000000u);
      ts.tv_nsec = (long)(wait % 1000000000u);
      tp = &ts;
    }
    if (!slot && !next) {
      /* cannot happen: a full queue has a head */
      ts.tv_sec = 0;
      ts.tv_nsec = 1000000;
      tp = &ts;
    }
    int r = ppoll(&pfd, 1, tp, NULL);
    if (r < 0 && errno != EINTR)
      die("ppoll");
    if (r <= 0 || !(pfd.revents & POLLIN))
      continue;
    /* take what is there, up to a batch, stamping each packet as it comes */
    for (int i = 0; i < 64; i++) {
      slot = room(d);
      if (!slot) {
        /* queue full: the packet is read and dropped, as a full link queue would */
        static _Thread_local uint8_t sink[MAX_PKT];
        if (read(d->in, sink, sizeof sink) > 0)
          atomic_fetch_add_explicit(&d->drops, 1, memory_order_relaxed);
        break;
      }
      ssize_t n = read(d->in, slot + HDR, MAX_PKT);
      if (n <= 0)
        break;
      uint64_t due = now_ns() + d->delay_ns;
      uint32_t len = (uint32_t)n;
      memcpy(slot, &due, 8);
      memcpy(slot + 8, &len, 4);
      size_t step = (HDR + (size_t)n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
      d->tail += step;
      d->used += step;
      if (d->used > d->used_max) {
        d->used_max = d->used;
        atomic_store_explicit(&d->max_queue, d->used_max, memory_order_relaxed);
      }
      atomic_fetch_add_explicit(&d->pkts, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&d->bytes, (unsigned long long)n, memory_order_relaxed);
      if (d->delay_ns == 0)
        break; /* due at once: write before reading more */
    }
  }
  return NULL;
}

static void print_stats(const dir_t *d)
{
  printf("{\"dir\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"drops\":%llu,\"write_errors\":%llu,"
         "\"max_queue_bytes\":%llu,\"late_max_us\":%.1f,\"late_hist_us\":{",
         d->name, atomic_load(&d->pkts), atomic_load(&d->bytes), atomic_load(&d->drops),
         atomic_load(&d->write_errs), atomic_load(&d->max_queue), atomic_load(&d->late_max_ns) / 1e3);
  for (int i = 0; i < NLATE; i++) {
    if (late_edges_us[i] == UINT64_MAX)
      printf("%s\"inf\":%llu", i ? "," : "", atomic_load(&d->late[i]));
    else
      printf("%s\"%llu\":%llu", i ? "," : "", (unsigned long long)late_edges_us[i],
             atomic_load(&d->late[i]));
  }
  printf("}}\n");
}

static void *wait_stdin(void *arg)
{
  char b[256];
  while (read(0, b, sizeof b) > 0) {
  }
  kill(getpid(), SIGTERM);
  return arg;
}

int main(int argc, char **argv)
{
  const char *a = NULL, *b = NULL;
  double delay_us = -1;
  size_t queue_mib = 128;
  int stdin_eof = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--exit-on-stdin-eof")) {
      stdin_eof = 1;
      continue;
    }
    if (i + 1 >= argc) {
      bad = 1;
      break;
    }
    if (!strcmp(argv[i], "--a"))
      a = argv[i + 1];
    else if (!strcmp(argv[i], "--b"))
      b = argv[i + 1];
    else if (!strcmp(argv[i], "--delay-us"))
      delay_us = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--slack-us"))
      slack_ns = (unsigned long)(atof(argv[i + 1]) * 1000) + 1;
    else if (!strcmp(argv[i], "--queue-mib"))
      queue_mib = (size_t)atol(argv[i + 1]);
    else
      bad = 1;
    i++;
  }
  if (bad || !a || !b || delay_us < 0 || delay_us > 10e6 || queue_mib < 1 || queue_mib > 65536) {
    fprintf(stderr, "usage: delaylink --a NETNS:DEV --b NETNS:DEV --delay-us N [--queue-mib M] [--exit-on-stdin-eof]\n");
    return 2;
  }
  dir_t dirs[2];
  memset(dirs, 0, sizeof dirs);
  int fa = attach(a), fb = attach(b);
  dirs[0].name = "a->b";
  dirs[0].in = fa;
  dirs[0].out = fb;
  dirs[1].name = "b->a";
  dirs[1].in = fb;
  dirs[1].out = fa;
  for (int i = 0; i < 2; i++) {
    dirs[i].delay_ns = (uint64_t)(delay_us * 1000);
    dirs[i].cap = queue_mib << 20;
    /* populated now: a first touch of each page while forwarding costs a fault per 4 KiB */
    dirs[i].buf = mmap(NULL, dirs[i].cap, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (dirs[i].buf == MAP_FAILED)
      die("mmap");
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  pthread_t th[3];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&th[i], NULL, run, &dirs[i]) != 0)
      die("pthread_create");
  if (stdin_eof && pthread_create(&th[2], NULL, wait_stdin, NULL) != 0)
    die("pthread_create");
  printf("ready\n");
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  for (int i = 0; i < 2; i++)
    print_stats(&dirs[i]);
  fflush(stdout);
  _exit(0);
}
