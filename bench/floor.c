// The C floor of a sweep, for `npm run bench` (bench/sweep.ts compiles it
// with `cc -O2` into a temporary directory and runs it over the same
// namespaces in the same run). It does the engine's work with nothing around
// it: per probe, open the namespace file, setns into it, create a UDP socket
// there, setns back home and prove it by the inode of the thread's ns/net
// (the engine's contract, /work/shared/ARCHITECTURE.md "The native addon"; as
// the engine does, through the thread's /proc/thread-self/ns held open), connect the socket to the server and send one A query
// (encoded once, only the 16-bit ID patched per probe); then one epoll loop
// reads the replies, accepts one only when its
// ID, QR bit and question match the query and it carries an answer, and
// fails the probes whose timeout passed (a FIFO of deadlines: every probe has
// the same timeout, so they expire in start order).
//
// Paced sweeps start the namespaces as src/probe/pacing.ts does: evenly over
// --spread ms in --step ms steps, at most --max-in-flight probes at once (the
// rest wait, first come first served).
//
// Usage: floor SERVER NAME TIMEOUT_MS SWEEPS SPREAD_MS STEP_MS MAX_IN_FLIGHT < paths
// (one namespace path a line; MAX_IN_FLIGHT 0: no cap). Prints one line per
// sweep: "wall_ns cpu_ns ok lost". Exit status 2 on a usage or setup error.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_NS 4096

static char *paths[MAX_NS];
static int count;
static struct sockaddr_in server;
static uint8_t query[512];
static size_t queryLen;

struct probe {
  int fd;          // -1: not started or done
  uint16_t id;
  uint64_t deadline;
  int done;
};
static struct probe probes[MAX_NS];

static uint64_t nowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpuNs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static void die(const char *what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int encodeQuery(const char *name) {
  uint8_t *p = query;
  memset(p, 0, 12);
  p[2] = 0x01;  // RD
  p[5] = 1;     // QDCOUNT
  size_t i = 12;
  const char *s = name;
  while (*s) {
    const char *dot = strchr(s, '.');
    size_t len = dot ? (size_t)(dot - s) : strlen(s);
    if (len == 0 || len > 63 || i + len + 6 > sizeof query) return -1;
    p[i++] = (uint8_t)len;
    memcpy(p + i, s, len);
    i += len;
    s += len;
    if (*s == '.') s++;
  }
  p[i++] = 0;
  p[i++] = 0;
  p[i++] = 1;  // A
  p[i++] = 0;
  p[i++] = 1;  // IN
  queryLen = i;
  return 0;
}

// Random 16-bit IDs from a pool refilled by getrandom.
static uint16_t pool[4096];
static size_t poolLeft;
static uint16_t nextId(void) {
  if (poolLeft == 0) {
    if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool) die("getrandom");
    poolLeft = sizeof pool / sizeof pool[0];
  }
  return pool[--poolLeft];
}

static int epfd, homeFd, nsDirFd;
static dev_t homeDev;
static ino_t homeIno;

// Back to the host netns, proven by inode; a failure ends the program (the
// engine stops its worker).
static void returnHome(void) {
  struct stat st;
  if (setns(homeFd, CLONE_NEWNET) < 0) die("setns home");
  if (fstatat(nsDirFd, "net", &st, 0) < 0) die("fstatat");
  if (st.st_dev != homeDev || st.st_ino != homeIno) {
    fprintf(stderr, "floor: not back in the host netns\n");
    exit(2);
  }
}
static int inFlight, ok, lost;
// FIFO of started probes (deadlines ascend in start order).
static int fifo[MAX_NS], fifoHead, fifoTail;

static void finish(int i, int success) {
  struct probe *pr = &probes[i];
  if (pr->done) return;
  pr->done = 1;
  epoll_ctl(epfd, EPOLL_CTL_DEL, pr->fd, NULL);
  close(pr->fd);
  pr->fd = -1;
  inFlight--;
  if (success)
    ok++;
  else
    lost++;
}

