"""A Theano linker that runs Apply nodes in lowmem's order.

Only a loop of our own follows a given order: Theano's C VM and lazy
Stack VM evaluate on demand from the outputs. So the :class:`LowMemLinker`
builds C thunks as usual and runs them from :class:`LowMemVM`, through
one compiled loop (lowmem.theano._vm) over the thunks in the chosen order.

Sizes are learned on the first call, so the user has nothing to do: that
call runs in ``fgraph.toposort()`` order and records the bytes of every
value and each node's workspace (the peak of NumPy data a thunk reaches
above what it leaves allocated, counted by lowmem.theano._allocations).
The function is then scheduled and every later call runs in the lowmem
order. With the plan cache (lowmem.theano._cache, on by default) the plan
is stored, and a later compile of the same function prepares it at compile
time: its first call only checks the input shapes (_stored_plans).

After each node the VM empties the storage cells the memory model frees
at that step: a variable's cell once every node reading it has run (never
a graph input's or an output's), and a fresh output nobody reads at once.
A buffer is released when its last cell lets go of it (NumPy views keep
their base alive), which is when the model frees it, so model and program
agree.

With ``share_storage`` (the default) the VM also applies a storage plan
(lowmem.theano._sharing): a dead buffer's array is handed to the cell of
the variable planned to reuse it, whose op then writes into it instead of
allocating.

Under Theano's memory profiler (``profile`` and ``profile_memory`` flags)
the linker builds Theano's own Stack VM instead, as Theano's VM_Linker
does, so the profiler's figures keep their meaning.
"""

import json
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from theano import config
from theano.gof import link
from theano.gof.vm import VM, VM_Linker

from .. import _scheduler as scheduler
from .._bridge import alias_inputs, shares_memory
from ._allocations import AllocationCounter
from . import _cache, _sharing, _stored_plans
from ._options import make_options
from ._shape_classes import fixed_inputs, shape_classes
from ._shapes import shapes_from_examples, sizes_from_shapes
from ._thunks import preallocating_thunk
from ._translate import graph_from_fgraph, variable_nbytes
from . import _vm

# A thunk's transient allocations below this are noise (0-d temporaries).
WORKSPACE_NOISE_BYTES = 4096
# The "auto" time limit (LowMemOptions.time_limit None, the default): a
# search of 10% of the time Theano took to compile the function (at least
# 20 ms, at most 1 s), stopped at near-ties. Measured on the Theano zoo:
# 0.1 s found the same peaks as 1 s on all 16 models, and heuristics alone
# on 15.
AUTO_TIME_SHARE, AUTO_TIME_MIN, AUTO_TIME_MAX = 0.10, 0.02, 1.0
# A cached order whose search ran out of time is searched further when a
# later process compiles the function: for this share of the compile time
# (so that a cached compile stays within a few percent of the default
# mode's), until the searches of all processes add up to this many seconds.
CONTINUE_SHARE, CONTINUE_MAX_SECONDS = 0.03, 30.0


@dataclass
class Plan:
    """How a compiled function runs, and why (see lowmem.theano._report)."""
    translation: object         # translate.Translation (sizes from the first call)
    schedule: object            # lowmem.Schedule
    nodes: list                 # Apply nodes in execution order
    cleared: list               # per step: Theano variables whose cells empty after it
    record_seconds: float       # the recording (first) call
    schedule_seconds: float
    workspace_measured: bool
    notes: list = field(default_factory=list)
    storage: object = None      # sharing.Sharing applied to the order, or None
    copies: set = field(default_factory=set)   # (node, output) declared views that copied
    source: str = "recorded"    # where sizes came from: "recorded", "examples" or "cache"
    cache_key: str = None       # its plan-cache key, when cached

    @property
    def call_peak(self):
        """The peak a call measures above its starting level (which holds
        the arrays kept between calls)."""
        return self.storage.call_peak if self.storage is not None else int(self.schedule.peak)


