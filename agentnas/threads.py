"""Torch on one intra-op thread, for the small models the trusted side builds and encodes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the caller's count.

    Our models and texts are small: a second thread gives little, and on a busy machine
    threads that wait for a core cost far more. Measured on the project's 2-core machine
    while other processes ran: 20 short texts took 23 s to embed on torch's default 2
    threads and 0.8 s on one; exporting an NB201 network to ONNX took 2.6 s and 0.4 s.
    The results do not depend on the thread count (the zero-cost proxies always ran on
    one thread; the exported graph is the same).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
