// One unit of work the engine drives with epoll on a socket it created in a
// namespace: a DNS-agnostic exchange (exchange.h) or an interface dump
// (ifaces.h). A task owns its socket; it never closes it early and never
// touches epoll: the engine removes the fd from epoll, then destroys the
// task, which closes the fd. Plain POSIX.
#pragma once

#include <cstdint>

#include "engine.h"
#include "unique_fd.h"

namespace healthd {

uint64_t MonotonicNs();

class Task {
 public:
  Task(const Job& job, UniqueFd fd);
  virtual ~Task() = default;
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  // Starts the I/O (the clock and the deadline start now). Returns the epoll
  // events to wait for, or 0 when the task already finished.
  uint32_t Begin();
  // Advances on readiness. Same return convention as Begin().
  virtual uint32_t OnEvents(uint32_t events) = 0;
  // Ends the task with an error (deadline, cancellation, engine failure).
  void Fail(int err, const char* syscall) { Finish(err, syscall); }
  // The step the task is waiting in: names the syscall a timeout hit.
  virtual const char* WaitingIn() const = 0;

  bool done() const { return done_; }
  int fd() const { return fd_.get(); }
  uint64_t seq() const { return seq_; }
  uint64_t deadlineNs() const { return deadlineNs_; }
  Result TakeResult();

 protected:
  virtual uint32_t Start() = 0;
  // Records the outcome; returns 0 so callers can `return Finish(...)`.
  uint32_t Finish(int err, const char* syscall);

  UniqueFd fd_;
  Result result_;

 private:
  uint64_t seq_;
  uint32_t timeoutMs_;
  uint64_t startNs_ = 0;
  uint64_t deadlineNs_ = UINT64_MAX;
  bool done_ = false;
};

}  // namespace healthd
