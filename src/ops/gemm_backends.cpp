// The run-time choice of GEMM backend (recur/ops/gemm.h) and the dispatch to it. The backends a build
// has are fixed by CMake (RECUR_HAVE_DNNL, RECUR_HAVE_OPENBLAS; the reference always); the best of
// them runs unless RECUR_BLAS in the environment or set_blas_backend() names another.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <type_traits>

#include "gemm_backend.h"

namespace recur {

namespace {

enum class Backend : int { kDnnl, kOpenblas, kReference };

struct BuiltBackend {
  Backend id;
  const char* name;
};

// Best first: oneDNN picks its kernels by CPU features; OpenBLAS by CPU model, and falls back to
// SSE3 kernels on models it does not know.
constexpr BuiltBackend kBuilt[] = {
#ifdef RECUR_HAVE_DNNL
    {Backend::kDnnl, "dnnl"},
#endif
#ifdef RECUR_HAVE_OPENBLAS
    {Backend::kOpenblas, "openblas"},
#endif
    {Backend::kReference, "reference"},
};

constexpr auto kBuiltNames = [] {
  std::array<const char*, std::size(kBuilt)> names{};
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = kBuilt[i].name;
  return names;
}();

Backend find_backend(std::string_view name, const char* where) {
  for (const BuiltBackend& b : kBuilt)
    if (name == b.name) return b.id;
  throw Error(fmt::format("{}: unknown GEMM backend '{}'; this build has {}", where, name,
                          fmt::join(kBuiltNames, ", ")));
}

Backend initial_backend() {
  const char* env = std::getenv("RECUR_BLAS");
  if (env == nullptr || *env == '\0') return kBuilt[0].id;
  try {
    return find_backend(env, "RECUR_BLAS (environment)");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (unset RECUR_BLAS to use the best)");
  }
}

std::atomic<Backend>& active() {
  static std::atomic<Backend> backend{initial_backend()};
  return backend;
}

const char* name_of(Backend id) {
  for (const BuiltBackend& b : kBuilt)
    if (b.id == id) return b.name;
  return "reference";
}

}  // namespace

std::span<const char* const> blas_backends() {
  return kBuiltNames;
}

const char* blas_backend() {
  return name_of(active().load(std::memory_order_relaxed));
}

void set_blas_backend(std::string_view name) {
  active().store(find_backend(name, "set_blas_backend"), std::memory_order_relaxed);
}

const char* blas_core() {
  switch (active().load(std::memory_order_relaxed)) {
#ifdef RECUR_HAVE_DNNL
    case Backend::kDnnl:
      return detail::dnnl_isa();
#endif
#ifdef RECUR_HAVE_OPENBLAS
    case Backend::kOpenblas:
      return detail::openblas_core();
#endif
    default:
      return "reference";
  }
}

namespace detail {

// oneDNN has single precision only: double goes to OpenBLAS where the build has it, else the loops.
template <class T>
void gemm_backend(Trans ta, Trans tb, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
                  const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  const Backend b = active().load(std::memory_order_relaxed);
#ifdef RECUR_HAVE_DNNL
  if constexpr (std::is_same_v<T, float>) {
    if (b == Backend::kDnnl) return gemm_dnnl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
#endif
#ifdef RECUR_HAVE_OPENBLAS
  if (b != Backend::kReference) return gemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
  (void)b;
  gemm_reference(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemv_backend(Trans ta, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                  T* y) {
  const Backend b = active().load(std::memory_order_relaxed);
#ifdef RECUR_HAVE_DNNL
  if constexpr (std::is_same_v<T, float>) {
    if (b == Backend::kDnnl) return gemv_dnnl(ta, M, N, alpha, A, lda, x, beta, y);
  }
#endif
#ifdef RECUR_HAVE_OPENBLAS
  if (b != Backend::kReference) return gemv_openblas(ta, M, N, alpha, A, lda, x, beta, y);
#endif
  (void)b;
  gemv_reference(ta, M, N, alpha, A, lda, x, beta, y);
}

RECUR_INSTANTIATE_GEMM_PAIR(gemm_backend, gemv_backend, float)
RECUR_INSTANTIATE_GEMM_PAIR(gemm_backend, gemv_backend, double)

}  // namespace detail
}  // namespace recur
