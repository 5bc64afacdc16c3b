"""A real client: PyMC (issue 12). lowmem.pytensor.LowMemMode as the compile
mode of two real PyMC models' log-density and gradient, and of a short NUTS
run.

PyMC 6.4.0's API used: ``model.compile_logp(mode=...)`` and
``model.compile_dlogp(mode=...)`` (point-dict functions: PointFunc, the
PyTensor Function is its ``.f``); ``model.logp_dlogp_function(
ravel_inputs=True, mode=...)`` (what NUTS calls: one function giving logp and
its gradient, the PyTensor Function is ``._pytensor_function``); and
``pm.sample(..., compile_kwargs={"mode": LowMemMode()})``. pymc.compile
rebuilds the mode as ``Mode(linker=mode.linker, optimizer=...)``, so it keeps
LowMemMode's linker (the lowmem planning) and adds PyMC's own rewrites.

About exactness. LowMemMode(backend="numba") runs the same rewrites as the
default (Numba) mode, so both compile the same graph; only the order of the
statements in the generated function differs. With PyTensor's default
``numba__fastmath=True`` the functions are compiled with LLVM's "reassoc"
flag, and LLVM may then associate the scalar sums of the final Composite
(logp = sum of the terms) differently when the statements come in another
order: here each model's logp differs from the default mode's by one unit
in the last place at one of the four test points (the gradients are equal). That is the order's doing, not
lowmem's: PyTensor's own NumbaLinker given lowmem's order gives LowMemMode's
values bit for bit, and with ``numba__fastmath=False`` LowMemMode and the
default mode agree bit for bit. The tests check exactly that (and allow
the default-mode comparison a relative 1e-12 only under fastmath). NUTS
amplifies such last-place differences (as it does fastmath's own: the
draws with and without fastmath differ from the first draw on), so the
sampling tests ask for the default mode's draws bit for bit without
fastmath, and under fastmath for the draws of PyTensor's own linker in
lowmem's order.

``python tests_pytensor/test_pymc.py [--gp]`` prints the peaks of each
model's logp, dlogp and logp+gradient functions: modelled (plan.peak vs
plan.listed_peak, bytes) and measured in LowMemMode and in PyTensor's
default Numba mode (lowmem.pytensor.measure_call); --gp adds a Gaussian-process model, whose n x n
matrices make lowmem's order matter, but whose first Numba compile (Cholesky,
triangular solves and their gradients) takes minutes, so it is not in the
default test run (LOWMEM_PYMC_GP=1 runs its test).
"""

import os
import sys
import time
import warnings

import numpy as np
import pytest

pm = pytest.importorskip("pymc")

import pytensor  # noqa: E402
from pymc.blocking import DictToArrayBijection  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402
from pytensor.link.numba.linker import NumbaLinker  # noqa: E402

import lowmem.pytensor as lp  # noqa: E402
from checks import check_plan  # noqa: E402
from lowmem.pytensor import _linker  # noqa: E402

# lowmem must plan every function here: a LowMemWarning (PyTensor's order
# kept) is a failure.
pytestmark = pytest.mark.filterwarnings("error::lowmem.pytensor.LowMemWarning")


# ---------------------------------------------------------------- models

