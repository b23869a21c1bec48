/*
 * One native thread per watched fd (native/fd-thread.ts): it sleeps in poll() on the fd and a
 * stop eventfd, and reports what it sees as records on its end of a socketpair, which the main
 * thread reads through Bun's epoll. Compiled at run time by Bun's TinyCC (bun:ffi cc) with
 * -nostdlib: it includes no header and links no library. The libc functions it needs arrive as
 * pointers in `struct watch` (taken from the process's own libc by dlopen), so the compile needs
 * no libc.so, no crt files and no include directory on the guest (Talos, distroless images).
 *
 * Records, host byte order: { int kind; int value; } and, for RECORD_DATA, `value` bytes.
 * The thread owns nothing but `out_fd`: it closes it as its very last action, so the end of the
 * main thread's stream means the thread no longer touches `fd` or `stop_fd`, which the main thread
 * then closes.
 */

typedef int (*poll_fn)(void *fds, unsigned long nfds, int timeout);
typedef long (*read_fn)(int fd, void *buf, unsigned long count);
typedef long (*send_fn)(int fd, const void *buf, unsigned long len, int flags);
typedef int (*close_fn)(int fd);
typedef int *(*errno_fn)(void);

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

/* Sends all of buf; 0 when the main thread's end is gone (EPIPE) or the socket failed. */
static int send_all(struct watch *w, const char *buf, long len) {
  while (len > 0) {
    long n = w->send((int)w->out_fd, buf, (unsigned long)len, MSG_NOSIGNAL);
    if (n < 0) {
      if (*w->errno_location() == EINTR) continue;
      return 0;
    }
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
  return 0;
}
