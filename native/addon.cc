// N-API entry: argument checking and marshalling only. Every argument is
// type-checked here as well as in src/netns/binding.ts: a misuse is a
// TypeError and nothing is queued. Results cross back through raw napi_*
// calls whose status is checked, so an environment that is going away
// (process exit, worker.terminate()) drops them quietly instead of aborting.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <napi.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine.h"
#include "inroot.h"
#include "notify.h"
#include "task.h"

namespace healthd {
namespace {

class Addon;
using Batch = std::vector<Result>;
void CallJs(Napi::Env env, Napi::Function, Addon* addon, Batch* batch);
using Tsfn = Napi::TypedThreadSafeFunction<Addon, Batch, CallJs>;

constexpr uint32_t kMaxTimeoutMs = 120000;
constexpr size_t kMaxPayload = 65535;
// submitBatch: how far ahead a job may be scheduled, and how long its result may be held.
constexpr uint32_t kMaxStartDelayMs = 600000;
constexpr uint32_t kMaxHoldMs = 1000;
constexpr uint32_t kDefaultDumpTimeoutMs = 5000;
constexpr double kMaxReadBytes = 16.0 * 1024 * 1024;

Napi::Object ErrorObject(Napi::Env env, int err, const char* syscall) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("syscall", Napi::String::New(env, syscall));
  return o;
}

// Argument checks: each throws a TypeError naming the argument and returns
// false; the caller then returns at once, having queued nothing.
bool Fail(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

bool GetInteger(const Napi::CallbackInfo& info, size_t i, const char* name, double min, double max, double* out) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) return Fail(env, std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::floor(v) != v || v < min || v > max) {
    return Fail(env, std::string(name) + " must be an integer from " + std::to_string(static_cast<long long>(min)) +
                         " to " + std::to_string(static_cast<long long>(max)));
  }
  *out = v;
  return true;
}

bool GetString(const Napi::CallbackInfo& info, size_t i, const char* name, size_t maxLen, std::string* out) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsString()) return Fail(env, std::string(name) + " must be a string");
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->size() > maxLen || out->find('\0') != std::string::npos) {
    return Fail(env, std::string(name) + " must be at most " + std::to_string(maxLen) + " bytes with no NUL");
  }
  return true;
}

bool GetBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool* out) {
  if (info.Length() <= i || !info[i].IsBoolean()) return Fail(info.Env(), std::string(name) + " must be a boolean");
  *out = info[i].As<Napi::Boolean>().Value();
  return true;
}

// A duplicate of a namespace fd (-1: the host: null), checked to be a
// network namespace: whatever happens to the caller's fd number afterwards
// (closed twice, reused), the jobs holding it run where they were submitted
// for. Returns an empty value on success, else {errno, syscall}.
struct TakenNs {
  std::shared_ptr<UniqueFd> fd;
  uint64_t dev = 0;
  uint64_t ino = 0;
};

// The namespaces openNetns opened, by fd number (JS thread only). A job
// submitted with one of these shares the table's open file: no duplicate and
// no second check. closeNetns drops the table's reference; the fd closes when
// the last job holding it is done, so its number cannot be given to another
// file while a job may still setns into it.
using NsTable = std::unordered_map<int, TakenNs>;

Napi::Value TakeNamespace(Napi::Env env, const NsTable& table, int nsFd, TakenNs* out) {
  if (nsFd < 0) return Napi::Value();
  auto known = table.find(nsFd);
  if (known != table.end()) {
    *out = known->second;
    return Napi::Value();
  }
  int dup = fcntl(nsFd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) return ErrorObject(env, errno, "fcntl");
  UniqueFd owned(dup);
  int type = ioctl(dup, NS_GET_NSTYPE);
  if (type < 0) return ErrorObject(env, errno == ENOTTY ? EINVAL : errno, "ioctl");
  if (type != CLONE_NEWNET) return ErrorObject(env, EINVAL, "ioctl");
  struct stat st {};
  if (fstat(dup, &st) < 0) return ErrorObject(env, errno, "fstat");
  out->fd = std::make_shared<UniqueFd>(std::move(owned));
  out->dev = static_cast<uint64_t>(st.st_dev);
  out->ino = static_cast<uint64_t>(st.st_ino);
  return Napi::Value();
}

void UseNamespace(const TakenNs& ns, Job* job) {
  job->ns = ns.fd;
  job->nsDev = ns.dev;
  job->nsIno = ns.ino;
}

