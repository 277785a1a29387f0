// One DNS-agnostic exchange on a non-blocking socket that already exists:
// UDP (connected; send once, the first datagram back is the reply) or TCP
// (connect, 2-byte length framing both ways). Driven by epoll events and a
// deadline. Plain POSIX.
#pragma once

#include <cstdint>
#include <vector>

#include "engine.h"

namespace healthd {

uint64_t MonotonicNs();

class Exchange {
 public:
  enum class Step { kConnect, kSend, kRecv, kDone };

  Exchange(Job job, int fd, uint64_t nowNs);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Begins I/O right after the socket was created. Returns the epoll events
  // to wait for, or 0 when the exchange already finished (see result()).
  uint32_t Begin();
  // Advances on readiness. Same return convention as Begin().
  uint32_t OnEvents(uint32_t events);
  // Ends the exchange with an error (deadline, cancellation, engine failure).
  void Fail(int err, const char* syscall);

  bool done() const { return step_ == Step::kDone; }
  int fd() const { return fd_; }
  uint32_t id() const { return job_.id; }
  uint64_t deadlineNs() const { return deadlineNs_; }
  // The step the exchange is waiting in: names the syscall a timeout hit.
  const char* waitingIn() const;
  Result TakeResult();

  // Position in the engine's active set.
  size_t index = 0;

 private:
  uint32_t Connected();
  uint32_t SendMore();
  uint32_t RecvUdp();
  uint32_t RecvTcp();
  uint32_t Finish(int err, const char* syscall);

  Job job_;
  int fd_;
  Step step_ = Step::kConnect;
  uint64_t startNs_ = 0;
  uint64_t deadlineNs_ = 0;
  std::vector<uint8_t> out_;  // framed TCP query
  size_t sent_ = 0;
  std::vector<uint8_t> in_;   // TCP bytes read so far
  Result result_;
};

}  // namespace healthd
