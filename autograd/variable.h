// Variable: a tensor in the define-by-run graph.
//
// Each differentiable op makes its result with make_result(value, inputs,
// backward): the backward closure holds what the op saved from its forward and
// adds the gradient of each input that requires one (Variable::add_grad).
// backward() sorts the graph topologically and runs the closures in reverse.
// Unless the caller keeps the graph, each node is released as soon as its
// closure has run: the closure (with the tensors it saved) and the links to
// its inputs are dropped, so a node nobody else holds is freed with its value
// during the sweep, not after it. A released node is marked: a second
// backward() through it throws instead of skipping it.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace clipgrad {

class Variable;

// grad_output has the shape of the op's result. The closure reads inputs[i]
// (to ask requires_grad()) and calls inputs[i].add_grad(...).
using BackwardFn = std::function<void(const Tensor& grad_output, std::vector<Variable>& inputs)>;

struct VariableNode {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::vector<Variable> inputs;  // empty for leaves
  BackwardFn backward;           // null for leaves and released nodes
  bool released = false;         // an op result whose backward has run (graph not kept)
  // Leaves only: called during backward() once every op of the graph that
  // reads this leaf has added its gradient (data parallel starts reducing it).
  std::function<void()> on_grad_final;
};

class Variable {
 public:
  Variable() = default;  // undefined
  explicit Variable(Tensor value, bool requires_grad = false);

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const { return node_->value; }
  Tensor& value() { return node_->value; }
  const Shape& shape() const { return node_->value.shape(); }
  int64_t dim() const { return node_->value.dim(); }
  int64_t size(int64_t d) const { return node_->value.size(d); }
  int64_t numel() const { return node_->value.numel(); }
  DType dtype() const { return node_->value.dtype(); }

  bool requires_grad() const { return node_ && node_->requires_grad; }
  void set_requires_grad(bool flag);
  bool is_leaf() const { return !node_->backward && !node_->released; }

  // The accumulated gradient; undefined until backward reaches this variable.
  const Tensor& grad() const { return node_->grad; }
  bool has_grad() const { return node_->grad.defined(); }
  void zero_grad() { node_->grad = Tensor(); }
  // Accumulates: grad += g (shape, dtype and device must match the value's).
  // g may be shared with other variables: accumulation never writes into a
  // tensor someone else holds.
  void add_grad(const Tensor& g);

  // A leaf's hook, called by each later backward() as soon as this leaf's
  // gradient in that graph is final (before the sweep goes on); null clears it.
  // Not called when the graph does not reach the leaf.
  void set_grad_final_hook(std::function<void()> hook);

  // Reverse-mode sweep from this variable; with no seed it must hold one
  // element. Throws for a leaf (nothing to differentiate) and for a graph
  // that an earlier backward() released (pass keep_graph = true to that one).
  void backward(bool keep_graph = false);
  void backward(const Tensor& seed, bool keep_graph = false);

  const VariableNode* node() const { return node_.get(); }

 private:
  std::shared_ptr<VariableNode> node_;
  friend Variable make_result(Tensor, std::vector<Variable>, BackwardFn);
};

// Makes an op's result. If grad mode is off or no input requires a gradient,
// the result is a plain leaf and the closure is dropped.
Variable make_result(Tensor value, std::vector<Variable> inputs, BackwardFn backward);

// Disables graph recording in its scope (evaluation, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Enables graph recording in its scope (a checkpointed block's recomputation
// inside backward, whatever the caller's mode).
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// Holds back the leaves' grad-final hooks (set_grad_final_hook) for every
// backward() in its scope: the backward of a checkpointed block inside the
// outer sweep (whose own count fires them once), and the micro-batches of a
// step but its last with gradient accumulation (data parallel reduces once).
class GradHooksPause {
 public:
  GradHooksPause();
  ~GradHooksPause();
  GradHooksPause(const GradHooksPause&) = delete;
  GradHooksPause& operator=(const GradHooksPause&) = delete;

 private:
  bool previous_;
};

}  // namespace clipgrad
