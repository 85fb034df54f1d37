// How the CPU kernels split work across threads (OpenMP), and the two loop
// shapes several of them share. Every split here is fixed by the data's
// shape, never by the thread count, so results are the same bits on any
// number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/shape_rules.h"

namespace clipgrad::cpu {

// Below this many elements a loop runs on one thread. Waking an OpenMP team
// and joining it costs a few microseconds, about what one core needs to
// stream 2^15 floats through a simple element-wise body, so smaller loops
// lose more to the fork than they gain from a second core.
constexpr int64_t kParallelElements = int64_t{1} << 15;
// The same threshold for the kernels that copy bytes of any dtype.
constexpr int64_t kParallelBytes = kParallelElements * int64_t{sizeof(float)};

// Calls fn(base) for every line of `lines` (a line holds lines.size elements
// at base + k * lines.inner), in parallel when the tensor is large.
template <class Fn>
void for_each_line(const ops::Lines& lines, Fn fn) {
  const int64_t count = lines.outer * lines.inner;
#pragma omp parallel for if (count * lines.size > kParallelElements)
  for (int64_t l = 0; l < count; ++l) fn((l / lines.inner) * lines.size * lines.inner + l % lines.inner);
}

// Column sums over many rows (bias and norm-gain gradients), split across
// threads by fixed chunks of rows rather than by columns: with 128 columns a
// column split leaves one thread idle. Each chunk's partial sums are added in
// chunk order. add_row(r, acc) adds row r's contributions into
// acc[0 .. width); returns the sums over all rows, accumulated in double.
template <class AddRow>
std::vector<double> sum_rows_in_chunks(int64_t rows, int64_t width, AddRow add_row) {
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks * width, 0.0);
#pragma omp parallel for schedule(static) if (rows * width > kParallelElements && chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    double* acc = partial.data() + c * width;
    for (int64_t r = c * kChunk; r < std::min(rows, (c + 1) * kChunk); ++r) add_row(r, acc);
  }
  std::vector<double> total(width, 0.0);
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t j = 0; j < width; ++j) total[j] += partial[c * width + j];
  return total;
}

}  // namespace clipgrad::cpu
