/*
 * Native threads for native/fd-thread.ts and native/socket-reader.ts, compiled at run time by
 * Bun's TinyCC (bun:ffi cc) with -nostdlib: the file includes no header and links no library. The
 * libc functions it needs arrive as pointers in its structs (taken from the process's own libc by
 * dlopen), so the compile needs no libc.so, no crt files and no include directory on the guest
 * (Talos, distroless images). Two kinds of thread:
 *
 * fd_watch_thread (fd-thread.ts), one per watched fd: it sleeps in poll() on the fd and a stop
 * eventfd, and reports what it sees as records on its end of a socketpair, calling `signal(1)`
 * after each so that the main thread reads them (socket-reader.ts, readSocketWhenSignalled).
 * Records, host byte order: { int kind; int value; } and, for RECORD_DATA, `value` bytes. The
 * thread owns nothing but `out_fd`: it closes it once it no longer touches `fd` or `stop_fd`, so
 * the end of the main thread's stream means those can be closed; `signal(-1)` is its last action.
 *
 * fd_signal_thread (socket-reader.ts), one per socket read: it sleeps in poll() on the socket and
 * a stop eventfd; when the socket is readable it calls `signal(revents)` (a thread-safe
 * JSCallback: queued to the JS thread, which reads the socket itself) and then waits for the JS
 * thread to write the `rearm` eventfd before it polls the socket again, so one readiness is
 * signalled once. `signal(-1)` is its last action: after it the thread touches nothing.
 */

typedef int (*poll_fn)(void *fds, unsigned long nfds, int timeout);
typedef long (*read_fn)(int fd, void *buf, unsigned long count);
typedef long (*send_fn)(int fd, const void *buf, unsigned long len, int flags);
typedef int (*close_fn)(int fd);
typedef int *(*errno_fn)(void);
typedef void (*signal_fn)(int n);

/* Every field is 8 bytes wide, so the TypeScript side fills it as a BigInt64Array. */
struct watch {
  poll_fn poll;
  read_fn read;
  send_fn send;
  close_fn close;
  errno_fn errno_location;
  long fd;
  long stop_fd;
  long out_fd;
  long events;
  long read_size; /* 0: report readiness, do not read */
  long continue_on[4]; /* errno values after which a failed read() goes on; 0 = unused */
  signal_fn signal;
};

struct pollfd_t {
  int fd;
  short events;
  short revents;
};

enum { RECORD_READY = 1, RECORD_DATA = 2, RECORD_EVENT = 3, RECORD_END = 4, RECORD_READ_ERROR = 5, RECORD_POLL_ERROR = 6 };

#define POLLIN 0x1
#define POLLERR 0x8
#define POLLHUP 0x10
#define POLLNVAL 0x20
#define EINTR 4
#define EAGAIN 11
#define EBADF 9
#define MSG_NOSIGNAL 0x4000
#define HEADER 8
#define READ_MAX 65536

/* Sends all of buf and tells the main thread; 0 when its end is gone (EPIPE) or the socket failed.
 * A record bigger than the socket buffer blocks in send() until the main thread has read part of
 * it: the signal goes before each further send, so it has something to read. */
static int send_all(struct watch *w, const char *buf, long len) {
  while (len > 0) {
    long n = w->send((int)w->out_fd, buf, (unsigned long)len, MSG_NOSIGNAL);
    if (n < 0) {
      if (*w->errno_location() == EINTR) continue;
      return 0;
    }
    w->signal(1);
    buf += n;
    len -= n;
  }
  return 1;
}

static void put_header(char *buf, int kind, int value) {
  int *h = (int *)buf;
  h[0] = kind;
  h[1] = value;
}

static int report(struct watch *w, int kind, int value) {
  char h[HEADER];
  put_header(h, kind, value);
  return send_all(w, h, HEADER);
}

static int goes_on_after(struct watch *w, int e) {
  int i;
  for (i = 0; i < 4; i++)
    if (w->continue_on[i] != 0 && w->continue_on[i] == e) return 1;
  return 0;
}

