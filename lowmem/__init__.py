"""lowmem: run computation graphs (Theano functions) with the least peak memory.

Public API
----------
Graph, GraphError, load      -- the graph model and its JSON format (_graph.py);
                                the format is specified in docs/format.md
peak, memory_timeline,
OrderError                   -- the reference memory model (_model.py)
schedule, Schedule           -- the exact minimum-peak scheduler (_scheduler.py)
plan_storage, StoragePlan    -- storage sharing and arena offsets for an order
                                (_storage_plan.py)
arena_offsets, ArenaPlan,
ArenaError                   -- static memory allocation on its own: offsets
                                for buffers with live intervals (_offsets.py)
"""

from ._graph import Graph, GraphError, load
from ._offsets import ArenaError, ArenaPlan, arena_offsets
from ._model import OrderError, memory_timeline, peak
from ._scheduler import Schedule, schedule
from ._storage_plan import StoragePlan, plan_storage

__all__ = ["Graph", "GraphError", "load", "OrderError", "memory_timeline", "peak",
           "Schedule", "schedule", "StoragePlan", "plan_storage",
           "ArenaError", "ArenaPlan", "arena_offsets"]
__version__ = "0.1.0"