def hierarchical_regression(n_rows=2000, n_groups=20, seed=1):
    """Varying intercepts and slopes (non-centred, normal hyperpriors,
    half-normal scales), 2,000 observations in 20 groups."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n_rows)
    x = rng.standard_normal(n_rows)
    a = rng.normal(1.0, 0.5, n_groups)
    b = rng.normal(-0.5, 0.3, n_groups)
    y = a[group] + b[group] * x + rng.normal(0, 0.4, n_rows)
    with pm.Model() as model:
        mu_a = pm.Normal("mu_a", 0, 5)
        sigma_a = pm.HalfNormal("sigma_a", 1)
        mu_b = pm.Normal("mu_b", 0, 5)
        sigma_b = pm.HalfNormal("sigma_b", 1)
        z_a = pm.Normal("z_a", 0, 1, shape=n_groups)
        z_b = pm.Normal("z_b", 0, 1, shape=n_groups)
        a = pm.Deterministic("a", mu_a + sigma_a * z_a)
        b = pm.Deterministic("b", mu_b + sigma_b * z_b)
        sigma = pm.HalfNormal("sigma", 1)
        pm.Normal("y", a[group] + b[group] * x, sigma, observed=y)
    return model


def stochastic_volatility(n_steps=400, seed=2):
    """Returns with an AR(1) mean and Student-t noise whose log-volatility is
    a latent Gaussian random walk (non-centred: the cumulative sum of 400
    standard-normal steps)."""
    rng = np.random.default_rng(seed)
    log_vol = np.cumsum(rng.normal(0, 0.1, n_steps)) - 1.0
    r = np.zeros(n_steps + 1)
    for t in range(n_steps):
        r[t + 1] = 0.3 * r[t] + np.exp(log_vol[t]) * rng.standard_t(6)
    with pm.Model() as model:
        rho = pm.Normal("rho", 0, 0.5)
        mu = pm.Normal("mu", 0, 0.1)
        step_size = pm.HalfNormal("step_size", 0.2)
        nu = pm.Exponential("nu", 0.1)
        steps = pm.Normal("steps", 0, 1, shape=n_steps)
        log_vol = pm.Deterministic("log_vol", pm.math.cumsum(step_size * steps) - 1.0)
        pm.StudentT("r", nu=nu, mu=mu + rho * r[:-1], sigma=pm.math.exp(log_vol),
                    observed=r[1:])
    return model


def gaussian_process(n_points=150, seed=3):
    """A marginal GP (ExpQuad kernel, 150 points): not in the default run
    (its first Numba compile takes minutes)."""
    rng = np.random.default_rng(seed)
    X = np.linspace(0, 10, n_points)[:, None]
    y = np.sin(X[:, 0]) + rng.normal(0, 0.3, n_points)
    with pm.Model() as model:
        ell = pm.Gamma("ell", 2, 1)
        eta = pm.HalfNormal("eta", 1)
        gp = pm.gp.Marginal(cov_func=eta**2 * pm.gp.cov.ExpQuad(1, ls=ell))
        sigma = pm.HalfNormal("sigma", 1)
        gp.marginal_likelihood("y", X=X, y=y, sigma=sigma)
    return model


MODELS = {"hierarchical": hierarchical_regression, "volatility": stochastic_volatility}
ALL_MODELS = {**MODELS, "gp": gaussian_process}


def test_points(model, n=4, seed=0):
    """The initial point and n-1 points around it (point dicts)."""
    start = model.initial_point()
    rng = np.random.default_rng(seed)
    return [start] + [{k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in start.items()}
                      for _ in range(n - 1)]


test_points.__test__ = False        # (a helper, not a test)


def raveled(model, point):
    """A point dict as the raveled vector logp_dlogp_function takes."""
    return DictToArrayBijection.map(
        {v.name: point[v.name] for v in model.continuous_value_vars}).data


# ---------------------------------------------------------------- compiling

KINDS = {"compile_logp/compile_dlogp": ("logp", "dlogp"),
         "logp_dlogp_function": ("logp_dlogp",)}


def compile_one(model, kind, mode):
    """(PyTensor Function, evaluate(point dict) -> list of arrays)."""
    if kind == "logp_dlogp":
        vg = model.logp_dlogp_function(ravel_inputs=True, mode=mode)
        return (vg._pytensor_function,
                lambda p: [np.asarray(v) for v in vg(raveled(model, p))])
    pf = (model.compile_logp if kind == "logp" else model.compile_dlogp)(mode=mode)
    return pf.f, lambda p: [np.asarray(pf(p))]


def compile_pair(model, api, mode):
    """[(PyTensor Function, evaluate)] for one API: logp and dlogp, or the
    one logp+gradient function."""
    return [compile_one(model, kind, mode) for kind in KINDS[api]]


def pytensor_in_order(planned, used=None):
    """A Mode with PyTensor's own NumbaLinker that runs each graph lowmem
    planned ([(fgraph, plan)]; recognised by its nodes) in the order lowmem
    chose, and any other graph in PyTensor's order. `used` (a list) gets
    True/False per graph linked: planned or not."""
    chosen = {}
    for fgraph, plan in planned:
        topo = fgraph.toposort()
        position = {node: i for i, node in enumerate(topo)}
        chosen[tuple(map(str, topo))] = [position[node] for node in plan.order]

    def schedule(fgraph):
        nodes = fgraph.toposort()
        order = chosen.get(tuple(map(str, nodes)))
        if used is not None:
            used.append(order is not None)
        return nodes if order is None else [nodes[i] for i in order]

    return Mode(linker=NumbaLinker(schedule=schedule))




# ---------------------------------------------------------------- tests

APIS = ["compile_logp/compile_dlogp", "logp_dlogp_function"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name", MODELS)
def test_logp_and_gradient_as_default_mode(name, api):
    model = MODELS[name]()
    points = test_points(model)
    default = compile_pair(model, api, None)
    lowmem_ = compile_pair(model, api, lp.LowMemMode())
    for kind, (f_default, run_default), (f_lowmem, run_lowmem) in zip(
            KINDS[api], default, lowmem_, strict=True):
        got = [run_lowmem(p) for p in points]           # first call: record, plan, link
        plan = check_plan(f_lowmem)
        want = [run_default(p) for p in points]
        # PyTensor's own Numba linker in lowmem's order: bit for bit.
        used = []
        _, run_same_order = compile_one(
            model, kind, pytensor_in_order([(f_lowmem.maker.fgraph, plan)], used))
        assert used == [True]
        same_order = [run_same_order(p) for p in points]
        for g, w, s in zip(got, want, same_order, strict=True):
            for gv, wv, sv in zip(g, w, s, strict=True):
                assert np.all(np.isfinite(gv))
                assert np.array_equal(gv, sv)
                # The default order under fastmath's reassoc: equal, or a
                # few units in the last place away (see the module's notes).
                np.testing.assert_allclose(gv, wv, rtol=1e-12, atol=0)
        assert len(plan.order) == len(f_default.maker.fgraph.apply_nodes)


@pytest.mark.parametrize("name", MODELS)
def test_bit_for_bit_without_fastmath(name):
    """Without fastmath, the order cannot change a bit of logp or gradient."""
    model = MODELS[name]()
    points = test_points(model)
    with pytensor.config.change_flags(numba__fastmath=False):
        (_, run_default), = compile_pair(model, "logp_dlogp_function", None)
        (f_lowmem, run_lowmem), = compile_pair(model, "logp_dlogp_function", lp.LowMemMode())
        got = [run_lowmem(p) for p in points]
        want = [run_default(p) for p in points]
    check_plan(f_lowmem)
    for g, w in zip(got, want, strict=True):
        for gv, wv in zip(g, w, strict=True):
            assert np.array_equal(gv, wv)


@pytest.fixture
def plans(monkeypatch):
    """Every plan the LowMemMode functions make while the test runs."""
    made = []
    plan = _linker._LowMemLinking._plan

    def spy(self, vm, input_storage):
        order = plan(self, vm, input_storage)
        made.append((self.fgraph, vm.plan))
        return order

    monkeypatch.setattr(_linker._LowMemLinking, "_plan", spy)
    return made


def sample(model, mode):
    kwargs = {} if mode is None else {"compile_kwargs": {"mode": mode}}
    with model:
        return pm.sample(tune=50, draws=50, chains=1, cores=1, random_seed=20240612,
                         nuts_sampler="pymc", compute_convergence_checks=False,
                         progressbar=False, **kwargs)


def same_draws(a, b):
    assert set(a.posterior.data_vars) == set(b.posterior.data_vars)
    for var in a.posterior.data_vars:
        assert np.array_equal(a.posterior[var].values, b.posterior[var].values), var
    for stat in ("lp", "tree_depth", "diverging", "step_size", "acceptance_rate"):
        assert np.array_equal(a.sample_stats[stat].values, b.sample_stats[stat].values), stat


def check_sampling_plans(plans):
    """Every function pm.sample compiled with LowMemMode was planned, the
    logp+gradient function (outputs: logp, gradient) among them."""
    assert plans and all(plan is not None for _, plan in plans)
    assert any(len(fgraph.outputs) == 2 and fgraph.outputs[0].ndim == 0
               and fgraph.outputs[1].ndim == 1 for fgraph, _ in plans)
    for _, plan in plans:
        assert plan.schedule.peak <= plan.schedule.default_peak


@pytest.mark.parametrize("name", MODELS)
def test_sampling_same_draws_without_fastmath(name, plans):
    """NUTS with LowMemMode: the default mode's draws, bit for bit (without
    fastmath, so that the order cannot change a bit; see the module's notes)."""
    model = MODELS[name]()
    with pytensor.config.change_flags(numba__fastmath=False):
        default = sample(model, None)
        assert not plans
        lowmem_ = sample(model, lp.LowMemMode())
    check_sampling_plans(plans)
    same_draws(default, lowmem_)


