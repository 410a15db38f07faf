"""Dynamic sampling (DAPO, arXiv 2503.14476): no optimizer step spent on groups whose rewards all tie.

A GRPO group whose completions all score the same has zero advantage: it costs a generation and a backward pass and
teaches nothing. `DynamicSamplingTrainer` is TRL's GRPOTrainer with one step changed, `_generate_and_score_completions`
(train mode only): it generates and scores a batch exactly as TRL does, keeps the groups whose chosen figure (the
total reward, or one named reward) differs within the group, and generates further rounds for more prompts until every
process holds as many varied groups as the batch has, or `max_rounds` rounds were run. TRL's loss, advantages (each
kept group keeps the advantages TRL computed for it), buffering over `steps_per_generation` and logging stay as they
are; TRL's completion log is rewritten to the groups that reach the loss.

Design decisions (docs/dynamic-sampling.md explains them to users):
- Extra prompts: round r of the generation at global step s draws its prompts uniformly from the training data with a
  generator seeded by (seed, s, r) (`extra_prompt_indices`). The sampler's own order cannot be used: the training loop
  consumes it and, on resume, skips a number of batches derived from the step; a draw keyed by the step needs no saved
  state, is the same on every process and is reproduced exactly by `--resume_from_checkpoint`.
- Processes: every process decides from the same gathered rewards (TRL gathers them for the advantages), so all take
  the same decision and run the same number of rounds (ZeRO-3 gathers parameters for generation collectively); the
  loop is bounded by `max_rounds`, so no process waits forever. A process keeps its own varied groups (groups never
  span processes: each process's batch is whole groups, main.py checks it); the batch is full when every process has
  enough, and a process with more than it needs drops its surplus.
- The cap: after `max_rounds` rounds a process short of varied groups fills its batch with tied groups whose loss mask
  is zeroed, so the tensors keep their shape (the accumulation split and ZeRO-3's collective forwards need equal
  batches) and nothing is trained on a zero-advantage group: the step trains on fewer groups.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState
from trl import GRPOTrainer

DEFAULT_MAX_ROUNDS = 4
TOLERANCE = 1e-6  # rewards are floats: a group "varies" when its figure's max - min exceeds this
TOTAL = "reward"  # --dynamic_sampling_metric's name for the weighted total reward (TRL logs it as "reward")
# Per-row tensors of TRL's generation batch and how each is padded when rows of several rounds are joined.
LEFT_PADDED = {"prompt_ids": "pad", "prompt_mask": 0}
RIGHT_PADDED = {"completion_ids": "pad", "completion_mask": 0, "old_per_token_logps": 0.0,
                "ref_per_token_logps": 0.0, "sampling_per_token_logps": 0.0, "importance_sampling_ratio": 1.0,
                "tool_mask": 1}


@dataclass(frozen=True)
class DynamicSampling:
    """The run's settings: `metric_index` is None for the total reward, else the column of the reward in
    --reward_funcs order."""
    metric: str = TOTAL
    metric_index: int | None = None
    max_rounds: int = DEFAULT_MAX_ROUNDS
    tolerance: float = TOLERANCE


def settings_from(training_args, reward_specs: list[str]) -> DynamicSampling | None:
    """The DynamicSampling a run's options ask for, or None when --dynamic_sampling is off (main.py has refused the
    combinations that make no sense)."""
    if not getattr(training_args, "dynamic_sampling", False):
        return None
    metric = training_args.dynamic_sampling_metric or TOTAL
    return DynamicSampling(metric=metric, metric_index=None if metric == TOTAL else list(reward_specs).index(metric),
                           max_rounds=training_args.max_generation_rounds or DEFAULT_MAX_ROUNDS)


# ----------------------------------------------------------------------------------------------------------------------
# The decisions, as functions of tensors (tested in-process).

def metric_values(rewards_per_func: torch.Tensor, weights: torch.Tensor, metric_index: int | None) -> torch.Tensor:
    """Per completion: one reward's column, or the weighted total as TRL sums it (NaN where every reward is None)."""
    if metric_index is not None:
        return rewards_per_func[:, metric_index]
    total = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    return total


