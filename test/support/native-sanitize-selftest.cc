// A deliberately broken N-API addon for `native-sanitize.sh --self-test`: it proves that the
// sanitizer build flags, the runtime preload and the report detection of the sanitize job
// really catch a heap-use-after-free and undefined behaviour on this machine (a job that
// silently ran without ASan would otherwise pass with "zero reports"). Never part of the
// daemon's addon; compiled only by the script, into build-sanitize/.
#include <node_api.h>

#include <climits>
#include <cstdint>
#include <cstring>

namespace {

int32_t ArgInt(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t v = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc >= 1)
    napi_get_value_int32(env, argv[0], &v);
  return v;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// Clean: a heap read in bounds.
napi_value Ok(napi_env env, napi_callback_info info) {
  int32_t i = ArgInt(env, info) & 7;
  char* p = new char[8]();
  p[i] = 1;
  int32_t v = p[i];
  delete[] p;
  return Int(env, v);
}

// heap-use-after-free: the index comes from JS so the read cannot be folded away.
napi_value UseAfterFree(napi_env env, napi_callback_info info) {
  int32_t i = ArgInt(env, info) & 7;
  char* volatile p = new char[8]();
  delete[] p;
  return Int(env, p[i]);
}

// Signed integer overflow (UBSan): JS passes INT_MAX.
napi_value Overflow(napi_env env, napi_callback_info info) {
  volatile int32_t a = ArgInt(env, info);
  int32_t b = a + 1;
  return Int(env, b);
}

// Misaligned 32-bit load (UBSan alignment check).
napi_value Misaligned(napi_env env, napi_callback_info info) {
  alignas(8) char buf[16];
  std::memset(buf, 0, sizeof buf);
  int32_t off = (ArgInt(env, info) & 3) | 1;  // always odd
  const int32_t* q = reinterpret_cast<const int32_t*>(buf + off);
  return Int(env, *q);
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"ok", nullptr, Ok, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"useAfterFree", nullptr, UseAfterFree, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"overflow", nullptr, Overflow, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"misaligned", nullptr, Misaligned, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
