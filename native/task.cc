#include "task.h"

#include <time.h>

#include <utility>

namespace healthd {

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Task::Task(const Job& job, UniqueFd fd) : fd_(std::move(fd)), seq_(job.seq), timeoutMs_(job.timeoutMs) {
  result_.id = job.id;
  result_.holdMs = job.holdMs;
}

uint32_t Task::Begin() {
  // Each task's clock starts when its own I/O does, not when its batch was
  // picked up: setns round trips for earlier namespaces do not eat into it.
  startNs_ = MonotonicNs();
  deadlineNs_ = startNs_ + static_cast<uint64_t>(timeoutMs_) * 1000000ull;
  return Start();
}

uint32_t Task::Finish(int err, const char* syscall) {
  if (done_) return 0;
  done_ = true;
  result_.err = err;
  result_.syscall = err ? syscall : "";
  if (err) result_.reply.clear();
  result_.rttNs = startNs_ ? MonotonicNs() - startNs_ : 0;
  return 0;
}

Result Task::TakeResult() { return std::move(result_); }

}  // namespace healthd
