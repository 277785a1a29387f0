// The netns engine: one dedicated thread that creates sockets inside network
// namespaces (setns -> socket -> setns back -> verify) and drives every
// exchange and interface dump with epoll. Plain C++17 and POSIX: no N-API
// types here.
#pragma once

#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "unique_fd.h"

namespace healthd {

enum class JobKind {
  // Send `payload` to `addr` and wait for the reply.
  kExchange,
  // A NETLINK_ROUTE socket created in the netns, and a link + address dump
  // on it from home (ifaces.h); `reply` holds the raw messages. addr, tcp
  // and payload are unused.
  kLinkDump,
  // A NETLINK_ROUTE socket created in the netns and joined to its link
  // group (RTMGRP_LINK): ends with the RTM_NEWLINK / RTM_DELLINK messages of
  // the first change (ifaces.h), or ETIMEDOUT when none came in timeoutMs.
  kLinkWatch,
};

// One request, run inside the netns behind `ns` (invalid: stay in the
// thread's own netns, i.e. the host's).
struct Job {
  uint32_t id = 0;
  JobKind kind = JobKind::kExchange;
  // The namespace's open file: the addon's table entry for an fd it opened
  // (openNetns), or a checked duplicate (F_DUPFD_CLOEXEC) of any other fd
  // taken at submit; shared by the jobs holding it. Whatever the caller does
  // with its fd, this one names the same namespace until the job has made its
  // socket (a scheduled job holds it until its start). Null: the host.
  std::shared_ptr<UniqueFd> ns;
  // The namespace's identity: jobs for the same namespace share one setns.
  uint64_t nsDev = 0;
  uint64_t nsIno = 0;
  // Submission order, set by Engine::Submit: CancelAll() cancels by it.
  uint64_t seq = 0;
  // When the job may start (CLOCK_MONOTONIC ns, see MonotonicNs()); 0 or a
  // time already past: at once. Until then it waits in the engine (its
  // namespace reference held); its timeout counts from its start.
  uint64_t startNs = 0;
  // How long its result may wait for others before it crosses to JS (see
  // Engine::Run): results that finish close together share one delivery.
  uint32_t holdMs = 1;
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  bool tcp = false;
  std::vector<uint8_t> payload;
  uint32_t timeoutMs = 0;
  // UDP only. 0: the first non-empty datagram is the reply. >= 12: the
  // payload is a DNS query whose question ends at this offset; a datagram is
  // the reply only when it carries the query's ID with QR set and the same
  // question (names compared ignoring ASCII case), as glibc's res_send
  // checks. Others are counted in Result::ignored and the exchange waits on.
  uint32_t questionEnd = 0;
};

// One outcome. err == 0: `reply` holds the reply (TCP: without the 2-byte
// length prefix). Otherwise `err` is an errno and `syscall` names the step
// that failed ("setns", "socket", "connect", "send", "recv", ...).
struct Result {
  uint32_t id = 0;
  int err = 0;
  const char* syscall = "";
  std::vector<uint8_t> reply;
  uint64_t rttNs = 0;
  // Datagrams dropped while waiting: empty, or not the reply (see Job).
  uint32_t ignored = 0;
  // The job's holdMs (not delivered to JS).
  uint32_t holdMs = 1;
};

struct Stats {
  bool running = false;
  // Counters since the engine started: worker wake-ups (epoll_wait returns),
  // setns calls (into namespaces and home), batches delivered to JS, and
  // submissions (one per Submit/SubmitBatch call that queued something).
  uint64_t wakes = 0;
  uint64_t setnsCalls = 0;
  uint64_t deliveries = 0;
  uint64_t submissions = 0;
  uint32_t inFlight = 0;   // accepted and not yet delivered
  uint32_t queued = 0;     // waiting for the worker to pick them up
  uint32_t scheduled = 0;  // picked up, waiting for their start time
  uint64_t completed = 0;
  int workerTid = 0;
  uint64_t hostNetnsInode = 0;
  int fatalErrno = 0;
  const char* fatalSyscall = "";
};

struct SubmitError {
  int err = 0;
  const char* syscall = "";
};

class Task;

class Engine {
 public:
  // Called on the worker thread with a batch of finished jobs. It must not
  // block; it takes ownership of the batch.
  using Deliver = std::function<void(std::unique_ptr<std::vector<Result>>)>;

