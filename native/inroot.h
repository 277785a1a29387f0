// Files inside a container's root, opened the way the container itself would
// open them: every symlink and ".." resolves against that root, never the
// host's. openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS where the
// kernel has it (5.6+), otherwise a component-by-component walk with
// O_PATH | O_NOFOLLOW that resolves each symlink's text inside the root (at
// most 40 links, like the kernel). Only regular files are ever opened for
// reading: anything else (FIFO, device, socket, directory) is reported from
// an O_PATH descriptor, which has no side effects. Plain POSIX.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "unique_fd.h"

namespace healthd {

constexpr int kMaxSymlinks = 40;

// Resolves `rel` (absolute or relative, both taken from the root) inside the
// directory `rootFd`; on success *out is an O_PATH descriptor. Returns 0 or
// an errno; *syscall names the step.
int OpenInRoot(int rootFd, const std::string& rel, bool forceWalk, UniqueFd* out, const char** syscall);

struct InRootRead {
  int err = 0;
  const char* syscall = "";
  // st_mode & S_IFMT of what the path names (0 when it was not reached).
  mode_t fileType = 0;
  uint64_t size = 0;       // st_size
  bool truncated = false;  // more than maxBytes were there
  std::vector<uint8_t> data;
};

// err value for "not a regular file" (fileType says what it is instead).
constexpr int kNotRegular = -1;

// Opens `root` (a directory, e.g. /proc/<pid>/root), resolves `rel` inside
// it, refuses anything but a regular file (err = kNotRegular, fileType set),
// then reads at most maxBytes.
void ReadFileInRoot(const std::string& root, const std::string& rel, size_t maxBytes, bool forceWalk, InRootRead* out);

}  // namespace healthd
