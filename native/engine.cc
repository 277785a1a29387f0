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
#include <utility>

#include "exchange.h"
#include "ifaces.h"
#include "task.h"

namespace healthd {

namespace {

constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";
// The worker's own /proc/<pid>/task/<tid>/ns directory (opened by the worker:
// thread-self names the opening thread): its "net" entry is the namespace the
// worker is in at each lookup, found with one path component instead of five.
constexpr const char* kThreadNsDir = "/proc/thread-self/ns";
constexpr int kMaxEvents = 256;

// The epoll key of the wake-up eventfd; tasks get keys from 1 up, never reused.
constexpr uint64_t kWakeKey = 0;

// While a batch's namespaces are entered one by one, the replies already in
// are read after every this many of them.
constexpr size_t kPollEveryGroups = 16;

using DeadlineEntry = std::pair<uint64_t, uint64_t>;  // (deadline ns, task key)
// std::push_heap and pop_heap build a max-heap; this order makes it a min-heap.
bool Later(const DeadlineEntry& a, const DeadlineEntry& b) { return a.first > b.first; }
// The same for scheduled jobs: the earliest start on top, submission order among equals.
bool StartsLater(const Job& a, const Job& b) { return a.startNs != b.startNs ? a.startNs > b.startNs : a.seq > b.seq; }

}  // namespace

Engine::Engine(Deliver deliver) : deliver_(std::move(deliver)) {}

Engine::~Engine() { Stop(); }

void Engine::Wake() {
  uint64_t one = 1;
  ssize_t ignored = write(wakeFd_, &one, sizeof one);
  (void)ignored;
}

void* Engine::ThreadMain(void* self) {
  static_cast<Engine*>(self)->Run();
  return nullptr;
}

SubmitError Engine::Submit(Job job) {
  std::vector<Job> one;
  one.push_back(std::move(job));
  return SubmitBatch(std::move(one));
}

SubmitError Engine::SubmitBatch(std::vector<Job> jobs) {
  if (jobs.empty()) return {};
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return {ESHUTDOWN, "submit"};
    if (int fatal = fatalErrno_.load()) return {fatal, fatalSyscall_.load()};
    if (!started_) {
      {
        std::lock_guard<std::mutex> startLock(startMu_);
        startDone_ = false;
      }
      // pthread_create, not std::thread: under -fno-exceptions a failed
      // std::thread start is std::terminate. Here it is an error the caller
      // sees (pids cgroup, TasksMax, RLIMIT_NPROC), and a later submit retries.
      int rc = pthread_create(&thread_, nullptr, &Engine::ThreadMain, this);
      if (rc != 0) return {rc, "pthread_create"};
      started_ = true;
      joinable_ = true;
      std::unique_lock<std::mutex> startLock(startMu_);
      startCv_.wait(startLock, [this] { return startDone_; });
      if (startError_.err) return startError_;
    } else if (!running_.load()) {
      return {startError_.err ? startError_.err : ESHUTDOWN, startError_.err ? startError_.syscall : "submit"};
    }
    // The worker takes the whole queue at once after each wake-up: while it
    // holds jobs, a wake-up for them is already pending.
    wake = queue_.empty();
    for (Job& job : jobs) {
      job.seq = nextSeq_++;
      queue_.push_back(std::move(job));
    }
    inFlight_.fetch_add(static_cast<uint32_t>(jobs.size()));
    submissions_.fetch_add(1);
  }
  if (wake) Wake();
  return {};
}

void Engine::CancelAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_.load()) return;
    cancelBefore_ = nextSeq_;
  }
  Wake();
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (joinable_) {
    if (wakeFd_ >= 0) Wake();
    pthread_join(thread_, nullptr);
    joinable_ = false;
  }
  if (epfd_ >= 0) close(epfd_);
  if (wakeFd_ >= 0) close(wakeFd_);
  if (hostFd_ >= 0) close(hostFd_);
  if (nsDirFd_ >= 0) close(nsDirFd_);
  epfd_ = wakeFd_ = hostFd_ = -1;
}

