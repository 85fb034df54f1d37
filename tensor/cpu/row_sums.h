// Column sums over many rows (bias and norm-gain gradients), split across
// threads by fixed chunks of rows rather than by columns: with 128 columns a
// column split leaves one thread idle. Each chunk's partial sums are added in
// chunk order, so the bits do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace clipgrad::cpu {

// add_row(r, acc) adds row r's contributions into acc[0 .. width). Returns the
// sums over all rows, accumulated in double.
template <class AddRow>
std::vector<double> sum_rows_in_chunks(int64_t rows, int64_t width, AddRow add_row) {
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks * width, 0.0);
#pragma omp parallel for schedule(static) if (rows * width > (1 << 16) && chunks > 1)
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