@pytest.mark.parametrize("name", MODELS)
def test_sampling_under_fastmath_is_pytensor_in_lowmem_order(name, plans):
    """Under fastmath NUTS amplifies the last-place differences the order
    makes (as it does those of fastmath itself), so the draws need not be the
    default order's; they are, bit for bit, those of PyTensor's own Numba
    linker running the same graphs in lowmem's order."""
    model = MODELS[name]()
    lowmem_ = sample(model, lp.LowMemMode())
    check_sampling_plans(plans)
    planned, used = list(plans), []
    same_order = sample(model, pytensor_in_order(planned, used))
    assert sum(used) == len(planned)        # each planned graph run in lowmem's order
    same_draws(lowmem_, same_order)


@pytest.mark.skipif(not os.environ.get("LOWMEM_PYMC_GP"),
                    reason="minutes of first Numba compile; LOWMEM_PYMC_GP=1 runs it")
def test_gaussian_process_as_default_mode():
    model = gaussian_process()
    points = test_points(model, seed=1)
    (_, run_default), = compile_pair(model, "logp_dlogp_function", None)
    (f_lowmem, run_lowmem), = compile_pair(model, "logp_dlogp_function", lp.LowMemMode())
    got = [run_lowmem(p) for p in points]
    check_plan(f_lowmem)
    for g, w in zip(got, [run_default(p) for p in points], strict=True):
        for gv, wv in zip(g, w, strict=True):
            np.testing.assert_allclose(gv, wv, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- report

def peaks(names=tuple(MODELS), repeats=3):
    """{model: {function: (plan.peak, plan.listed_peak, measured LowMemMode,
    measured default, nodes, record seconds, schedule seconds)}} for each
    model's compile_logp, compile_dlogp and logp_dlogp_function, planned
    at the model's initial point; measured: lowmem.pytensor.measure_call
    at that point, the median of `repeats` calls, in LowMemMode and in
    PyTensor's default Numba mode."""
    from lowmem.pytensor._measure import measure_call

    def measured(run, point):
        run(point)
        return sorted(measure_call(run, point)[0] for _ in range(repeats))[repeats // 2]

    out = {}
    for name in names:
        model = ALL_MODELS[name]()
        point = model.initial_point()
        rows = {}
        for kind in ("logp", "dlogp", "logp_dlogp"):
            f, run = compile_one(model, kind, lp.LowMemMode())
            run(point)
            plan = lp.plan(f)
            _, run_default = compile_one(model, kind, Mode(linker=NumbaLinker()))
            rows[kind] = (plan.peak, plan.listed_peak, measured(run, point),
                          measured(run_default, point), len(plan.order),
                          plan.record_seconds, plan.schedule_seconds)
        out[name] = rows
    return out


def main(argv):
    from lowmem.pytensor._measure import _fix_malloc
    _fix_malloc()           # before anything is built (see benchmarks/run_pytensor.py)
    names = tuple(MODELS) + (("gp",) if "--gp" in argv else ())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", lp.LowMemWarning)
        rows = peaks(names)
    print("peaks in bytes: modelled (lowmem.peak of the order run, and of PyTensor's "
          "order) and measured (resident-set high-water mark over a call, median of 3; "
          "a few KiB coarse)")
    print(f"{'model':<13} {'function':<12} {'model':>10} {'model,':>10} {'measured':>10} "
          f"{'measured,':>10} {'nodes':>5} {'record s':>8} {'sched s':>7}")
    print(f"{'':<13} {'':<12} {'lowmem':>10} {'default':>10} {'lowmem':>10} "
          f"{'default':>10}")
    for name, by_kind in rows.items():
        for kind, (peak, listed, got, got_default, n, rec, sch) in by_kind.items():
            print(f"{name:<13} {kind:<12} {peak:>10,} {listed:>10,} {got:>10,} "
                  f"{got_default:>10,} {n:>5} {rec:>8.3f} {sch:>7.3f}")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