Stats Engine::GetStats() const {
  Stats s;
  s.running = running_.load();
  s.inFlight = inFlight_.load();
  s.scheduled = scheduledCount_.load();
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.queued = static_cast<uint32_t>(queue_.size());
  }
  s.completed = completed_.load();
  s.workerTid = workerTid_.load();
  s.hostNetnsInode = static_cast<uint64_t>(hostIno_);
  s.fatalErrno = fatalErrno_.load();
  s.fatalSyscall = fatalSyscall_.load();
  s.wakes = wakes_.load();
  s.setnsCalls = setnsCalls_.load();
  s.deliveries = deliveries_.load();
  s.submissions = submissions_.load();
  return s;
}

void Engine::SetFatal(int err, const char* syscall) {
  fatalSyscall_.store(syscall);
  fatalErrno_.store(err ? err : EINVAL);
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
  struct stat st {};
  if (fstat(hostFd_, &st) < 0) {
    *err = errno;
    *syscall = "fstat";
    return false;
  }
  hostDev_ = st.st_dev;
  hostIno_ = st.st_ino;
  nsDirFd_ = open(kThreadNsDir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (nsDirFd_ < 0) {
    *err = errno;
    *syscall = "open";
    return false;
  }
  // The proof ReturnHome uses must see where this thread is now.
  if (fstatat(nsDirFd_, "net", &st, 0) < 0) {
    *err = errno;
    *syscall = "fstatat";
    return false;
  }
  if (st.st_dev != hostDev_ || st.st_ino != hostIno_) {
    *err = EINVAL;
    *syscall = "fstatat";
    return false;
  }
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
  ev.data.u64 = kWakeKey;
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
  setnsCalls_.fetch_add(1, std::memory_order_relaxed);
  if (setns(hostFd_, CLONE_NEWNET) < 0) {
    *err = errno;
    return false;
  }
  struct stat st {};
  if (fstatat(nsDirFd_, "net", &st, 0) < 0) {
    *err = errno;
    return false;
  }
  if (st.st_dev != hostDev_ || st.st_ino != hostIno_) {
    *err = EINVAL;
    return false;
  }
  return true;
}

void Engine::FailJobs(std::vector<Job>& jobs, int err, const char* syscall, std::vector<Result>& done) {
  for (Job& job : jobs) {
    Result r;
    r.id = job.id;
    r.err = err;
    r.syscall = syscall;
    r.holdMs = job.holdMs;
    done.push_back(std::move(r));
  }
  jobs.clear();
}

// Creates every job's socket in its netns, grouped so that jobs for the same
// namespace share one setns round trip, then starts the I/O from home.
void Engine::StartJobs(std::vector<Job>& jobs, std::vector<Result>& done) {
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    if ((a.ns != nullptr) != (b.ns != nullptr)) return a.ns == nullptr;  // the host first
    if (a.nsDev != b.nsDev) return a.nsDev < b.nsDev;
    return a.nsIno < b.nsIno;
  });
  struct Created {
    Job* job;
    UniqueFd fd;  // invalid on failure
    int err;
    const char* syscall;
  };
  std::vector<Created> created;
  size_t i = 0;
  size_t groups = 0;
  while (i < jobs.size()) {
    const bool host = jobs[i].ns == nullptr;
    size_t end = i;
    while (end < jobs.size() && (jobs[end].ns == nullptr) == host && jobs[end].nsDev == jobs[i].nsDev &&
           jobs[end].nsIno == jobs[i].nsIno) {
      end++;
    }
    int nsErr = 0;
    if (!host) {
      setnsCalls_.fetch_add(1, std::memory_order_relaxed);
      if (setns(jobs[i].ns->get(), CLONE_NEWNET) < 0) nsErr = errno;
    }
    created.clear();
    for (size_t k = i; k < end; k++) {
      Job& job = jobs[k];
      if (nsErr) {
        created.push_back({&job, UniqueFd(), nsErr, "setns"});
        continue;
      }
      int fd;
      if (job.kind == JobKind::kLinkDump || job.kind == JobKind::kLinkWatch) {
        fd = OpenRouteSocket();
      } else {
        int type = (job.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
        fd = socket(job.addr.ss_family, type, job.tcp ? IPPROTO_TCP : IPPROTO_UDP);
      }
      created.push_back({&job, UniqueFd(fd), fd >= 0 ? 0 : errno, "socket"});
    }
    // Whether or not setns succeeded, prove where the thread is before going on.
    int homeErr = 0;
    if (!host && !ReturnHome(&homeErr)) {
      SetFatal(homeErr, "setns");
      created.clear();  // closes this group's sockets
      // The groups before were started; Run() fails them as it leaves.
      std::vector<Job> rest;
      for (size_t k = i; k < jobs.size(); k++) rest.push_back(std::move(jobs[k]));
      FailJobs(rest, fatalErrno_.load(), "setns", done);
      jobs.clear();
      return;
    }
    // Home again: this group's I/O starts now, so that the queries of a
    // large batch leave over the time its setns round trips take rather
    // than in one burst at the end.
    for (auto& c : created) {
      Job& job = *c.job;
      // The namespace reference is no longer needed once the socket exists.
      job.ns.reset();
      if (!c.fd.valid()) {
        Result r;
        r.id = job.id;
        r.err = c.err;
        r.syscall = c.syscall;
        r.holdMs = job.holdMs;
        done.push_back(std::move(r));
        continue;
      }
      if (job.kind == JobKind::kLinkDump) {
        Start(std::make_unique<LinkDump>(job, std::move(c.fd)), done);
      } else if (job.kind == JobKind::kLinkWatch) {
        Start(std::make_unique<LinkWatch>(job, std::move(c.fd)), done);
      } else {
        Start(std::make_unique<Exchange>(std::move(job), std::move(c.fd)), done);
      }
    }
    i = end;
    // Read the replies that came in meanwhile: a socket left undrained while
    // hundreds of namespaces are still to go is where a burst loses them.
    if (++groups % kPollEveryGroups == 0) Poll(done);
  }
  jobs.clear();
}

