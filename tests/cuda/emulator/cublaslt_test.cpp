// The cuBLASLt stand-in (cuda/emulator/vendor/cublasLt.h) against a naive
// column-major reference that sums in the same documented order, so results
// must match to the bit: transposes, leading dimensions, strided batches
// (stride 0 included), alpha and beta, the bias epilogue, f64, the heuristic's
// algorithm and the workspace and alignment it promises; and what it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "cuda/emulator/vendor/cublasLt.h"
#include "vendor_test_support.h"

using namespace clipgrad;
using namespace clipgrad::toy;

namespace {

struct Matrix {
  uint64_t rows, cols;
  int64_t ld;
  int64_t stride = 0;  // with Case::batch > 1
  size_t elements(int32_t batch) const {
    return size_t((batch - 1) * stride + (int64_t(cols) - 1) * ld + int64_t(rows));
  }
};

// D = C in place, as tensor/cuda/blas/gemm.cpp calls it.
struct Case {
  bool f64 = false;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  Matrix a, b, c;
  int32_t batch = 1;
  double alpha = 1, beta = 0;
  bool bias = false;
  uint64_t max_workspace = 1 << 20;
  uint32_t alignment = 256;
  const void* bias_at_heuristic = nullptr;  // CUBLASLT_MATMUL_DESC_BIAS_POINTER when the heuristic runs
};

// D(i, j) = alpha * (sum over p, in order, of op(A)(i, p) * op(B)(p, j)) + beta * C(i, j) + bias[i], in T,
// each step of the sum a fused multiply-add, as the stand-in documents.
// TF32 as a tensor core reads an f32 operand: 11 significant bits (10 stored),
// rounded to nearest even. Computed here through frexp, not through the bits.
float tf32(float value) {
  int exponent = 0;
  const float mantissa = std::frexp(value, &exponent);  // value = mantissa * 2^exponent, |mantissa| in [0.5, 1)
  return std::ldexp(std::nearbyint(std::ldexp(mantissa, 11)), exponent - 11);
}

template <class T>
std::vector<T> reference(const Case& k, const std::vector<T>& a, const std::vector<T>& b, std::vector<T> c,
                         const std::vector<T>& bias) {
  const bool ta = k.trans_a != CUBLAS_OP_N, tb = k.trans_b != CUBLAS_OP_N;
  const bool round_operands = std::is_same_v<T, float> && k.compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  const auto operand = [round_operands](T value) { return round_operands ? T(tf32(float(value))) : value; };
  const int64_t m = int64_t(k.c.rows), n = int64_t(k.c.cols), depth = int64_t(ta ? k.a.rows : k.a.cols);
  for (int64_t batch = 0; batch < k.batch; ++batch)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        T sum = 0;
        for (int64_t p = 0; p < depth; ++p) {
          const T x = operand(ta ? a[batch * k.a.stride + p + i * k.a.ld] : a[batch * k.a.stride + i + p * k.a.ld]);
          const T y = operand(tb ? b[batch * k.b.stride + j + p * k.b.ld] : b[batch * k.b.stride + p + j * k.b.ld]);
          sum = std::fma(x, y, sum);
        }
        T& out = c[batch * k.c.stride + i + j * k.c.ld];
        const T value = std::fma(T(k.alpha), sum, k.beta != 0 ? T(k.beta) * out : T(0));
        out = k.bias ? value + bias[i] : value;
      }
  return c;
}

cublasLtMatrixLayout_t make_layout(const Case& k, const Matrix& matrix) {
  cublasLtMatrixLayout_t layout = nullptr;
  EXPECT_EQ(cublasLtMatrixLayoutCreate(&layout, k.f64 ? CUDA_R_64F : CUDA_R_32F, matrix.rows, matrix.cols, matrix.ld),
            CUBLAS_STATUS_SUCCESS);
  if (k.batch > 1) {
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &k.batch, sizeof(k.batch)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &matrix.stride,
                                               sizeof(matrix.stride)),
              CUBLAS_STATUS_SUCCESS);
  }
  return layout;
}

// One plan and one product through the stand-in: descriptors, heuristic, matmul.
struct Plan {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulHeuristicResult_t result{};
  cublasStatus_t heuristic = CUBLAS_STATUS_SUCCESS;
  int found = 0;