// Starts probe i; returns 0 when it is in flight, -1 when it failed at once.
static int start(int i, uint64_t timeoutNs) {
  struct probe *pr = &probes[i];
  pr->done = 0;
  int ns = open(paths[i], O_RDONLY | O_CLOEXEC);
  if (ns < 0) return -1;
  int rc = setns(ns, CLONE_NEWNET);
  close(ns);
  if (rc < 0) {
    returnHome();
    return -1;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  returnHome();
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0) {
    close(fd);
    return -1;
  }
  pr->id = nextId();
  query[0] = (uint8_t)(pr->id >> 8);
  query[1] = (uint8_t)pr->id;
  if (send(fd, query, queryLen, MSG_NOSIGNAL) < 0) {
    close(fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  pr->fd = fd;
  pr->deadline = nowNs() + timeoutNs;
  fifo[fifoTail++] = i;
  inFlight++;
  return 0;
}

static int matches(const struct probe *pr, const uint8_t *r, size_t n) {
  if (n < queryLen || r[0] != (uint8_t)(pr->id >> 8) || r[1] != (uint8_t)pr->id) return 0;
  if (!(r[2] & 0x80) || (r[3] & 0x0f) != 0) return 0;          // QR, NOERROR
  if (memcmp(r + 4, query + 4, 2) != 0) return 0;              // QDCOUNT
  if (r[6] == 0 && r[7] == 0) return 0;                        // ANCOUNT
  if (strncasecmp((const char *)r + 12, (const char *)query + 12, queryLen - 12 - 4) != 0) return 0;
  return memcmp(r + queryLen - 4, query + queryLen - 4, 4) == 0;  // QTYPE, QCLASS
}

static void drain(int i) {
  uint8_t buf[65536];
  struct probe *pr = &probes[i];
  for (;;) {
    ssize_t n = recv(pr->fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      finish(i, 0);
      return;
    }
    if (matches(pr, buf, (size_t)n)) {
      finish(i, 1);
      return;
    }
  }
}

static void sweep(int timeoutMs, int spreadMs, int stepMs, int maxInFlight) {
  const uint64_t timeoutNs = (uint64_t)timeoutMs * 1000000ull;
  const uint64_t t0 = nowNs();
  const double gap = (double)spreadMs / count;
  int next = 0;  // the next probe to start, in order
  inFlight = ok = lost = 0;
  fifoHead = fifoTail = 0;
  for (int i = 0; i < count; i++) probes[i].done = 1, probes[i].fd = -1;
  struct epoll_event events[256];
  while (next < count || inFlight > 0) {
    uint64_t now = nowNs();
    while (next < count && (maxInFlight == 0 || inFlight < maxInFlight)) {
      uint64_t offsetMs = stepMs > 0 ? (uint64_t)((int)((next * gap) / stepMs) * stepMs) : 0;
      if (t0 + offsetMs * 1000000ull > now) break;
      if (start(next, timeoutNs) < 0) lost++;
      next++;
    }
    // Sleep until a reply, the oldest deadline, or the next due start.
    uint64_t wake = UINT64_MAX;
    while (fifoHead < fifoTail && probes[fifo[fifoHead]].done) fifoHead++;
    if (fifoHead < fifoTail) wake = probes[fifo[fifoHead]].deadline;
    if (next < count && (maxInFlight == 0 || inFlight < maxInFlight)) {
      uint64_t offsetMs = stepMs > 0 ? (uint64_t)((int)((next * gap) / stepMs) * stepMs) : 0;
      if (t0 + offsetMs * 1000000ull < wake) wake = t0 + offsetMs * 1000000ull;
    }
    if (wake == UINT64_MAX) continue;
    now = nowNs();
    int waitMs = wake <= now ? 0 : (int)((wake - now + 999999) / 1000000);
    int n = epoll_wait(epfd, events, 256, waitMs);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      int i = (int)events[k].data.u32;
      if (!probes[i].done) drain(i);
    }
    now = nowNs();
    while (fifoHead < fifoTail) {
      int i = fifo[fifoHead];
      if (!probes[i].done) {
        if (probes[i].deadline > now) break;
        finish(i, 0);
      }
      fifoHead++;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: floor SERVER NAME TIMEOUT_MS SWEEPS SPREAD_MS STEP_MS MAX_IN_FLIGHT < paths\n");
    return 2;
  }
  server.sin_family = AF_INET;
  server.sin_port = htons(53);
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) {
    fprintf(stderr, "floor: not an IPv4 address: %s\n", argv[1]);
    return 2;
  }
  if (encodeQuery(argv[2]) < 0) {
    fprintf(stderr, "floor: bad name: %s\n", argv[2]);
    return 2;
  }
  const int timeoutMs = atoi(argv[3]), sweeps = atoi(argv[4]), spreadMs = atoi(argv[5]), stepMs = atoi(argv[6]),
            maxInFlight = atoi(argv[7]);
  char line[4096];
  while (count < MAX_NS && fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (line[0]) paths[count++] = strdup(line);
  }
  if (count == 0) {
    fprintf(stderr, "floor: no namespace paths on stdin\n");
    return 2;
  }
  homeFd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (homeFd < 0) die("open /proc/thread-self/ns/net");
  struct stat st;
  if (fstat(homeFd, &st) < 0) die("fstat");
  homeDev = st.st_dev;
  homeIno = st.st_ino;
  // The engine's proof of being home: this thread's ns directory, held, and its "net" entry.
  nsDirFd = open("/proc/thread-self/ns", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (nsDirFd < 0) die("open /proc/thread-self/ns");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  for (int s = -1; s < sweeps; s++) {  // sweep -1 is the warm-up, not printed
    const uint64_t w0 = nowNs(), c0 = cpuNs();
    sweep(timeoutMs, spreadMs, stepMs, maxInFlight);
    if (s >= 0) printf("%llu %llu %d %d\n", (unsigned long long)(nowNs() - w0), (unsigned long long)(cpuNs() - c0), ok, lost);
  }
  return 0;
}
