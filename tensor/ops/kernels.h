// The kernel table: one entry per raw op of tensor/ops/op_list.h, typed by
// the op's own signature (the entry `layer_norm` has the type of
// &ops::layer_norm), so a device's kernel and the op cannot disagree on a
// parameter. tensor/ops/dispatch.h picks a device's table and the entry;
// each backend declares its kernels from the same list (tensor/cpu/kernels.h,
// tensor/cuda/kernels.h) and dispatch.cpp fills one table per device from them.
#pragma once

#include <string>
#include <vector>

#include "tensor/ops/attention.h"
#include "tensor/ops/conv.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/linalg.h"
#include "tensor/ops/op_list.h"
#include "tensor/ops/optim.h"
#include "tensor/ops/reduce.h"
#include "tensor/ops/shape.h"

namespace clipgrad::ops {

struct Kernels {
#define CLIPGRAD_KERNEL_ENTRY(family, op) decltype(&ops::op) op = nullptr;
  CLIPGRAD_RAW_OPS(CLIPGRAD_KERNEL_ENTRY)
#undef CLIPGRAD_KERNEL_ENTRY
};

// The raw ops as values, in list order, for dispatch and for tests that walk the list.
enum class RawOp {
#define CLIPGRAD_RAW_OP_ENUMERATOR(family, op) op,
  CLIPGRAD_RAW_OPS(CLIPGRAD_RAW_OP_ENUMERATOR)
#undef CLIPGRAD_RAW_OP_ENUMERATOR
};

constexpr RawOp kAllRawOps[] = {
#define CLIPGRAD_RAW_OP_VALUE(family, op) RawOp::op,
    CLIPGRAD_RAW_OPS(CLIPGRAD_RAW_OP_VALUE)
#undef CLIPGRAD_RAW_OP_VALUE
};

// "layer_norm", and the family that names its kernel files ("norms").
const char* op_name(RawOp op);
const char* op_family(RawOp op);

// Whether `table` has a kernel for `op`. The devices' tables are complete by
// construction (dispatch.cpp); these are for tests and for tables built by hand.
bool has_kernel(const Kernels& table, RawOp op);
// The ops `table` has no kernel for, in list order (empty for a complete table).
std::vector<std::string> missing_kernels(const Kernels& table);

// The member of Kernels that holds op's kernel: KernelEntry<RawOp::add>::member == &Kernels::add.
template <RawOp op>
struct KernelEntry;
#define CLIPGRAD_KERNEL_ENTRY_OF(family, name)     \
  template <>                                      \
  struct KernelEntry<RawOp::name> {                \
    static constexpr auto member = &Kernels::name; \
  };
CLIPGRAD_RAW_OPS(CLIPGRAD_KERNEL_ENTRY_OF)
#undef CLIPGRAD_KERNEL_ENTRY_OF

}  // namespace clipgrad::ops
