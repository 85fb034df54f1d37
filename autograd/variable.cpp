#include "autograd/variable.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "tensor/ops/elementwise.h"

namespace clipgrad {

static thread_local bool g_grad_enabled = true;

static thread_local bool g_hooks_paused = false;

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { g_grad_enabled = previous_; }
GradHooksPause::GradHooksPause() : previous_(g_hooks_paused) { g_hooks_paused = true; }
GradHooksPause::~GradHooksPause() { g_hooks_paused = previous_; }

Variable::Variable(Tensor value, bool requires_grad) : node_(std::make_shared<VariableNode>()) {
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

void Variable::set_requires_grad(bool flag) {
  if (!is_leaf()) throw std::logic_error("set_requires_grad on a non-leaf variable");
  node_->requires_grad = flag;
}

void Variable::set_grad_final_hook(std::function<void()> hook) {
  if (!is_leaf()) throw std::logic_error("set_grad_final_hook on a non-leaf variable");
  node_->on_grad_final = std::move(hook);
}

void Variable::add_grad(const Tensor& g) {
  Tensor& grad = node_->grad;
  const Tensor& value = node_->value;
  if (g.shape() != value.shape() || g.dtype() != value.dtype() || g.device() != value.device())
    throw std::logic_error(std::string("add_grad: gradient ") + shape_str(g.shape()) + " " + dtype_name(g.dtype()) +
                           " on " + device_name(g.device()) + " for a variable " + shape_str(value.shape()) + " " +
                           dtype_name(value.dtype()) + " on " + device_name(value.device()));
  if (!grad.defined()) {
    grad = g;  // shared, not copied: copy on the next write
  } else if (grad.storage_unique()) {
    ops::add_inplace(grad, g);
  } else {
    grad = ops::add(grad, g);
  }
}

Variable make_result(Tensor value, std::vector<Variable> inputs, BackwardFn backward) {
  Variable result(std::move(value), false);
  if (!g_grad_enabled) return result;
  bool any = false;
  for (const Variable& input : inputs) any = any || input.requires_grad();
  if (!any) return result;
  result.node_->requires_grad = true;
  result.node_->inputs = std::move(inputs);
  result.node_->backward = std::move(backward);
  return result;
}

void Variable::backward(bool keep_graph) {
  if (numel() != 1)
    throw std::invalid_argument("backward() without a seed needs a single-element result, got shape " +
                                shape_str(shape()));
  // The seed of ones, made where the result is (on a device: filled there, not uploaded, so no host wait).
  Tensor seed = Tensor::empty(shape(), dtype(), value().device());
  ops::fill(seed, 1.0);
  backward(seed, keep_graph);
}

[[noreturn]] static void throw_released(const char* where) {
  throw std::logic_error(std::string("backward() through a graph that an earlier backward() released (") + where +
                         "); pass keep_graph = true to the first backward() to run a second one");
}

void Variable::backward(const Tensor& seed, bool keep_graph) {
  if (!node_) throw std::logic_error("backward() on an undefined variable");
  if (node_->released) throw_released("at the variable itself");
  if (!node_->backward)
    throw std::logic_error(requires_grad() ? "backward() from a leaf variable: it is not the result of an op"
                                           : "backward() on a variable that does not require grad");
  // Iterative post-order DFS: order holds every node after all of its inputs.
  // It holds owning pointers: releasing a node's inputs below must not free
  // a node that is still to run.
  std::vector<std::shared_ptr<VariableNode>> order;
  std::unordered_set<VariableNode*> visited;
  std::vector<std::pair<std::shared_ptr<VariableNode>, size_t>> stack{{node_, 0}};
  visited.insert(node_.get());
  while (!stack.empty()) {
    auto& [node, next_input] = stack.back();
    if (next_input < node->inputs.size()) {
      std::shared_ptr<VariableNode> input = node->inputs[next_input++].node_;
      if (!input || !input->requires_grad) continue;
      if (input->released) throw_released("at an input of the graph");
      if (input->backward && visited.insert(input.get()).second) stack.push_back({std::move(input), 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  // For each hooked leaf, the ops still to run that read it: its gradient is
  // final when that count reaches zero.
  std::unordered_map<VariableNode*, int64_t> pending_readers;
  // (None while hooks are paused: a checkpointed block's inner sweep, an early micro-batch.)
  for (size_t n = 0; !g_hooks_paused && n < order.size(); ++n)
    for (const Variable& input : order[n]->inputs)
      if (input.node_ && input.node_->on_grad_final && input.node_->requires_grad) ++pending_readers[input.node_.get()];
  add_grad(seed);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VariableNode* node = it->get();
    Tensor grad_output = std::move(node->grad);  // non-leaf gradients are transient
    node->grad = Tensor();
    if (grad_output.defined()) node->backward(grad_output, node->inputs);
    if (!pending_readers.empty())
      for (const Variable& input : node->inputs) {
        auto found = pending_readers.find(input.node_.get());
        if (found != pending_readers.end() && --found->second == 0) input.node_->on_grad_final();
      }
    if (!keep_graph) {
      // Every consumer of this node ran before it: nothing in the graph needs
      // it any more, so drop its closure, its inputs and our reference.
      node->backward = nullptr;
      node->inputs.clear();
      node->released = true;
      it->reset();
    }
  }
}

}  // namespace clipgrad
