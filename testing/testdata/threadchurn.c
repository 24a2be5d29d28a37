/* Thread churn: each round starts a thread that ping-pongs with the main thread through a condition
 * variable (wakeups racing with sleeps on both CPUs), then exits. argv[1] rounds (default 2000). */
#include <pthread.h>
#include <stdlib.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static volatile int turn;
static void *pong(void *a) {
  for (int i = 0; i < 50; i++) {
    pthread_mutex_lock(&m);
    while (turn != 1) pthread_cond_wait(&c, &m);
    turn = 0; pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
  }
  return a;
}
int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  for (int r = 0; r < rounds; r++) {
    pthread_t t; turn = 0;
    pthread_create(&t, NULL, pong, NULL);
    for (int i = 0; i < 50; i++) {
      pthread_mutex_lock(&m);
      while (turn != 0) pthread_cond_wait(&c, &m);
      turn = 1; pthread_cond_broadcast(&c);
      pthread_mutex_unlock(&m);
    }
    pthread_join(t, NULL);
  }
  return 0;
}
