// Gather with gradient: the rows of every rank's features, differentiable.
#pragma once

#include "autograd/variable.h"
#include "distributed/communicator.h"

namespace clipgrad::distributed {

// local [B, E] -> [N*B, E]: every rank's rows in rank order (all-gather).
// Backward (open_clip's gather-with-grad): the gradient [N*B, E] is summed
// over the ranks and this rank keeps its rows [rank*B, (rank+1)*B)
// (reduce-scatter). When each rank computes the same loss on the gathered
// rows, that is N times the gradient of the loss by this rank's rows; the
// trainer's gradient average over the ranks divides the N out again.
Variable all_gather_with_grad(const Variable& local, Communicator& communicator, const std::string& what);

}  // namespace clipgrad::distributed
