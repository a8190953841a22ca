"""Data-parallel runs: ``accelerate launch --num_processes N -m harness run ...`` (or torchrun).

Each process evaluates its share of every batch round; rank 0 gathers the results, writes the
sample logs and results file, and aggregates, so logs are complete and never duplicated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (in rank order); ``None`` elsewhere."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world if self.main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


_STATE: Dist | None = None


def current() -> Dist:
    """The process group from the launcher's environment (initialised once), or a single process."""
    global _STATE
    if _STATE is None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            _STATE = Dist()
        else:
            import torch
            import torch.distributed as dist

            local = int(os.environ.get("LOCAL_RANK", "0"))
            if not dist.is_initialized():
                use_cuda = torch.cuda.is_available()
                if use_cuda:
                    torch.cuda.set_device(local)
                dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            _STATE = Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local)
    return _STATE