/* Serves one readiness of w->fd; 0 when the watch has ended. */
static int serve(struct watch *w, short revents, char *buf) {
  long n;
  int e;
  if (revents & POLLNVAL) {
    report(w, RECORD_POLL_ERROR, EBADF);
    return 0;
  }
  if (w->read_size == 0) return report(w, RECORD_EVENT, revents);
  if ((revents & (w->events | POLLHUP | POLLERR)) == 0) return 1;
  n = w->read((int)w->fd, buf + HEADER, (unsigned long)w->read_size);
  if (n > 0) {
    put_header(buf, RECORD_DATA, (int)n);
    return send_all(w, buf, HEADER + n);
  }
  if (n == 0) {
    report(w, RECORD_END, 0);
    return 0;
  }
  e = *w->errno_location();
  if (e == EINTR || e == EAGAIN) return 1;
  if (!report(w, RECORD_READ_ERROR, e)) return 0;
  return goes_on_after(w, e);
}

void *fd_watch_thread(void *arg) {
  /* Copied word by word: a struct assignment makes TinyCC's arm64 code generator call memmove,
   * which a -nostdlib compile cannot resolve (the thread backend then fails on every arm64). */
  struct watch w;
  const long *from = (const long *)arg;
  long *to = (long *)&w;
  for (unsigned long i = 0; i < sizeof w / sizeof(long); i++) to[i] = from[i];
  char buf[HEADER + READ_MAX];
  struct pollfd_t p[2];
  if (w.read_size > READ_MAX) w.read_size = READ_MAX;
  if (report(&w, RECORD_READY, 0)) {
    for (;;) {
      p[0].fd = (int)w.fd;
      p[0].events = (short)w.events;
      p[0].revents = 0;
      p[1].fd = (int)w.stop_fd;
      p[1].events = POLLIN;
      p[1].revents = 0;
      if (w.poll(p, 2, -1) < 0) {
        int e = *w.errno_location();
        if (e == EINTR) continue;
        report(&w, RECORD_POLL_ERROR, e);
        break;
      }
      if (p[1].revents != 0) break; /* stop() */
      if (p[0].revents != 0 && !serve(&w, p[0].revents, buf)) break;
    }
  }
  w.close((int)w.out_fd);
  w.signal(-1);
  return 0;
}

/* Every field is 8 bytes wide, like struct watch. */
struct signal_watch {
  poll_fn poll;
  read_fn read;
  signal_fn signal;
  errno_fn errno_location;
  long fd;
  long stop_fd;
  long rearm_fd;
};

/* poll() until it returns or fails with something other than EINTR; its result. */
static int poll_again(struct signal_watch *w, struct pollfd_t *p) {
  int n;
  for (;;) {
    n = w->poll(p, 2, -1);
    if (n >= 0 || *w->errno_location() != EINTR) return n;
  }
}

void *fd_signal_thread(void *arg) {
  struct signal_watch w;
  const long *from = (const long *)arg;
  long *to = (long *)&w;
  for (unsigned long i = 0; i < sizeof w / sizeof(long); i++) to[i] = from[i];
  struct pollfd_t p[2];
  long counter;
  w.signal(0); /* started: the JS side may let go of `arg` */
  for (;;) {
    p[0].fd = (int)w.fd;
    p[0].events = POLLIN;
    p[0].revents = 0;
    p[1].fd = (int)w.stop_fd;
    p[1].events = POLLIN;
    p[1].revents = 0;
    if (poll_again(&w, p) < 0 || p[1].revents != 0) break;
    if (p[0].revents == 0) continue;
    w.signal(p[0].revents);
    if (p[0].revents & POLLNVAL) break;
    p[0].fd = (int)w.rearm_fd;
    p[0].revents = 0;
    p[1].revents = 0;
    if (poll_again(&w, p) < 0 || p[1].revents != 0) break;
    w.read((int)w.rearm_fd, &counter, sizeof counter);
  }
  w.signal(-1);
  return 0;
}
