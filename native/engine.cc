#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <utility>

#include "exchange.h"
#include "ifaces.h"

namespace healthd {

namespace {

constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";
constexpr int kMaxEvents = 256;

// The epoll tag of the wake-up eventfd; exchanges are tagged by pointer.
void* const kWakeTag = nullptr;

}  // namespace

Engine::Engine(Deliver deliver) : deliver_(std::move(deliver)) {}

Engine::~Engine() { Stop(); }

SubmitError Engine::Submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return {ESHUTDOWN, "submit"};
    if (int fatal = fatalErrno_.load()) return {fatal, "setns"};
    if (!started_) {
      started_ = true;
      thread_ = std::thread(&Engine::Run, this);
      std::unique_lock<std::mutex> startLock(startMu_);
      startCv_.wait(startLock, [this] { return startDone_; });
      if (startError_.err) return startError_;
    } else if (!running_.load()) {
      return {startError_.err ? startError_.err : ESHUTDOWN, startError_.err ? startError_.syscall : "submit"};
    }
    queue_.push_back(std::move(job));
    inFlight_.fetch_add(1);
  }
  uint64_t one = 1;
  ssize_t ignored = write(wakeFd_, &one, sizeof one);
  (void)ignored;
  return {};
}

void Engine::CancelAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_.load()) return;
    cancel_ = true;
  }
  uint64_t one = 1;
  ssize_t ignored = write(wakeFd_, &one, sizeof one);
  (void)ignored;
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) {
    if (wakeFd_ >= 0) {
      uint64_t one = 1;
      ssize_t ignored = write(wakeFd_, &one, sizeof one);
      (void)ignored;
    }
    thread_.join();
  }
  if (epfd_ >= 0) close(epfd_);
  if (wakeFd_ >= 0) close(wakeFd_);
  if (hostFd_ >= 0) close(hostFd_);
  epfd_ = wakeFd_ = hostFd_ = -1;
}

Stats Engine::GetStats() const {
  Stats s;
  s.running = running_.load();
  s.inFlight = inFlight_.load();
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.queued = static_cast<uint32_t>(queue_.size());
  }
  s.completed = completed_.load();
  s.workerTid = workerTid_.load();
  s.hostNetnsInode = static_cast<uint64_t>(hostIno_);
  s.fatalErrno = fatalErrno_.load();
  return s;
}

// Runs on the worker: remembers the thread's own netns (the host's), and
// creates the epoll set. Signals are blocked so they go to the JS thread.
bool Engine::Setup(int* err, const char** syscall) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  workerTid_.store(static_cast<int>(::syscall(SYS_gettid)));

  hostFd_ = open(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (hostFd_ < 0) {
    *err = errno;
    *syscall = "open";
    return false;
  }
  struct stat st{};
  if (fstat(hostFd_, &st) < 0) {
    *err = errno;
    *syscall = "fstat";
    return false;
  }
  hostDev_ = st.st_dev;
  hostIno_ = st.st_ino;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    *err = errno;
    *syscall = "epoll_create1";
    return false;
  }
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    *err = errno;
    *syscall = "eventfd";
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = kWakeTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakeFd_, &ev) < 0) {
    *err = errno;
    *syscall = "epoll_ctl";
    return false;
  }
  return true;
}

// setns back to the saved host netns and prove it by inode. False means this
// thread is in an unknown namespace and must never run another job.
bool Engine::ReturnHome(int* err) {
  if (setns(hostFd_, CLONE_NEWNET) < 0) {
    *err = errno;
    return false;
  }
  struct stat st{};
  if (stat(kThreadNetns, &st) < 0) {
    *err = errno;
    return false;
  }
  if (st.st_dev != hostDev_ || st.st_ino != hostIno_) {
    *err = EINVAL;
    return false;
  }
  return true;
}

void Engine::FailAll(std::vector<Job>& queued, int err, const char* syscall, std::vector<Result>& done) {
  for (Job& job : queued) {
    Result r;
    r.id = job.id;
    r.err = err;
    r.syscall = syscall;
    done.push_back(std::move(r));
  }
  queued.clear();
}

// Creates every job's socket in its netns, grouped so that jobs for the same
// namespace share one setns round trip, then starts the I/O from home.
void Engine::StartJobs(std::vector<Job>& jobs, std::vector<Result>& done) {
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.nsFd < b.nsFd; });
  struct Created {
    Job* job;
    int fd;  // -1 on failure
    int err;
    const char* syscall;
  };
  std::vector<Created> created;
  created.reserve(jobs.size());
  size_t i = 0;
  while (i < jobs.size()) {
    const int nsFd = jobs[i].nsFd;
    size_t end = i;
    while (end < jobs.size() && jobs[end].nsFd == nsFd) end++;
    int nsErr = 0;
    if (nsFd >= 0 && setns(nsFd, CLONE_NEWNET) < 0) nsErr = errno;
    for (size_t k = i; k < end; k++) {
      Job& job = jobs[k];
      if (nsErr) {
        created.push_back({&job, -1, nsErr, "setns"});
        continue;
      }
      int fd;
      if (job.linkDump) {
        fd = OpenRouteSocket();
      } else {
        int type = (job.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
        fd = socket(job.addr.ss_family, type, job.tcp ? IPPROTO_TCP : IPPROTO_UDP);
      }
      created.push_back({&job, fd, fd >= 0 ? 0 : errno, "socket"});
    }
    // Whether or not setns succeeded, prove where the thread is before going on.
    int homeErr = 0;
    if (nsFd >= 0 && !ReturnHome(&homeErr)) {
      fatalErrno_.store(homeErr ? homeErr : EINVAL);
      for (auto& c : created) {
        if (c.fd >= 0) close(c.fd);
      }
      FailAll(jobs, fatalErrno_.load(), "setns", done);
      return;
    }
    i = end;
  }

  const uint64_t now = MonotonicNs();
  for (auto& c : created) {
    Job& job = *c.job;
    if (c.fd < 0) {
      Result r;
      r.id = job.id;
      r.err = c.err;
      r.syscall = c.syscall;
      done.push_back(std::move(r));
      continue;
    }
    if (job.linkDump) {
      // Synchronous and short: the kernel builds dump data as it is read.
      Result r;
      r.id = job.id;
      r.err = DumpLinksAndAddrs(c.fd, &r.reply, &r.syscall);
      close(c.fd);
      if (r.err) r.reply.clear();
      r.rttNs = MonotonicNs() - now;
      done.push_back(std::move(r));
      continue;
    }
    auto ex = std::make_unique<Exchange>(std::move(job), c.fd, now);
    uint32_t events = ex->Begin();
    if (events == 0) {
      done.push_back(ex->TakeResult());
      continue;
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = ex.get();
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, ex->fd(), &ev) < 0) {
      ex->Fail(errno, "epoll_ctl");
      done.push_back(ex->TakeResult());
      continue;
    }
    ex->index = active_.size();
    active_.push_back(std::move(ex));
  }
  jobs.clear();
}

