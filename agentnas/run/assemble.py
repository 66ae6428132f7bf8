"""Wire a discovery run on a real task: sandbox evaluators, value model, researcher, loop.

Everything with a side effect is built here and injected into `Loop`, so tests can run
the same loop with a fast task and a scripted researcher.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentnas.agents.offline import OfflineAnalyst
from agentnas.agents.services import Analyst, Engineer, Researcher, Services
from agentnas.config import AgentnasConfig
from agentnas.journal import Journal, JournalError, open_journal
from agentnas.journal.tree import RunTree
from agentnas.records import COST_METRICS, Metric
from agentnas.run.expansion import Hypothesiser, ValueGate, code_loop
from agentnas.run.loop import Loop
from agentnas.run.progress import Progress, StagedHypothesiser, staged
from agentnas.run.record import Recorder, RunIndex
from agentnas.run.roles import SandboxChecker, SandboxTrainer, ValueScorer
from agentnas.run.service import ValueService, checkpointer, resolve, run_lock
from agentnas.run.settings import RunError, RunOptions, describe_changes, entries_under, record_settings, remove_new
from agentnas.run.warmstart import KEY as WARM_KEY
from agentnas.run.warmstart import snapshot, warm_start
from agentnas.search.budget import Budget
from agentnas.search.fidelity import Halving
from agentnas.search.policy import RunPolicy
from agentnas.search.run_front import ParetoRunPolicy, RunFront
from agentnas.search.selection import PuctParams
from agentnas.steering.inbox import read_inbox
from agentnas.value.zeroshot import ZeroShotPredictor


@dataclass(frozen=True)
class Agents:
    """The agent roles of a run: offline grammar or LLM-backed."""

    researcher: Researcher
    hypothesiser: Hypothesiser
    engineer: Engineer | None
    analyst: Analyst


AgentsFactory = Callable[[RunOptions, Any, Journal], Agents]
TIME_CUT = "time-spent-"  # event key prefix: the time budget ran out inside this iteration (+ its number)


def evaluator_options(cfg: AgentnasConfig, options: RunOptions, check: bool, epochs: int | None = None) -> Any:
    from agentnas.evaluator import EvalOptions

    common: dict[str, Any] = {"timeout_s": options.timeout_s or cfg.timeout_s, "memory_limit_gb": cfg.memory_limit_gb,
                              "file_size_limit_mb": cfg.file_size_limit_mb, "isolation": cfg.isolation,
                              "allow_unsafe": cfg.unsafe_no_isolation}
    if check:  # build, shape, params and the ONNX export: one CPU slot, no training
        from agentnas.run.costs import wants_torch_latency

        return EvalOptions(check_only=True, require_export=True, slots=1, device="cpu",
                           max_params=options.max_params,
                           export_torchscript=wants_torch_latency(cfg.costs, options), **common)
    return EvalOptions(epochs=epochs or options.epochs or cfg.epochs, seed=cfg.seed, slots=cfg.slots,
                       device=options.device or cfg.device, export_onnx=False, **common)


@contextmanager
def open_run(options: RunOptions, cfg: AgentnasConfig, agents_factory: AgentsFactory,
             on_iteration: Callable[[RunTree], None] | None = None,
             approver: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
             notify: Callable[[str], None] | None = None, allow_change: bool = False,
             progress: Progress | None = None) -> Iterator[Loop[RunTree]]:
    """Lock the run directory, open the journal and the sandboxes, and yield the loop.

    Everything that can fail (the task, the value model, the memory, the LLM endpoint, the
    sandboxes, the warm start) is opened before the run's settings are recorded, and a
    first start that fails removes what it created: a failed start pins nothing for the
    next one in the same directory."""
    run_dir = options.run_dir
    before = entries_under(run_dir)
    first = failed = False

    def undo() -> None:
        if failed and first:
            remove_new(run_dir, before)

    with ExitStack() as stack:
        stack.enter_context(run_lock(run_dir))
        stack.callback(undo)  # after everything opened below is closed, before the lock is released
        try:
            try:
                journal = stack.enter_context(open_journal(run_dir))
            except JournalError as e:
                raise RunError(str(e)) from e
            first = journal.get("run", "config") is None and journal.count("iteration") == 0
            options, changed = resolve(journal, options, allow_change)
            loop = _assemble(stack, journal, options, cfg, agents_factory, on_iteration, approver, notify,
                             progress)
            record_settings(journal, options.model_dump(mode="json"), changed)
        except BaseException:
            failed = True
            raise
        if changed and notify is not None:
            notify(f"settings changed from iteration {journal.count('iteration')} on: {describe_changes(changed)}")
        yield loop


def _assemble(stack: ExitStack, journal: Journal, options: RunOptions, cfg: AgentnasConfig,
              agents_factory: AgentsFactory, on_iteration: Callable[[RunTree], None] | None,
              approver: Callable[[dict[str, Any]], dict[str, Any]] | None, notify: Callable[[str], None] | None,
              progress: Progress | None) -> Loop[RunTree]:
    from agentnas.evaluator import ExecutorError, open_executor
    from agentnas.tasks import TaskError, get_task

    run_dir = options.run_dir
    try:
        task = get_task(options.task)
    except TaskError as e:
        raise RunError(str(e)) from e
    value = ValueService(load_prior(options.value_model), task.spec.metric)
    rid = run_id(journal)
    memory = open_memory_link(options, cfg, rid)
    if memory is not None:
        stack.callback(memory.store.close)
    agents = agents_factory(options, task, journal)  # an LLM endpoint is checked here
    out = run_dir / "sandbox-out"

    def executor(eval_options: Any, name: str) -> Any:
        # local: the sandbox pool of this machine; ray: the same sandbox on the cluster's nodes
        try:
            return stack.enter_context(open_executor(options.executor, task, eval_options,
                                                     cache_dir=cfg.cache_dir, out_dir=out / name,
                                                     ray_address=options.ray_address))
        except ExecutorError as e:
            raise RunError(str(e)) from e

    costs = run_cost_check(cfg, options)
    checker_eval = executor(evaluator_options(cfg, options, True), "check")
    train_eval = executor(evaluator_options(cfg, options, False), "train")
    short_eval = None
    if options.fidelity_epochs is not None:
        short_eval = executor(evaluator_options(cfg, options, False, options.fidelity_epochs), "short")
    limited: dict[tuple[str, float], Any] = {}

    def time_limited(fidelity: str, seconds: float) -> Any:
        # The user's training-time limit: evaluators with that wall-clock limit, made once per limit.
        if (fidelity, seconds) not in limited:
            epochs = options.fidelity_epochs if fidelity == "low" else None
            o = evaluator_options(cfg, options, False, epochs)
            limited[fidelity, seconds] = executor(o.model_copy(update={"timeout_s": min(o.timeout_s, seconds)}),
                                                  f"{'short' if fidelity == 'low' else 'train'}-{seconds:g}s")
        return limited[fidelity, seconds]

    frozen = journal.get("run", WARM_KEY) is not None
    if options.from_memory or frozen:  # a resume keeps its warm start
        if memory is None and not frozen:
            raise RunError("--from-memory needs the experiment memory (drop --memory none)")
        warm = warm_start(journal, lambda: snapshot(memory.store, options.task, rid, checker_eval,
                                                    run_dir / "warmstart", notify=notify))
        for w in warm.experiments:  # real results of this task, learned before the run's own
            value.observe(f"memory:{w.id}", options.task, w.features, w.val_accuracy)
        if notify is not None:
            notify(f"warm start from memory: {len(warm.experiments)} experiments for the value model "
                   f"({warm.skipped} no longer build), {len(warm.hypotheses)} hypotheses queued")
    if memory is not None and hasattr(agents.researcher, "retrieve"):
        from agentnas.run.record import journaled_retrieval

        agents.researcher.retrieve = journaled_retrieval(journal, memory.retrieve)
    root = run_dir / "candidates"
    index = RunIndex(journal)
    budget = Budget(evals=options.budget_evals, seconds=options.budget_time_s, max_idle_steps=PATIENCE)
    policy = run_policy(options)
    metric = task.spec.metric
    full_epochs = options.epochs or cfg.epochs or task.spec.recipe.epochs
    low_fraction = options.fidelity_epochs / full_epochs if options.fidelity_epochs else None

    def remaining() -> int | None:
        return budget.left(journal.count("experiment"))

    def grantable() -> int | None:
        # The time budget is checked inside an expansion too: once it is spent, the gate grants
        # no new training (trainings already started run to their end). Journaled, so a replay
        # grants the same nothing.
        if budget.seconds is not None and time.monotonic() - budget.started >= budget.seconds:
            journal.append("event", f"{TIME_CUT}{journal.count('iteration')}",
                           {"kind": "time_budget_spent", "iteration": journal.count("iteration")})
            return 0
        return remaining()

    def services_for(recorder: Recorder) -> Services:
        if memory is not None:
            recorder.on_record = memory.record

        def on_result(c: Any, result: Any, ctx: Any, fidelity: str = "full") -> Any:
            done = recorder.experiment(c, result, ctx, fidelity)
            if progress is not None:
                progress.result(done, fidelity)
            return done

        services = Services(
            researcher=agents.researcher, engineer=agents.engineer, analyst=agents.analyst,
            checker=SandboxChecker(checker_eval, root, options.max_params, costs=costs),
            scorer=ValueScorer(value.predict, index.judge(memory.judge if memory else None)),
            gate=value_gate(options, policy, grantable, journal, metric),
            trainer=SandboxTrainer(train_eval, root, recorder.lookup, on_result, short=short_eval,
                                   halving=Halving.keeping(min(low_fraction or 0.5, 1.0), options.keep),
                                   metric=metric, remaining=remaining, time_limited=time_limited),
            recorder=recorder, approval=options.approve, known=index.codes)
        return staged(services, progress) if progress is not None else services

    def before_step(tree: RunTree, iteration: int) -> None:
        if progress is not None:
            progress.started(iteration)
        value.sync(tree, options.task, iteration)

    saver = checkpointer(run_dir)
    stack.callback(saver.conn.close)
    hypothesiser = agents.hypothesiser if progress is None else StagedHypothesiser(agents.hypothesiser, progress)
    return code_loop(journal, services_for, hypothesiser, task=options.task, seed=options.seed, k=options.k,
                     budget=budget, policy=policy, max_params=options.max_params, checkpointer=saver,
                     on_iteration=on_iteration, before_step=before_step, graceful=graceful_stops(),
                     inbox=lambda: read_inbox(run_dir), approver=approver, metric=metric, low_fraction=low_fraction)


def run_cost_check(cfg: AgentnasConfig, options: RunOptions) -> Any:
    """The run's cost check (agentnas.run.costs); latency runs under the evaluator's isolation."""
    from agentnas.evaluator import IsolationUnavailable, get_isolation
    from agentnas.run.costs import cost_check

    try:
        isolation = get_isolation(cfg.isolation, cfg.unsafe_no_isolation)
    except IsolationUnavailable as e:
        raise RunError(str(e)) from e
    from agentnas.evaluator.evaluator import resolve_device

    return cost_check(cfg.costs, options, isolation, resolve_device(options.device or cfg.device))


PATIENCE = 25  # iterations in a row that trained nothing before a code-level run gives up


def run_front(options: RunOptions) -> RunFront | None:
    """The trade-off a run optimises: its first cost objective against the score (None: the score alone)."""
    costs = [o for o in options.objectives or () if o in COST_METRICS]
    return RunFront(cost=costs[0]) if costs else None


def run_policy(options: RunOptions) -> RunPolicy:
    """The selection of a code-level run (replay builds the same): by the score, or with a cost
    objective by hypervolume over the run's front (search.run_front)."""
    puct = PuctParams(c_puct=1.0, beta=options.beta)
    front = run_front(options)
    return RunPolicy(puct=puct) if front is None else ParetoRunPolicy(puct=puct, front=front)


