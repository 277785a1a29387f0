#include "ifaces.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace healthd {

namespace {

constexpr size_t kRecvBuffer = 64 * 1024;
// A namespace with thousands of interfaces stays far below this.
constexpr size_t kMaxDump = 16 * 1024 * 1024;
// The kernel answers a dump as it is read; this only bounds a broken socket.
constexpr int kPollMs = 200;

struct DumpRequest {
  nlmsghdr hdr;
  // Both ifinfomsg and ifaddrmsg start with the family byte; ifinfomsg is the
  // larger of the two, so one zeroed request body serves both dumps.
  ifinfomsg body;
};

int SendDump(int fd, uint16_t type, uint32_t seq, const char** syscall) {
  DumpRequest req;
  memset(&req, 0, sizeof req);
  req.hdr.nlmsg_len = NLMSG_LENGTH(type == RTM_GETADDR ? sizeof(ifaddrmsg) : sizeof(ifinfomsg));
  req.hdr.nlmsg_type = type;
  req.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.hdr.nlmsg_seq = seq;
  req.body.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd, &req, req.hdr.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    *syscall = "sendto";
    return errno;
  }
  return 0;
}

// Reads one dump's answer up to NLMSG_DONE.
int ReceiveDump(int fd, uint32_t seq, std::vector<uint8_t>* out, const char** syscall) {
  std::vector<uint8_t> buf(kRecvBuffer);
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd p{fd, POLLIN, 0};
        int r = poll(&p, 1, kPollMs);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
          *syscall = "poll";
          return errno;
        }
        if (r == 0) {
          *syscall = "poll";
          return ETIMEDOUT;
        }
        continue;
      }
      *syscall = "recvmsg";
      return errno;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      *syscall = "recvmsg";
      return EMSGSIZE;
    }
    if (from.nl_pid != 0) continue;  // not from the kernel
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        *syscall = "netlink";
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EBADMSG;
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return e->error < 0 ? -e->error : EBADMSG;
      }
      if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_NEWADDR) continue;
      if (out->size() + h->nlmsg_len > kMaxDump) {
        *syscall = "recvmsg";
        return EMSGSIZE;
      }
      // The message as sent, zero-padded to the 4-byte alignment the
      // parser steps by (the last message of a datagram may lack padding).
      const auto* bytes = reinterpret_cast<const uint8_t*>(h);
      out->insert(out->end(), bytes, bytes + h->nlmsg_len);
      out->resize(out->size() + (NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len), 0);
    }
  }
}

}  // namespace

int OpenRouteSocket() { return socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE); }

int DumpLinksAndAddrs(int fd, std::vector<uint8_t>* out, const char** syscall) {
  const uint16_t types[] = {RTM_GETLINK, RTM_GETADDR};
  uint32_t seq = 1;
  for (uint16_t type : types) {
    int err = SendDump(fd, type, seq, syscall);
    if (!err) err = ReceiveDump(fd, seq, out, syscall);
    if (err) return err;
    seq++;
  }
  *syscall = "";
  return 0;
}

}  // namespace healthd