// Begins a task and registers it with epoll under a fresh key.
void Engine::Start(std::unique_ptr<Task> task, std::vector<Result>& done) {
  uint32_t events = task->Begin();
  if (events == 0) {
    done.push_back(task->TakeResult());
    return;  // the task, and with it the socket, goes away here
  }
  const uint64_t key = nextKey_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, task->fd(), &ev) < 0) {
    task->Fail(errno, "epoll_ctl");
    done.push_back(task->TakeResult());
    return;
  }
  deadlines_.emplace_back(task->deadlineNs(), key);
  std::push_heap(deadlines_.begin(), deadlines_.end(), Later);
  active_.emplace(key, std::move(task));
}

// Removes a finished task: out of epoll first, then destroyed (closing its
// socket), so that no event can ever name it again, even when its socket
// lives on in another process (fork, pidfd_getfd).
void Engine::Finish(uint64_t key, std::vector<Result>& done) {
  auto it = active_.find(key);
  if (it == active_.end()) return;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, it->second->fd(), nullptr);
  done.push_back(it->second->TakeResult());
  active_.erase(it);
}

// Fails every job (waiting or scheduled) and task submitted before `before`.
void Engine::Cancel(uint64_t before, std::vector<Job>& jobs, std::vector<Result>& done) {
  for (std::vector<Job>* list : {&jobs, &scheduled_}) {
    std::vector<Job> keep;
    for (Job& job : *list) {
      if (job.seq < before) {
        Result r;
        r.id = job.id;
        r.err = ECANCELED;
        r.syscall = "cancel";
        done.push_back(std::move(r));
      } else {
        keep.push_back(std::move(job));
      }
    }
    list->swap(keep);
  }
  std::make_heap(scheduled_.begin(), scheduled_.end(), StartsLater);
  scheduledCount_.store(static_cast<uint32_t>(scheduled_.size()));
  std::vector<uint64_t> keys;
  for (auto& [key, task] : active_) {
    if (task->seq() < before) keys.push_back(key);
  }
  for (uint64_t key : keys) {
    active_[key]->Fail(ECANCELED, "cancel");
    Finish(key, done);
  }
}