def value_gate(options: RunOptions, policy: RunPolicy, grantable: Callable[[], int | None], journal: Journal,
               metric: Metric) -> ValueGate:
    """The gate of an expansion: the policy's selection rule and β schedule over the run's results
    (with a cost objective: the children's expected hypervolume improvement)."""
    return ValueGate(options.train_per_expansion, policy.puct, grantable,
                     full_results=lambda: len(RunTree.from_journal(journal, metric).search.full_results()),
                     metric=metric, front=run_front(options),
                     tree=lambda: RunTree.from_journal(journal, metric))


def run_id(journal: Journal) -> str:
    """A unique id for the run, made once and kept in the journal (memory records carry it)."""
    import uuid

    entry = journal.get("run", "id")
    if entry is None:
        entry = journal.append("run", "id", {"id": uuid.uuid4().hex[:12]})
    return str(entry.payload["id"])


def open_memory_link(options: RunOptions, cfg: AgentnasConfig, rid: str) -> Any:
    """The experiment memory of the run (default: the shared store under the cache folder),
    or None with `--memory none`. A store held by another process for longer than the wait is a clear error."""
    if options.memory == "none":
        return None
    from agentnas.memory import MemoryStoreError, open_memory
    from agentnas.run.memory_link import MemoryLink

    try:
        store = open_memory(options.memory, cache_dir=cfg.cache_dir)
    except MemoryStoreError as e:
        raise RunError(str(e)) from e
    except ValueError as e:  # e.g. a URL the parser refuses
        raise RunError(f"--memory {options.memory!r}: {e}") from e
    return MemoryLink(store, options.task, rid, cfg.cache_dir)


