"""lowmem: run computation graphs (Theano functions) with the least peak memory.

Public API
----------
Graph, GraphError, load      -- the graph model and its JSON format (graph.py)
peak, memory_timeline,
OrderError                   -- the reference memory model (model.py)
schedule, Schedule           -- the exact minimum-peak scheduler (scheduler.py)
"""

from .graph import Graph, GraphError, load
from .model import OrderError, memory_timeline, peak
from .scheduler import Schedule, schedule

__all__ = ["Graph", "GraphError", "load", "OrderError", "memory_timeline", "peak",
           "Schedule", "schedule"]
__version__ = "0.1.0"
