// recur::gemm / recur::gemv against the reference loops (gemm_reference / gemv_reference), which are
// first checked against hand-computed products. Covers the GEMV routes (M = 1, N = 1), every
// transpose combination, leading dimensions wider than the rows, beta = 0 over NaN, beta = 1,
// alpha != 1, K = 0, argument errors, and the multi-thread split; and every GEMM backend the build
// has (dnnl, openblas, reference) against the same oracle, switched in-process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "recur/ops/gemm.h"
#include "recur/rng.h"
#include "recur/threads.h"
#include "test_util.h"

namespace recur {
namespace {

using ::recur::testing::all_close;
using ::recur::testing::eps_of;
using ::recur::testing::random_matrix;
using ::recur::testing::ThreadCountGuard;
using ::recur::testing::trans_name;

// Written into the padding of C (columns past N): gemm must never touch it.
constexpr double kPadSentinel = 12345.0;

// Tolerance of a float/double product against the double-accumulated reference, per element:
//   atol = kGemmSlack · K · eps · |alpha| · max|a| · max|b|  +  kGemmSlack · eps · |beta| · max|c0|
//   rtol = kGemmResultUlps · eps    (rounding of the stored result)
// Why K and not sqrt(K): a BLAS kernel accumulates each dot product sequentially and the partial sums
// of U(-1,1) products grow like sqrt(k)/3, so the half-ulp roundings add up to an error that grows
// linearly in K. Measured with OpenBLAS 0.3.21 sgemm (256x128, K = 5 ... 512): rms error 0.04-0.06 · K·eps,
// worst of 32768 elements 0.2-0.5 · K·eps. A slack of 2 leaves a 4x margin over that worst case, while
// a dropped, duplicated or mis-strided term (error ~ |a||b| ~ 0.25) stays >= 2000x the tolerance for
// every K used here (K <= 512).
constexpr double kGemmSlack = 2.0;
constexpr double kGemmResultUlps = 4.0;  // alpha·acc + beta·c is rounded twice; a few ulps covers it

template <class T>
double max_abs(const std::vector<T>& v) {
  double m = 0;
  for (T x : v)
    if (!std::isnan(x) && static_cast<double>(x) != kPadSentinel)
      m = std::max(m, std::abs(static_cast<double>(x)));
  return m;
}

template <class T>
double product_atol(index_t K, double alpha, double beta, double max_a, double max_b, double max_c) {
  return kGemmSlack * eps_of<T>() * (double(K) * std::abs(alpha) * max_a * max_b + std::abs(beta) * max_c);
}

struct GemmCase {
  Trans ta, tb;
  index_t M, N, K;
  double alpha, beta;
  index_t pad;  // extra columns in the storage of A, B and C
};

std::string describe(const GemmCase& c) {
  return std::string("gemm ") + trans_name(c.ta) + trans_name(c.tb) + " M=" + std::to_string(c.M) +
         " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + " pad=" + std::to_string(c.pad);
}

// Runs recur::gemm on random operands (NaN in the padding of A and B, NaN in C when beta = 0, a
// sentinel in C's padding) and compares all of C, padding included, to gemm_reference.
template <class T>
void check_gemm(const GemmCase& c, std::uint64_t seed) {
  SCOPED_TRACE(describe(c));
  Rng rng(seed);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const index_t a_rows = c.ta == Trans::kNo ? c.M : c.K, a_cols = c.ta == Trans::kNo ? c.K : c.M;
  const index_t b_rows = c.tb == Trans::kNo ? c.K : c.N, b_cols = c.tb == Trans::kNo ? c.N : c.K;
  const index_t lda = std::max<index_t>(a_cols, 1) + c.pad, ldb = std::max<index_t>(b_cols, 1) + c.pad;
  const index_t ldc = std::max<index_t>(c.N, 1) + c.pad;
  const std::vector<T> A = random_matrix<T>(rng, a_rows, a_cols, lda, nan);
  const std::vector<T> B = random_matrix<T>(rng, b_rows, b_cols, ldb, nan);
  std::vector<T> C0 = random_matrix<T>(rng, c.M, c.N, ldc, T(kPadSentinel));
  if (c.beta == 0) {
    for (index_t i = 0; i < c.M; ++i)
      for (index_t j = 0; j < c.N; ++j) C0[static_cast<size_t>(i * ldc + j)] = nan;
  }
  std::vector<T> expected = C0, actual = C0;
  const T alpha = static_cast<T>(c.alpha), beta = static_cast<T>(c.beta);
  gemm_reference<T>(c.ta, c.tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, expected.data(),
                    ldc);
  gemm<T>(c.ta, c.tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, actual.data(), ldc);
  const double atol =
      product_atol<T>(c.K, c.alpha, c.beta, max_abs(A), max_abs(B), c.beta == 0 ? 0 : max_abs(C0));
  EXPECT_TRUE(all_close(actual, expected, atol, kGemmResultUlps * eps_of<T>()));
}

template <class T>
class GemmTest : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GemmTest, FloatTypes);

constexpr Trans kBoth[] = {Trans::kNo, Trans::kYes};

// ---- the oracle itself ------------------------------------------------------------------------------

TEST(GemmReference, HandComputed2x3Times3x2) {
  // A = [1 2 3; 4 5 6], B = [7 8; 9 10; 11 12]  ->  A·B = [58 64; 139 154]
  const std::vector<double> A = {1, 2, 3, 4, 5, 6}, B = {7, 8, 9, 10, 11, 12};
  const std::vector<double> At = {1, 4, 2, 5, 3, 6}, Bt = {7, 9, 11, 8, 10, 12};  // stored transposed
  const std::vector<double> product = {58, 64, 139, 154};
  for (Trans ta : kBoth) {
    for (Trans tb : kBoth) {
      SCOPED_TRACE(std::string(trans_name(ta)) + trans_name(tb));
      const auto& a = ta == Trans::kNo ? A : At;
      const auto& b = tb == Trans::kNo ? B : Bt;
      const index_t lda = ta == Trans::kNo ? 3 : 2, ldb = tb == Trans::kNo ? 2 : 3;
      std::vector<double> C(4, std::numeric_limits<double>::quiet_NaN());
      gemm_reference<double>(ta, tb, 2, 2, 3, 1.0, a.data(), lda, b.data(), ldb, 0.0, C.data(), 2);
      EXPECT_EQ(C, product);
      // alpha = 2, beta = -1 over C = 1:  2·AB - 1
      std::vector<double> D(4, 1.0);
      gemm_reference<double>(ta, tb, 2, 2, 3, 2.0, a.data(), lda, b.data(), ldb, -1.0, D.data(), 2);
      EXPECT_EQ(D, (std::vector<double>{115, 127, 277, 307}));
    }
  }
  // Leading dimensions wider than the rows: A inside a 2x5 buffer, C inside a 2x4 buffer.
  const std::vector<double> A_wide = {1, 2, 3, -50, -50, 4, 5, 6, -50, -50};
  std::vector<double> C_wide = {0, 0, -9, -9, 0, 0, -9, -9};
  gemm_reference<double>(Trans::kNo, Trans::kNo, 2, 2, 3, 1.0, A_wide.data(), 5, B.data(), 2, 0.0,
                         C_wide.data(), 4);
  EXPECT_EQ(C_wide, (std::vector<double>{58, 64, -9, -9, 139, 154, -9, -9}));
}

TEST(GemmReference, GemvHandComputed) {
  // op(A) = [1 2 3; 4 5 6], x = (1, -1, 2)  ->  (5, 11)
  const std::vector<double> A = {1, 2, 3, 4, 5, 6}, x = {1, -1, 2};
  std::vector<double> y(2, std::numeric_limits<double>::quiet_NaN());
  gemv_reference<double>(Trans::kNo, 2, 3, 1.0, A.data(), 3, x.data(), 0.0, y.data());
  EXPECT_EQ(y, (std::vector<double>{5, 11}));
  // kYes: stored B = [7 8; 9 10; 11 12] (3x2), op(A) = Bᵀ = [7 9 11; 8 10 12], op(A)·x = (20, 22);
  // with alpha = 3, beta = 0.5 over z = (2, 4): (61, 68).
  const std::vector<double> B = {7, 8, 9, 10, 11, 12};
  std::vector<double> z = {2, 4};
  gemv_reference<double>(Trans::kYes, 2, 3, 3.0, B.data(), 2, x.data(), 0.5, z.data());
  EXPECT_EQ(z, (std::vector<double>{61, 68}));
}

// ---- gemm vs the oracle -------------------------------------------------------------------------------

TYPED_TEST(GemmTest, OddShapesAllTransposesAndStrides) {
  using T = TypeParam;
  struct Dims {
    index_t M, N, K;
  };
  // 1x1x1; M = 1 (the batch-1 GEMV route); N = 1 (the other GEMV route); K = 1; shapes that are
  // not multiples of the 8/16-wide kernels; and one exact multiple.
  const Dims shapes[] = {{1, 1, 1},  {1, 37, 23}, {1, 1, 19},   {23, 1, 37}, {13, 9, 1},
                         {1, 20, 1}, {7, 13, 5},  {33, 17, 65}, {17, 33, 9}, {16, 32, 8}};
  struct Scalars {
    double alpha, beta;
  };
  const Scalars scalars[] = {{1.0, 0.0}, {1.0, 1.0}, {-1.5, 0.25}, {0.5, 0.0}};
  std::uint64_t seed = 1;
  for (const Dims& d : shapes)
    for (Trans ta : kBoth)
      for (Trans tb : kBoth)
        for (index_t pad : {index_t(0), index_t(3)})
          for (const Scalars& s : scalars)
            check_gemm<T>({ta, tb, d.M, d.N, d.K, s.alpha, s.beta, pad}, seed++);
}

TYPED_TEST(GemmTest, BetaZeroOverwritesNaN) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  // Every route: general, M = 1 (GEMV over B), N = 1 with contiguous C (GEMV over A), K = 0.
  struct Dims {
    index_t M, N, K;
  };
  for (const Dims d : {Dims{5, 6, 7}, Dims{1, 6, 7}, Dims{5, 1, 7}, Dims{5, 6, 0}}) {
    for (Trans ta : kBoth) {
      for (Trans tb : kBoth) {
        SCOPED_TRACE(std::string(trans_name(ta)) + trans_name(tb) + " M=" + std::to_string(d.M) +
                     " N=" + std::to_string(d.N) + " K=" + std::to_string(d.K));
        const std::vector<T> A(static_cast<size_t>(std::max<index_t>(d.M * d.K, 1)), T(1));
        const std::vector<T> B(static_cast<size_t>(std::max<index_t>(d.K * d.N, 1)), T(2));
        std::vector<T> C(static_cast<size_t>(d.M * d.N), nan);
        const index_t lda = std::max<index_t>(1, ta == Trans::kNo ? d.K : d.M);
        const index_t ldb = std::max<index_t>(1, tb == Trans::kNo ? d.N : d.K);
        gemm<T>(ta, tb, d.M, d.N, d.K, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), d.N);
        // Each entry is Σ_k 1·2 = 2K exactly.
        EXPECT_TRUE(all_close(C, std::vector<T>(C.size(), T(2 * d.K)), 0.0, 0.0));
      }
    }
  }
}

