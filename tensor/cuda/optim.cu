// The CUDA kernels of the optim family (tensor/ops/optim.h), the twin of
// tensor/cpu/optim.cpp: AdamW's fused update, for one parameter or for a
// whole list in one launch, and the sum of squares and the coefficient behind
// gradient clipping, all without a host read.
//
// AdamW reads param, grad and the two f32 moments once and writes three of
// them: memory-bound at 4 streams. The per-parameter kernel is a thread per
// element, grid-stride. The multi-tensor kernel takes a table of up to
// kAdamWParamsPerLaunch tensors by value (pointers, sizes, coefficients, and
// each tensor's first block), as apex's multi_tensor_apply does: one launch
// updates a model's parameters instead of one launch each. The table is
// about 9 KiB (f32) to 13 KiB (f64) of kernel parameters, which needs CUDA
// 12.1 or later on Volta or later (32,764 bytes of parameters; sm_90 here).
// The operation order is torch's (and the CPU kernel's), and without FMA
// contraction (CMakeLists.txt) with IEEE sqrt and division, each element's
// update is the CPU's bit for bit.
//
// The sum of squares of a list (clipping's norm) is two launches per table
// and one more: a block per fixed chunk of every tensor (the chunks of
// fixed_order_sums.cu's chunk_sums, the same block_sum tree), then a thread
// per tensor adding its chunks in order, then one thread adding the tensors'
// totals in list order: the bits of one chunk_sums and ordered_total per
// tensor, in 3 launches instead of 2 per tensor.
#include "tensor/cuda/device_tensor.h"

