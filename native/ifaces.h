// The interfaces and addresses of one network namespace, read over rtnetlink
// (RTM_GETLINK and RTM_GETADDR dumps) on a NETLINK_ROUTE socket. A netlink
// socket answers for the namespace it was created in, so the engine creates
// it inside the target namespace (setns -> socket -> setns back) and the dump
// runs from home, driven by epoll like an exchange: a namespace with
// thousands of interfaces never holds up the other tasks. The bytes are
// returned raw; src/diagnose/netlink.ts parses them. Plain POSIX.
#pragma once

#include <cstdint>
#include <vector>

#include "task.h"

namespace healthd {

// socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE)
// in the calling thread's current network namespace. Returns the fd, or -1
// with errno set.
int OpenRouteSocket();

// A link dump, then an address dump (all families); `reply` collects every
// RTM_NEWLINK / RTM_NEWADDR message, headers included, each zero-padded to
// 4 bytes. NLMSG_DONE carrying an error, or NLMSG_ERROR, fails the task
// (syscall "netlink"); a dump the kernel marks interrupted (NLM_F_DUMP_INTR:
// interfaces changed while it ran) is restarted, at most kMaxRestarts times,
// then fails with EAGAIN: a partial dump is never reported as complete.
class LinkDump : public Task {
 public:
  LinkDump(const Job& job, UniqueFd fd);

  uint32_t OnEvents(uint32_t events) override;
  const char* WaitingIn() const override;

  static constexpr int kMaxRestarts = 3;

 private:
  uint32_t Start() override;
  uint32_t SendRequest();
  uint32_t Receive();

  int phase_ = 0;  // 0: links, 1: addresses
  bool sending_ = true;
  uint32_t seq_ = 0;
  int restarts_ = 0;
  bool interrupted_ = false;
  std::vector<uint8_t> buf_;
};

// Waits for the namespace's interfaces to change: the socket joins
// RTMGRP_LINK, and the first readiness ends the task with every RTM_NEWLINK /
// RTM_DELLINK message queued by then in `reply` (as LinkDump stores them, at
// most kMaxEvents bytes; the rest is dropped, as the caller only learns which
// interfaces changed). No message before the deadline: ETIMEDOUT. Messages
// lost to a full socket buffer: ENOBUFS (the caller must assume everything
// changed). The caller starts the next watch when one ends.
class LinkWatch : public Task {
 public:
  LinkWatch(const Job& job, UniqueFd fd);

  uint32_t OnEvents(uint32_t events) override;
  const char* WaitingIn() const override;

  static constexpr size_t kMaxEvents = 256 * 1024;

 private:
  uint32_t Start() override;

  std::vector<uint8_t> buf_;
};

}  // namespace healthd