TYPED_TEST(GemmTest, KZeroScalesC) {
  using T = TypeParam;
  const T dummy[1] = {T(7)};
  std::vector<T> C = {1, -2, 3, 4, 5, -6};
  gemm<T>(Trans::kNo, Trans::kNo, 2, 3, 0, T(3), dummy, 1, dummy, 3, T(0.5), C.data(), 3);
  EXPECT_EQ(C, (std::vector<T>{0.5, -1, 1.5, 2, 2.5, -3}));  // C = beta·C, alpha irrelevant
  gemm<T>(Trans::kYes, Trans::kYes, 2, 3, 0, T(3), dummy, 2, dummy, 1, T(1), C.data(), 3);
  EXPECT_EQ(C, (std::vector<T>{0.5, -1, 1.5, 2, 2.5, -3}));  // beta = 1 leaves C alone

  // Padding of C is not touched by the K = 0 path either.
  std::vector<T> Cw = {1, 1, 9, 1, 1, 9};
  gemm<T>(Trans::kNo, Trans::kNo, 2, 2, 0, T(1), dummy, 1, dummy, 2, T(2), Cw.data(), 3);
  EXPECT_EQ(Cw, (std::vector<T>{2, 2, 9, 2, 2, 9}));
}

TYPED_TEST(GemmTest, EmptyOutputTouchesNothing) {
  using T = TypeParam;
  const T a[6] = {1, 2, 3, 4, 5, 6};
  std::vector<T> C = {T(kPadSentinel), T(kPadSentinel)};
  gemm<T>(Trans::kNo, Trans::kNo, 0, 2, 3, T(1), a, 3, a, 2, T(0), C.data(), 2);
  gemm<T>(Trans::kNo, Trans::kNo, 2, 0, 3, T(1), a, 3, a, 1, T(0), C.data(), 1);
  EXPECT_EQ(C, std::vector<T>(2, T(kPadSentinel)));
}