  explicit Plan(const Case& k) {
    EXPECT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulDescCreate(&desc, k.f64 ? CUBLAS_COMPUTE_64F : k.compute, k.f64 ? CUDA_R_64F : CUDA_R_32F),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &k.trans_a, sizeof(k.trans_a)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &k.trans_b, sizeof(k.trans_b)),
              CUBLAS_STATUS_SUCCESS);
    if (k.bias) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
                CUBLAS_STATUS_SUCCESS);
      EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &k.bias_at_heuristic,
                                               sizeof(k.bias_at_heuristic)),
                CUBLAS_STATUS_SUCCESS);
    }
    a = make_layout(k, k.a);
    b = make_layout(k, k.b);
    c = make_layout(k, k.c);
    cublasLtMatmulPreference_t preference = nullptr;
    EXPECT_EQ(cublasLtMatmulPreferenceCreate(&preference), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &k.max_workspace, sizeof(k.max_workspace)),
              CUBLAS_STATUS_SUCCESS);
    for (auto attribute : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                           CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
      EXPECT_EQ(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &k.alignment, sizeof(k.alignment)),
                CUBLAS_STATUS_SUCCESS);
    heuristic = cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, c, preference, 1, &result, &found);
    EXPECT_EQ(cublasLtMatmulPreferenceDestroy(preference), CUBLAS_STATUS_SUCCESS);
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(handle);
  }

  // D = C in place; returns the status (alpha and beta of the scale type).
  template <class T>
  cublasStatus_t run(const Case& k, const void* a_data, const void* b_data, void* c_data, const void* bias_data,
                     void* workspace, size_t workspace_bytes) {
    if (k.bias)
      EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_data, sizeof(bias_data)),
                CUBLAS_STATUS_SUCCESS);
    const T alpha = T(k.alpha), beta = T(k.beta);
    return cublasLtMatmul(handle, desc, &alpha, a_data, a, b_data, b, &beta, c_data, c, c_data, c, &result.algo,
                          workspace, workspace_bytes, nullptr);
  }
};

// Runs the case on random data and checks the result against the reference, to the bit.
template <class T>
void check_case(const Case& k, uint32_t seed = 1) {
  const std::vector<T> a = random_values<T>(k.a.elements(k.batch), seed);
  const std::vector<T> b = random_values<T>(k.b.elements(k.batch), seed + 1);
  const std::vector<T> c = random_values<T>(k.c.elements(k.batch), seed + 2);
  const std::vector<T> bias = random_values<T>(k.c.rows, seed + 3);
  DeviceArray<T> da(a), db(b), dc(c), dbias(bias);
  Plan plan(k);
  ASSERT_EQ(plan.heuristic, CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(plan.found, 1);
  DeviceArray<unsigned char> workspace(plan.result.workspaceSize + 1);
  ASSERT_EQ(plan.run<T>(k, da.get(), db.get(), dc.get(), dbias.get(), workspace.get(), plan.result.workspaceSize),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_TRUE(same_bits(dc.read(), reference(k, a, b, c, bias)));
}

}  // namespace

TEST(EmulatorCublasLt, EveryTransposeWithPaddedLeadingDimensions) {
  // 70 x 40 outputs, 300 deep: past one block of rows (64), columns (32) and depth (256).
  const uint64_t m = 70, n = 40, k = 300;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      SCOPED_TRACE(std::string("trans_a ") + (ta ? "T" : "N") + ", trans_b " + (tb ? "T" : "N"));
      Case c;
      c.trans_a = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
      c.trans_b = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
      c.a = ta ? Matrix{k, m, int64_t(k) + 3} : Matrix{m, k, int64_t(m) + 5};
      c.b = tb ? Matrix{n, k, int64_t(n) + 1} : Matrix{k, n, int64_t(k)};
      c.c = {m, n, int64_t(m) + 2};
      check_case<float>(c);
    }
}

TEST(EmulatorCublasLt, StridedBatchesWithAStrideOfZero) {
  Case c;
  c.batch = 3;
  c.a = {5, 7, 5, 5 * 7 + 4};  // apart, with a gap
  c.b = {7, 6, 7, 0};          // one matrix for every batch entry (a shared weight)
  c.c = {5, 6, 5, 5 * 6};
  check_case<float>(c);
  c.a.stride = 0;  // now A is shared and B is not
  c.b.stride = 7 * 6;
  check_case<float>(c, 7);
}

TEST(EmulatorCublasLt, AlphaAndBeta) {
  Case c;
  c.a = {9, 4, 9};
  c.b = {4, 11, 4};
  c.c = {9, 11, 9};
  c.alpha = 0.5;
  c.beta = -2;
  check_case<float>(c);
  c.beta = 1;  // accumulates
  check_case<float>(c, 3);
}

