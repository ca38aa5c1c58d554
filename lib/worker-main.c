/* aisfetch-worker: the helper process around the worker loop.  Started by
 * libaisfetch with the control socket on fd 3 and the ring memfd on fd 4;
 * it exits when the control socket reaches EOF (its parent is gone). */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  if (argc != 2 || strcmp(argv[1], "--aisfetch-worker") != 0) {
    fprintf(stderr, "aisfetch-worker: a helper of libaisfetch, not to be run by hand\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 1;
  int rc = aisf_worker_run(3, 4);
  curl_global_cleanup();
  close(3);
  close(4);
  return rc;
}