def load_prior(spec: str | None) -> ZeroShotPredictor | None:
    """The zero-shot prior: the shipped head, a given file, or none ("none")."""
    if spec == "none":
        return None
    try:
        return ZeroShotPredictor.load(Path(spec) if spec else None)
    except (FileNotFoundError, OSError, RuntimeError, KeyError, ValueError) as e:
        raise RunError(f"cannot load the value model {spec or '(shipped)'}: {e}") from e


def graceful_stops() -> tuple[type[Exception], ...]:
    from agentnas.llm.errors import BudgetExceeded, EndpointDown

    return (BudgetExceeded, EndpointDown)


def offline_agents(options: RunOptions, task: Any, journal: Journal) -> Agents:
    from agentnas.agents.offline import OfflineResearcher

    researcher = OfflineResearcher(tuple(task.spec.input_shape), task.spec.num_classes, options.max_params,
                                   options.max_macs, tokens=task.spec.kind == "causal_lm")
    return Agents(researcher=researcher, hypothesiser=researcher, engineer=None, analyst=OfflineAnalyst())


def llm_agents(options: RunOptions, task: Any, journal: Journal, env: dict[str, str] | None = None,
               settings: dict[str, Any] | None = None, notify: Callable[[str], None] | None = None) -> Agents:
    """Researcher, engineer and analyst on the configured endpoint. The endpoint is checked
    now, so an unreachable one fails fast with a clear message instead of hanging later."""
    import os

    from agentnas.llm import Ledger, LLMCall, LLMClient, LLMConfig, LLMError
    from agentnas.run.record import JournalCassette, journal_calls

    try:
        config = LLMConfig.resolve(base_url=options.llm_base_url, model=options.llm_model,
                                   env=dict(os.environ) if env is None else env, settings=settings)
        history = [LLMCall.model_validate(e.payload) for e in journal.entries("llm_call")]
        ledger = Ledger(config.prices, config.caps, history=history, on_call=journal_calls(journal))
        client = LLMClient(config, cassette=JournalCassette(journal), mode="auto", ledger=ledger, notify=notify)
        report = client.check()
        if report.missing_models and notify is not None:
            notify(f"warning: the server lists no model named {', '.join(report.missing_models)} (it lists "
                   f"{', '.join(report.models[:8]) or 'none'}); the first call will tell whether it accepts the name")
        if journal.get("run", "llm") is None:  # what replay needs to rebuild the same requests; no key
            journal.append("run", "llm", config.public_dict())
    except LLMError as e:
        raise RunError(str(e)) from e
    return llm_roles(client, options, task, journal)