TEST(EmulatorCublasLt, BetaZeroDoesNotReadC) {
  Case c;
  c.a = {3, 2, 3};
  c.b = {2, 4, 2};
  c.c = {3, 4, 3};
  const std::vector<float> a = random_values<float>(6, 1), b = random_values<float>(8, 2);
  DeviceArray<float> da(a), db(b), dc(std::vector<float>(12, std::numeric_limits<float>::quiet_NaN()));
  Plan plan(c);
  DeviceArray<unsigned char> workspace(plan.result.workspaceSize);
  ASSERT_EQ(plan.run<float>(c, da.get(), db.get(), dc.get(), nullptr, workspace.get(), plan.result.workspaceSize),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_TRUE(same_bits(dc.read(), reference(c, a, b, std::vector<float>(12, 0.f), {})));
}

TEST(EmulatorCublasLt, BiasEpilogueAddsOneValuePerRowOfD) {
  Case c;
  c.a = {6, 5, 6};
  c.b = {5, 4, 5};
  c.c = {6, 4, 6};
  c.bias = true;
  check_case<float>(c);
  c.batch = 2;  // the same bias for every matrix of the batch
  c.a.stride = 30;
  c.b.stride = 20;
  c.c.stride = 24;
  check_case<float>(c, 5);
  c.f64 = true;
  check_case<double>(c, 9);
}

TEST(EmulatorCublasLt, DoublePrecision) {
  Case c;
  c.f64 = true;
  c.trans_a = CUBLAS_OP_T;
  c.a = {33, 17, 40};
  c.b = {33, 9, 33};
  c.c = {17, 9, 17};
  c.alpha = 1.25;
  c.beta = 0.75;
  check_case<double>(c);
}

// Under CUBLAS_COMPUTE_32F_FAST_TF32 each operand is rounded to TF32, the
// products and sums are f32; the result is not plain f32's.
TEST(EmulatorCublasLt, Tf32RoundsEachOperandToTenMantissaBits) {
  EXPECT_EQ(tf32(1.0f + 0x1p-11f), 1.0f);            // a tie, to even
  EXPECT_EQ(tf32(1.0f + 0x3p-11f), 1.0f + 0x1p-9f);  // a tie, to even (up)
  EXPECT_EQ(tf32(-1.5f - 0x1p-12f), -1.5f);
  Case c;
  c.compute = CUBLAS_COMPUTE_32F_FAST_TF32;
  c.a = {8, 12, 8};
  c.b = {12, 3, 12};
  c.c = {8, 3, 8};
  check_case<float>(c);
  Case plain = c;
  plain.compute = CUBLAS_COMPUTE_32F;
  const std::vector<float> a = random_values<float>(c.a.elements(1), 1), b = random_values<float>(c.b.elements(1), 2);
  const std::vector<float> out = random_values<float>(c.c.elements(1), 3), bias;
  EXPECT_FALSE(same_bits(reference(c, a, b, out, bias), reference(plain, a, b, out, bias)));
}

TEST(EmulatorCublasLt, HeuristicOffersOneAlgorithmWithinTheWorkspaceLimit) {
  Case c;
  c.a = {4, 4, 4};
  c.b = {4, 4, 4};
  c.c = {4, 4, 4};
  EXPECT_EQ(Plan(c).result.workspaceSize, 4096u);
  c.max_workspace = 100;
  EXPECT_EQ(Plan(c).result.workspaceSize, 100u);
  c.max_workspace = 0;
  const Plan plan(c);
  EXPECT_EQ(plan.found, 1);
  EXPECT_EQ(plan.result.state, CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(plan.result.workspaceSize, 0u);
}

TEST(EmulatorCublasLt, HeuristicFindsNoAlgorithmBelowElementAlignmentOrWithTheBiasSwitchedOff) {
  Case c;
  c.f64 = true;
  c.a = {4, 4, 4};
  c.b = {4, 4, 4};
  c.c = {4, 4, 4};
  c.alignment = 4;  // f64 operands 4-byte aligned: no GPU kernel loads them
  Plan misaligned(c);
  EXPECT_EQ(misaligned.heuristic, CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(misaligned.found, 0);
  c.alignment = 8;
  c.bias = true;
  ScopedBiasEpilogue off(false);
  Plan without_bias(c);
  EXPECT_EQ(without_bias.heuristic, CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "bias epilogue is switched off"));
}

TEST(EmulatorCublasLt, WorkspaceIsHeldToTheAlgorithmAndOverwritten) {
  Case c;
  c.a = {4, 4, 4};
  c.b = {4, 4, 4};
  c.c = {4, 4, 4};
  DeviceArray<float> a(16), b(16), d(16);
  Plan plan(c);
  DeviceArray<unsigned char> workspace(std::vector<unsigned char>(4096, 7));
  EXPECT_EQ(plan.run<float>(c, a.get(), b.get(), d.get(), nullptr, workspace.get(), 4095), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "a workspace of 4095 bytes; the algorithm needs 4096"));
  EXPECT_EQ(plan.run<float>(c, a.get(), b.get(), d.get(), nullptr, workspace.get(), 4096), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(workspace.read(), std::vector<unsigned char>(4096, 0xff));
  // A workspace that claims more bytes than its block holds is a fault.
  const std::string message =
      refusal_of([&] { (void)plan.run<float>(c, a.get(), b.get(), d.get(), nullptr, workspace.get(), 8192); });
  EXPECT_TRUE(contains(message, "workspace (argument 13"));
  EXPECT_TRUE(contains(message, "4096 bytes past its end"));
}

TEST(EmulatorCublasLt, OperandsLessAlignedThanTheAlgorithmWasChosenFor) {
  Case c;
  c.a = {4, 4, 4};
  c.b = {4, 4, 4};
  c.c = {4, 4, 4};
  c.alignment = 16;
  DeviceArray<float> a(17), b(16), d(16);
  Plan plan(c);
  DeviceArray<unsigned char> workspace(4096);
  EXPECT_EQ(plan.run<float>(c, a.get() + 1, b.get(), d.get(), nullptr, workspace.get(), 4096),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "is aligned to 4 bytes; the algorithm was chosen for 16"));
}

TEST(EmulatorCublasLt, ABiasLessAlignedThanTheOneTheHeuristicSaw) {
  Case c;
  c.a = {4, 4, 4};
  c.b = {4, 4, 4};
  c.c = {4, 4, 4};
  c.bias = true;
  DeviceArray<float> a(16), b(16), d(16), bias(5);
  c.bias_at_heuristic = bias.get();  // 256-byte aligned: the heuristic may pick vector loads for it
  Plan plan(c);
  DeviceArray<unsigned char> workspace(4096);
  EXPECT_EQ(plan.run<float>(c, a.get(), b.get(), d.get(), bias.get() + 1, workspace.get(), 4096),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(
      contains(cuda::emulator::last_library_error(),
               "is aligned to 4 bytes; its elements need 4, and the algorithm was chosen for a bias aligned to 256"));
  EXPECT_EQ(plan.run<float>(c, a.get(), b.get(), d.get(), bias.get(), workspace.get(), 4096), CUBLAS_STATUS_SUCCESS);
}

TEST(EmulatorCublasLt, RefusesAHostOperand) {
  Case c;
  c.a = {4, 4, 4};
  c.b = {4, 4, 4};
  c.c = {4, 4, 4};
  c.alignment = 4;  // a std::vector's data is not 256-byte aligned: not the status for misalignment
  DeviceArray<float> a(16), d(16);
  std::vector<float> host_b(16, 1.f);
  Plan plan(c);
  DeviceArray<unsigned char> workspace(4096);
  const std::string message =
      refusal_of([&] { (void)plan.run<float>(c, a.get(), host_b.data(), d.get(), nullptr, workspace.get(), 4096); });
  EXPECT_TRUE(contains(message, "cublaslt_test.cpp:"));  // the caller's line
  EXPECT_TRUE(
      contains(message, "cublasLtMatmul failed under the emulator: B (argument 5, counting from 0, 4x4, ld 4, f32)"));
  EXPECT_TRUE(contains(message, "not in emulated device memory: a host pointer"));
}

TEST(EmulatorCublasLt, RefusesAnOperandThatRunsPastItsBlock) {
  Case c;
  c.batch = 2;
  c.a = {4, 4, 4, 16};
  c.b = {4, 4, 4, 16};
  c.c = {4, 4, 4, 16};
  DeviceArray<float> a(32), b(31), d(32);  // B's second matrix ends one element past its block
  Plan plan(c);
  DeviceArray<unsigned char> workspace(4096);
  const std::string message =
      refusal_of([&] { (void)plan.run<float>(c, a.get(), b.get(), d.get(), nullptr, workspace.get(), 4096); });
  EXPECT_TRUE(contains(message, "B (argument 5, counting from 0, batch of 2 matrices 4x4, ld 4, f32, stride 16)"));
  EXPECT_TRUE(contains(message, "4 bytes past its end"));
}

TEST(EmulatorCublasLt, RefusesFreedMemoryAndAlphaInDeviceMemory) {
  Case c;
  c.a = {2, 2, 2};
  c.b = {2, 2, 2};
  c.c = {2, 2, 2};
  DeviceArray<float> a(4), b(4), d(4), scalars(std::vector<float>{1.f, 0.f});
  Plan plan(c);
  DeviceArray<unsigned char> workspace(4096);
  float* freed = nullptr;
  ASSERT_EQ(cudaMalloc(&freed, 16), cudaSuccess);
  ASSERT_EQ(cudaFree(freed), cudaSuccess);
  const float zero = 0.f;
  std::string message = refusal_of([&] {
    (void)cublasLtMatmul(plan.handle, plan.desc, scalars.get(), a.get(), plan.a, b.get(), plan.b, &zero, d.get(),
                         plan.c, d.get(), plan.c, &plan.result.algo, workspace.get(), 4096, nullptr);
  });
  EXPECT_TRUE(contains(message, "alpha (argument 2, counting from 0)"));
  EXPECT_TRUE(contains(message, "in emulated device memory: the library reads this scalar on the host"));
  message = refusal_of([&] { (void)plan.run<float>(c, freed, b.get(), d.get(), nullptr, workspace.get(), 4096); });
  EXPECT_TRUE(contains(message, "device memory that cudaFree has freed"));
}

TEST(EmulatorCublasLt, BadParametersAreStatusesWithAReason) {
  cublasLtMatmulDesc_t desc = nullptr;
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  const int64_t wide = CUBLAS_OP_T;  // 8 bytes for a 4-byte attribute
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &wide, sizeof(wide)),
            CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "a buffer of 8 bytes for an attribute of 4 bytes"));
  const cublasLtEpilogue_t relu = CUBLASLT_EPILOGUE_RELU;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &relu, sizeof(relu)),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasLtMatmulDescDestroy(desc), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatmulDescDestroy(desc), CUBLAS_STATUS_INVALID_VALUE);  // twice

  Case c;
  c.a = {4, 3, 4};
  c.b = {5, 2, 5};  // k is 3 for A, 5 for B
  c.c = {4, 2, 4};
  EXPECT_EQ(Plan(c).heuristic, CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "the matrices do not fit: op(A) 4x3, op(B) 5x2"));
  c.a = {4, 0, 4};
  c.b = {0, 2, 1};
  EXPECT_EQ(Plan(c).heuristic, CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "an empty product"));
  c.a = {4, 3, 3};  // ld below rows
  c.b = {3, 2, 3};
  EXPECT_EQ(Plan(c).heuristic, CUBLAS_STATUS_INVALID_VALUE);
  c.a = {4, 3, 4, 12};
  c.b = {3, 2, 3, 6};
  c.c = {4, 2, 4, 4};  // the two matrices of D overlap
  c.batch = 2;
  EXPECT_EQ(Plan(c).heuristic, CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "the matrices of D overlap"));
}

