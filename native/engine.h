// The netns engine: one dedicated thread that creates sockets inside network
// namespaces (setns -> socket -> setns back -> verify) and drives every
// exchange with epoll. Plain C++17 and POSIX: no N-API types here.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace healthd {

// One request: send `payload` to `addr` from inside the netns behind `nsFd`
// (-1: stay in the thread's own netns, i.e. the host's).
struct Job {
  uint32_t id = 0;
  int nsFd = -1;
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  bool tcp = false;
  std::vector<uint8_t> payload;
  uint32_t timeoutMs = 0;
  // Instead of an exchange: a NETLINK_ROUTE socket created in the netns, and
  // a link + address dump on it from home (ifaces.h); `reply` holds the raw
  // messages. addr, tcp, payload and timeoutMs are unused.
  bool linkDump = false;
};

// One outcome. err == 0: `reply` holds the first reply (TCP: without the
// 2-byte length prefix). Otherwise `err` is an errno and `syscall` names the
// step that failed ("setns", "socket", "connect", "send", "recv", ...).
struct Result {
  uint32_t id = 0;
  int err = 0;
  const char* syscall = "";
  std::vector<uint8_t> reply;
  uint64_t rttNs = 0;
};

struct Stats {
  bool running = false;
  uint32_t inFlight = 0;  // accepted and not yet delivered
  uint32_t queued = 0;    // waiting for the worker to pick them up
  uint64_t completed = 0;
  int workerTid = 0;
  uint64_t hostNetnsInode = 0;
  int fatalErrno = 0;
};

struct SubmitError {
  int err = 0;
  const char* syscall = "";
};

class Exchange;

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
  // accepted; otherwise nothing was queued and nothing will be delivered.
  SubmitError Submit(Job job);
  // Fails every queued and in-flight job with ECANCELED.
  void CancelAll();
  // Stops the worker and joins it; undelivered jobs are dropped.
  void Stop();
  Stats GetStats() const;

 private:
  void Run();
  bool Setup(int* err, const char** syscall);
  void StartJobs(std::vector<Job>& jobs, std::vector<Result>& done);
  bool ReturnHome(int* err);
  void FailAll(std::vector<Job>& queued, int err, const char* syscall, std::vector<Result>& done);
  void Finish(Exchange* ex, std::vector<Result>& done);
  void Flush(std::vector<Result>& done);

  Deliver deliver_;
  mutable std::mutex mu_;
  std::vector<Job> queue_;
  bool started_ = false;
  bool stopping_ = false;
  bool cancel_ = false;
  std::thread thread_;
  std::mutex startMu_;
  std::condition_variable startCv_;
  bool startDone_ = false;
  SubmitError startError_{};

  int epfd_ = -1;
  int wakeFd_ = -1;
  int hostFd_ = -1;
  dev_t hostDev_ = 0;
  ino_t hostIno_ = 0;

  std::atomic<uint32_t> inFlight_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<int> workerTid_{0};
  std::atomic<bool> running_{false};
  std::atomic<int> fatalErrno_{0};

  // Worker-thread-only state.
  std::vector<std::unique_ptr<Exchange>> active_;
};

}  // namespace healthd