def llm_roles(client: Any, options: RunOptions, task: Any, journal: Journal) -> Agents:
    """The LLM-backed roles over `client` (live, or serving a replay), with the run's call budget."""
    from agentnas.agents.economy import CallBudget
    from agentnas.agents.llm_agents import LLMAnalyst, LLMEngineer, LLMResearcher
    from agentnas.agents.offline import OfflineResearcher

    spec = task.spec

    def lookahead() -> int:
        # what the next expansion can still add: its grants, within the evaluation budget
        if options.budget_evals is None:
            return options.train_per_expansion
        return max(0, min(options.train_per_expansion, options.budget_evals - journal.count("experiment")))

    budget = CallBudget(client.ledger, client.config.max_calls_per_eval, lambda: journal.count("experiment"),
                        lookahead)
    fallback = OfflineResearcher(tuple(spec.input_shape), spec.num_classes, options.max_params, options.max_macs,
                                 tokens=spec.kind == "causal_lm")
    researcher = LLMResearcher(client, spec, fallback, budget=budget,
                               recombine_chars=client.config.recombine_chars)
    return Agents(researcher=researcher, hypothesiser=researcher, engineer=LLMEngineer(client, spec, budget=budget),
                  analyst=LLMAnalyst(client, spec, budget=budget))