  explicit Engine(Deliver deliver);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a job, starting the worker on first use. Returns err == 0 when
  // accepted; otherwise nothing was queued and nothing will be delivered
  // (a failed thread start is {EAGAIN, "pthread_create"} and may be retried).
  SubmitError Submit(Job job);
  // Queues several jobs under one lock and at most one wake-up; all or
  // nothing, like Submit.
  SubmitError SubmitBatch(std::vector<Job> jobs);
  // Fails every job submitted before this call with ECANCELED. Jobs
  // submitted afterwards are not affected.
  void CancelAll();
  // Stops the worker and joins it; undelivered jobs are dropped.
  void Stop();
  Stats GetStats() const;

 private:
  static void* ThreadMain(void* self);
  void Run();
  bool Setup(int* err, const char** syscall);
  void StartJobs(std::vector<Job>& jobs, std::vector<Result>& done);
  bool ReturnHome(int* err);
  void FailJobs(std::vector<Job>& jobs, int err, const char* syscall, std::vector<Result>& done);
  void Start(std::unique_ptr<Task> task, std::vector<Result>& done);
  void Finish(uint64_t key, std::vector<Result>& done);
  void Cancel(uint64_t before, std::vector<Job>& jobs, std::vector<Result>& done);
  void Schedule(std::vector<Job>& jobs, uint64_t now);
  void TakeDue(std::vector<Job>& jobs, uint64_t now);
  void Flush(std::vector<Result>& done);
  bool HandleEvents(const epoll_event* events, int n, std::vector<Result>& done);
  void Poll(std::vector<Result>& done);
  void SetFatal(int err, const char* syscall);
  void Wake();

  Deliver deliver_;
  mutable std::mutex mu_;
  std::vector<Job> queue_;
  uint64_t nextSeq_ = 1;
  uint64_t cancelBefore_ = 0;  // jobs with seq < this are cancelled
  bool started_ = false;
  bool stopping_ = false;
  pthread_t thread_{};
  bool joinable_ = false;
  std::mutex startMu_;
  std::condition_variable startCv_;
  bool startDone_ = false;
  SubmitError startError_{};

  int epfd_ = -1;
  int wakeFd_ = -1;
  int hostFd_ = -1;
  int nsDirFd_ = -1;  // the worker's /proc/thread-self/ns (see kThreadNsDir)
  dev_t hostDev_ = 0;
  ino_t hostIno_ = 0;

  std::atomic<uint32_t> inFlight_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<int> workerTid_{0};
  std::atomic<bool> running_{false};
  std::atomic<int> fatalErrno_{0};
  std::atomic<const char*> fatalSyscall_{""};
  std::atomic<uint64_t> wakes_{0};
  std::atomic<uint64_t> setnsCalls_{0};
  std::atomic<uint64_t> deliveries_{0};
  std::atomic<uint64_t> submissions_{0};

  // Worker-thread-only state. epoll carries a key, never a pointer: an
  // event for a task that is gone finds nothing.
  std::unordered_map<uint64_t, std::unique_ptr<Task>> active_;
  // Deadlines of active tasks, a min-heap of (deadline, key); entries of
  // tasks that finished earlier are skipped when they reach the top.
  std::vector<std::pair<uint64_t, uint64_t>> deadlines_;
  // Jobs whose start time is still to come, a min-heap by (startNs, seq).
  std::vector<Job> scheduled_;
  std::atomic<uint32_t> scheduledCount_{0};
  uint64_t nextKey_ = 1;
  uint64_t cancelApplied_ = 0;
};

}  // namespace healthd
