// N-API entry: argument marshalling only. The JS side (src/netns/binding.ts)
// has validated every argument before it reaches here.
#include <arpa/inet.h>
#include <napi.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <errno.h>

#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "notify.h"

namespace healthd {
namespace {

class Addon;
using Batch = std::vector<Result>;
void CallJs(Napi::Env env, Napi::Function, Addon* addon, Batch* batch);
using Tsfn = Napi::TypedThreadSafeFunction<Addon, Batch, CallJs>;

Napi::Object ErrorObject(Napi::Env env, int err, const char* syscall) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("syscall", Napi::String::New(env, syscall));
  return o;
}

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("init", &Addon::BindCallback),
        InstanceMethod("submit", &Addon::Submit),
        InstanceMethod("submitLinkDump", &Addon::SubmitLinkDump),
        InstanceMethod("cancelAll", &Addon::CancelAll),
        InstanceMethod("stats", &Addon::GetStats),
        InstanceMethod("notify", &Addon::Notify),
        InstanceMethod("nsType", &Addon::NsType),
    });
  }

  ~Addon() {
    // Environment teardown (process exit or worker termination): stop and
    // join the worker. The thread-safe function is finalized by Node itself.
    if (engine_) engine_->Stop();
  }

  // init(onResults): (re)binds the JS callback; creates the delivery path once.
  Napi::Value BindCallback(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (!engine_) {
      tsfn_ = Tsfn::New(env, "coredns-healthd-netns", 0, 1, this);
      tsfn_.Unref(env);
      engine_ = std::make_unique<Engine>([this](std::unique_ptr<Batch> batch) {
        if (tsfn_.NonBlockingCall(batch.get()) == napi_ok) batch.release();
      });
      env.AddCleanupHook([this] {
        if (engine_) engine_->Stop();
      });
    }
    return env.Undefined();
  }

  // submit(id, nsFd, family, address, port, tcp, payload, timeoutMs) -> undefined | {errno, syscall}
  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Job job;
    job.id = info[0].As<Napi::Number>().Uint32Value();
    job.nsFd = info[1].As<Napi::Number>().Int32Value();
    const int family = info[2].As<Napi::Number>().Int32Value();
    const std::string address = info[3].As<Napi::String>().Utf8Value();
    const uint16_t port = static_cast<uint16_t>(info[4].As<Napi::Number>().Uint32Value());
    job.tcp = info[5].As<Napi::Boolean>().Value();
    Napi::Uint8Array payload = info[6].As<Napi::Uint8Array>();
    job.payload.assign(payload.Data(), payload.Data() + payload.ByteLength());
    job.timeoutMs = info[7].As<Napi::Number>().Uint32Value();
    if (family == 6) {
      auto* sa = reinterpret_cast<sockaddr_in6*>(&job.addr);
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons(port);
      if (inet_pton(AF_INET6, address.c_str(), &sa->sin6_addr) != 1) return ErrorObject(env, EINVAL, "inet_pton");
      job.addrLen = sizeof(sockaddr_in6);
    } else {
      auto* sa = reinterpret_cast<sockaddr_in*>(&job.addr);
      sa->sin_family = AF_INET;
      sa->sin_port = htons(port);
      if (inet_pton(AF_INET, address.c_str(), &sa->sin_addr) != 1) return ErrorObject(env, EINVAL, "inet_pton");
      job.addrLen = sizeof(sockaddr_in);
    }
    if (!engine_) return ErrorObject(env, ENXIO, "init");
    SubmitError e = engine_->Submit(std::move(job));
    if (e.err) return ErrorObject(env, e.err, e.syscall);
    if (pending_++ == 0) tsfn_.Ref(env);
    return env.Undefined();
  }

  // submitLinkDump(id, nsFd) -> undefined | {errno, syscall}: the interfaces
  // and addresses of a netns as raw rtnetlink messages, delivered like an
  // exchange's reply.
  Napi::Value SubmitLinkDump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Job job;
    job.id = info[0].As<Napi::Number>().Uint32Value();
    job.nsFd = info[1].As<Napi::Number>().Int32Value();
    job.linkDump = true;
    if (!engine_) return ErrorObject(env, ENXIO, "init");
    SubmitError e = engine_->Submit(std::move(job));
    if (e.err) return ErrorObject(env, e.err, e.syscall);
    if (pending_++ == 0) tsfn_.Ref(env);
    return env.Undefined();
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
    o.Set("completed", Napi::Number::New(env, static_cast<double>(s.completed)));
    o.Set("workerTid", Napi::Number::New(env, s.workerTid));
    o.Set("hostNetnsInode", Napi::Number::New(env, static_cast<double>(s.hostNetnsInode)));
    // Where the worker thread really is now, read from /proc rather than
    // trusted from the worker's own bookkeeping.
    double workerIno = 0;
    if (s.workerTid > 0) {
      std::string p = "/proc/self/task/" + std::to_string(s.workerTid) + "/ns/net";
      struct stat st{};
      if (stat(p.c_str(), &st) == 0) workerIno = static_cast<double>(st.st_ino);
    }
    o.Set("workerNetnsInode", Napi::Number::New(env, workerIno));
    o.Set("fatalErrno", Napi::Number::New(env, s.fatalErrno));
    return o;
  }

  // notify(socketPath, message) -> undefined | {errno, syscall}
  Napi::Value Notify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* syscall = "";
    int err = NotifySocket(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), &syscall);
    if (err) return ErrorObject(env, err, syscall);
    return env.Undefined();
  }

  // nsType(fd) -> CLONE_NEW* flag of the namespace behind fd | {errno, syscall}.
  // ENOTTY/EINVAL: not a namespace file at all.
  Napi::Value NsType(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int type = ioctl(info[0].As<Napi::Number>().Int32Value(), NS_GET_NSTYPE);
    if (type < 0) return ErrorObject(env, errno, "ioctl");
    return Napi::Number::New(env, type);
  }

  void Deliver(Napi::Env env, Batch* batch) {
    std::unique_ptr<Batch> owned(batch);
    if (env == nullptr || callback_.IsEmpty()) return;
    Napi::HandleScope scope(env);
    Napi::Array arr = Napi::Array::New(env, owned->size());
    for (size_t i = 0; i < owned->size(); i++) {
      Result& r = (*owned)[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", Napi::Number::New(env, r.id));
      o.Set("errno", Napi::Number::New(env, r.err));
      o.Set("syscall", Napi::String::New(env, r.syscall));
      if (r.err == 0) {
        o.Set("reply", Napi::Buffer<uint8_t>::Copy(env, r.reply.data(), r.reply.size()));
      } else {
        o.Set("reply", env.Null());
      }
      o.Set("rttNs", Napi::Number::New(env, static_cast<double>(r.rttNs)));
      arr.Set(static_cast<uint32_t>(i), o);
    }
    pending_ -= static_cast<uint32_t>(owned->size());
    if (pending_ == 0) tsfn_.Unref(env);
    callback_.Call({arr});
  }

 private:
  std::unique_ptr<Engine> engine_;
  Tsfn tsfn_;
  Napi::FunctionReference callback_;
  uint32_t pending_ = 0;  // JS-thread count of accepted, undelivered jobs
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
