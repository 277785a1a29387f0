#include "inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <deque>
#include <utility>

namespace healthd {

namespace {

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

// openat2 returns EAGAIN when a rename raced with ".." resolution; retrying
// is what the kernel asks for.
constexpr int kOpenat2Retries = 8;

std::deque<std::string> Split(const std::string& path) {
  std::deque<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.emplace_back(path, i, j - i);
    i = j + 1;
  }
  return parts;
}

int Openat2InRoot(int rootFd, const std::string& rel, UniqueFd* out) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (int i = 0; i < kOpenat2Retries; i++) {
    long fd = syscall(SYS_openat2, rootFd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) {
      out->Reset(static_cast<int>(fd));
      return 0;
    }
    if (errno != EAGAIN && errno != EINTR) return errno;
  }
  return EAGAIN;
}

// The fallback walk. ".." pops the stack of directories walked so far and
// stops at the root, so no path text can leave it (the kernel's own ".." is
// never used).
int WalkInRoot(int rootFd, const std::string& rel, UniqueFd* out) {
  std::vector<UniqueFd> stack;
  int rootCopy = openat(rootFd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootCopy < 0) return errno;
  stack.emplace_back(rootCopy);
  std::deque<std::string> parts = Split(rel);
  int links = 0;
  while (!parts.empty()) {
    std::string part = std::move(parts.front());
    parts.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    int fd = openat(stack.back().get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno;
    UniqueFd node(fd);
    struct stat st {};
    if (fstat(node.get(), &st) < 0) return errno;
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks) return ELOOP;
      char target[PATH_MAX];
      ssize_t n = readlinkat(node.get(), "", target, sizeof target);
      if (n < 0) return errno;
      if (static_cast<size_t>(n) >= sizeof target) return ENAMETOOLONG;
      std::string text(target, static_cast<size_t>(n));
      if (text.empty()) return ENOENT;
      if (text[0] == '/') stack.resize(1);  // absolute: from the container's root
      std::deque<std::string> more = Split(text);
      parts.insert(parts.begin(), more.begin(), more.end());
      continue;
    }
    if (!parts.empty() && !S_ISDIR(st.st_mode)) return ENOTDIR;
    stack.push_back(std::move(node));
  }
  *out = std::move(stack.back());
  return 0;
}

}  // namespace

int OpenInRoot(int rootFd, const std::string& rel, bool forceWalk, UniqueFd* out, const char** syscall) {
  if (!forceWalk) {
    int err = Openat2InRoot(rootFd, rel, out);
    // ENOSYS: no openat2 (kernel < 5.6); EPERM: a seccomp filter that does
    // not know it. Both fall back to the walk.
    if (err != ENOSYS && err != EPERM) {
      *syscall = "openat2";
      return err;
    }
  }
  *syscall = "openat";
  return WalkInRoot(rootFd, rel, out);
}

void ReadFileInRoot(const std::string& root, const std::string& rel, size_t maxBytes, bool forceWalk, InRootRead* out) {
  int rootFd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootFd < 0) {
    out->err = errno;
    out->syscall = "open";
    return;
  }
  UniqueFd rootOwned(rootFd);
  UniqueFd path;
  out->err = OpenInRoot(rootFd, rel, forceWalk, &path, &out->syscall);
  if (out->err) return;
  struct stat st {};
  if (fstat(path.get(), &st) < 0) {
    out->err = errno;
    out->syscall = "fstat";
    return;
  }
  out->fileType = st.st_mode & S_IFMT;
  out->size = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode)) {
    out->err = kNotRegular;
    out->syscall = "fstat";
    return;
  }
  // Reopen the very inode the O_PATH descriptor names, now for reading.
  // O_NONBLOCK and O_NOCTTY are belt and braces: it is a regular file.
  std::string self = "/proc/self/fd/" + std::to_string(path.get());
  int fd = open(self.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    out->err = errno;
    out->syscall = "open";
    return;
  }
  UniqueFd file(fd);
  struct stat again {};
  if (fstat(file.get(), &again) < 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino ||
      !S_ISREG(again.st_mode)) {
    out->err = ESTALE;
    out->syscall = "open";
    return;
  }
  // Read one byte past the cap to know whether there was more. The buffer starts
  // at the file's size (or 4 KiB) and doubles: a resolv.conf of a few hundred
  // bytes does not cost a zeroed 64 KiB allocation per read.
  const size_t limit = maxBytes + 1;
  size_t want = again.st_size > 0 ? static_cast<size_t>(again.st_size) + 1 : 4096;
  out->data.resize(want < limit ? want : limit);
  size_t got = 0;
  for (;;) {
    if (got == out->data.size()) {
      if (out->data.size() >= limit) break;
      size_t next = out->data.size() * 2;
      out->data.resize(next < limit ? next : limit);
    }
    ssize_t n = read(file.get(), out->data.data() + got, out->data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      out->err = errno;
      out->syscall = "read";
      out->data.clear();
      return;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out->truncated = got > maxBytes;
  out->data.resize(out->truncated ? maxBytes : got);
}

}  // namespace healthd