// Moves the jobs whose start lies in the future from `jobs` to the schedule.
void Engine::Schedule(std::vector<Job>& jobs, uint64_t now) {
  size_t kept = 0;
  for (size_t i = 0; i < jobs.size(); i++) {
    if (jobs[i].startNs > now) {
      scheduled_.push_back(std::move(jobs[i]));
      std::push_heap(scheduled_.begin(), scheduled_.end(), StartsLater);
    } else {
      if (kept != i) jobs[kept] = std::move(jobs[i]);
      kept++;
    }
  }
  jobs.resize(kept);
  scheduledCount_.store(static_cast<uint32_t>(scheduled_.size()));
}

// Appends the scheduled jobs whose start has come to `jobs`.
void Engine::TakeDue(std::vector<Job>& jobs, uint64_t now) {
  if (scheduled_.empty() || scheduled_.front().startNs > now) return;
  while (!scheduled_.empty() && scheduled_.front().startNs <= now) {
    std::pop_heap(scheduled_.begin(), scheduled_.end(), StartsLater);
    jobs.push_back(std::move(scheduled_.back()));
    scheduled_.pop_back();
  }
  scheduledCount_.store(static_cast<uint32_t>(scheduled_.size()));
}

void Engine::Flush(std::vector<Result>& done) {
  if (done.empty()) return;
  inFlight_.fetch_sub(static_cast<uint32_t>(done.size()));
  completed_.fetch_add(done.size());
  deliveries_.fetch_add(1, std::memory_order_relaxed);
  deliver_(std::make_unique<std::vector<Result>>(std::move(done)));
  done = std::vector<Result>();
}

// Advances the tasks named by epoll events; true when the wake-up eventfd
// was among them (it stays readable until Run() reads it).
bool Engine::HandleEvents(const epoll_event* events, int n, std::vector<Result>& done) {
  bool woke = false;
  for (int k = 0; k < n; k++) {
    const uint64_t key = events[k].data.u64;
    if (key == kWakeKey) {
      woke = true;
      continue;
    }
    auto it = active_.find(key);
    if (it == active_.end()) continue;  // finished earlier in this batch
    Task* task = it->second.get();
    uint32_t want = task->OnEvents(events[k].events);
    if (want == 0) {
      Finish(key, done);
      continue;
    }
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = key;
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, task->fd(), &ev) < 0) {
      task->Fail(errno, "epoll_ctl");
      Finish(key, done);
    }
  }
  return woke;
}

