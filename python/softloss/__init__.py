"""softloss: PyTorch-exact softmax, log_softmax, NLL, cross-entropy and BCE for NumPy arrays.

Forward and backward passes of the ``torch.nn.functional`` softmax family, computed by a Rust
core on a private thread pool with the GIL released. Use ``axis`` where PyTorch says ``dim``.
"""

from softloss import _native, nn
from softloss._native import __version__, get_num_threads, set_num_threads
from softloss.functional import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    binary_cross_entropy_with_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_backward,
    binary_cross_entropy_with_logits_with_grad,
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
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_with_grad",
    "config",
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


def config() -> dict[str, object]:
    """How this process runs softloss.

    Returns
    -------
    dict
        ``version``; ``simd``, the active instruction-set path (``"avx512"``, ``"avx2"``,
        ``"neon"`` or ``"scalar"``, lowered by the ``SOFTLOSS_SIMD`` environment variable);
        ``simd_supported``, every path this CPU can run; ``threads``, the thread count;
        ``streaming_stores``, whether outputs far larger than the last-level cache (softmax and
        log_softmax, from 32 MiB) are written with non-temporal stores: on by default except on
        AMD and Hygon CPUs, where they measured slower; ``SOFTLOSS_STREAMING_STORES=on|off``
        sets it.
    """
    return {
        "version": __version__,
        "simd": _native.simd_path(),
        "simd_supported": _native.simd_paths(),
        "threads": get_num_threads(),
        "streaming_stores": _native.streaming_stores(),
    }