def clear_lists(fgraph, order):
    """Per step of `order`: the variables whose storage cells can be emptied
    after it. A variable goes after its last reader; an output of the node
    that nobody reads goes at once; graph inputs never do, graph outputs
    only when their node runs again later (recomputation: `order` may list
    a node more than once, and each value goes after its last reader before
    its node's next run, as in the memory model's rule 5)."""
    inputs, outputs = set(fgraph.inputs), set(fgraph.outputs)
    lists = [[] for _ in order]
    last = {}       # variable -> the last step that made or read its current value
    for step, node in enumerate(order):
        for var in node.inputs:
            if var.owner is not None:
                last[var] = step
        for var in node.outputs:
            if var in last:         # its earlier value: gone after its last reader
                lists[last[var]].append(var)
            last[var] = step
    for var, step in last.items():
        if var not in inputs and var not in outputs:
            lists[step].append(var)
    return lists


class LowMemVM(VM):
    """Runs thunks in order, emptying cells as the memory model frees them.
    The first call records sizes and workspace, then plans the order.

    Every call, the recording one included, runs through one compiled loop
    (lowmem.theano._vm.StepProgram), which calls C thunks through their
    function pointers; the program is rebuilt whenever the order, the
    storage plan or the thunks (``vm.thunks = ...``, as measuring tools
    wrap them) change."""

    def __init__(self, linker, fgraph, nodes, thunks, pre_call_clear, storage_map,
                 compute_map):
        self._program = None
        super().__init__(nodes, thunks, pre_call_clear)
        self.allow_gc = True
        self.linker = linker
        self.fgraph = fgraph
        self.storage_map = storage_map
        self.compute_map = compute_map
        self.listing = list(nodes)  # fgraph.toposort(): lowmem node ids, cache entries
        # The program calls C thunks without their Python wrapper, which is
        # what marks outputs computed (_vm.mark_computed).
        _vm.mark_computed(compute_map)
        self.plan = None
        self.plan_error = None      # why there is no plan, if scheduling failed
        self.cache = None           # _cache.PlanCache, when plans are cached
        self.cache_key = None
        self.cached_variants = []   # entries stored under cache_key
        self._prepared = None       # signature of the stored plan adopted at compile time
        self._signature = None      # of the inputs the plan was made for (cache entries)
        self._searched = 0.0        # seconds searched for the plan's order, all processes
        self.compile_seconds = 0.0  # set by the linker once the thunks are made
        self.recorded = False
        self.storage_actions = None  # per step (cells to empty, hand-offs, checks), when sharing
        self.storage_opening = []    # hand-offs from the kept reserves at a call's start
        self.storage_reserves = []   # cells of arrays kept between calls
        self._check_vars = []        # the variable of each check, in the program's order
        self._classes = None
        self._fixed_shapes = []
        # (op, output position) pairs that wrote into a handed array, or
        # whose thunk is lowmem's own preallocating one.
        self._verified = set(getattr(linker, "preallocating", ()))
        self.seen_taking = set()     # names of the op types seen writing into one
        self._set_order(nodes, thunks)

    @property
    def thunks(self):
        return self._thunks

    @thunks.setter
    def thunks(self, thunks):
        self._thunks = list(thunks)
        if self._program is not None:
            self._build_program()

    def _set_order(self, nodes, thunks):
        self.nodes = list(nodes)
        self.post_thunk_clear = [[self.storage_map[v] for v in vars_]
                                 for vars_ in clear_lists(self.fgraph, self.nodes)]
        self.call_counts = [0] * len(self.nodes)
        self.call_times = [0.0] * len(self.nodes)
        self.storage_actions = None
        self._thunks = list(thunks)
        self._build_program()

    def _build_program(self):
        """The StepProgram of the current order, thunks and storage plan."""
        actions = self.storage_actions
        if actions is None:
            self._check_vars = []
            self._program = _vm.StepProgram(self._thunks, self.post_thunk_clear)
            return
        self._check_vars = [var for _, _, check in actions for _, _, var, _ in check]
        self._program = _vm.StepProgram(
            self._thunks, [clear for clear, _, _ in actions],
            [hand for _, hand, _ in actions],
            [[(cell, slot, known) for cell, slot, _, known in check]
             for _, _, check in actions],
            self.storage_opening, self.plan.storage.slots)

    def _run(self, program):
        """Run `program` once; an exception names the node that raised
        (link.raise_with_op) and leaves no intermediate value behind, so the
        function stays usable."""
        timed = bool(self.time_thunks)
        try:
            program.run(timed)
        except Exception:
            step = program.position
            self.clear_storage()
            if step < 0:
                raise
            link.raise_with_op(self.nodes[step], self._thunks[step])
        if timed:
            for i, seconds in enumerate(program.step_seconds()):
                self.call_times[i] += seconds
                self.call_counts[i] += 1

    def __call__(self):
        for cell in self.pre_call_clear:
            cell[0] = None
        if not self.recorded:
            if not (self.cached_variants and self._plan_for_first_call()):
                self._record_and_plan()
                return
        if self.storage_actions is None:
            self._run(self._program)
            return
        for cell, shape in self._fixed_shapes:
            if getattr(cell[0], "shape", None) != shape:     # a weight changed shape
                self._classes = None
                self._share(self.plan.translation, self.plan.schedule.order,
                            self.plan.storage.excluded)
                break
        program = self._program
        self._run(program)
        storage = self.plan.storage
        storage.handed, storage.taken = program.handed, program.taken
        new = [self._check_vars[k] for k in program.new]
        if new:     # ops seen writing into a handed array: trusted from now on
            self._verified.update(_sharing.op_key(v) for v in new)
            self.seen_taking.update(type(v.owner.op).__name__ for v in new)
        if program.failed:
            self._stop_sharing_into([self._check_vars[k] for k in program.failed])
        elif new and storage.untried:     # hand-offs they may now be given
            self._share(self.plan.translation, self.plan.schedule.order, storage.excluded)
        if (new or program.failed) and self.cache is not None and self._signature is not None:
            # Later compiles start from what this call learned.
            self._store(self._signature, self._searched)

    def _stop_sharing_into(self, variables):
        """Their ops replaced the array they were handed: plan again
        without them taking cells."""
        storage = self.plan.storage
        excluded = storage.excluded | set(variables)
        self._share(self.plan.translation, self.plan.schedule.order, excluded)
        self.plan.notes.append(
            "storage sharing: stopped handing arrays to the outputs of "
            + ", ".join(sorted({str(v.owner.op) for v in variables}))
            + " (they do not write into a preallocated output)")

    def _share(self, translation, order, excluded=()):
        """Apply a storage plan for `order` (lowmem node ids)."""
        if self._classes is None or not self._fixed_shapes:
            fixed = fixed_inputs(self.fgraph, self.storage_map)
            if self._classes is None:
                self._classes = shape_classes(self.fgraph, translation.variables, fixed)
            self._fixed_shapes = [(self.storage_map[var], np.shape(value))
                                  for var, value in fixed.items()]
        # Kept arrays may spend part of what the order saved against the
        # default C VM's order, never more: LowMemMode stays at or below it.
        sched = self.plan.schedule
        saved = max(0, int(sched.heuristic_peaks.get("dfs", sched.peak)) - int(sched.peak))
        storage = _sharing.plan_sharing(translation, order,
                                        self.plan.cleared,
                                        self._classes, excluded, self._verified,
                                        self.linker.options.keep_bytes,
                                        min(self.linker.options.keep_allowance, saved))
        self.plan.storage = storage
        self.storage_reserves = [[None] for _ in range(storage.kept)]
        self.storage_actions, self.storage_opening = _sharing.bind(
            storage, self.storage_map, self.storage_reserves, self._verified)
        self._build_program()

    def clear_storage(self):
        for cell in self.storage_reserves:
            cell[0] = None
        keep = set(self.fgraph.inputs)
        for var, cell in self.storage_map.items():
            if var.owner is not None and var not in keep:
                cell[0] = None

    # ---------------------------------------------------------- first call
    def _record(self):
        """Run once in the current order; return sizes, shapes, workspace.

        Workspace is the peak of NumPy data a thunk allocates above what it
        leaves allocated, counted by a NEP-49 allocation handler
        (lowmem.theano._allocations): it costs ~15 ns per NumPy allocation, where
        tracemalloc, which traces every Python object, made this call 1-2
        ordinary calls slower. Scratch that an op mallocs outside NumPy is
        not seen (Theano's ops allocate theirs as NumPy arrays)."""
        storage = self.storage_map
        sizes, shapes, workspace, copies, seconds = {}, {}, {}, set(), {}
        for var in storage:
            if var.owner is None:
                sizes[var] = variable_nbytes(var, storage[var][0])
                shapes[var] = getattr(storage[var][0], "shape", None)

        def recording(node, thunk):
            aliased = alias_inputs(node)

            def run():
                before = counter.current
                counter.reset_peak()
                started = time.perf_counter()
                thunk()
                seconds[node] = time.perf_counter() - started
                allocated = 0
                for pos, out in enumerate(node.outputs):
                    value = storage[out][0]
                    sizes[out] = variable_nbytes(out, value)
                    shapes[out] = getattr(value, "shape", None)
                    if pos in aliased:
                        if shares_memory(value, storage[node.inputs[aliased[pos]]][0]):
                            continue
                        copies.add((node, pos))   # declared an alias, but a copy
                    allocated += sizes[out]
                scratch = counter.peak - before - allocated
                if scratch >= WORKSPACE_NOISE_BYTES:
                    workspace[node] = scratch
            return run

        program = _vm.StepProgram([recording(n, t) for n, t in zip(self.nodes, self._thunks)],
                                  self.post_thunk_clear)
        with AllocationCounter() as counter:
            self._run(program)
        return sizes, shapes, workspace, copies, seconds

    def _record_and_plan(self):
        signature = self._input_signature() if self.cache is not None else None
        t0 = time.perf_counter()
        sizes, shapes, workspace, copies, seconds = self._record()
        self.plan_with(sizes, shapes, workspace, True, time.perf_counter() - t0, copies,
                       signature, seconds)

    def search_seconds(self):
        """The scheduler's time limit: the linker's, or with "auto" (None) a
        share of the time Theano took to compile this function."""
        if self.linker.options.time_limit is not None:
            return self.linker.options.time_limit
        return min(AUTO_TIME_MAX, max(AUTO_TIME_MIN, AUTO_TIME_SHARE * self.compile_seconds))

    def plan_with(self, sizes, shapes, workspace, measured, record_seconds, copies=(),
                  signature=None, seconds=None):
        """Schedule with these sizes and run in that order from now on;
        store the plan in the plan cache if `signature` (of the recorded
        inputs) is given and the cache is on. `seconds`: each node's time
        in the recording call, its cost when a memory budget makes some
        nodes run again. On failure, warn and keep Theano's toposort order."""
        t1 = time.perf_counter()
        self.recorded = True
        options = self.linker.options
        try:
            budget = options.memory_budget
            translation = graph_from_fgraph(self.fgraph, sizes, shapes, workspace,
                                            name=options.name or "theano-function",
                                            copies=copies,
                                            costs=seconds if budget is not None else None)
            if budget is None:
                result = scheduler.schedule(translation.graph, time_limit=self.search_seconds(),
                                            memory_limit=options.memory_limit,
                                            tolerance_bytes=options.tolerance_bytes,
                                            tolerance_ratio=options.tolerance_ratio)
            else:
                # Recomputation needs time of its own: twice the search's
                # (lowmem.schedule gives half of it to the best order).
                result = scheduler.schedule(translation.graph,
                                            time_limit=2 * self.search_seconds(),
                                            memory_limit=options.memory_limit,
                                            memory_budget=budget)
        except Exception as e:      # the function still runs, in toposort order
            self.plan_error = f"{type(e).__name__}: {e}"
            warnings.warn(f"lowmem could not schedule this function ({self.plan_error}); "
                          "it runs in Theano's toposort order", stacklevel=3)
            return
        self._adopt(translation, result, record_seconds, measured, set(copies), t1,
                    "recorded" if measured else "examples")
        if signature is not None and self.cache is not None:
            self._signature, self._searched = signature, float(result.stats["seconds"])
            self._store(signature, self._searched)

    def _adopt(self, translation, result, record_seconds, measured, copies, t1, source,
               excluded=()):
        """Run in `result`'s order from now on, with its storage plan
        (`excluded`: variables that must not take a cell)."""
        thunk_of = dict(zip(self.nodes, self.thunks))
        order = [translation.nodes[i] for i in result.order]
        self._set_order(order, [thunk_of[n] for n in order])
        self.plan = Plan(translation, result, order, clear_lists(self.fgraph, order),
                         record_seconds, time.perf_counter() - t1, measured, copies=copies,
                         source=source, cache_key=self.cache_key)
        if result.recompute is not None and result.recompute.reruns:
            self.plan.notes.append("storage not shared: the order runs some nodes again "
                                   "(memory_budget)")
        elif self.linker.options.share_storage:
            try:
                self._share(translation, result.order, set(excluded))
            except Exception as e:      # the order stands; storage is not shared
                self.plan.notes.append(f"storage not shared: {type(e).__name__}: {e}")
                warnings.warn(f"lowmem could not plan storage sharing for this function "
                              f"({type(e).__name__}: {e}); it runs without it", stacklevel=4)
            self.plan.schedule_seconds = time.perf_counter() - t1

    # ---------------------------------------------------------- plan cache
    def _input_signature(self):
        values = [self.storage_map[v][0] for v in self.fgraph.inputs]
        # As it reads back from JSON (tuples become lists), to compare.
        return json.loads(json.dumps(_cache.input_signature(values)))

    def prepare_from_cache(self):
        """At compile time: adopt the newest stored plan whose signature
        agrees with the inputs whose values are known now (shared
        variables), so that the first call only has to check the rest of
        its signature. The translation, storage plan and loop are built
        here, where the compile's own cost dwarfs them, not in that call."""
        known = self._input_signature()
        fits = [e for e in self.cached_variants
                if isinstance(e.get("signature"), list) and len(e["signature"]) == len(known)
                and all(k is None or k == s for k, s in zip(known, e["signature"]))]
        if fits:
            entry = max(fits, key=lambda e: e.get("created", 0.0))
            if self._plan_from_entry(entry):
                self._prepared = entry["signature"]

    def _plan_for_first_call(self):
        """Before the first call: True when a stored plan fits its inputs
        (the one prepared at compile time, or another variant, adopted
        now); False when the call must record and plan."""
        signature = self._input_signature()
        if self._prepared is not None:
            if self._prepared == signature:
                self.recorded = True
                return True
            self._prepared = None       # planned for other inputs: start afresh
        entry = next((e for e in self.cached_variants if e.get("signature") == signature),
                     None)
        if entry is None or not self._plan_from_entry(entry):
            return False
        self.recorded = True
        return True

    def _plan_from_entry(self, entry):
        """Adopt a stored entry's plan; True if it fits this graph (else
        warn and leave the function to record). An unproven order whose
        search ran out of time is searched further from where it stopped
        (CONTINUE_SHARE of the compile time, or the time_limit option),
        and stored again."""
        t1 = time.perf_counter()
        options = self.linker.options
        name = options.name or "theano-function"
        try:
            translation, result, copies, learned = _stored_plans.unpack(
                entry, self.fgraph, self.listing, name)
        except ValueError as e:
            self.cached_variants = [v for v in self.cached_variants if v is not entry]
            warnings.warn(f"lowmem: a cached plan of {name} does not fit it ({e}); "
                          "it is planned again", _cache.PlanCacheWarning, stacklevel=5)
            return False
        searched = float(entry.get("search_seconds", 0.0))
        store = False
        if not result.optimal and result.stats.get("timed_out") \
                and searched < CONTINUE_MAX_SECONDS:
            limit = options.time_limit if options.time_limit is not None \
                else CONTINUE_SHARE * self.compile_seconds
            try:
                result = scheduler.schedule(translation.graph, time_limit=limit,
                                            memory_limit=options.memory_limit,
                                            tolerance_bytes=options.tolerance_bytes,
                                            tolerance_ratio=options.tolerance_ratio,
                                            start_order=result.order)
                searched += result.stats["seconds"]
                store = True
            except Exception as e:      # keep the stored order
                self.plan_error = f"{type(e).__name__}: {e}"
        self._verified.update(_sharing.op_key(v) for v in learned.verified)
        self._classes = learned.classes
        self._signature, self._searched = entry["signature"], searched
        self._adopt(translation, result, 0.0, bool(entry.get("workspace_measured")), copies,
                    t1, "cache", learned.excluded)
        if store:
            self._store(entry["signature"], searched)
        return True

    def _store(self, signature, search_seconds):
        options = self.linker.options
        storage = self.plan.storage
        learned = _stored_plans.Learned(
            verified=[v for v in self.plan.translation.variables
                      if v.owner is not None and _sharing.op_key(v) in self._verified],
            excluded=storage.excluded if storage is not None else set(),
            classes=self._classes)
        entry = _stored_plans.pack(self.plan, signature, options.name or "theano-function",
                                   search_seconds, learned)
        self.cache.store(self.cache_key, entry)


