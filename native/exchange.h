// One DNS-agnostic exchange on a non-blocking socket that already exists:
// UDP (connected; send once, wait for the datagram that is the reply) or TCP
// (connect, 2-byte length framing both ways). Driven by epoll events and a
// deadline. Plain POSIX.
#pragma once

#include <cstdint>
#include <vector>

#include "engine.h"
#include "task.h"

namespace healthd {

class Exchange : public Task {
 public:
  Exchange(Job job, UniqueFd fd);

  uint32_t OnEvents(uint32_t events) override;
  const char* WaitingIn() const override;

  // True when `reply` answers the job's query (see Job::questionEnd).
  static bool Matches(const std::vector<uint8_t>& query, uint32_t questionEnd, const uint8_t* reply, size_t n);

 private:
  enum class Step { kConnect, kSend, kRecv };

  uint32_t Start() override;
  uint32_t Connected();
  uint32_t SendUdp();
  uint32_t SendTcp();
  uint32_t RecvUdp();
  uint32_t RecvTcp();

  Job job_;
  Step step_ = Step::kConnect;
  std::vector<uint8_t> out_;  // framed TCP query
  size_t sent_ = 0;
  std::vector<uint8_t> in_;  // TCP bytes read so far
};

}  // namespace healthd
