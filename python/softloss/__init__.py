"""softloss: PyTorch-exact softmax, log_softmax, NLL, cross-entropy and BCE for NumPy arrays.

Forward and backward passes of the ``torch.nn.functional`` softmax family, computed by a Rust
core on a private thread pool with the GIL released. Use ``axis`` where PyTorch says ``dim``.
"""

from softloss import nn
from softloss._native import __version__, get_num_threads, set_num_threads
from softloss.functional import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    cross_entropy,
    cross_entropy_backward,
    cross_entropy_with_grad,
    log_softmax,
    log_softmax_backward,
    nll_loss,
    nll_loss_backward,
    softmax,
    softmax_backward,
)

__all__ = [
    "__version__",
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "cross_entropy_with_grad",
    "get_num_threads",
    "log_softmax",
    "log_softmax_backward",
    "nll_loss",
    "nll_loss_backward",
    "nn",
    "set_num_threads",
    "softmax",
    "softmax_backward",
]
