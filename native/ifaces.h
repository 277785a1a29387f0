// The interfaces and addresses of one network namespace, read over rtnetlink
// (RTM_GETLINK and RTM_GETADDR dumps) on a NETLINK_ROUTE socket. A netlink
// socket answers for the namespace it was created in, so the engine creates
// it inside the target namespace (setns -> socket -> setns back) and the dump
// runs from home. The bytes are returned raw; src/diagnose/netlink.ts parses
// them. Plain POSIX: no N-API types here.
#pragma once

#include <cstdint>
#include <vector>

namespace healthd {

// socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE)
// in the calling thread's current network namespace. Returns the fd, or -1
// with errno set.
int OpenRouteSocket();

// Runs a link dump, then an address dump (all families) on `fd`, appending
// every RTM_NEWLINK / RTM_NEWADDR message, headers included, to `out`
// (NLMSG_DONE and foreign messages are left out). Never waits for long: the
// kernel produces dump data as it is read. Returns 0 or an errno; *syscall
// names the failing step ("sendto", "recvmsg", "poll", "netlink" for an
// NLMSG_ERROR answer).
int DumpLinksAndAddrs(int fd, std::vector<uint8_t>* out, const char** syscall);

}  // namespace healthd
