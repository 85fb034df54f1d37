// Gradient checkpointing: a block's activations are recomputed in backward
// instead of being kept from forward.
#include "autograd/functional.h"

namespace clipgrad::fn {

Variable checkpoint(const std::function<Variable(const Variable&)>& body, const Variable& input,
                    const std::vector<Variable>& params) {
  Tensor output;
  {
    NoGradGuard no_graph;
    output = body(Variable(input.value())).value();
  }
  std::vector<Variable> inputs{input};
  inputs.insert(inputs.end(), params.begin(), params.end());
  return make_result(std::move(output), std::move(inputs),
                     [body](const Tensor& grad_output, std::vector<Variable>& inputs) {
                       EnableGradGuard graph;
                       GradHooksPause once;  // the outer sweep calls the parameters' hooks after this node
                       Variable replay(inputs[0].value(), inputs[0].requires_grad());
                       Variable recomputed = body(replay);
                       if (recomputed.requires_grad()) recomputed.backward(grad_output);
                       if (inputs[0].requires_grad() && replay.has_grad()) inputs[0].add_grad(replay.grad());
                     });
}

}  // namespace clipgrad::fn
