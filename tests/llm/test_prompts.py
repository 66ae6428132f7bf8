"""Prompts: one template per operator, assembled deterministically from named sections."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from llm_support import CANDIDATE

from agentnas.llm import (
    CandidateBrief,
    Constraints,
    HypothesisReply,
    MemoryItem,
    PromptContext,
    PromptError,
    PromptLibrary,
    build_prompt,
)
from agentnas.llm.prompts import default_library
from agentnas.paths import shipped_dir
from agentnas.records import EvalResult, Failure, FailureKind, Metrics
from agentnas.tasks import get_task

OK = EvalResult(path="c.py", status="ok", metrics=Metrics(val_accuracy=0.9123, test_accuracy=0.8765), params=5123,
                train_seconds=3.14)
FAILED = EvalResult(path="c.py", status="failed", failure=Failure(kind=FailureKind.SHAPE, message="mat1 and mat2"))


def full_context() -> PromptContext:
    return PromptContext(
        task=get_task("mnist1d").spec,
        hypothesis=HypothesisReply(title="dilations", text="dilated convs see further", rationale="[K1]"),
        hypothesis_id="H4",
        parent=CandidateBrief(id="X1", hypothesis="a small CNN", code=CANDIDATE, result=OK, lesson="width helps"),
        parents=(CandidateBrief(id="X1", code=CANDIDATE, result=OK), CandidateBrief(id="X2", code=CANDIDATE)),
        candidate=CandidateBrief(id="X9", hypothesis="dilations", code=CANDIDATE, result=FAILED),
        siblings=(CandidateBrief(id="X3", hypothesis="deeper", code=CANDIDATE, result=OK),),
        similar=(MemoryItem(id="X0", text="a GRU reached 0.91"),),
        knowledge=(MemoryItem(id="K1", text="dilations grow the receptive field", source="Yu & Koltun 2016"),),
        failure=FAILED.failure, log_tail="\n".join(f"line {i}" for i in range(100)),
        previous_repairs=("resized the head",),
        steering=("try attention",),
        constraints=Constraints(max_params=20000, notes=("no recurrent layers",)),
    )


def test_every_operator_has_a_template_with_its_role_and_schema() -> None:
    lib = default_library()
    assert set(lib.operators) == {"new_hypothesis", "mutate", "recombine", "refine", "repair", "analyse"}
    roles = {op: t.role for op, t in lib.templates.items()}
    assert roles["repair"] == "engineer" and roles["analyse"] == "analyst" and roles["mutate"] == "researcher"
    replies = {t.reply for t in lib.templates.values()}
    assert replies == {"HypothesisReply", "ProposalReply", "RepairReply", "LessonReply"}
    assert lib.directory == shipped_dir("prompts")


@pytest.mark.parametrize("operator", ["new_hypothesis", "mutate", "recombine", "refine", "repair", "analyse"])
def test_same_context_gives_byte_identical_prompts(operator: str) -> None:
    a = build_prompt(operator, full_context())
    b = PromptLibrary().build(operator, full_context())  # fresh library, fresh context objects
    assert a == b
    assert [m.content.encode() for m in a.messages] == [m.content.encode() for m in b.messages]
    assert [m.role for m in a.messages] == ["system", "user"]
    assert "{{" not in a.messages[0].content + a.messages[1].content


def test_prompt_is_identical_in_another_process() -> None:
    code = ("import sys; sys.path.insert(0, 'tests/llm'); from test_prompts import full_context;"
            "from agentnas.llm import build_prompt; print(build_prompt('mutate', full_context()).model_dump_json())")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip() == build_prompt("mutate", full_context()).model_dump_json()


def test_missing_optional_sections_are_omitted_cleanly() -> None:
    minimal = PromptContext(task=get_task("mnist1d").spec, parent=CandidateBrief(id="X1", code=CANDIDATE))
    user = build_prompt("mutate", minimal).messages[1].content
    for absent in ("Siblings", "Similar past", "Design knowledge", "Notes from the user", "Constraints",
                   "Hypothesis to test"):
        assert absent not in user
    outside_code = re.sub(r"```python\n.*?```", "CODE", user, flags=re.DOTALL)
    assert "\n\n\n" not in outside_code and user.endswith("\n") and not user.endswith("\n\n")
    assert CANDIDATE.strip() in user  # code shown verbatim, its blank lines kept


def test_required_section_missing_is_a_clear_error() -> None:
    with pytest.raises(PromptError, match="mutate prompt needs the section 'parent'"):
        build_prompt("mutate", PromptContext(task=get_task("mnist1d").spec))
    with pytest.raises(PromptError, match="no prompt template 'mutant'"):
        build_prompt("mutant", PromptContext())


def test_sections_show_ids_validation_only_and_the_log_tail() -> None:
    ctx = full_context()
    user = build_prompt("repair", ctx).messages[1].content
    assert "[X9]" in user and "Kind: shape" in user and "line 99" in user and "line 59" not in user
    assert "At most 20,000 trainable parameters" in user and "resized the head" in user
    mutate = build_prompt("mutate", ctx)
    text = mutate.messages[1].content
    assert "val_accuracy 0.9123" in text and "0.8765" not in text  # never the test score
    assert "[K1] dilations grow the receptive field (source: Yu & Koltun 2016)" in text
    assert "## Hypothesis to test [H4]: dilations" in text and "- try attention" in text
    assert text.count("```python") == 1  # siblings are shown without their code
    assert mutate.evidence_ids == ("X1", "X9", "X2", "X3", "X0", "K1", "H4")
    assert mutate.reply_schema.__name__ == "ProposalReply"


def test_custom_template_folder_and_malformed_templates(tmp_path: Path) -> None:
    (tmp_path / "_intro.txt").write_text("Be brief.\n")
    (tmp_path / "ask.txt").write_text("# role: analyst\n# reply: LessonReply\n# a comment: ignored\n"
                                      "=== system ===\n{{> intro}}\n=== user ===\n{{steering?}}\nGo.\n")
    lib = PromptLibrary(tmp_path)
    prompt = lib.build("ask", PromptContext())
    assert [m.content for m in prompt.messages] == ["Be brief.\n", "Go.\n"]
    (tmp_path / "bad.txt").write_text("# role: analyst\n# reply: LessonReply\n=== system ===\nx\n=== user ===\n"
                                      "Use {{task}} inline\n")
    with pytest.raises(PromptError, match="stand alone"):
        PromptLibrary(tmp_path)
    (tmp_path / "bad.txt").write_text("# role: boss\n# reply: LessonReply\n=== system ===\nx\n=== user ===\ny\n")
    with pytest.raises(PromptError, match="role"):
        PromptLibrary(tmp_path)
    (tmp_path / "bad.txt").write_text("# role: analyst\n# reply: LessonReply\n=== system ===\n{{nope}}\n=== user ===\n")
    with pytest.raises(PromptError, match="unknown section 'nope'"):
        PromptLibrary(tmp_path)


def test_a_grammar_files_tree_line_and_docstring_are_not_shown_to_the_model() -> None:
    code = ('"""A rendered candidate."""\n' + CANDIDATE.rstrip() + '\n\n\n# agentnas-arch: {"body": {"op": "seq"}}\n')
    ctx = full_context().model_copy(update={"parent": CandidateBrief(id="X1", code=code, result=OK)})
    text = build_prompt("mutate", ctx).messages[-1].content
    assert "agentnas-arch" not in text and "A rendered candidate" not in text
    assert "def build_model" in text