namespace clipgrad::cuda {

namespace {

constexpr int64_t kSumSquaresChunk = 1 << 14;          // tensor/cpu/optim.cpp's sum_squares chunk
constexpr int64_t kAdamWBlockElements = 8 * kThreads;  // elements per block of the multi-tensor kernel
constexpr int kTableSize = ops::kAdamWParamsPerLaunch;

// The coefficients rounded to the element type once, on the host (as the CPU kernel does).
template <class T>
struct AdamWScalars {
  T decay, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
};

template <class T>
AdamWScalars<T> adamw_scalars(const ops::AdamWCoefficients& c) {
  return {T(c.decay),      T(c.one_minus_beta1),       T(c.beta2), T(c.one_minus_beta2),
          T(-c.step_size), T(c.bias_correction2_sqrt), T(c.eps)};
}

// Which tensor of a table block `block` works on: first_block [count + 1] is
// increasing, first_block[t] <= block < first_block[t + 1].
struct BlockMap {
  int32_t first_block[kTableSize + 1];
  int32_t count;
  __host__ __device__ int tensor_of(int32_t block) const {
    int low = 0, high = count - 1;
    while (low < high) {
      const int middle = (low + high + 1) / 2;
      if (first_block[middle] <= block)
        low = middle;
      else
        high = middle - 1;
    }
    return low;
  }
};

// Up to kTableSize parameters of one AdamW step, by value into the kernel.
template <class T>
struct AdamWTable {
  T* param[kTableSize];
  const T* grad[kTableSize];
  float* exp_avg[kTableSize];
  float* exp_avg_sq[kTableSize];
  int64_t numel[kTableSize];
  AdamWScalars<T> scalars[kTableSize];
  BlockMap blocks;
};

// Up to kTableSize tensors whose squares are summed, a block per chunk.
template <class T>
struct SquaresTable {
  const T* x[kTableSize];
  int64_t numel[kTableSize];
  BlockMap blocks;
};

// ---- kernels ----

#ifdef CLIPGRAD_DEVICE_CODE
// One element of AdamW, in torch's order; g already scaled.
template <class T>
__device__ void adamw_element(T& param, T g, float& exp_avg, float& exp_avg_sq, const AdamWScalars<T>& c) {
  T m = T(exp_avg);
  m = m + c.one_minus_beta1 * (g - m);
  T v = T(exp_avg_sq) * c.beta2;
  v = v + c.one_minus_beta2 * g * g;
  const T denom = ::sqrt(v) / c.bias_correction2_sqrt + c.eps;
  const T p = param * c.decay;
  param = p + c.neg_step_size * m / denom;
  exp_avg = float(m);
  exp_avg_sq = float(v);
}
#endif

// param, grad [n] of T; exp_avg, exp_avg_sq [n] f32, all updated in place
template <class T>
__global__ void adamw_kernel(T* param, const T* grad, float* exp_avg, float* exp_avg_sq, int64_t n, AdamWScalars<T> c) {
  CLIPGRAD_GRID_STRIDE(i, n) { adamw_element(param[i], grad[i], exp_avg[i], exp_avg_sq[i], c); }
}

// Every tensor of the table: block b updates kAdamWBlockElements elements of
// tensor table.blocks.tensor_of(b). grad_scale: null, or f64 [] multiplying
// each gradient (rounded to T, as ops::scale rounds its factor).
template <class T>
__global__ void multi_tensor_adamw_kernel(AdamWTable<T> table, const double* grad_scale) {
  const int t = table.blocks.tensor_of(static_cast<int32_t>(blockIdx.x));
  const int64_t begin = (blockIdx.x - table.blocks.first_block[t]) * kAdamWBlockElements;
  const int64_t end = smaller(table.numel[t], begin + kAdamWBlockElements);
  const T scale = grad_scale ? T(*grad_scale) : T(1);
  T* param = table.param[t];
  const T* grad = table.grad[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const T g = grad_scale ? grad[i] * scale : grad[i];
    adamw_element(param[i], g, table.exp_avg[t][i], table.exp_avg_sq[t][i], table.scalars[t]);
  }
}

// Block b sums the squares of chunk (b - first_block[t]) of tensor t into partial [b].
template <class T>
__global__ void chunk_squares_kernel(SquaresTable<T> table, double* partial) {
  const int t = table.blocks.tensor_of(static_cast<int32_t>(blockIdx.x));
  const int64_t begin = (blockIdx.x - table.blocks.first_block[t]) * kSumSquaresChunk;
  const int64_t end = smaller(table.numel[t], begin + kSumSquaresChunk);
  double acc = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double value = table.x[t][i];
    acc += value * value;
  }
  acc = block_sum<kThreads>(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// A thread per tensor t of the table: totals [t] = its chunks of partial added in order.
__global__ void tensor_totals_kernel(BlockMap blocks, const double* partial, double* totals) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= blocks.count) return;
  double sum = 0;
  for (int32_t c = blocks.first_block[t]; c < blocks.first_block[t + 1]; ++c) sum += partial[c];
  totals[t] = sum;
}

// total_squares [] -> coefficient [], torch's clip_grad_norm_ in double
__global__ void clip_coefficient_kernel(const double* total_squares, double max_norm, double* coefficient) {
  const double total_norm = ::sqrt(*total_squares);
  const double value = max_norm / (total_norm + 1e-6);
  *coefficient = isfinite(total_norm) && value < 1.0 ? value : 1.0;
}

// ---- launchers ----

// Appends a tensor of n elements, `per_block` to a block, to a table's block map.
void add_blocks(BlockMap& blocks, int64_t n, int64_t per_block, const char* op) {
  const int64_t first = blocks.first_block[blocks.count], next = first + (n + per_block - 1) / per_block;
  if (next > int64_t(INT32_MAX))
    throw std::invalid_argument(std::string(op) + ": more than 2^31 - 1 blocks in one launch");
  blocks.first_block[++blocks.count] = static_cast<int32_t>(next);
}

template <class T>
void launch_adamw_table(const AdamWTable<T>& table, const double* grad_scale) {
  const int32_t blocks = table.blocks.first_block[table.blocks.count];
  if (blocks == 0) return;
  launch("multi_tensor_adamw_kernel", multi_tensor_adamw_kernel<T>, {static_cast<unsigned>(blocks), kThreads}, table,
         grad_scale);
}

// The chunk sums and per-tensor totals of one table, into totals [table.blocks.count].
template <class T>
void launch_squares_table(const SquaresTable<T>& table, double* totals) {
  const int32_t chunks = table.blocks.first_block[table.blocks.count];
  Tensor partial = Tensor::empty({chunks}, DType::F64, Device::CUDA);
  if (chunks > 0)
    launch("chunk_squares_kernel", chunk_squares_kernel<T>, {static_cast<unsigned>(chunks), kThreads}, table,
           device_data<double>(partial));
  launch("tensor_totals_kernel", tensor_totals_kernel, {1, kTableSize}, table.blocks,
         device_data_or_null<double>(partial), totals);
}

template <class T>
void sum_squares_by_tables(const std::vector<Tensor>& tensors, double* totals) {
  SquaresTable<T> table{};
  int first = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const int slot = table.blocks.count;
    table.x[slot] = device_data<T>(tensors[i]);
    table.numel[slot] = tensors[i].numel();
    add_blocks(table.blocks, tensors[i].numel(), kSumSquaresChunk, "sum_squares_of");
    if (table.blocks.count == kTableSize || i + 1 == tensors.size()) {
      launch_squares_table(table, totals + first);
      first = static_cast<int>(i) + 1;
      table = SquaresTable<T>{};
    }
  }
}

}  // namespace

