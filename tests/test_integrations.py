"""Trainer integrations against the real service: verl's three shapes, TRL's GRPOTrainer, errors.

TRL is exercised through its own ``GRPOTrainer`` (two steps on a tiny randomly initialised GPT-2 with
a byte-level tokenizer built here: no downloads). verl through its own loader
(``get_custom_reward_fn``) and reward managers (``NaiveRewardManager``, ``BatchRewardManager``) on a
real ``DataProto``; verl is installed without its dependency pins (``scripts/install``: it pins
transformers<5.11 while TRL needs newer), which these modules do not need. verl's async reward loop
needs a full rollout stack, so ``compute_score_async`` is called by its documented signature.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import sandbox_service.integrations as integrations
from sandbox_service import pb
from sandbox_service.adapters import AdapterError
from sandbox_service.integrations import (
    Rewards,
    SandboxUnavailable,
    code_reward,
    compute_score,
    compute_score_async,
    compute_score_batch,
    math_reward,
    reward_of,
)

from .conftest import LoopThread, ServiceHarness

pytestmark = pytest.mark.docker

TESTS = {"inputs": ["1 2\n", "5 5\n"], "outputs": ["3\n", "10\n"]}
GOOD = "Here it is:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
HALF = "```python\nprint(3)\n```"


@pytest.fixture(scope="module")
def rewards(service: ServiceHarness) -> Iterator[Rewards]:
    r = Rewards(service.address)
    yield r
    r.close()


@pytest.fixture
def default_service(service: ServiceHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The module-level functions configured from the environment, as a trainer process would be."""
    monkeypatch.setenv("SANDBOX_ADDRESS", service.address)
    monkeypatch.setattr(integrations, "_default", None)
    yield
    if integrations._default is not None:
        integrations._default.close()


KEYS = {"score", "acc", "passed", "total", "sandbox_error"}


def test_verl_single_sample_code_and_math(rewards: Rewards) -> None:
    code = compute_score("codecontests", GOOD, json.dumps(TESTS), {"index": 1}, rewards=rewards)
    assert code == {"score": 1.0, "acc": 1.0, "passed": 2.0, "total": 2.0, "sandbox_error": 0.0}
    half = compute_score("codecontests", HALF, TESTS, rewards=rewards)  # ground truth as an object
    assert half["score"] == 0.5 and half["acc"] == 0.0 and set(half) == KEYS
    math = compute_score("openai/gsm8k", "so \\boxed{72}", "72", rewards=rewards)
    assert math["score"] == 1.0
    assert compute_score("openai/gsm8k", "so \\boxed{71}", "72", rewards=rewards)["score"] == 0.0
    vi = {"language": "python", "test_cases": [{"input": "4 4\n", "output": "8\n", "type": "stdin_stdout"}]}
    assert compute_score("open-r1", GOOD, json.dumps(vi), rewards=rewards)["score"] == 1.0


def test_verl_async_runs_concurrently(rewards: Rewards) -> None:
    async def many() -> list[dict[str, float]]:
        calls = [
            compute_score_async("codecontests", GOOD if i % 2 else HALF, TESTS, rewards=rewards)
            for i in range(20)
        ]
        return list(await asyncio.gather(*calls))

    results = asyncio.run(many())
    assert [r["score"] for r in results] == [0.5 if i % 2 == 0 else 1.0 for i in range(20)]


