"""Wire a discovery run on a real task: sandbox evaluators, value model, researcher, loop.

Everything with a side effect is built here and injected into `Loop`, so tests can run
the same loop with a fast task and a scripted researcher.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentnas.agents.roles import OfflineAnalyst, SandboxChecker, SandboxTrainer, ValueScorer
from agentnas.agents.services import Analyst, Engineer, Researcher, Services
from agentnas.config import AgentnasConfig
from agentnas.journal import Journal, open_journal
from agentnas.search.loop import Budget, Hypothesiser, Loop, Recorder, ValueGate, run_novelty
from agentnas.search.run import RunError, RunOptions, ValueService, check_identity, checkpointer, run_lock
from agentnas.search.runtree import Policy, RunTree
from agentnas.search.warmstart import KEY as WARM_KEY
from agentnas.search.warmstart import snapshot, warm_start
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


def evaluator_options(cfg: AgentnasConfig, options: RunOptions, check: bool, epochs: int | None = None) -> Any:
    from agentnas.evaluator import EvalOptions

    common: dict[str, Any] = {"timeout_s": cfg.timeout_s, "memory_limit_gb": cfg.memory_limit_gb,
                              "file_size_limit_mb": cfg.file_size_limit_mb, "isolation": cfg.isolation,
                              "allow_unsafe": cfg.unsafe_no_isolation}
    if check:  # build, shape, params and the ONNX export: one CPU slot, no training
        return EvalOptions(check_only=True, require_export=True, slots=1, device="cpu",
                           max_params=options.max_params, **common)
    return EvalOptions(epochs=epochs or options.epochs or cfg.epochs, seed=cfg.seed, slots=cfg.slots, device=cfg.device,
                       export_onnx=False, **common)


@contextmanager
def open_run(options: RunOptions, cfg: AgentnasConfig, agents_factory: AgentsFactory,
             on_iteration: Callable[[RunTree], None] | None = None,
             approver: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
             notify: Callable[[str], None] | None = None) -> Iterator[Loop]:
    """Lock the run directory, open the journal and the sandboxes, and yield the loop."""
    from agentnas.evaluator import ExecutorError, open_executor
    from agentnas.tasks import get_task

    run_dir = options.run_dir
    with ExitStack() as stack:
        stack.enter_context(run_lock(run_dir))
        journal = stack.enter_context(open_journal(run_dir))
        check_identity(journal, options)
        task = get_task(options.task)
        out = run_dir / "sandbox-out"
        def executor(eval_options: Any, name: str) -> Any:
            # local: the sandbox pool of this machine; ray: the same sandbox on the cluster's nodes
            try:
                return stack.enter_context(open_executor(options.executor, task, eval_options,
                                                         cache_dir=cfg.cache_dir, out_dir=out / name,
                                                         ray_address=options.ray_address))
            except ExecutorError as e:
                raise RunError(str(e)) from e

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

        value = ValueService(load_prior(options.value_model))
        memory = open_memory_link(options, cfg, run_id(journal))
        if memory is not None:
            stack.callback(memory.store.close)
        frozen = journal.get("run", WARM_KEY) is not None
        if options.from_memory or frozen:  # a resume keeps its warm start
            if memory is None and not frozen:
                raise RunError("--from-memory needs the experiment memory (drop --memory none)")
            warm = warm_start(journal, lambda: snapshot(memory.store, options.task, run_id(journal), checker_eval,
                                                        run_dir / "warmstart", notify=notify))
            for w in warm.experiments:  # real results of this task, learned before the run's own
                value.observe(f"memory:{w.id}", options.task, w.features, w.val_accuracy)
            if notify is not None:
                notify(f"warm start from memory: {len(warm.experiments)} experiments for the value model "
                       f"({warm.skipped} no longer build), {len(warm.hypotheses)} hypotheses queued")
        agents = agents_factory(options, task, journal)
        if memory is not None and hasattr(agents.researcher, "retrieve"):
            from agentnas.agents.llm_agents import journaled_retrieval

            agents.researcher.retrieve = journaled_retrieval(journal, memory.retrieve)
        root = run_dir / "candidates"

        def services_for(recorder: Recorder) -> Services:
            if memory is not None:
                recorder.on_record = memory.record
            return Services(
                researcher=agents.researcher, engineer=agents.engineer, analyst=agents.analyst,
                checker=SandboxChecker(checker_eval, root, options.max_params),
                scorer=ValueScorer(value.predict, run_novelty(journal, memory.judge if memory else None)),
                gate=ValueGate(options.train_per_expansion, options.beta, remaining),
                trainer=SandboxTrainer(train_eval, root, recorder.lookup, recorder.experiment, short=short_eval,
                                       keep=options.keep, low_scores=recorder.low_scores,
                                       remaining=remaining, time_limited=time_limited),
                recorder=recorder, approval=options.approve)

        budget = Budget(evals=options.budget_evals, seconds=options.budget_time_s)

        def remaining() -> int | None:
            return budget.left(journal.count("experiment"))

        saver = checkpointer(run_dir)
        stack.callback(saver.conn.close)
        loop = Loop(journal, services_for, agents.hypothesiser, task=options.task, seed=options.seed,
                    k=options.k, budget=budget, policy=Policy(beta=options.beta), max_params=options.max_params,
                    checkpointer=saver, on_iteration=on_iteration,
                    before_step=lambda tree, it: value.sync(tree, options.task, it), graceful=graceful_stops(),
                    inbox=lambda: read_inbox(run_dir), approver=approver)
        yield loop


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
    from agentnas.search.memory_link import MemoryLink

    try:
        store = open_memory(options.memory, cache_dir=cfg.cache_dir)
    except MemoryStoreError as e:
        raise RunError(str(e)) from e
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
    from agentnas.llm.errors import BudgetExceeded

    return (BudgetExceeded,)


def offline_agents(options: RunOptions, task: Any, journal: Journal) -> Agents:
    from agentnas.agents.offline import OfflineResearcher

    researcher = OfflineResearcher(tuple(task.spec.input_shape), task.spec.num_classes, options.max_params,
                                   options.max_macs)
    return Agents(researcher=researcher, hypothesiser=researcher, engineer=None, analyst=OfflineAnalyst())


def llm_agents(options: RunOptions, task: Any, journal: Journal, env: dict[str, str] | None = None,
               settings: dict[str, Any] | None = None) -> Agents:
    """Researcher, engineer and analyst on the configured endpoint. The endpoint is checked
    now, so an unreachable one fails fast with a clear message instead of hanging later."""
    import os

    from agentnas.agents.llm_agents import (
        JournalCassette,
        LLMAnalyst,
        LLMEngineer,
        LLMResearcher,
        journal_calls,
    )
    from agentnas.agents.offline import OfflineResearcher
    from agentnas.llm import Ledger, LLMCall, LLMClient, LLMConfig, LLMError

    try:
        config = LLMConfig.resolve(base_url=options.llm_base_url, model=options.llm_model,
                                   env=dict(os.environ) if env is None else env, settings=settings)
        history = [LLMCall.model_validate(e.payload) for e in journal.entries("llm_call")]
        ledger = Ledger(config.prices, config.caps, history=history, on_call=journal_calls(journal))
        client = LLMClient(config, cassette=JournalCassette(journal), mode="auto", ledger=ledger)
        client.check()
        if journal.get("run", "llm") is None:  # what replay needs to rebuild the same requests; no key
            journal.append("run", "llm", config.public_dict())
    except LLMError as e:
        raise RunError(str(e)) from e
    spec = task.spec
    fallback = OfflineResearcher(tuple(spec.input_shape), spec.num_classes, options.max_params)
    researcher = LLMResearcher(client, spec, fallback)
    return Agents(researcher=researcher, hypothesiser=researcher, engineer=LLMEngineer(client, spec),
                  analyst=LLMAnalyst(client, spec))