void adamw_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                  const ops::AdamWCoefficients& coefficients) {
  dispatch_floating(param.dtype(), "adamw_update", [&]<class T>() {
    const int64_t n = param.numel();
    if (n == 0) return;
    launch("adamw_kernel", adamw_kernel<T>, {grid_for(n), kThreads}, device_data<T>(param), device_data<T>(grad),
           device_data<float>(exp_avg), device_data<float>(exp_avg_sq), n, adamw_scalars<T>(coefficients));
  });
}

// Tables of kTableSize entries, one launch each, in list order.
void multi_tensor_adamw(const std::vector<ops::AdamWParam>& params, const Tensor& grad_scale) {
  dispatch_floating(params[0].param.dtype(), "multi_tensor_adamw", [&]<class T>() {
    const double* scale = device_data_or_null<double>(grad_scale);
    AdamWTable<T> table{};
    for (size_t i = 0; i < params.size(); ++i) {
      ops::AdamWParam entry = params[i];  // handles: the tensors are written through them
      const int slot = table.blocks.count;
      table.param[slot] = device_data<T>(entry.param);
      table.grad[slot] = device_data<T>(entry.grad);
      table.exp_avg[slot] = device_data<float>(entry.exp_avg);
      table.exp_avg_sq[slot] = device_data<float>(entry.exp_avg_sq);
      table.numel[slot] = entry.param.numel();
      table.scalars[slot] = adamw_scalars<T>(entry.coefficients);
      add_blocks(table.blocks, entry.param.numel(), kAdamWBlockElements, "multi_tensor_adamw");
      if (table.blocks.count == kTableSize || i + 1 == params.size()) {
        launch_adamw_table(table, scale);
        table = AdamWTable<T>{};
      }
    }
  });
}

double sum_squares(const Tensor& x) {
  check_floating(x, "sum_squares");
  Tensor total = Tensor::empty({}, DType::F64, Device::CUDA);
  ordered_total(chunk_sums(x, kSumSquaresChunk, true), device_data<double>(total));
  return total.item();
}

// Each tensor's total into one device array (a table's tensors of one dtype
// at a time), then those added in list order: the CPU's sum of per-tensor
// sums, left on the device.
Tensor sum_squares_of(const std::vector<Tensor>& tensors) {
  const int64_t count = static_cast<int64_t>(tensors.size());
  Tensor totals = Tensor::empty({count}, DType::F64, Device::CUDA);
  for (int64_t begin = 0; begin < count;) {
    int64_t end = begin + 1;
    while (end < count && tensors[end].dtype() == tensors[begin].dtype()) ++end;
    const std::vector<Tensor> run(tensors.begin() + begin, tensors.begin() + end);
    dispatch_floating(run[0].dtype(), "sum_squares_of",
                      [&]<class T>() { sum_squares_by_tables<T>(run, device_data<double>(totals) + begin); });
    begin = end;
  }
  Tensor total = Tensor::empty({}, DType::F64, Device::CUDA);
  ordered_total(totals, device_data<double>(total));
  return total;
}

Tensor clip_coefficient(const Tensor& total_squares, double max_norm) {
  Tensor coefficient = Tensor::empty({}, DType::F64, Device::CUDA);
  launch("clip_coefficient_kernel", clip_coefficient_kernel, {1, 1}, device_data<double>(total_squares), max_norm,
         device_data<double>(coefficient));
  return coefficient;
}

}  // namespace clipgrad::cuda