// Removes a finished exchange from the active set and queues its result.
void Engine::Finish(Exchange* ex, std::vector<Result>& done) {
  done.push_back(ex->TakeResult());
  size_t idx = ex->index;
  if (idx != active_.size() - 1) {
    std::swap(active_[idx], active_.back());
    active_[idx]->index = idx;
  }
  active_.pop_back();  // closes nothing more: the fd closed when it finished
}

void Engine::Flush(std::vector<Result>& done) {
  if (done.empty()) return;
  inFlight_.fetch_sub(static_cast<uint32_t>(done.size()));
  completed_.fetch_add(done.size());
  deliver_(std::make_unique<std::vector<Result>>(std::move(done)));
  done = std::vector<Result>();
}

void Engine::Run() {
  int err = 0;
  const char* syscall = "";
  bool ok = Setup(&err, &syscall);
  {
    std::lock_guard<std::mutex> lock(startMu_);
    startDone_ = true;
    if (!ok) startError_ = {err, syscall};
    running_.store(ok);
  }
  startCv_.notify_all();
  if (!ok) return;

  std::vector<Result> done;
  std::vector<Job> jobs;
  epoll_event events[kMaxEvents];
  for (;;) {
    // Wait until the nearest deadline (ms resolution, rounded up).
    int timeoutMs = -1;
    if (!active_.empty()) {
      uint64_t nearest = UINT64_MAX;
      for (auto& ex : active_) nearest = std::min(nearest, ex->deadlineNs());
      uint64_t now = MonotonicNs();
      timeoutMs = nearest <= now ? 0 : static_cast<int>((nearest - now + 999999) / 1000000);
    }
    int n = epoll_wait(epfd_, events, kMaxEvents, timeoutMs);
    if (n < 0 && errno != EINTR) {
      fatalErrno_.store(errno);
      break;
    }
    bool woke = false;
    for (int k = 0; k < n; k++) {
      if (events[k].data.ptr == kWakeTag) {
        woke = true;
        continue;
      }
      auto* ex = static_cast<Exchange*>(events[k].data.ptr);
      uint32_t want = ex->OnEvents(events[k].events);
      if (want == 0) {
        Finish(ex, done);
      } else {
        epoll_event ev{};
        ev.events = want;
        ev.data.ptr = ex;
        if (epoll_ctl(epfd_, EPOLL_CTL_MOD, ex->fd(), &ev) < 0) {
          ex->Fail(errno, "epoll_ctl");
          Finish(ex, done);
        }
      }
    }
    bool stop = false;
    bool cancel = false;
    if (woke) {
      uint64_t count;
      ssize_t ignored = read(wakeFd_, &count, sizeof count);
      (void)ignored;
      std::lock_guard<std::mutex> lock(mu_);
      jobs.swap(queue_);
      stop = stopping_;
      cancel = cancel_;
      cancel_ = false;
    }
    if (stop) break;
    if (cancel) {
      FailAll(jobs, ECANCELED, "cancel", done);
      while (!active_.empty()) {
        Exchange* ex = active_.back().get();
        ex->Fail(ECANCELED, "cancel");
        Finish(ex, done);
      }
    }
    if (!jobs.empty()) StartJobs(jobs, done);
    if (fatalErrno_.load()) break;
    // Deadlines.
    const uint64_t now = MonotonicNs();
    for (size_t k = 0; k < active_.size();) {
      Exchange* ex = active_[k].get();
      if (ex->deadlineNs() <= now) {
        ex->Fail(ETIMEDOUT, ex->waitingIn());
        Finish(ex, done);  // swaps the last one into k
      } else {
        k++;
      }
    }
    Flush(done);
  }

  // Leaving: on a fatal error, fail everything that is left so no promise
  // hangs; on Stop() the environment is going away and nothing is delivered.
  running_.store(false);
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
    jobs.insert(jobs.end(), std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
  }
  if (!stopping) {
    int fatal = fatalErrno_.load();
    FailAll(jobs, fatal, "setns", done);
    while (!active_.empty()) {
      Exchange* ex = active_.back().get();
      ex->Fail(fatal, "setns");
      Finish(ex, done);
    }
    Flush(done);
  }
  active_.clear();
}

}  // namespace healthd