def groups_vary(values: torch.Tensor, group_size: int, tolerance: float = TOLERANCE) -> list[bool]:
    """Per group of `group_size` consecutive completions: do its values differ by more than `tolerance`? Missing
    values (NaN: the reward gave None) are ignored; a group with fewer than two values does not vary."""
    grouped = values.detach().float().cpu().view(-1, group_size)
    finite = torch.isfinite(grouped)
    high = torch.where(finite, grouped, torch.full_like(grouped, -torch.inf)).max(dim=1).values
    low = torch.where(finite, grouped, torch.full_like(grouped, torch.inf)).min(dim=1).values
    return ((finite.sum(dim=1) >= 2) & (high - low > tolerance)).tolist()


def tie_share(groups: list[list[float | None]], tolerance: float = TOLERANCE) -> tuple[int, int]:
    """(groups that tie, groups) for plain lists of rewards (None: no reward), as `groups_vary` decides."""
    if not groups:
        return 0, 0
    size = max(len(group) for group in groups)
    values = torch.tensor([[torch.nan if v is None else float(v) for v in group] + [torch.nan] * (size - len(group))
                           for group in groups])
    varies = groups_vary(values.flatten(), size, tolerance)
    return varies.count(False), len(groups)


@dataclass
class Plan:
    """Which groups each process trains on: `kept[p]` and `filler[p]` list (round, group on that process)."""
    kept: list[list[tuple[int, int]]]
    filler: list[list[tuple[int, int]]]

    @property
    def full(self) -> bool:
        return not any(self.filler)


def plan_batch(varies_by_round: list[list[bool]], processes: int, groups_per_process: int) -> Plan:
    """Each process's batch from the rounds so far: its first `groups_per_process` varied groups in generation order,
    then (only when it has too few: the cap) its earliest tied groups as filler. `varies_by_round[r]` holds every
    process's groups of round r, process 0's first, as TRL gathers them."""
    kept, filler = [], []
    for p in range(processes):
        mine = [(r, j) for r, varies in enumerate(varies_by_round) for j in range(groups_per_process)
                if varies[p * groups_per_process + j]]
        tied = [(r, j) for r, varies in enumerate(varies_by_round) for j in range(groups_per_process)
                if not varies[p * groups_per_process + j]]
        kept.append(mine[:groups_per_process])
        filler.append(tied[:groups_per_process - len(kept[-1])])
    return Plan(kept, filler)


def extra_prompt_indices(seed: int, step: int, round_index: int, dataset_size: int, count: int) -> list[int]:
    """The training rows round `round_index` (1, 2, ...) of the generation at global step `step` draws: a seeded
    permutation of the data (more than one if `count` exceeds it), the same on every process and after a resume."""
    generator = torch.Generator().manual_seed((seed * 1_000_003 + step * 1_009 + round_index) % (2 ** 63))
    order = []
    while len(order) < count:
        order += torch.randperm(dataset_size, generator=generator).tolist()
    return order[:count]


def join_rows(parts: list[tuple[dict, list[int]]], pad_token_id: int) -> dict:
    """The rows `parts` name ((TRL generation batch, row indices), ...) as one batch: prompts re-padded on the left,
    completions and per-token figures on the right. `num_items_in_batch` is left to the caller (it is global)."""
    joined = {}
    for key in parts[0][0]:
        if key == "num_items_in_batch":
            continue
        pieces = [batch[key][rows] for batch, rows in parts if batch.get(key) is not None]
        if key == "advantages":
            joined[key] = torch.cat(pieces)
        elif key in LEFT_PADDED or key in RIGHT_PADDED:
            pad = LEFT_PADDED.get(key, RIGHT_PADDED.get(key))
            pad = pad_token_id if pad == "pad" else pad
            width = max(piece.shape[1] for piece in pieces)
            padded = []
            for piece in pieces:
                filling = piece.new_full((piece.shape[0], width - piece.shape[1]), pad)
                padded.append(torch.cat([filling, piece] if key in LEFT_PADDED else [piece, filling], dim=1))
            joined[key] = torch.cat(padded)
        else:  # images, multimodal fields: TRL's text path never returns them
            raise NotImplementedError(f"dynamic sampling does not support the generation batch field {key!r} "
                                      "(text-only training)")
    return joined