// Fills the destination address; false when `address` is not one of `family`.
bool SetAddress(Job* job, int family, const std::string& address, uint16_t port) {
  if (family == 6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&job->addr);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    if (inet_pton(AF_INET6, address.c_str(), &sa->sin6_addr) != 1) return false;
    job->addrLen = sizeof(sockaddr_in6);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&job->addr);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &sa->sin_addr) != 1) return false;
    job->addrLen = sizeof(sockaddr_in);
  }
  return true;
}

// submitBatch's packed record: little-endian fields, then the payload.
constexpr size_t kRecordHeader = 36;

uint32_t ReadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

const char* FileTypeName(mode_t type) {
  switch (type) {
    case S_IFREG: return "regular";
    case S_IFDIR: return "directory";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "char-device";
    case S_IFBLK: return "block-device";
    case S_IFLNK: return "symlink";
    default: return "unknown";
  }
}

// readFileInRoot on libuv's pool: a plain file read, no namespace switch
// (the pool must never leave the host's namespaces; nothing here does).
class ReadInRootWorker : public Napi::AsyncWorker {
 public:
  ReadInRootWorker(Napi::Env env, std::string root, std::string rel, size_t maxBytes, bool walk)
      : Napi::AsyncWorker(env, "coredns-healthd-read-in-root"),
        deferred_(Napi::Promise::Deferred::New(env)),
        root_(std::move(root)),
        rel_(std::move(rel)),
        maxBytes_(maxBytes),
        walk_(walk) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { ReadFileInRoot(root_, rel_, maxBytes_, walk_, &read_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("errno", Napi::Number::New(env, read_.err == kNotRegular ? 0 : read_.err));
    o.Set("syscall", Napi::String::New(env, read_.syscall));
    o.Set("fileType", Napi::String::New(env, read_.fileType ? FileTypeName(read_.fileType) : ""));
    o.Set("size", Napi::Number::New(env, static_cast<double>(read_.size)));
    o.Set("truncated", Napi::Boolean::New(env, read_.truncated));
    if (read_.err == 0) {
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, read_.data.data(), read_.data.size()));
    } else {
      o.Set("data", env.Null());
    }
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string root_;
  std::string rel_;
  size_t maxBytes_;
  bool walk_;
  InRootRead read_;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("init", &Addon::BindCallback),
                             InstanceMethod("submit", &Addon::Submit),
                             InstanceMethod("submitBatch", &Addon::SubmitBatch),
                             InstanceMethod("submitLinkDump", &Addon::SubmitLinkDump),
                             InstanceMethod("submitLinkWatch", &Addon::SubmitLinkWatch),
                             InstanceMethod("cancelAll", &Addon::CancelAll),
                             InstanceMethod("stats", &Addon::GetStats),
                             InstanceMethod("notify", &Addon::Notify),
                             InstanceMethod("openNetns", &Addon::OpenNetns),
                             InstanceMethod("closeNetns", &Addon::CloseNetns),
                             InstanceMethod("statNetnsIds", &Addon::StatNetnsIds),
                             InstanceMethod("readFileInRoot", &Addon::ReadInRoot),
                         });
  }

  ~Addon() {
    // Environment teardown: stop and join the worker (idempotent; the
    // cleanup hook below normally did it already, before the thread-safe
    // function it delivers through is finalized).
    if (engine_) engine_->Stop();
  }

  // init(onResults): (re)binds the JS callback; creates the delivery path once.
  Napi::Value BindCallback(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Fail(env, "onResults must be a function");
      return env.Undefined();
    }
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (keys_ == nullptr && !MakeResultKeys(env)) {
      Fail(env, "cannot make the result keys");
      return env.Undefined();
    }
    if (!engine_) {
      tsfn_ = Tsfn::New(env, "coredns-healthd-netns", 0, 1, this);
      tsfn_.Unref(env);
      engine_ = std::make_unique<Engine>([this](std::unique_ptr<Batch> batch) {
        if (tsfn_.NonBlockingCall(batch.get()) == napi_ok) batch.release();
      });
      // Registered after the thread-safe function, so it runs before that is
      // torn down (cleanup hooks run in reverse order): the worker is joined
      // while its delivery path still exists.
      env.AddCleanupHook([this] {
        if (engine_) engine_->Stop();
      });
    }
    return env.Undefined();
  }

  // submit(id, nsFd, family, address, port, tcp, payload, timeoutMs[, questionEnd])
  //   -> undefined | {errno, syscall}; throws TypeError on a bad argument.
  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double id, nsFd, family, port, timeoutMs, questionEnd = 0;
    std::string address;
    bool tcp;
    if (!GetInteger(info, 0, "id", 0, UINT32_MAX, &id) || !GetInteger(info, 1, "nsFd", -1, INT32_MAX, &nsFd) ||
        !GetInteger(info, 2, "family", 4, 6, &family) || !GetString(info, 3, "address", 64, &address) ||
        !GetInteger(info, 4, "port", 1, 65535, &port) || !GetBool(info, 5, "tcp", &tcp)) {
      return env.Undefined();
    }
    if (family == 5) {
      Fail(env, "family must be 4 or 6");
      return env.Undefined();
    }
    if (info.Length() <= 6 || !info[6].IsTypedArray() ||
        info[6].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Fail(env, "payload must be a Uint8Array");
      return env.Undefined();
    }
    Napi::Uint8Array payload = info[6].As<Napi::Uint8Array>();
    if (payload.ByteLength() == 0 || payload.ByteLength() > kMaxPayload) {
      Fail(env, "payload must be 1 to 65535 bytes");
      return env.Undefined();
    }
    if (!GetInteger(info, 7, "timeoutMs", 1, kMaxTimeoutMs, &timeoutMs)) return env.Undefined();
    if (info.Length() > 8 && !info[8].IsUndefined() &&
        !GetInteger(info, 8, "questionEnd", 0, static_cast<double>(payload.ByteLength()), &questionEnd)) {
      return env.Undefined();
    }

    Job job;
    job.kind = JobKind::kExchange;
    job.id = static_cast<uint32_t>(id);
    job.tcp = tcp;
    job.timeoutMs = static_cast<uint32_t>(timeoutMs);
    job.questionEnd = static_cast<uint32_t>(questionEnd);
    if (!SetAddress(&job, static_cast<int>(family), address, static_cast<uint16_t>(port))) {
      return ErrorObject(env, EINVAL, "inet_pton");
    }
    job.payload.assign(payload.Data(), payload.Data() + payload.ByteLength());
    return Queue(env, std::move(job), static_cast<int>(nsFd));
  }

  // submitBatch(packed, nsFds, addresses) -> undefined | Array<undefined |
  // {errno, syscall}>: many exchanges in one call and one hand-over to the
  // worker. `packed` holds one record per job: u32 id, i32 index into nsFds
  // (-1: the host), u32 index into addresses, u8 family (4 or 6), u8 tcp
  // (0 or 1), u16 port, u32 timeoutMs, u32 questionEnd, u32 payload length,
  // u32 startDelayMs (the job starts no sooner than this long after the
  // call, at most 600000), u32 holdMs (its result may wait this long for
  // others before delivery, at most 1000), then the payload (all
  // little-endian). Every record is checked as submit
  // checks its arguments before anything is queued: one bad record is a
  // TypeError and nothing is queued. A namespace fd the addon's table holds
  // (openNetns) is shared as is; any other is duplicated and checked once per
  // batch, its jobs sharing the duplicate. The array (only
  // when something was refused) has one entry per record, in order.
  Napi::Value SubmitBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Fail(env, "packed must be a Uint8Array");
      return env.Undefined();
    }
    if (!info[1].IsArray() || !info[2].IsArray()) {
      Fail(env, "nsFds and addresses must be arrays");
      return env.Undefined();
    }
    Napi::Uint8Array packed = info[0].As<Napi::Uint8Array>();
    Napi::Array fdArray = info[1].As<Napi::Array>();
    Napi::Array addrArray = info[2].As<Napi::Array>();
    std::vector<int> fds(fdArray.Length());
    for (uint32_t i = 0; i < fds.size(); i++) {
      Napi::Value v = fdArray.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > INT32_MAX) {
        Fail(env, "nsFds must hold integers from 0 to 2147483647");
        return env.Undefined();
      }
      fds[i] = static_cast<int>(d);
    }
    std::vector<std::string> addresses(addrArray.Length());
    for (uint32_t i = 0; i < addresses.size(); i++) {
      Napi::Value v = addrArray.Get(i);
      if (!v.IsString()) {
        Fail(env, "addresses must hold strings");
        return env.Undefined();
      }
      addresses[i] = v.As<Napi::String>().Utf8Value();
      if (addresses[i].size() > 64 || addresses[i].find('\0') != std::string::npos) {
        Fail(env, "addresses must be at most 64 bytes with no NUL");
        return env.Undefined();
      }
    }
    // Parse and check every record first.
    struct Parsed {
      Job job;
      int32_t nsIndex;
      int family;
      uint32_t addrIndex;
      uint16_t port;
    };
    std::vector<Parsed> parsed;
    const uint64_t now = MonotonicNs();  // start delays count from the call
    const uint8_t* data = packed.Data();
    const size_t size = packed.ByteLength();
    size_t off = 0;
    while (off < size) {
      if (size - off < kRecordHeader) {
        Fail(env, "packed: a record is cut short");
        return env.Undefined();
      }
      const uint8_t* r = data + off;
      Parsed p;
      p.job.kind = JobKind::kExchange;
      p.job.id = ReadU32(r);
      p.nsIndex = static_cast<int32_t>(ReadU32(r + 4));
      p.addrIndex = ReadU32(r + 8);
      p.family = r[12];
      const uint8_t tcp = r[13];
      p.port = static_cast<uint16_t>(r[14] | (r[15] << 8));
      p.job.timeoutMs = ReadU32(r + 16);
      p.job.questionEnd = ReadU32(r + 20);
      const uint32_t payloadLen = ReadU32(r + 24);
      const uint32_t startDelayMs = ReadU32(r + 28);
      p.job.holdMs = ReadU32(r + 32);
      if (p.nsIndex < -1 || (p.nsIndex >= 0 && static_cast<size_t>(p.nsIndex) >= fds.size())) {
        Fail(env, "packed: nsFd index out of range");
        return env.Undefined();
      }
      if (p.addrIndex >= addresses.size()) {
        Fail(env, "packed: address index out of range");
        return env.Undefined();
      }
      if ((p.family != 4 && p.family != 6) || tcp > 1 || p.port == 0) {
        Fail(env, "packed: family must be 4 or 6, tcp 0 or 1, port 1 to 65535");
        return env.Undefined();
      }
      if (p.job.timeoutMs < 1 || p.job.timeoutMs > kMaxTimeoutMs) {
        Fail(env, "packed: timeoutMs must be an integer from 1 to 120000");
        return env.Undefined();
      }
      if (startDelayMs > kMaxStartDelayMs || p.job.holdMs > kMaxHoldMs) {
        Fail(env, "packed: startDelayMs must be at most 600000 and holdMs at most 1000");
        return env.Undefined();
      }
      p.job.startNs = startDelayMs == 0 ? 0 : now + static_cast<uint64_t>(startDelayMs) * 1000000ull;
      if (payloadLen == 0 || payloadLen > kMaxPayload || payloadLen > size - off - kRecordHeader) {
        Fail(env, "packed: payload must be 1 to 65535 bytes, within the buffer");
        return env.Undefined();
      }
      if (p.job.questionEnd > payloadLen) {
        Fail(env, "packed: questionEnd must be within the payload");
        return env.Undefined();
      }
      p.job.tcp = tcp == 1;
      p.job.payload.assign(r + kRecordHeader, r + kRecordHeader + payloadLen);
      off += kRecordHeader + payloadLen;
      parsed.push_back(std::move(p));
    }
    if (!engine_) {
      Napi::Array out = Napi::Array::New(env, parsed.size());
      for (uint32_t i = 0; i < parsed.size(); i++) out.Set(i, ErrorObject(env, ENXIO, "init"));
      return out;
    }
    // Namespaces (one dup and check per fd) and addresses; refusals per job.
    std::vector<TakenNs> taken(fds.size());
    std::vector<Napi::Value> nsRefusal(fds.size());
    std::vector<bool> nsDone(fds.size(), false);
    std::vector<Napi::Value> refusals(parsed.size());
    bool anyRefused = false;
    std::vector<Job> jobs;
    std::vector<uint32_t> jobIndex;
    jobs.reserve(parsed.size());
    for (uint32_t i = 0; i < parsed.size(); i++) {
      Parsed& p = parsed[i];
      if (!SetAddress(&p.job, p.family, addresses[p.addrIndex], p.port)) {
        refusals[i] = ErrorObject(env, EINVAL, "inet_pton");
        anyRefused = true;
        continue;
      }
      if (p.nsIndex >= 0) {
        const size_t k = static_cast<size_t>(p.nsIndex);
        if (!nsDone[k]) {
          nsDone[k] = true;
          nsRefusal[k] = TakeNamespace(env, namespaces_, fds[k], &taken[k]);
        }
        if (!nsRefusal[k].IsEmpty()) {
          refusals[i] = nsRefusal[k];
          anyRefused = true;
          continue;
        }
        UseNamespace(taken[k], &p.job);
      }
      jobs.push_back(std::move(p.job));
      jobIndex.push_back(i);
    }
    const size_t accepted = jobs.size();
    if (accepted > 0) {
      SubmitError e = engine_->SubmitBatch(std::move(jobs));
      if (e.err) {
        Napi::Value err = ErrorObject(env, e.err, e.syscall);
        for (uint32_t i : jobIndex) refusals[i] = err;
        anyRefused = true;
      } else {
        if (pending_ == 0) tsfn_.Ref(env);
        pending_ += static_cast<uint32_t>(accepted);
      }
    }
    if (!anyRefused) return env.Undefined();
    Napi::Array out = Napi::Array::New(env, parsed.size());
    for (uint32_t i = 0; i < parsed.size(); i++) {
      if (!refusals[i].IsEmpty()) out.Set(i, refusals[i]);
    }
    return out;
  }

  // submitLinkDump(id, nsFd[, timeoutMs]) -> undefined | {errno, syscall}: the
  // interfaces and addresses of a netns as raw rtnetlink messages, delivered
  // like an exchange's reply.
  Napi::Value SubmitLinkDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double id, nsFd, timeoutMs = kDefaultDumpTimeoutMs;
    if (!GetInteger(info, 0, "id", 0, UINT32_MAX, &id) || !GetInteger(info, 1, "nsFd", -1, INT32_MAX, &nsFd)) {
      return env.Undefined();
    }
    if (info.Length() > 2 && !info[2].IsUndefined() &&
        !GetInteger(info, 2, "timeoutMs", 1, kMaxTimeoutMs, &timeoutMs)) {
      return env.Undefined();
    }
    Job job;
    job.kind = JobKind::kLinkDump;
    job.id = static_cast<uint32_t>(id);
    job.timeoutMs = static_cast<uint32_t>(timeoutMs);
    return Queue(env, std::move(job), static_cast<int>(nsFd));
  }

  // submitLinkWatch(id, nsFd, timeoutMs) -> undefined | {errno, syscall}: ends
  // with the raw RTM_NEWLINK / RTM_DELLINK messages of the namespace's next
  // interface change, or ETIMEDOUT after timeoutMs.
  Napi::Value SubmitLinkWatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double id, nsFd, timeoutMs;
    if (!GetInteger(info, 0, "id", 0, UINT32_MAX, &id) || !GetInteger(info, 1, "nsFd", -1, INT32_MAX, &nsFd) ||
        !GetInteger(info, 2, "timeoutMs", 1, kMaxTimeoutMs, &timeoutMs)) {
      return env.Undefined();
    }
    Job job;
    job.kind = JobKind::kLinkWatch;
    job.id = static_cast<uint32_t>(id);
    job.timeoutMs = static_cast<uint32_t>(timeoutMs);
    // A watch waits for something that may never come: it must not keep the
    // process alive (a daemon that stopped exits at once, not at its end).
    return Queue(env, std::move(job), static_cast<int>(nsFd), false);
  }

  Napi::Value CancelAll(const Napi::CallbackInfo& info) {
    if (engine_) engine_->CancelAll();
    return info.Env().Undefined();
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Stats s = engine_ ? engine_->GetStats() : Stats{};
    Napi::Object o = Napi::Object::New(env);
    o.Set("running", Napi::Boolean::New(env, s.running));
    o.Set("inFlight", Napi::Number::New(env, s.inFlight));
    o.Set("queued", Napi::Number::New(env, s.queued));
    o.Set("scheduled", Napi::Number::New(env, s.scheduled));
    o.Set("completed", Napi::Number::New(env, static_cast<double>(s.completed)));
    o.Set("workerTid", Napi::Number::New(env, s.workerTid));
    o.Set("hostNetnsInode", Napi::Number::New(env, static_cast<double>(s.hostNetnsInode)));
    // Where the worker thread really is now, read from /proc rather than
    // trusted from the worker's own bookkeeping.
    double workerIno = 0;
    if (s.workerTid > 0) {
      std::string p = "/proc/self/task/" + std::to_string(s.workerTid) + "/ns/net";
      struct stat st {};
      if (stat(p.c_str(), &st) == 0) workerIno = static_cast<double>(st.st_ino);
    }
    o.Set("workerNetnsInode", Napi::Number::New(env, workerIno));
    o.Set("fatalErrno", Napi::Number::New(env, s.fatalErrno));
    o.Set("fatalSyscall", Napi::String::New(env, s.fatalSyscall));
    o.Set("wakes", Napi::Number::New(env, static_cast<double>(s.wakes)));
    o.Set("setnsCalls", Napi::Number::New(env, static_cast<double>(s.setnsCalls)));
    o.Set("deliveries", Napi::Number::New(env, static_cast<double>(s.deliveries)));
    o.Set("submissions", Napi::Number::New(env, static_cast<double>(s.submissions)));
    return o;
  }

  // notify(socketPath, message) -> undefined | {errno, syscall}
  Napi::Value Notify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path, message;
    if (!GetString(info, 0, "socketPath", 4096, &path) || !GetString(info, 1, "message", 65536, &message)) {
      return env.Undefined();
    }
    const char* syscall = "";
    int err = NotifySocket(path, message, &syscall);
    if (err) return ErrorObject(env, err, syscall);
    return env.Undefined();
  }

  // openNetns(path, dirFd, out) -> fd | {errno, syscall}: opens a network
  // namespace file (relative to dirFd when dirFd >= 0: a held /proc/<pid>
  // directory), O_RDONLY | O_CLOEXEC | O_NONBLOCK (a FIFO planted where a
  // namespace should be cannot block the open), proves it is one (ioctl
  // NS_GET_NSTYPE) and keeps it in the table of namespaces (see NsTable);
  // out[0] and out[1] get its st_dev and st_ino. Not a network namespace:
  // {errno: EINVAL, syscall: "nstype"}, out[2] the CLONE_NEW* type it is (-1:
  // not a namespace file), out[3] 1 for a directory; the file is closed.
  Napi::Value OpenNetns(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path;
    double dirFd;
    if (!GetString(info, 0, "path", 4096, &path) || !GetInteger(info, 1, "dirFd", -1, INT32_MAX, &dirFd)) {
      return env.Undefined();
    }
    if (info.Length() <= 2 || !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[2].As<Napi::TypedArray>().ElementLength() < 4) {
      Fail(env, "out must be a Float64Array of at least 4 elements");
      return env.Undefined();
    }
    double* out = info[2].As<Napi::Float64Array>().Data();
    if (dirFd < 0 && (path.empty() || path[0] != '/')) {
      Fail(env, "path must be absolute without a dirFd");
      return env.Undefined();
    }
    int fd = openat(dirFd < 0 ? AT_FDCWD : static_cast<int>(dirFd), path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ErrorObject(env, errno, "open");
    UniqueFd owned(fd);
    struct stat st {};
    if (fstat(fd, &st) < 0) return ErrorObject(env, errno, "fstat");
    int type = ioctl(fd, NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) {
      out[2] = type < 0 ? -1 : type;
      out[3] = S_ISDIR(st.st_mode) ? 1 : 0;
      return ErrorObject(env, EINVAL, "nstype");
    }
    TakenNs& entry = namespaces_[fd];
    entry.fd = std::make_shared<UniqueFd>(std::move(owned));
    entry.dev = static_cast<uint64_t>(st.st_dev);
    entry.ino = static_cast<uint64_t>(st.st_ino);
    out[0] = static_cast<double>(st.st_dev);
    out[1] = static_cast<double>(st.st_ino);
    return Napi::Number::New(env, fd);
  }

  // closeNetns(fd) -> boolean: drops the table's reference to a namespace
  // openNetns opened (false: it holds no such fd, and nothing is closed).
  Napi::Value CloseNetns(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double fd;
    if (!GetInteger(info, 0, "fd", 0, INT32_MAX, &fd)) return env.Undefined();
    return Napi::Boolean::New(env, namespaces_.erase(static_cast<int>(fd)) > 0);
  }

  // statNetnsIds(procRoot, pids, out) -> undefined: stat(2) of
  // <procRoot>/<pid>/ns/net for each pid in one call (discovery's re-check of
  // the processes it knows, every sweep): out[3i], out[3i+1] get st_dev and
  // st_ino, out[3i+2] 0, or the errno with dev and ino 0. The nsfs link
  // touches no disk. Throws TypeError on a bad argument.
  Napi::Value StatNetnsIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string root;
    if (!GetString(info, 0, "procRoot", 4096, &root)) return env.Undefined();
    if (root.empty() || root[0] != '/') {
      Fail(env, "procRoot must be an absolute path");
      return env.Undefined();
    }
    if (info.Length() < 3 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      Fail(env, "pids must be an Int32Array and out a Float64Array");
      return env.Undefined();
    }
    Napi::Int32Array pids = info[1].As<Napi::Int32Array>();
    Napi::Float64Array out = info[2].As<Napi::Float64Array>();
    if (out.ElementLength() < pids.ElementLength() * 3) {
      Fail(env, "out must hold 3 numbers per pid");
      return env.Undefined();
    }
    std::string path;
    for (size_t i = 0; i < pids.ElementLength(); i++) {
      const int32_t pid = pids[i];
      double* o = out.Data() + 3 * i;
      if (pid <= 0) {
        o[0] = o[1] = 0;
        o[2] = EINVAL;
        continue;
      }
      path.assign(root).append("/").append(std::to_string(pid)).append("/ns/net");
      struct stat st {};
      if (stat(path.c_str(), &st) < 0) {
        o[0] = o[1] = 0;
        o[2] = errno;
        continue;
      }
      o[0] = static_cast<double>(st.st_dev);
      o[1] = static_cast<double>(st.st_ino);
      o[2] = 0;
    }
    return env.Undefined();
  }

  // readFileInRoot(root, relPath, maxBytes, walk) -> Promise<{errno, syscall,
  // fileType, size, truncated, data}>: errno 0 with data, or errno != 0, or
  // errno 0 with data null and fileType naming what was there instead of a
  // regular file.
  Napi::Value ReadInRoot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string root, rel;
    double maxBytes;
    bool walk;
    if (!GetString(info, 0, "root", 4096, &root) || !GetString(info, 1, "relPath", 4096, &rel) ||
        !GetInteger(info, 2, "maxBytes", 0, kMaxReadBytes, &maxBytes) || !GetBool(info, 3, "walk", &walk)) {
      return env.Undefined();
    }
    auto* worker = new ReadInRootWorker(env, root, rel, static_cast<size_t>(maxBytes), walk);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // On the JS thread, from the thread-safe function: hands a batch to the
  // callback. Every napi call's status is checked; when the environment is
  // going away the batch is dropped without touching JS.
  void Deliver(napi_env env, Batch* batch) {
    std::unique_ptr<Batch> owned(batch);
    uint32_t counted = 0;
    for (const Result& r : *owned) {
      if (unref_.erase(r.id) == 0) counted++;
    }
    pending_ -= counted;
    if (pending_ == 0) tsfn_.Unref(env);
    if (callback_.IsEmpty()) return;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value arr = ToJs(env, *owned);
    napi_value fn = nullptr;
    napi_value global;
    if (arr != nullptr && napi_get_reference_value(env, callback_, &fn) == napi_ok && fn != nullptr &&
        napi_get_global(env, &global) == napi_ok) {
      napi_value ignored;
      // A throwing callback leaves its exception pending; Node reports it as
      // uncaught, as it would for any callback. Nothing here throws again.
      napi_call_function(env, global, fn, 1, &arr, &ignored);
    }
    napi_close_handle_scope(env, scope);
  }

 private:
  // keepAlive: the job counts in pending_ and so keeps the event loop alive
  // until its result is delivered; otherwise its id goes to unref_.
  Napi::Value Queue(Napi::Env env, Job job, int nsFd, bool keepAlive = true) {
    if (!engine_) return ErrorObject(env, ENXIO, "init");
    TakenNs ns;
    Napi::Value refused = TakeNamespace(env, namespaces_, nsFd, &ns);
    if (!refused.IsEmpty()) return refused;
    UseNamespace(ns, &job);
    const uint32_t id = job.id;
    SubmitError e = engine_->Submit(std::move(job));
    if (e.err) return ErrorObject(env, e.err, e.syscall);
    if (!keepAlive) {
      unref_.insert(id);
      return env.Undefined();
    }
    if (pending_++ == 0) tsfn_.Ref(env);
    return env.Undefined();
  }

  // The batch as an array of {id, errno, syscall, reply, rttNs, ignored};
  // nullptr when the environment cannot build it. Each object is made with
  // one napi_define_properties call whose keys were made once (BindCallback):
  // no key string is created and looked up again per result.
  napi_value ToJs(napi_env env, Batch& batch) {
    napi_value arr;
    if (napi_create_array_with_length(env, batch.size(), &arr) != napi_ok) return nullptr;
    napi_property_descriptor props[kResultFields] = {};
    napi_value keys, empty;
    if (napi_get_reference_value(env, keys_, &keys) != napi_ok || keys == nullptr) return nullptr;
    for (uint32_t k = 0; k < kResultFields; k++) {
      if (napi_get_element(env, keys, k, &props[k].name) != napi_ok) return nullptr;
      props[k].attributes = static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);
    }
    if (napi_get_element(env, keys, kResultFields, &empty) != napi_ok) return nullptr;
    for (size_t i = 0; i < batch.size(); i++) {
      Result& r = batch[i];
      napi_value o;
      napi_value* v[kResultFields];
      for (size_t k = 0; k < kResultFields; k++) v[k] = &props[k].value;
      if (napi_create_object(env, &o) != napi_ok || napi_create_uint32(env, r.id, v[0]) != napi_ok ||
          napi_create_int32(env, r.err, v[1]) != napi_ok ||
          napi_create_double(env, static_cast<double>(r.rttNs), v[4]) != napi_ok ||
          napi_create_uint32(env, r.ignored, v[5]) != napi_ok) {
        return nullptr;
      }
      if (r.syscall == nullptr || r.syscall[0] == '\0') {
        *v[2] = empty;
      } else if (napi_create_string_utf8(env, r.syscall, NAPI_AUTO_LENGTH, v[2]) != napi_ok) {
        return nullptr;
      }
      if (r.err == 0) {
        void* data = nullptr;
        if (napi_create_buffer_copy(env, r.reply.size(), r.reply.data(), &data, v[3]) != napi_ok) return nullptr;
      } else if (napi_get_null(env, v[3]) != napi_ok) {
        return nullptr;
      }
      if (napi_define_properties(env, o, kResultFields, props) != napi_ok ||
          napi_set_element(env, arr, static_cast<uint32_t>(i), o) != napi_ok) {
        return nullptr;
      }
    }
    return arr;
  }

  // A result's keys, in the order of ToJs's descriptors.
  static constexpr size_t kResultFields = 6;
  static constexpr const char* kResultKeys[kResultFields] = {"id", "errno", "syscall", "reply", "rttNs", "ignored"};
  // An array of the keys (internalized: napi_set_named_property makes them so)
  // and then "", held for the life of the addon.
  napi_ref keys_ = nullptr;

  bool MakeResultKeys(napi_env env) {
    napi_value model, names, empty;
    if (napi_create_object(env, &model) != napi_ok) return false;
    for (const char* key : kResultKeys) {
      napi_value zero;
      if (napi_create_uint32(env, 0, &zero) != napi_ok || napi_set_named_property(env, model, key, zero) != napi_ok)
        return false;
    }
    uint32_t n = 0;
    if (napi_get_property_names(env, model, &names) != napi_ok || napi_get_array_length(env, names, &n) != napi_ok ||
        n != kResultFields || napi_create_string_utf8(env, "", 0, &empty) != napi_ok ||
        napi_set_element(env, names, kResultFields, empty) != napi_ok) {
      return false;
    }
    return napi_create_reference(env, names, 1, &keys_) == napi_ok;
  }

  NsTable namespaces_;
  std::unique_ptr<Engine> engine_;
  Tsfn tsfn_;
  Napi::FunctionReference callback_;
  uint32_t pending_ = 0;                // JS-thread count of accepted, undelivered jobs that keep the loop alive
  std::unordered_set<uint32_t> unref_;  // JS thread: ids of accepted, undelivered jobs that do not
};

void CallJs(Napi::Env env, Napi::Function, Addon* addon, Batch* batch) {
  if (env == nullptr) {
    delete batch;
    return;
  }
  addon->Deliver(env, batch);
}

}  // namespace
}  // namespace healthd

using HealthdAddon = healthd::Addon;
NODE_API_ADDON(HealthdAddon)