def test_verl_batch_signature_keeps_order(rewards: Rewards) -> None:
    n = 30
    out = compute_score_batch(
        data_sources=["codecontests", "math"] * (n // 2),
        solution_strs=[GOOD, "\\boxed{1/2}"] * (n // 2),
        ground_truths=[json.dumps(TESTS), "0.5"] * (n // 2),
        extra_infos=[{"index": i} for i in range(n)],
        rewards=rewards,
    )
    assert len(out) == n and all(r["score"] == 1.0 and set(r) == KEYS for r in out)
    with pytest.raises(AdapterError, match="solution_strs"):
        compute_score_batch(
            data_sources=["a"], solution_strs=["x", "y"], ground_truths=["1"], rewards=rewards
        )


def test_verl_loads_it_by_file_path_as_verl_does(
    service: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verl's ``custom_reward_function.path``: ``spec_from_file_location`` on the file, outside the package."""
    monkeypatch.setenv("SANDBOX_ADDRESS", service.address)
    spec = importlib.util.spec_from_file_location("custom_module", integrations.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        assert module.compute_score("openai/gsm8k", "\\boxed{3}", "3") == {
            "score": 1.0,
            "acc": 1.0,
            "passed": 1.0,
            "total": 1.0,
            "sandbox_error": 0.0,
        }
    finally:
        module.default_rewards().close()


def test_verl_bad_ground_truth_names_the_field(rewards: Rewards) -> None:
    with pytest.raises(AdapterError, match="reward_model.ground_truth"):
        compute_score("x", GOOD, {"tests": []}, rewards=rewards)
    with pytest.raises(AdapterError, match="on_sandbox_error"):
        compute_score("x", GOOD, "1", on_sandbox_error="ignore", rewards=rewards)


def test_sandbox_error_is_never_a_zero_unless_asked() -> None:
    unjudged = pb.ScoreResponse(verdict=pb.SANDBOX_ERROR, tests=[pb.TestResult(message="agent lost")])
    assert reward_of(unjudged) is None
    with pytest.raises(SandboxUnavailable, match="agent lost"):
        integrations._verl_result(unjudged, "raise")
    assert integrations._verl_result(unjudged, "zero")["sandbox_error"] == 1.0
    too_big = pb.ScoreResponse(
        error=pb.RequestError(code="INVALID_ARGUMENT", field="code.source", message="big")
    )
    assert reward_of(too_big) == 0.0  # the model wrote a program over the limit: its own failure
    bad_tests = pb.ScoreResponse(
        error=pb.RequestError(code="INVALID_ARGUMENT", field="code.tests", message="x")
    )
    with pytest.raises(AdapterError, match="code.tests"):
        reward_of(bad_tests)


def test_close_shuts_every_loops_channel(service: ServiceHarness) -> None:
    """Trainers score from several loops and threads; close() leaves no channel open on any of them."""
    r = Rewards(service.address)
    request = pb.ScoreRequest(math=pb.MathTask(response="\\boxed{2}", gold="2"))
    elsewhere = LoopThread()  # a loop running on another thread, as TRL's reward loop does
    idle = asyncio.new_event_loop()  # a loop that has finished its work
    try:
        assert reward_of(elsewhere.run(r.ascore([request]))[0]) == 1.0
        assert reward_of(idle.run_until_complete(r.ascore([request]))[0]) == 1.0
        assert reward_of(r.score([request])[0]) == 1.0
        channels = [c._channel for c in r._clients.values()]
        assert len(channels) == 2
        r.close()
        assert [c.get_state() for c in channels] == [grpc.ChannelConnectivity.SHUTDOWN] * 2
        assert r._sync is None and not r._clients

        async def own_loop() -> grpc.aio.Channel:  # aclose: this loop's channel is shut on return
            assert reward_of((await r.ascore([request]))[0]) == 1.0
            channel = r._async_client()._channel
            await r.aclose()
            return channel

        assert asyncio.run(own_loop()).get_state() == grpc.ChannelConnectivity.SHUTDOWN
    finally:
        r.close()
        idle.close()
        elsewhere.stop()


def test_trl_reward_functions_called_as_trl_calls_them(default_service: None) -> None:
    completions = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": HALF}]]
    logged: dict[str, float] = {}
    got = asyncio.run(
        code_reward(
            prompts=[[{"role": "user", "content": "add"}]] * 2,
            completions=completions,
            completion_ids=[[1], [2]],
            verification_info=[
                {
                    "language": "python",
                    "test_cases": [
                        {"input": "1 2\n", "output": "3\n", "type": "stdin_stdout"},
                        {"input": "5 5\n", "output": "10\n", "type": "stdin_stdout"},
                    ],
                }
            ]
            * 2,
            trainer_state=object(),
            log_metric=logged.__setitem__,
            log_extra=lambda column, values: None,
        )
    )
    assert got == [1.0, 0.5] and logged == {"sandbox/unjudged_fraction": 0.0}
    assert asyncio.run(math_reward(["q", "q"], ["\\boxed{2}", "\\boxed{3}"], answer=["2", "2"])) == [1.0, 0.0]
    codeforces = {  # open-r1/codeforces columns, as TRL passes a batch of them
        "official_tests": [[{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}]] * 2,
        "time_limit": [1.0, 1.0],
        "memory_limit": [256.0, 256.0],
        "generated_checker": [None, None],
    }
    assert asyncio.run(code_reward(["q", "q"], [GOOD, HALF], **codeforces)) == [1.0, 0.5]
    with pytest.raises(AdapterError, match="no test column"):
        asyncio.run(code_reward(["q"], ["x"], difficulty=["easy"]))


def _verl_batch(tokenizer: Any, rows: list[tuple[str, str, str, Any]]) -> Any:
    """A DataProto as verl's rollout hands it to a reward manager: left-padded prompts, right-padded
    responses, one attention mask over both, the dataset's columns as object arrays."""
    import numpy as np
    import torch
    from verl import DataProto

    pad = tokenizer.pad_token_id
    prompts = [tokenizer.encode(p) for p, _, _, _ in rows]
    responses = [tokenizer.encode(r) for _, r, _, _ in rows]
    plen, rlen = max(map(len, prompts)), max(map(len, responses))
    prompt_ids = torch.tensor([[pad] * (plen - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (rlen - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (plen - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (rlen - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )
    return DataProto.from_dict(
        tensors={"prompts": prompt_ids, "responses": response_ids, "attention_mask": mask},
        non_tensors={
            "data_source": np.array([d for _, _, d, _ in rows], dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": g} for *_, g in rows], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(len(rows))], dtype=object),
        },
    )


VERL_ROWS = [
    ("Add the numbers on stdin.", GOOD, "codecontests", json.dumps(TESTS)),
    ("Add the numbers on stdin.", HALF, "codecontests", json.dumps(TESTS)),
    ("What is 6/8?", "It is \\boxed{\\frac{3}{4}}", "math", "0.75"),
    ("What is 6/8?", "It is \\boxed{3/4}.", "math", "0.8"),
]


@pytest.mark.parametrize(("manager", "name"), [("naive", "compute_score"), ("batch", "compute_score_batch")])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # verl imports Ray's old state API path
def test_verl_reward_managers_score_through_the_service(
    default_service: None, manager: str, name: str
) -> None:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager.batch import BatchRewardManager
    from verl.workers.reward_manager.naive import NaiveRewardManager

    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {"path": integrations.__file__, "name": name, "reward_kwargs": {}}
            }
        }
    )
    fn = get_custom_reward_fn(config)  # verl loads the file by path and wraps it with reward_kwargs
    _, tokenizer = _tiny_model_and_tokenizer()
    cls = NaiveRewardManager if manager == "naive" else BatchRewardManager
    reward_manager = cls(tokenizer=tokenizer, num_examine=0, compute_score=fn)
    data = _verl_batch(tokenizer, VERL_ROWS)
    out = reward_manager(data, return_dict=True)
    tensor, extra = out["reward_tensor"], out["reward_extra_info"]
    want = [1.0, 0.5, 1.0, 0.0]
    # verl puts each reward on the response's last valid token
    lengths = [len(tokenizer.encode(r)) for _, r, _, _ in VERL_ROWS]
    assert [float(tensor[i, n - 1]) for i, n in enumerate(lengths)] == want
    assert float(tensor.sum()) == sum(want)
    assert list(extra["acc"]) == [1.0, 0.0, 1.0, 0.0]
    assert list(extra["total"]) == [2.0, 2.0, 1.0, 1.0] and list(extra["sandbox_error"]) == [0.0] * 4


def _tiny_model_and_tokenizer() -> tuple[Any, Any]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=1,
        n_head=2,
        n_positions=128,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config), tokenizer


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # TRL's own config sets a renamed transformers field
def test_trl_grpo_trainer_trains_on_service_rewards(
    default_service: None, service: ServiceHarness, tmp_path: Path
) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = _tiny_model_and_tokenizer()
    rows = [
        {"prompt": "Add the two numbers on stdin: ", "input_output": json.dumps(TESTS), "answer": "3"},
        {"prompt": "What is 1 + 2? ", "input_output": json.dumps(TESTS), "answer": "3"},
    ] * 4
    verdicts = service.dispatcher.metrics.samples  # samples by verdict and language, counted by the service

    def judged() -> float:
        return sum(m.value for fam in verdicts.collect() for m in fam.samples if m.name.endswith("_total"))

    before = judged()
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=12,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[code_reward, math_reward],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "rewards/code_reward/mean" in entry]
    assert len(logs) == 2, trainer.state.log_history
    for entry in logs:
        # random models write nonsense: every sample judged (no None -> NaN), none passes
        assert entry["rewards/code_reward/mean"] == 0.0 and entry["rewards/math_reward/mean"] == 0.0
    # both reward functions' samples went through the service: 2 steps x 4 completions x 2 functions
    assert judged() - before >= 16
