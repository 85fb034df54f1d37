#include "tensor/shape_rules.h"

#include <stdexcept>
#include <string>

namespace clipgrad::ops {

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b) + ": dim " +
                                  std::to_string(k) + " has sizes " + std::to_string(da) + " and " +
                                  std::to_string(db) + " (sizes must match or one be 1)");
    out[k] = da == 1 ? db : da;
  }
  return out;
}

int64_t normalize_dim(int64_t dim, int64_t rank, const char* op) {
  int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw std::out_of_range(std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a rank-" +
                            std::to_string(rank) + " tensor");
  return d;
}

std::vector<int64_t> normalize_permutation(const Shape& shape, const std::vector<int64_t>& dims) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<int64_t> normalized(dims.size());
  std::vector<bool> seen(rank, false);
  bool valid = static_cast<int64_t>(dims.size()) == rank;
  for (size_t i = 0; valid && i < dims.size(); ++i) {
    int64_t d = dims[i] < 0 ? dims[i] + rank : dims[i];
    valid = d >= 0 && d < rank && !seen[d];
    if (valid) seen[d] = true;
    normalized[i] = d;
  }
  if (!valid)
    throw std::invalid_argument("permute: dims " + shape_str(Shape(dims.begin(), dims.end())) +
                                " are not a permutation of the " + std::to_string(rank) + " dims of shape " +
                                shape_str(shape));
  return normalized;
}

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& dims) {
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[dims[i]] = static_cast<int64_t>(i);
  return inverse;
}

}  // namespace clipgrad::ops
