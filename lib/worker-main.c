/* aisfetch-worker: the helper process of libaisfetch, a zygote for workers.
 *
 * Started by the library with posix_spawn, its control socket on fd 3 (the
 * ring's memfds come later, to each worker with its CONFIG).  For each SPAWN message (which carries a new
 * worker's control socket) it fork()s a worker that runs the worker loop on
 * that socket: fork is safe here, the helper has one thread, and the
 * children share its loaded libraries instead of each loading libcurl's
 * ~30 libraries again.  It reaps its workers.  At QUIT (the library closes
 * the reader) it gives them 100 ms to finish, at EOF on fd 3 (its process is
 * gone) 1 s; then it kills the rest, reaps them and exits.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CTRL_FD 3
#define MAX_CHILDREN 4096

typedef struct {
  pid_t pid[MAX_CHILDREN];
  unsigned n;
} children;

static void reap(children *c, int block)
{
  for (;;) {
    pid_t p = waitpid(-1, NULL, block ? 0 : WNOHANG);
    if (p <= 0)
      return;
    for (unsigned i = 0; i < c->n; i++)
      if (c->pid[i] == p) {
        c->pid[i] = c->pid[--c->n];
        break;
      }
  }
}

/* receives one SPAWN; returns the worker socket, -1 at EOF, -2 for noise,
 * -3 for QUIT */
static int recv_spawn(void)
{
  aisf_msg_zygote m;
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                      .msg_controllen = sizeof cm.buf};
  ssize_t n = recvmsg(CTRL_FD, &mh, MSG_CMSG_CLOEXEC);
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
    return -1;
  int fd = -2;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
  if (n != (ssize_t)sizeof m || m.type != AISF_ZYG_SPAWN) {
    if (fd >= 0)
      close(fd);
    return n == (ssize_t)sizeof m && m.type == AISF_ZYG_QUIT ? -3 : -2;
  }
  return fd;
}

int main(int argc, char **argv)
{
  if (argc != 2 || strcmp(argv[1], "--aisfetch-worker") != 0) {
    fprintf(stderr, "aisfetch-worker: a helper of libaisfetch, not to be run by hand\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  /* a file past RLIMIT_FSIZE (aisfetch_object_set_fd) is an error of that
   * range (EFBIG), not the end of the worker */
  signal(SIGXFSZ, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 1;
  /* SIGCHLD stays pending rather than delivered, so that the wait for the
   * workers at the end wakes at each exit instead of polling */
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old_mask);
  static children kids;
  long grace_ms = 1000;
  for (;;) {
    reap(&kids, 0);
    struct pollfd p = {.fd = CTRL_FD, .events = POLLIN};
    if (poll(&p, 1, 200) <= 0)
      continue;
    int fd = recv_spawn();
    if (fd == -3)
      grace_ms = 100;
    if (fd == -1 || fd == -3)
      break;
    if (fd == -2)
      continue;
    aisf_msg_zygote ans = {.type = AISF_ZYG_SPAWNED, .pid = 0};
    pid_t pid = kids.n < MAX_CHILDREN ? fork() : (errno = EAGAIN, -1);
    if (pid == 0) {
      close(CTRL_FD);
      sigprocmask(SIG_SETMASK, &old_mask, NULL);
      int rc = aisf_worker_run(fd, NULL, 0);
      _exit(rc);
    }
    close(fd);
    if (pid > 0)
      kids.pid[kids.n++] = pid;
    ans.pid = pid > 0 ? pid : -errno;
    while (send(CTRL_FD, &ans, sizeof ans, MSG_NOSIGNAL) < 0 && errno == EINTR)
      ;
  }
  /* the library is done or gone: each worker has seen EOF on its own
   * socket, unless a copy of it lives on elsewhere */
  uint64_t until = aisf_now_ns() + (uint64_t)grace_ms * 1000000u;
  for (reap(&kids, 0); kids.n; reap(&kids, 0)) {
    uint64_t now = aisf_now_ns();
    if (now >= until)
      break;
    struct timespec left = {(time_t)((until - now) / 1000000000u), (long)((until - now) % 1000000000u)};
    sigtimedwait(&chld, NULL, &left);
  }
  for (unsigned i = 0; i < kids.n; i++)
    kill(kids.pid[i], SIGKILL);
  while (kids.n) {
    unsigned before = kids.n;
    reap(&kids, 1);
    if (kids.n == before)
      break;
  }
  curl_global_cleanup();
  return 0;
}
