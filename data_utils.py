"""Load math data sets and turn rows into chat prompts: the one prompt pipeline (load -> format -> length filter).

Training (`train.py`), evaluation (`eval.py`, held-out evaluation) and the preflight all build prompts with
`load_prompt_dataset` and filter them with `fitting_prompts`, so a model is always evaluated with exactly the prompt
it was trained on, and every entry point drops the same long prompts with the same message.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from errors import UsageError, first_line, offline_or_network_error, split_error_kind
from models import looks_local, require_hub
import reward
from reward import reference_text

SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a math question, and the Assistant solves it. "
    "The Assistant first thinks about the reasoning process in its mind and then gives the user the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, and the final answer is written inside \\boxed{}, i.e., "
    "<think> reasoning process here </think><answer> \\boxed{final answer} </answer>"
)

# Local files we can read, by suffix, mapped to the `datasets` builder that reads them.
LOCAL_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def split_name(split: str) -> str:
    """`"test[:5%]"` -> `"test"`: the split's name without the slice."""
    return re.split(r"[\[+]", split, maxsplit=1)[0].strip()


def empty_split(dataset_id: str, split: str) -> UsageError:
    return UsageError(f"split {split!r} of {dataset_id} selects no rows: choose a non-empty split or slice, e.g. "
                      f"{split_name(split)}[:100]")


def load_math_dataset(dataset_id: str, split: str = "train", dataset_config: str | None = None):
    """Load `split` (slicing such as `train[:10%]` allowed) from a hub id or a local file/directory; a split with
    no rows is a UsageError.

    A single local file holds one split, so whatever split name is asked for is mapped onto it
    (`data/test.jsonl` with `--split "test[:20]"` reads the first 20 rows of that file).
    """
    import datasets

    path = Path(dataset_id).expanduser()
    # datasets logs a corrupt file's parse errors (with tracebacks) before raising: the one-line error below says it.
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        if path.is_file():
            if path.stat().st_size == 0:
                raise UsageError(f"dataset file {dataset_id} is empty: it needs one row per problem")
            builder = LOCAL_FORMATS.get(path.suffix.lower())
            if builder is None:
                raise UsageError(
                    f"cannot read {dataset_id}: use a .json, .jsonl, .parquet or .csv file (or a directory of them)"
                )
            if builder != "parquet":  # a binary format: its strings are checked by pyarrow
                check_utf8(path)
            dataset = datasets.load_dataset(builder, data_files={split_name(split): str(path)}, split=split)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.suffix.lower() in (".json", ".jsonl", ".csv")):
                check_utf8(file)
            dataset = datasets.load_dataset(str(path), dataset_config, split=split)
        elif looks_local(dataset_id) or path.suffix.lower() in LOCAL_FORMATS:
            raise UsageError(f"dataset file {dataset_id} does not exist: check the path given to --dataset_id")
        else:
            require_hub(dataset_id, "data set", "--dataset_id")
            dataset = datasets.load_dataset(dataset_id, dataset_config, split=split)
    except UsageError:
        raise
    except ValueError as err:
        kind = split_error_kind(err)
        if kind is None:
            raise
        if kind == "empty":
            raise empty_split(dataset_id, split) from None
        raise UsageError(f"split {split!r} does not exist in {dataset_id}: {first_line(err)}") from None
    except datasets.exceptions.DatasetGenerationError as err:  # a corrupt or truncated file
        cause = err.__cause__ or err
        raise UsageError(f"could not read data set {dataset_id}: {first_line(cause)}: check that the file is complete "
                         "and in its format (one JSON object per line for .jsonl)") from None
    except (ConnectionError, OSError, FileNotFoundError) as err:
        if offline_or_network_error(err, dataset_id):
            raise UsageError(
                f"could not download data set {dataset_id!r} (offline or unreachable hub): pass a local copy, "
                "e.g. --dataset_id path/to/train.jsonl (or a saved directory), or set HF_ENDPOINT / go online"
            ) from None
        raise UsageError(f"could not load data set {dataset_id!r}: {first_line(err)}") from None
    finally:
        datasets.logging.set_verbosity(verbosity)
    if len(dataset) == 0:  # e.g. a .csv with its header only
        raise empty_split(dataset_id, split)
    return dataset


def check_utf8(path: Path) -> None:
    """A text data file must be UTF-8: `datasets` reads other bytes into its tables and fails later, with a traceback
    from deep inside pyarrow (or a confusing parse error). Read once, in chunks, before loading."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                at = offset + err.start
                raise UsageError(f"dataset file {path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} near offset {at}): "
                                 f"save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > utf8_{path.name}") from None
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UsageError(f"dataset file {path} is not UTF-8 text (it ends inside a character): save it as UTF-8") \
            from None


def format_dataset(
    dataset,
    system_prompt: str = SYSTEM_PROMPT,
    prompt_column: str = "problem",
    solution_column: str = "solution",
    flags: str = "--prompt_column / --solution_column",
):
    """Rows -> `{"prompt": [system, user] messages, "solution": reference}`; every other column is dropped."""
    missing = [c for c in (prompt_column, solution_column) if c not in dataset.column_names]
    if missing:
        raise UsageError(
            f"data set has no column(s) {', '.join(missing)} (it has: {', '.join(dataset.column_names)}); "
            f"choose others with {flags}"
        )

    def to_conversation(row):  # a null cell is an empty problem (dropped by `fitting_prompts`), never "None"
        problem = "" if row[prompt_column] is None else str(row[prompt_column])
        return {"prompt": make_prompt(problem, system_prompt),
                "solution": reference_text(row[solution_column])}

    return dataset.map(to_conversation, remove_columns=dataset.column_names)


def make_prompt(problem: str, system_prompt: str = SYSTEM_PROMPT) -> list[dict]:
    """One problem as the chat conversation the policy sees (the system prompt is omitted when empty)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": problem}]


