// sd_notify(3) without libsystemd: one datagram to an AF_UNIX socket.
#pragma once

#include <string>

namespace healthd {

// Sends `message` to `path` ("@name" = abstract socket). Returns 0 or an
// errno; *syscall names the failing step.
int NotifySocket(const std::string& path, const std::string& message, const char** syscall);

}  // namespace healthd