# ----------------------------------------------------------------------------------------------------------------------
# The trainer

class DynamicSamplingTotals(TrainerCallback, ExportableState):
    """Run totals, saved in each checkpoint's trainer_state.json (an ExportableState) and restored on resume."""

    FIELDS = ("generations", "rounds", "groups_generated", "groups_trained", "completions_generated",
              "tokens_generated", "cap_hits")

    def __init__(self):
        for name in self.FIELDS:
            setattr(self, name, 0)

    def state(self) -> dict:
        return {"args": {}, "attributes": self.as_dict()}

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def on_train_begin(self, args, state, control, **kwargs):
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, dict):  # a resumed run: continue the totals of the checkpoint
            for name, value in (saved.get("attributes") or {}).items():
                if name in self.FIELDS:
                    setattr(self, name, value)


class DynamicSamplingTrainer(GRPOTrainer):
    """GRPOTrainer that trains only on groups whose rewards differ (see the module docstring)."""

    def __init__(self, *args, dynamic_sampling: DynamicSampling, **kwargs):
        super().__init__(*args, **kwargs)
        self.dynamic_sampling = dynamic_sampling
        self.dynamic_totals = DynamicSamplingTotals()
        self.add_callback(self.dynamic_totals)
        self._round_rewards = None  # the last round's gathered rewards_per_func
        self._round_tokens = 0  # completion tokens this process generated in the current step

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        self._round_rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._round_rewards

    def _generate(self, prompts: list):
        result = super()._generate(prompts)
        self._round_tokens += sum(len(ids) for ids in result[1])
        return result

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:  # TRL's own evaluation loop: unchanged
            return super()._generate_and_score_completions(inputs)
        settings, size = self.dynamic_sampling, self.num_generations
        processes, rank = self.accelerator.num_processes, self.accelerator.process_index
        per_process = len(inputs) // size
        step, rounds, varies_by_round, logs_by_round = self.state.global_step, [], [], []
        self._round_tokens = 0
        plan = None
        for round_index in range(settings.max_rounds):
            batch = inputs if round_index == 0 else self._extra_inputs(inputs, step, round_index, processes, rank)
            rounds.append(super()._generate_and_score_completions(batch))
            values = metric_values(self._round_rewards, self.reward_weights, settings.metric_index)
            varies_by_round.append(groups_vary(values, size, settings.tolerance))
            logs_by_round.append(self._completion_log())
            plan = plan_batch(varies_by_round, processes, per_process)
            if plan.full:
                break
        output = self._assemble(rounds, plan.kept[rank], plan.filler[rank])
        self._rewrite_completion_log(logs_by_round, plan, per_process * size)
        self._record(plan, len(rounds), processes * per_process)
        return output

    def _extra_inputs(self, inputs: list[dict], step: int, round_index: int, processes: int, rank: int) -> list[dict]:
        """This process's rows of an extra round: the drawn prompts, each repeated G times, split across processes
        the way TRL's sampler and dataloader split a generation batch."""
        size = self.num_generations
        count = processes * len(inputs) // size
        indices = extra_prompt_indices(self.args.seed, step, round_index, len(self.train_dataset), count)
        mine = [i for i in indices for _ in range(size)][rank * len(inputs):(rank + 1) * len(inputs)]
        keys = list(inputs[0])  # the columns the dataloader passed (after remove_unused_columns)
        return [{key: row[key] for key in keys} for row in (self.train_dataset[i] for i in mine)]

    def _assemble(self, rounds: list[dict], kept: list[tuple[int, int]], filler: list[tuple[int, int]]) -> dict:
        """This process's batch: its kept groups, then filler groups with their loss mask and advantages zeroed."""
        size = self.num_generations
        parts = []
        for groups, is_filler in ((kept, False), (filler, True)):
            for round_index in range(len(rounds)):
                rows = [j * size + k for r, j in groups if r == round_index for k in range(size)]
                if rows:
                    parts.append((rounds[round_index], rows, is_filler))
        joined = join_rows([(batch, torch.tensor(rows)) for batch, rows, _ in parts], self._tokenizer.pad_token_id)
        trained = torch.cat([torch.full((len(rows),), not is_filler) for _, rows, is_filler in parts])
        trained = trained.to(joined["completion_mask"].device)
        joined["completion_mask"] = joined["completion_mask"] * trained.unsqueeze(1).to(joined["completion_mask"].dtype)
        joined["advantages"] = torch.where(trained, joined["advantages"], torch.zeros_like(joined["advantages"]))
        loss_mask = joined["completion_mask"] * joined["tool_mask"] if "tool_mask" in joined else joined["completion_mask"]
        joined["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        return joined

    def _completion_log(self) -> dict:
        """A copy of TRL's completion log, which after a round holds exactly that round's rows (its deques keep one
        generation batch)."""
        logs = self._logs
        return {"prompt": list(logs["prompt"]), "completion": list(logs["completion"]),
                "advantages": list(logs["advantages"]),
                "rewards": {name: list(values) for name, values in logs["rewards"].items()},
                "extra": {name: list(values) for name, values in logs["extra"].items()}}

    def _rewrite_completion_log(self, logs_by_round: list[dict], plan: Plan, rows_per_process: int) -> None:
        """TRL's completion log holds the groups that reach the loss (filler excluded), every process's in order."""
        size = self.num_generations
        rows = [(r, p * rows_per_process + j * size + k) for p, kept in enumerate(plan.kept) for r, j in kept
                for k in range(size)]
        logs = self._logs

        def fill(target: deque, pick) -> None:
            target.clear()
            target.extend(pick(r, i) for r, i in rows)

        def column(values_of):
            return lambda r, i: (values_of(r)[i] if i < len(values_of(r)) else None)

        fill(logs["prompt"], column(lambda r: logs_by_round[r]["prompt"]))
        fill(logs["completion"], column(lambda r: logs_by_round[r]["completion"]))
        fill(logs["advantages"], column(lambda r: logs_by_round[r]["advantages"]))
        for group in ("rewards", "extra"):
            for name in logs_by_round[-1][group]:
                fill(logs[group][name], column(lambda r, g=group, n=name: logs_by_round[r][g].get(n, [])))

    def _record(self, plan: Plan, rounds: int, groups_per_round: int) -> None:
        """This step's dynamic_sampling/* figures (TRL averages them over the logging window) and the run totals."""
        trained = sum(len(kept) for kept in plan.kept)
        wanted = groups_per_round
        generated = rounds * groups_per_round
        tokens = int(self.accelerator.gather(torch.tensor([self._round_tokens], device=self.accelerator.device))
                     .sum().item())
        totals = self.dynamic_totals
        totals.generations += 1
        totals.rounds += rounds
        totals.groups_generated += generated
        totals.groups_trained += trained
        totals.completions_generated += generated * self.num_generations
        totals.tokens_generated += tokens
        totals.cap_hits += int(not plan.full)
        metrics = self._metrics["train"]
        for name, value in [("rounds", rounds), ("groups_generated", generated), ("groups_trained", trained),
                            ("groups_kept_fraction", trained / generated), ("batch_filled", trained / wanted),
                            ("completions_generated", generated * self.num_generations),
                            ("tokens_generated", tokens), ("cap_hit", float(not plan.full))]:
            metrics[f"dynamic_sampling/{name}"].append(float(value))
        # Run totals, one value each (as TRL logs num_tokens): the latest, not an average.
        metrics["dynamic_sampling/total_completions"] = [float(totals.completions_generated)]
        metrics["dynamic_sampling/total_tokens"] = [float(totals.tokens_generated)]