TYPED_TEST(GemmTest, BadArgumentsThrow) {
  using T = TypeParam;
  // Separate zero buffers, big enough for every call below, so valid calls never alias C with A or B.
  std::vector<T> a_buf(64, T(0)), b_buf(64, T(0)), c_buf(64, T(0));
  const T* p = a_buf.data();
  const T* q = b_buf.data();
  T* r = c_buf.data();
  // Negative sizes.
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, -1, 2, 2, T(1), p, 2, q, 2, T(0), r, 2), Error);
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, 2, -1, 2, T(1), p, 2, q, 2, T(0), r, 2), Error);
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, 2, 2, -1, T(1), p, 2, q, 2, T(0), r, 2), Error);
  // Leading dimensions too small for the stored shapes.
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, 3, 4, 5, T(1), p, 4, q, 4, T(0), r, 4), Error);   // lda < K
  EXPECT_THROW(gemm<T>(Trans::kYes, Trans::kNo, 3, 4, 5, T(1), p, 2, q, 4, T(0), r, 4), Error);  // lda < M
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, 3, 4, 5, T(1), p, 5, q, 3, T(0), r, 4), Error);   // ldb < N
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kYes, 3, 4, 5, T(1), p, 5, q, 4, T(0), r, 4), Error);  // ldb < K
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, 3, 4, 5, T(1), p, 5, q, 4, T(0), r, 3), Error);   // ldc < N
  EXPECT_THROW(gemm<T>(Trans::kNo, Trans::kNo, 1, 4, 5, T(1), p, 4, q, 4, T(0), r, 4),
               Error);  // M = 1 route too
  EXPECT_NO_THROW(gemm<T>(Trans::kNo, Trans::kNo, 3, 4, 5, T(1), p, 5, q, 4, T(0), r, 4));
  // gemv
  EXPECT_THROW(gemv<T>(Trans::kNo, -1, 2, T(1), p, 2, q, T(0), r), Error);
  EXPECT_THROW(gemv<T>(Trans::kNo, 2, -1, T(1), p, 2, q, T(0), r), Error);
  EXPECT_THROW(gemv<T>(Trans::kNo, 3, 5, T(1), p, 4, q, T(0), r), Error);   // lda < N
  EXPECT_THROW(gemv<T>(Trans::kYes, 3, 5, T(1), p, 2, q, T(0), r), Error);  // lda < M (stored (N, M))
  EXPECT_NO_THROW(gemv<T>(Trans::kYes, 3, 5, T(1), p, 3, q, T(0), r));
}

