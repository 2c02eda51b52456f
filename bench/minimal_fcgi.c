/* The FastCGI floor for the benchmark: a libfcgi responder that answers every
 * request with healthcheck's exact success bytes, with N threads and no
 * accept mutex, and does nothing else.
 *   minimal_fcgi SOCKET_PATH THREADS */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char kAnswer[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
    "Vary: Accept, Authorization\r\nContent-Length: 75\r\n\r\n"
    "{\"status\":\"success\",\"error\":\"\",\"data\":{},\"pagination\":{},\"input_errors\":{}}";

static int listen_fd;

static void *serve(void *unused) {
  (void)unused;
  FCGX_Request request;
  FCGX_InitRequest(&request, listen_fd, 0);
  while (FCGX_Accept_r(&request) >= 0) {
    FCGX_PutStr(kAnswer, sizeof kAnswer - 1, request.out);
    FCGX_Finish_r(&request);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s SOCKET_PATH THREADS\n", argv[0]);
    return 64;
  }
  int threads = atoi(argv[2]);
  FCGX_Init();
  unlink(argv[1]);
  listen_fd = FCGX_OpenSocket(argv[1], 1024);
  if (listen_fd < 0) return 71;
  pthread_t ids[256];
  for (int i = 0; i < threads && i < 256; ++i) pthread_create(&ids[i], NULL, serve, NULL);
  for (int i = 0; i < threads && i < 256; ++i) pthread_join(ids[i], NULL);
  return 0;
}