def _plan_from_examples(linker, vm, input_storage):
    """Plan `vm` at compile time from the linker's example inputs; on
    failure warn and leave it to learn sizes on its first call."""
    fgraph = linker.fgraph
    given = linker.options.example_inputs
    t0 = time.perf_counter()
    try:
        if len(given) > len(fgraph.inputs):
            raise ValueError(f"{len(given)} example inputs for a function of "
                             f"{len(fgraph.inputs)} inputs")
        examples = dict(zip(fgraph.inputs, given))
        for var, cell in zip(fgraph.inputs, input_storage):
            if var not in examples and cell[0] is not None:   # shared variables
                examples[var] = cell[0]
        shapes = shapes_from_examples(fgraph, examples)
    except Exception as e:
        warnings.warn(f"lowmem could not size this function from its example inputs "
                      f"({type(e).__name__}: {e}); it will learn sizes on its first call",
                      stacklevel=4)
        return
    vm.plan_with(sizes_from_shapes(shapes), shapes, {}, False, time.perf_counter() - t0)


def _open_cache(linker, vm, order):
    """Give `vm` its plan cache, key and stored entries (none if the graph
    has no stable key, or on any failure: with a warning, uncached)."""
    try:
        key = _cache.function_key(linker.fgraph, order)
        if key is None:
            return
        directory = linker.options.cache_dir or _cache.default_directory()
        vm.cache, vm.cache_key = _cache.PlanCache(directory), key
        vm.cached_variants = vm.cache.load(key)
        if vm.cached_variants:
            vm.prepare_from_cache()
    except Exception as e:
        vm.cache = vm.cache_key = None
        warnings.warn(f"lowmem: the plan cache is off for this function "
                      f"({type(e).__name__}: {e})", stacklevel=5)


