"""Every softloss function, named and ordered as ``torch.nn.functional`` (with NumPy's ``axis``)."""

from softloss.activations import log_softmax, log_softmax_backward, softmax, softmax_backward
from softloss.binary import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    binary_cross_entropy_with_logits_with_grad,
)
from softloss.losses import (
    cross_entropy,
    cross_entropy_backward,
    cross_entropy_with_grad,
    nll_loss,
    nll_loss_backward,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_with_grad",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_with_grad",
    "log_softmax",
    "log_softmax_backward",
    "nll_loss",
    "nll_loss_backward",
    "softmax",
    "softmax_backward",
]
