#include "exchange.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <utility>

namespace healthd {

namespace {
constexpr size_t kMaxMessage = 65535;
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Exchange::Exchange(Job job, int fd, uint64_t nowNs) : job_(std::move(job)), fd_(fd) {
  startNs_ = nowNs;
  deadlineNs_ = nowNs + static_cast<uint64_t>(job_.timeoutMs) * 1000000ull;
  result_.id = job_.id;
}

Exchange::~Exchange() {
  if (fd_ >= 0) close(fd_);
}

const char* Exchange::waitingIn() const {
  switch (step_) {
    case Step::kConnect: return "connect";
    case Step::kSend: return "send";
    case Step::kRecv: return "recv";
    case Step::kDone: break;
  }
  return "";
}

uint32_t Exchange::Finish(int err, const char* syscall) {
  if (step_ == Step::kDone) return 0;
  result_.err = err;
  result_.syscall = err ? syscall : "";
  result_.rttNs = MonotonicNs() - startNs_;
  step_ = Step::kDone;
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  return 0;
}

void Exchange::Fail(int err, const char* syscall) { Finish(err, syscall); }

Result Exchange::TakeResult() { return std::move(result_); }

uint32_t Exchange::Begin() {
  startNs_ = MonotonicNs();
  if (job_.tcp) {
    out_.reserve(job_.payload.size() + 2);
    out_.push_back(static_cast<uint8_t>(job_.payload.size() >> 8));
    out_.push_back(static_cast<uint8_t>(job_.payload.size() & 0xff));
    out_.insert(out_.end(), job_.payload.begin(), job_.payload.end());
  }
  int rc;
  do {
    rc = connect(fd_, reinterpret_cast<const sockaddr*>(&job_.addr), job_.addrLen);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (job_.tcp && errno == EINPROGRESS) return EPOLLOUT;
    return Finish(errno, "connect");
  }
  return Connected();
}

uint32_t Exchange::Connected() {
  step_ = Step::kSend;
  if (!job_.tcp) {
    ssize_t n;
    do {
      n = send(fd_, job_.payload.data(), job_.payload.size(), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Finish(errno, "send");
    step_ = Step::kRecv;
    return EPOLLIN;
  }
  return SendMore();
}

uint32_t Exchange::SendMore() {
  while (sent_ < out_.size()) {
    ssize_t n = send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLOUT;
      return Finish(errno, "send");
    }
    sent_ += static_cast<size_t>(n);
  }
  step_ = Step::kRecv;
  return EPOLLIN;
}

uint32_t Exchange::OnEvents(uint32_t events) {
  switch (step_) {
    case Step::kConnect: {
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) return Finish(errno, "getsockopt");
      if (soerr != 0) return Finish(soerr, "connect");
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return EPOLLOUT;
      return Connected();
    }
    case Step::kSend:
      return SendMore();
    case Step::kRecv:
      return job_.tcp ? RecvTcp() : RecvUdp();
    case Step::kDone:
      break;
  }
  return 0;
}

uint32_t Exchange::RecvUdp() {
  // One datagram: at most 64 KiB. MSG_TRUNC makes recv report the real size.
  uint8_t buf[kMaxMessage + 1];
  ssize_t n;
  do {
    n = recv(fd_, buf, sizeof buf, MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLIN;
    return Finish(errno, "recv");
  }
  if (static_cast<size_t>(n) > kMaxMessage) return Finish(EMSGSIZE, "recv");
  result_.reply.assign(buf, buf + n);
  return Finish(0, "");
}

uint32_t Exchange::RecvTcp() {
  uint8_t buf[16384];
  for (;;) {
    size_t want = 2;
    if (in_.size() >= 2) want = 2 + ((static_cast<size_t>(in_[0]) << 8) | in_[1]);
    if (in_.size() >= want && want > 2) break;
    if (in_.size() == 2 && want == 2) {
      // A zero-length message is no DNS reply.
      return Finish(EBADMSG, "recv");
    }
    size_t room = want - in_.size();
    if (room > sizeof buf) room = sizeof buf;
    ssize_t n = recv(fd_, buf, room, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLIN;
      return Finish(errno, "recv");
    }
    if (n == 0) return Finish(ECONNRESET, "recv");  // closed before a whole reply
    in_.insert(in_.end(), buf, buf + n);
  }
  result_.reply.assign(in_.begin() + 2, in_.end());
  return Finish(0, "");
}

}  // namespace healthd