class LowMemLinker(VM_Linker):
    """VM_Linker whose VM runs C thunks in lowmem's minimum-peak order.

    Takes a :class:`~lowmem.theano.LowMemOptions` (`options`) and/or its
    fields as keywords (time_limit, memory_limit, tolerance_bytes,
    tolerance_ratio, share_storage, keep_bytes, keep_allowance, name,
    example_inputs, c_thunks, plan_cache, cache_dir; see LowMemOptions); an
    unknown keyword raises
    TypeError. The options are read when the function is planned (on its
    first call, or at compile time with example_inputs).
    """

    def __init__(self, options=None, **option_values):
        options = make_options("LowMemLinker", options, **option_values)
        # Theano's VM_Linker options that would change the VM (cloop, lazy,
        # callbacks) do not apply: this linker always uses its own loop VM.
        super().__init__(allow_gc=True, use_cloop=False, lazy=False, c_thunks=options.c_thunks)
        self.options = options

    def accept(self, fgraph, no_recycling=None, profile=None):
        if self.fgraph is not None and self.fgraph is not fgraph:
            # Another function: a linker of its own with the same options.
            fresh = type(self)(self.options)
            fresh.compile_started = getattr(self, "compile_started", None)
            return fresh.accept(fgraph, no_recycling, profile)
        self.fgraph = fgraph
        self.no_recycling = no_recycling or []
        self.profile = profile
        return self

    def make_all(self, profiler=None, input_storage=None, output_storage=None,
                 storage_map=None):
        if (config.profile or config.print_global_stats) and config.profile_memory:
            # Theano's memory profiler switches every VM to its Stack VM and
            # describes that VM's order; do the same, so its figures mean
            # what they mean elsewhere (lowmem.theano._report describes the
            # lowmem order).
            return VM_Linker.make_all(self, profiler, input_storage, output_storage,
                                      storage_map)
        fgraph = self.fgraph
        order = list(fgraph.toposort())
        input_storage, output_storage, storage_map = link.map_storage(
            fgraph, order, input_storage, output_storage, storage_map)
        compute_map = {var: [var.owner is None] for var in storage_map}
        impl = None if self.c_thunks else "py"
        thunks = []
        self.preallocating = set()
        for node in order:
            try:
                thunk = node.op.make_thunk(node, storage_map, compute_map, [], impl=impl)
            except Exception as e:
                e.args = ("The following error happened while compiling the node", node,
                          "\n") + e.args
                raise
            if self.options.share_storage and not hasattr(thunk, "cthunk"):
                # A Python implementation: use lowmem's, which writes into
                # a preallocated output, if it has one for this op.
                own = preallocating_thunk(node, storage_map, compute_map)
                if own is not None:
                    thunk = own
                    self.preallocating.add((node.op, 0))
            if not hasattr(thunk, "lazy"):
                thunk.lazy = False
            thunk.inputs = [storage_map[v] for v in node.inputs]
            thunk.outputs = [storage_map[v] for v in node.outputs]
            thunks.append(thunk)
        pre_call_clear = [storage_map[v] for v in self.no_recycling]
        vm = LowMemVM(self, fgraph, order, thunks, pre_call_clear, storage_map, compute_map)
        # LowMemMode stamps the start of compilation when Theano fetches its
        # optimizer (just before optimising and copying this linker).
        started = getattr(self, "compile_started", None)
        vm.compile_seconds = time.perf_counter() - started if started else 0.0
        if self.options.example_inputs is not None:
            _plan_from_examples(self, vm, input_storage)
        elif self.options.plan_cache and self.options.memory_budget is None:
            _open_cache(self, vm, order)
        return (vm,
                [link.Container(var, cell) for var, cell in zip(fgraph.inputs, input_storage)],
                [link.Container(var, cell, True)
                 for var, cell in zip(fgraph.outputs, output_storage)],
                thunks, order)