// tensor/cuda/blas/gemm.cpp's trick: a row-major c [m, n] = a [m, k] @ b [k, n] is the
// column-major c^T [n, m] = b^T a^T, with b first and a second, no data moved.
TEST(EmulatorCublasLt, RowMajorProductAsItsColumnMajorTranspose) {
  const int64_t m = 5, n = 3, k = 4;
  Case c;
  c.a = {uint64_t(n), uint64_t(k), n};  // cuBLASLt's A: our b [k, n] row-major
  c.b = {uint64_t(k), uint64_t(m), k};  // cuBLASLt's B: our a [m, k] row-major
  c.c = {uint64_t(n), uint64_t(m), n};
  const std::vector<float> a = random_values<float>(m * k, 1), b = random_values<float>(k * n, 2);
  DeviceArray<float> da(a), db(b), dc(m * n);
  Plan plan(c);
  DeviceArray<unsigned char> workspace(4096);
  ASSERT_EQ(plan.run<float>(c, db.get(), da.get(), dc.get(), nullptr, workspace.get(), 4096), CUBLAS_STATUS_SUCCESS);
  std::vector<float> expected(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0;
      for (int64_t p = 0; p < k; ++p) sum = std::fma(a[i * k + p], b[p * n + j], sum);
      expected[i * n + j] = sum;
    }
  EXPECT_TRUE(same_bits(dc.read(), expected));
}
