#include "distributed/gather.h"

namespace clipgrad::distributed {

Variable all_gather_with_grad(const Variable& local, Communicator& communicator, const std::string& what) {
  Tensor gathered = communicator.all_gather_rows(local.value(), "all-gather of " + what);
  return make_result(gathered, {local},
                     [&communicator, what](const Tensor& grad_gathered, std::vector<Variable>& inputs) {
                       Tensor grad_local =
                           communicator.reduce_scatter_rows(grad_gathered, "reduce-scatter of the gradient of " + what);
                       if (inputs[0].requires_grad()) inputs[0].add_grad(grad_local);
                     });
}

}  // namespace clipgrad::distributed