// Whatever is ready now, without waiting.
void Engine::Poll(std::vector<Result>& done) {
  epoll_event events[kMaxEvents];
  int n = epoll_wait(epfd_, events, kMaxEvents, 0);
  if (n > 0) HandleEvents(events, n, done);
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
  // Finished jobs are held before they cross to JS, each for its job's holdMs
  // (1 ms unless the caller asked for more), so that replies that arrive close
  // together are delivered (and their promises settled) in one batch rather
  // than one JS callback each. The sockets are still read as soon as they are
  // readable: only the delivery waits. deliverBy: the earliest end of a hold.
  uint64_t deliverBy = UINT64_MAX;
  epoll_event events[kMaxEvents];
  for (;;) {
    // Drop the heap's entries of tasks that finished before their deadline.
    while (!deadlines_.empty() && active_.find(deadlines_.front().second) == active_.end()) {
      std::pop_heap(deadlines_.begin(), deadlines_.end(), Later);
      deadlines_.pop_back();
    }
    // Wait until the nearest deadline, scheduled start or end of the
    // delivery hold (ms resolution, rounded up).
    uint64_t wakeAt = deadlines_.empty() ? UINT64_MAX : deadlines_.front().first;
    if (!scheduled_.empty()) wakeAt = std::min(wakeAt, scheduled_.front().startNs);
    if (!done.empty()) wakeAt = std::min(wakeAt, deliverBy);
    int timeoutMs = -1;
    if (wakeAt != UINT64_MAX) {
      uint64_t now = MonotonicNs();
      timeoutMs =
          wakeAt <= now ? 0 : static_cast<int>(std::min<uint64_t>((wakeAt - now + 999999) / 1000000, INT32_MAX));
    }
    int n = epoll_wait(epfd_, events, kMaxEvents, timeoutMs);
    wakes_.fetch_add(1, std::memory_order_relaxed);
    if (n < 0) {
      if (errno != EINTR) {
        SetFatal(errno, "epoll_wait");
        break;
      }
      n = 0;
    }
    const size_t doneBefore = done.size();
    const bool woke = HandleEvents(events, n, done);
    bool stop = false;
    uint64_t cancelBefore = 0;
    if (woke) {
      uint64_t count;
      ssize_t ignored = read(wakeFd_, &count, sizeof count);
      (void)ignored;
      std::lock_guard<std::mutex> lock(mu_);
      for (Job& job : queue_) jobs.push_back(std::move(job));
      queue_.clear();
      stop = stopping_;
      cancelBefore = cancelBefore_;
    }
    if (stop) break;
    bool cancelled = false;
    if (cancelBefore > cancelApplied_) {
      cancelApplied_ = cancelBefore;
      Cancel(cancelBefore, jobs, done);
      cancelled = true;
    }
    if (!jobs.empty() || !scheduled_.empty()) {
      const uint64_t at = MonotonicNs();
      if (!jobs.empty()) Schedule(jobs, at);
      TakeDue(jobs, at);
    }
    if (!jobs.empty()) StartJobs(jobs, done);
    if (fatalErrno_.load()) break;
    // Deadlines: the heap's top, until one lies in the future.
    const uint64_t now = MonotonicNs();
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      const uint64_t key = deadlines_.front().second;
      std::pop_heap(deadlines_.begin(), deadlines_.end(), Later);
      deadlines_.pop_back();
      auto it = active_.find(key);
      if (it == active_.end()) continue;
      it->second->Fail(ETIMEDOUT, it->second->WaitingIn());
      Finish(key, done);
    }
    // Each new result may wait its own hold; the batch goes when the first
    // hold is over, or at once when nothing else is running or scheduled
    // (the last results of a sweep, a cancellation, a lone probe).
    for (size_t k = doneBefore; k < done.size(); k++) {
      deliverBy = std::min<uint64_t>(deliverBy, now + static_cast<uint64_t>(done[k].holdMs) * 1000000ull);
    }
    if (!done.empty() && ((active_.empty() && scheduled_.empty()) || cancelled || now >= deliverBy)) {
      Flush(done);
      deliverBy = UINT64_MAX;
    }
  }

  // Leaving: on a fatal error, fail everything that is left so no promise
  // hangs; on Stop() the environment is going away and nothing is delivered.
  running_.store(false);
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
    for (Job& job : queue_) jobs.push_back(std::move(job));
    queue_.clear();
  }
  for (Job& job : scheduled_) jobs.push_back(std::move(job));
  scheduled_.clear();
  scheduledCount_.store(0);
  if (!stopping) {
    const int fatal = fatalErrno_.load();
    const char* where = fatalSyscall_.load();
    FailJobs(jobs, fatal, where, done);
    std::vector<uint64_t> keys;
    for (auto& entry : active_) keys.push_back(entry.first);
    for (uint64_t key : keys) {
      active_[key]->Fail(fatal, where);
      Finish(key, done);
    }
    Flush(done);
  }
  for (auto& entry : active_) epoll_ctl(epfd_, EPOLL_CTL_DEL, entry.second->fd(), nullptr);
  active_.clear();
  deadlines_.clear();
  jobs.clear();
}

}  // namespace healthd
