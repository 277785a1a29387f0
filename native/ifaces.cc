#include "ifaces.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace healthd {

namespace {

constexpr size_t kRecvBuffer = 64 * 1024;
// A namespace with thousands of interfaces stays far below this.
constexpr size_t kMaxDump = 16 * 1024 * 1024;
// Datagrams read per readiness event before going back to epoll.
constexpr int kDatagramsPerEvent = 4;
constexpr uint16_t kTypes[] = {RTM_GETLINK, RTM_GETADDR};

struct DumpRequest {
  nlmsghdr hdr;
  // Both ifinfomsg and ifaddrmsg start with the family byte; ifinfomsg is the
  // larger of the two, so one zeroed request body serves both dumps.
  ifinfomsg body;
};

// One datagram into *buf (recvmsg, retried on EINTR); the sender in *from,
// the message flags (MSG_TRUNC) in *flags.
ssize_t RecvDatagram(int fd, std::vector<uint8_t>* buf, sockaddr_nl* from, int* flags) {
  iovec iov{buf->data(), buf->size()};
  msghdr msg{};
  msg.msg_name = from;
  msg.msg_namelen = sizeof *from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, 0);
  } while (n < 0 && errno == EINTR);
  *flags = msg.msg_flags;
  return n;
}

// The message as sent, zero-padded to the 4-byte alignment the parser steps
// by (the last message of a datagram may lack padding).
void AppendMessage(std::vector<uint8_t>* out, const nlmsghdr* h) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(h);
  out->insert(out->end(), bytes, bytes + h->nlmsg_len);
  out->resize(out->size() + (NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len), 0);
}

}  // namespace

int OpenRouteSocket() { return socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE); }

LinkDump::LinkDump(const Job& job, UniqueFd fd) : Task(job, std::move(fd)) {}

const char* LinkDump::WaitingIn() const { return sending_ ? "sendto" : "recvmsg"; }

uint32_t LinkDump::Start() {
  buf_.resize(kRecvBuffer);
  return SendRequest();
}

uint32_t LinkDump::SendRequest() {
  sending_ = true;
  seq_++;
  DumpRequest req;
  memset(&req, 0, sizeof req);
  const uint16_t type = kTypes[phase_];
  req.hdr.nlmsg_len = NLMSG_LENGTH(type == RTM_GETADDR ? sizeof(ifaddrmsg) : sizeof(ifinfomsg));
  req.hdr.nlmsg_type = type;
  req.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.hdr.nlmsg_seq = seq_;
  req.body.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd_.get(), &req, req.hdr.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLOUT;
    return Finish(errno, "sendto");
  }
  sending_ = false;
  return EPOLLIN;
}

uint32_t LinkDump::OnEvents(uint32_t) {
  if (done()) return 0;
  return sending_ ? SendRequest() : Receive();
}

uint32_t LinkDump::Receive() {
  for (int k = 0; k < kDatagramsPerEvent; k++) {
    sockaddr_nl from{};
    int flags = 0;
    ssize_t n = RecvDatagram(fd_.get(), &buf_, &from, &flags);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLIN;
      return Finish(errno, "recvmsg");
    }
    if (flags & MSG_TRUNC) return Finish(EMSGSIZE, "recvmsg");
    if (from.nl_pid != 0) continue;  // not from the kernel
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_) continue;  // an earlier, abandoned attempt
      // The interface set changed while the kernel walked it: this dump may
      // miss or repeat entries. It is read to its end (a socket runs one
      // dump at a time), then both dumps start again from scratch.
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
      if (h->nlmsg_type == NLMSG_DONE) {
        // NLMSG_DONE carries the dump's own status: negative is an error.
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int status;
          memcpy(&status, NLMSG_DATA(h), sizeof status);
          if (status < 0) return Finish(-status, "netlink");
        }
        if (interrupted_) {
          if (++restarts_ > kMaxRestarts) return Finish(EAGAIN, "netlink");
          interrupted_ = false;
          result_.reply.clear();
          phase_ = 0;
          return SendRequest();
        }
        if (++phase_ == 2) return Finish(0, "");
        return SendRequest();
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return Finish(EBADMSG, "netlink");
        nlmsgerr e;
        memcpy(&e, NLMSG_DATA(h), sizeof e);
        return Finish(e.error < 0 ? -e.error : EBADMSG, "netlink");
      }
      if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_NEWADDR) continue;
      if (result_.reply.size() + NLMSG_ALIGN(h->nlmsg_len) > kMaxDump) return Finish(EMSGSIZE, "recvmsg");
      AppendMessage(&result_.reply, h);
    }
  }
  return EPOLLIN;
}

LinkWatch::LinkWatch(const Job& job, UniqueFd fd) : Task(job, std::move(fd)) {}

const char* LinkWatch::WaitingIn() const { return "recvmsg"; }

uint32_t LinkWatch::Start() {
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK;
  if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return Finish(errno, "bind");
  buf_.resize(kRecvBuffer);
  return EPOLLIN;
}

uint32_t LinkWatch::OnEvents(uint32_t) {
  if (done()) return 0;
  // Drain what is queued now: one change (a pod starting) is several messages.
  for (;;) {
    sockaddr_nl from{};
    int flags = 0;
    ssize_t n = RecvDatagram(fd_.get(), &buf_, &from, &flags);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Finish(errno, "recvmsg");  // ENOBUFS: messages were lost
    }
    if (from.nl_pid != 0) continue;  // not from the kernel
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) continue;
      if (result_.reply.size() + NLMSG_ALIGN(h->nlmsg_len) > kMaxEvents) continue;
      AppendMessage(&result_.reply, h);
    }
  }
  // Only link messages end the watch (the group carries nothing else, but a
  // datagram from elsewhere or an empty read must not).
  if (result_.reply.empty()) return EPOLLIN;
  return Finish(0, "");
}

}  // namespace healthd
