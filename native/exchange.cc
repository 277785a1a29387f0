#include "exchange.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace healthd {

namespace {
constexpr size_t kMaxMessage = 65535;
constexpr size_t kDnsHeader = 12;
// Datagrams read per readiness event before going back to epoll, so that a
// flood on one socket cannot starve the others.
constexpr int kDatagramsPerEvent = 64;

inline uint8_t Lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c; }
}  // namespace

Exchange::Exchange(Job job, UniqueFd fd) : Task(job, std::move(fd)), job_(std::move(job)) {}

const char* Exchange::WaitingIn() const {
  switch (step_) {
    case Step::kConnect: return "connect";
    case Step::kSend: return "send";
    case Step::kRecv: return "recv";
  }
  return "";
}

bool Exchange::Matches(const std::vector<uint8_t>& q, uint32_t questionEnd, const uint8_t* r, size_t n) {
  if (n == 0) return false;
  if (questionEnd == 0) return true;
  if (questionEnd < kDnsHeader + 4 || questionEnd > q.size() || n < kDnsHeader) return false;
  if (r[0] != q[0] || r[1] != q[1]) return false;  // ID
  if (!(r[2] & 0x80)) return false;                // QR: a query is no reply
  const unsigned qd = (static_cast<unsigned>(r[4]) << 8) | r[5];
  const unsigned rcode = r[3] & 0x0f;
  // A server that rejects the query (FORMERR, NOTIMP, ...) may not echo the
  // question; with the right ID that is still its answer.
  if (qd == 0) return rcode != 0;
  if (r[4] != q[4] || r[5] != q[5]) return false;
  if (n < questionEnd) return false;
  const size_t nameEnd = questionEnd - 4;
  for (size_t i = kDnsHeader; i < nameEnd; i++) {
    if (Lower(r[i]) != Lower(q[i])) return false;
  }
  for (size_t i = nameEnd; i < questionEnd; i++) {
    if (r[i] != q[i]) return false;
  }
  return true;
}

uint32_t Exchange::Start() {
  if (job_.tcp) {
    out_.reserve(job_.payload.size() + 2);
    out_.push_back(static_cast<uint8_t>(job_.payload.size() >> 8));
    out_.push_back(static_cast<uint8_t>(job_.payload.size() & 0xff));
    out_.insert(out_.end(), job_.payload.begin(), job_.payload.end());
  }
  int rc;
  do {
    rc = connect(fd_.get(), reinterpret_cast<const sockaddr*>(&job_.addr), job_.addrLen);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (job_.tcp && errno == EINPROGRESS) return EPOLLOUT;
    return Finish(errno, "connect");
  }
  return Connected();
}

uint32_t Exchange::Connected() {
  step_ = Step::kSend;
  return job_.tcp ? SendTcp() : SendUdp();
}

uint32_t Exchange::SendUdp() {
  ssize_t n;
  do {
    n = send(fd_.get(), job_.payload.data(), job_.payload.size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // A full socket buffer is a wait, not a failure.
    if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLOUT;
    return Finish(errno, "send");
  }
  step_ = Step::kRecv;
  return EPOLLIN;
}

uint32_t Exchange::SendTcp() {
  while (sent_ < out_.size()) {
    ssize_t n = send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
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
  if (done()) return 0;
  switch (step_) {
    case Step::kConnect: {
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) return Finish(errno, "getsockopt");
      if (soerr != 0) return Finish(soerr, "connect");
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return EPOLLOUT;
      return Connected();
    }
    case Step::kSend: return job_.tcp ? SendTcp() : SendUdp();
    case Step::kRecv: return job_.tcp ? RecvTcp() : RecvUdp();
  }
  return 0;
}

uint32_t Exchange::RecvUdp() {
  // One datagram at a time, at most 64 KiB; MSG_TRUNC makes recv report the
  // real size. Datagrams that are not the reply are dropped and counted.
  uint8_t buf[kMaxMessage + 1];
  for (int k = 0; k < kDatagramsPerEvent; k++) {
    ssize_t n;
    do {
      n = recv(fd_.get(), buf, sizeof buf, MSG_TRUNC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return EPOLLIN;
      return Finish(errno, "recv");
    }
    const size_t size = static_cast<size_t>(n);
    if (size > kMaxMessage || !Matches(job_.payload, job_.questionEnd, buf, size)) {
      result_.ignored++;
      continue;
    }
    result_.reply.assign(buf, buf + size);
    return Finish(0, "");
  }
  return EPOLLIN;  // level-triggered: the rest is read on the next turn
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
    ssize_t n = recv(fd_.get(), buf, room, 0);
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