// ---- gemv vs the oracle --------------------------------------------------------------------------------

TYPED_TEST(GemmTest, GemvMatchesReference) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  struct Dims {
    index_t M, N;
  };
  std::uint64_t seed = 1000;
  for (const Dims d : {Dims{1, 1}, Dims{7, 13}, Dims{13, 7}, Dims{33, 65}, Dims{1, 50}, Dims{50, 1}}) {
    for (Trans ta : kBoth) {
      for (index_t pad : {index_t(0), index_t(5)}) {
        for (const double beta : {0.0, 1.0, -0.5}) {
          const double alpha = beta == 1.0 ? 1.0 : 1.75;
          SCOPED_TRACE(std::string("gemv ") + trans_name(ta) + " M=" + std::to_string(d.M) + " N=" +
                       std::to_string(d.N) + " pad=" + std::to_string(pad) + " beta=" + std::to_string(beta));
          Rng rng(seed++);
          const index_t rows = ta == Trans::kNo ? d.M : d.N, cols = ta == Trans::kNo ? d.N : d.M;
          const index_t lda = cols + pad;
          const std::vector<T> A = random_matrix<T>(rng, rows, cols, lda, nan);
          const std::vector<T> x = random_matrix<T>(rng, 1, d.N, d.N, nan);
          std::vector<T> y0 = random_matrix<T>(rng, 1, d.M, d.M, nan);
          if (beta == 0) std::fill(y0.begin(), y0.end(), nan);
          std::vector<T> expected = y0, actual = y0;
          gemv_reference<T>(ta, d.M, d.N, T(alpha), A.data(), lda, x.data(), T(beta), expected.data());
          gemv<T>(ta, d.M, d.N, T(alpha), A.data(), lda, x.data(), T(beta), actual.data());
          const double atol =
              product_atol<T>(d.N, alpha, beta, max_abs(A), max_abs(x), beta == 0 ? 0 : max_abs(y0));
          EXPECT_TRUE(all_close(actual, expected, atol, kGemmResultUlps * eps_of<T>()));
        }
      }
    }
  }
}