def tokenize_prompts(prompts: list[list[dict]], tokenizer) -> list[list[int]]:
    """Each chat prompt as the token ids the policy reads (chat template and generation prompt applied); shared by
    training's length filter and evaluation, so both count the same tokens."""
    texts = tokenizer.apply_chat_template(list(prompts), tokenize=False, add_generation_prompt=True)
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


# Longer prompts are dropped and counted, never truncated: cutting a prompt would cut off the question or the
# instructions. 512 keeps nearly all of NuminaMath-TIR's prompts with the default system prompt.
DEFAULT_MAX_PROMPT_LENGTH = 512


def load_prompt_dataset(dataset_id: str, split: str, dataset_config: str | None = None,
                        system_prompt: str = SYSTEM_PROMPT, prompt_column: str = "problem",
                        solution_column: str = "solution", flags: str = "--prompt_column / --solution_column"):
    """The prompt pipeline's first steps, shared by training, eval.py, held-out evaluation and the preflight: load
    the split (an empty one is a UsageError) and format its rows into chat prompts. Then `tokenize_prompts` and
    `fitting_prompts` (or both at once: `filter_by_prompt_length`)."""
    dataset = load_math_dataset(dataset_id, split, dataset_config)
    dataset = format_dataset(dataset, system_prompt, prompt_column, solution_column, flags)
    empty = len(empty_problems(dataset["prompt"]))
    if empty == len(dataset):
        raise UsageError(f"every problem in column {prompt_column!r} of {dataset_id} ({split}) is empty or missing: "
                         f"choose the column that holds the problems with {flags.split(' / ')[0]}")
    if empty and os.environ.get("RANK", "0") == "0":  # once under accelerate launch
        print(f"{empty} of {len(dataset)} rows of {dataset_id} ({split}) have an empty or missing {prompt_column!r}: "
              "dropped")
    return dataset


def empty_problems(prompts: list[list[dict]]) -> set[int]:
    """Indices of prompts whose problem (the user's message) is empty or blank: nothing to solve, dropped by
    `fitting_prompts` and counted by `load_prompt_dataset`."""
    return {i for i, prompt in enumerate(prompts) if not prompt[-1]["content"].strip()}


def fitting_prompts(lengths: list[int], max_prompt_length: int | None, what: str = "", origin: str = "",
                    prompts: list[list[dict]] | None = None) -> list[int]:
    """The prompt pipeline's last step: the indices of the prompts of at most `max_prompt_length` tokens (all of
    them when it is 0 or None) that have a problem (`prompts`: the empty ones are dropped), or the one "no prompt
    fits" UsageError. `what` ("training ") and `origin` (" (the run's)") only fill in its wording."""
    empty = empty_problems(prompts) if prompts is not None else set()
    lengths = [n for i, n in enumerate(lengths) if i not in empty]
    indices = [i for i in range(len(lengths) + len(empty)) if i not in empty]
    keep = [i for i, n in zip(indices, lengths) if not max_prompt_length or n <= max_prompt_length]
    if lengths and not keep:
        shortest = min(lengths)
        raise UsageError(f"no {what}prompt fits --max_prompt_length {max_prompt_length}{origin}: the shortest has "
                         f"{shortest} tokens; pass --max_prompt_length {shortest} or more (or a shorter "
                         "--system_prompt)")
    return keep


def filter_by_prompt_length(dataset, tokenizer, max_prompt_length: int | None, what: str = "training "):
    """The rows whose chat-formatted prompt fits `max_prompt_length` tokens; returns (dataset, number dropped)."""
    lengths = [len(ids) for ids in tokenize_prompts(dataset["prompt"], tokenizer)]
    keep = fitting_prompts(lengths, max_prompt_length, what, prompts=dataset["prompt"])
    return dataset.select(keep), len(lengths) - len(keep) - len(empty_problems(dataset["prompt"]))


def check_split(split: str, flag: str) -> None:
    """A split with a slice `datasets` cannot parse (`train[:abc]`), refused before anything is loaded or written."""
    from datasets import ReadInstruction

    try:
        ReadInstruction.from_spec(split)
    except (ValueError, AssertionError):
        raise UsageError(f"{flag} {split!r} is not a valid split: write a name with an optional slice, e.g. train, "
                         "train[:500], train[:10%], train[10%:20%]") from None


def check_gradable(solutions: list, script_args) -> None:
    """Held-out references (the rows scored) without one gradable answer score n/a at every step: the run would end
    'never beat the base model' and keep the untrained step-0 adapter as its result. Refused before training (and
    reported by --check)."""
    if any(answer is not None for answer in reward.reference_answers(solutions)):
        return
    column = script_args.eval_solution_column or script_args.solution_column
    raise UsageError(f"held-out data {script_args.eval_dataset_id} ({script_args.eval_split}) has nothing to grade: no "
                     f"reference in its column {column!r} holds an answer (a \\boxed{{}}, '#### 18' or a bare "
                     f"answer) in the {len(solutions)} rows scored; choose the column with --eval_solution_column, or "
                     "drop --eval_dataset_id")
