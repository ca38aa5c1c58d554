/* A stand-in for aisfetch-worker that dies the way a killed zygote can: after
 * it forked a worker and before it answered.  The library starts it as its
 * helper (options.worker_path), fd 3 its control socket.
 *
 * The first start (the file $ZYGOTE_DIES_MARK does not exist yet, and is
 * made) takes one SPAWN, passes it with its socket to the real helper
 * ($ZYGOTE_DIES_REAL, started here), waits until the real one has forked the
 * worker, and exits without answering.  That worker lives on, orphaned, on
 * the socket the library sent.  Later starts exec the real helper. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTRL_FD 3

int main(int argc, char **argv)
{
  const char *real = getenv("ZYGOTE_DIES_REAL");
  const char *mark = getenv("ZYGOTE_DIES_MARK");
  if (argc != 2 || !real || !mark) {
    fprintf(stderr, "zygote_dies: a test helper of test_faults\n");
    return 2;
  }
  int m = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (m < 0) {
    execv(real, argv);
    perror("zygote_dies: exec");
    return 1;
  }
  close(m);

  char msg[256];
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  struct iovec iov = {.iov_base = msg, .iov_len = sizeof msg};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                      .msg_controllen = sizeof cm.buf};
  ssize_t n;
  while ((n = recvmsg(CTRL_FD, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
    ;
  if (n <= 0 || !CMSG_FIRSTHDR(&mh))
    return 1;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return 1;
  pid_t pid = fork();
  if (pid < 0)
    return 1;
  if (pid == 0) {
    if (dup2(sv[1], CTRL_FD) < 0) /* dup2 clears close-on-exec */
      _exit(1);
    execv(real, argv);
    _exit(1);
  }
  close(sv[1]);
  /* the same SPAWN, the same socket: the real helper forks the worker */
  iov.iov_len = (size_t)n;
  mh.msg_controllen = CMSG_SPACE(sizeof(int));
  if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) != n)
    return 1;
  char ans[256];
  while ((n = recv(sv[0], ans, sizeof ans, 0)) < 0 && errno == EINTR)
    ;
  /* gone without an answer; the real helper sees EOF and ends on its own */
  return 0;
}