TYPED_TEST(GemmTest, GemvEdgeSizes) {
  using T = TypeParam;
  const T dummy[1] = {T(3)};
  std::vector<T> y = {2, -4, std::numeric_limits<T>::quiet_NaN()};
  gemv<T>(Trans::kNo, 3, 0, T(1), dummy, 1, dummy, T(0.5), y.data());  // N = 0: y = beta·y
  EXPECT_EQ(y[0], T(1));
  EXPECT_EQ(y[1], T(-2));
  EXPECT_TRUE(std::isnan(y[2]));                                     // beta != 0 keeps NaN, as BLAS does
  gemv<T>(Trans::kNo, 3, 0, T(1), dummy, 1, dummy, T(0), y.data());  // beta = 0 clears, NaN too
  EXPECT_EQ(y, (std::vector<T>{0, 0, 0}));
  std::vector<T> z = {T(kPadSentinel)};
  gemv<T>(Trans::kNo, 0, 4, T(1), dummy, 4, dummy, T(0), z.data());  // M = 0: nothing written
  EXPECT_EQ(z[0], T(kPadSentinel));
}

// ---- the multi-thread split -----------------------------------------------------------------------------

TYPED_TEST(GemmTest, LargeProductsSplitOverThreads) {
  using T = TypeParam;
  const int before = num_threads();
  struct Dims {
    index_t M, N, K;
  };
  // ≥ 2^18 multiply-adds, so with 2 threads the dispatcher splits: rows when M >= N (256 = 16 whole
  // blocks; 250 leaves a ragged last block), columns when N > M.
  const Dims shapes[] = {{256, 128, 300}, {250, 129, 301}, {64, 300, 256}};
  std::uint64_t seed = 5000;
  for (const Dims& d : shapes) {
    for (Trans ta : kBoth) {
      for (Trans tb : kBoth) {
        for (int threads : {2, 1}) {
          ThreadCountGuard guard(threads);
          ASSERT_EQ(num_threads(), threads);
          SCOPED_TRACE("threads=" + std::to_string(threads));
          check_gemm<T>({ta, tb, d.M, d.N, d.K, 0.75, ta == Trans::kYes ? 1.0 : 0.0, 2}, seed++);
        }
      }
    }
  }
  // The batch-1 GEMV route and gemv itself also split their output rows.
  for (int threads : {2, 1}) {
    ThreadCountGuard guard(threads);
    SCOPED_TRACE("threads=" + std::to_string(threads));
    check_gemm<T>({Trans::kNo, Trans::kNo, 1, 1030, 512, 1.0, 0.0, 0}, seed++);
    check_gemm<T>({Trans::kNo, Trans::kYes, 1, 1030, 512, 1.0, 1.0, 1}, seed++);
    check_gemm<T>({Trans::kNo, Trans::kNo, 1030, 1, 512, -1.0, 0.0, 0}, seed++);
  }
  EXPECT_EQ(num_threads(), before);
}

// ---- every backend of the build ---------------------------------------------------------------------

// Switches the GEMM backend for one scope.
class BackendGuard {
 public:
  explicit BackendGuard(const char* name) : saved_(blas_backend()) { set_blas_backend(name); }
  ~BackendGuard() { set_blas_backend(saved_); }
  BackendGuard(const BackendGuard&) = delete;
  BackendGuard& operator=(const BackendGuard&) = delete;

 private:
  std::string saved_;
};

TYPED_TEST(GemmTest, EveryBuiltBackendMatchesTheReference) {
  using T = TypeParam;
  struct Dims {
    index_t M, N, K;
  };
  // The GEMV routes, odd shapes, and shapes large enough to be split over 2 threads.
  const Dims shapes[] = {{1, 37, 23}, {23, 1, 37}, {7, 13, 5}, {33, 17, 65}, {250, 129, 301}, {64, 300, 256}};
  ASSERT_FALSE(blas_backends().empty());
  EXPECT_STREQ(blas_backends().back(), "reference");
  std::uint64_t seed = 9000;
  for (const char* backend : blas_backends()) {
    BackendGuard guard(backend);
    ASSERT_STREQ(blas_backend(), backend);
    SCOPED_TRACE(std::string("backend ") + backend + " (" + blas_core() + ")");
    for (int threads : {1, 2}) {
      ThreadCountGuard threads_guard(threads);
      for (const Dims& d : shapes)
        for (Trans ta : kBoth)
          for (Trans tb : kBoth)
            for (double beta : {0.0, 0.5}) check_gemm<T>({ta, tb, d.M, d.N, d.K, 1.25, beta, 2}, seed++);
    }
  }
}

TEST(GemmBackends, UnknownNameThrowsAndNamesTheBuiltOnes) {
  const std::string before = blas_backend();
  try {
    set_blas_backend("mkl");
    FAIL() << "set_blas_backend(\"mkl\") did not throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'mkl'"), std::string::npos) << what;
    for (const char* name : blas_backends()) EXPECT_NE(what.find(name), std::string::npos) << what;
  }
  EXPECT_EQ(blas_backend(), before);  // unchanged
}

}  // namespace
}  // namespace recur
