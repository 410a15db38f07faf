"""Several machines: deepspeed_configs/multinode.yaml (GPUs) and its CPU twin multinode_cpu.yaml, with two "machines"
on loopback. Each machine is its own `accelerate launch` (as on a cluster: same command, its own --machine_rank),
DeepSpeed's 'standard' multi-node launcher (one torchrun per machine, no pdsh or hostfile), ZeRO-2 over gloo.
"""
import json
import os
import subprocess
import time

import pytest

from test_multigpu import CONFIGS, LAUNCH_ENV, REPO, TIMEOUT, check_adapter, free_port, launch_cmd, output, \
    parse_launch, global_step


@pytest.mark.parametrize("name", ["multinode.yaml", "multinode_cpu.yaml"])
def test_multinode_config_parses_with_the_main_nodes_address(name):
    """The yamls hold a placeholder address: the command line gives the real one, as the README shows."""
    from accelerate.utils import DistributedType

    args, defaults, _ = parse_launch("--config_file", str(CONFIGS / name), "--machine_rank", "1",
                                     "--main_process_ip", "10.1.2.3")
    assert defaults.distributed_type == DistributedType.DEEPSPEED and args.use_deepspeed
    assert defaults.main_process_ip == "MAIN_NODE_IP", "a placeholder, not somebody's real address"
    assert (args.num_machines, args.machine_rank, args.main_process_ip) == (2, 1, "10.1.2.3")
    assert args.deepspeed_multinode_launcher == "standard"
    assert defaults.deepspeed_config["zero_stage"] == 2
    assert args.num_processes % args.num_machines == 0
    assert defaults.use_cpu is name.endswith("_cpu.yaml")


def machine_cmd(demo_dir, out, rank: int, port: int) -> list[str]:
    cmd = launch_cmd("multinode_cpu.yaml", demo_dir, out, "--max_steps", "2", "--save_steps", "2")
    at = cmd.index("main.py")
    cmd[cmd.index("--main_process_port") + 1] = str(port)
    return cmd[:at] + ["--machine_rank", str(rank), "--main_process_ip", "127.0.0.1"] + cmd[at:]


@pytest.mark.slow
def test_two_machines_on_loopback_train_one_adapter(demo_dir, tmp_path):
    """Machine 0 and machine 1 each run one process; both take part in every step (each saves its own ZeRO-2
    optimizer shard and RNG state), rank 0 alone prints and writes the run's files, and the one adapter reloads."""
    out = tmp_path / "run"
    port = free_port()
    start = time.monotonic()
    logs = [(tmp_path / f"machine{rank}.out", tmp_path / f"machine{rank}.err") for rank in (0, 1)]
    machines = []
    try:
        for rank, (stdout, stderr) in enumerate(logs):  # files, not pipes: neither machine can block on a full pipe
            with open(stdout, "w") as out_file, open(stderr, "w") as err_file:
                machines.append(subprocess.Popen(machine_cmd(demo_dir, out, rank, port), cwd=REPO,
                                                 env={**os.environ, **LAUNCH_ENV}, stdout=out_file, stderr=err_file))
        for m in machines:
            m.wait(timeout=TIMEOUT)
    finally:
        for m in machines:
            if m.poll() is None:
                m.kill()
                m.wait()
    procs = [subprocess.CompletedProcess(m.args, m.returncode, stdout.read_text(), stderr.read_text())
             for m, (stdout, stderr) in zip(machines, logs)]
    for rank, proc in enumerate(procs):
        assert proc.returncode == 0, f"machine {rank}:\n{output(proc)}"
    main, other = procs
    assert main.stdout.count("Training finished after 2 steps") == 1, output(main)
    assert "Training finished" not in other.stdout and "max_prompt_length=" not in other.stdout, output(other)
    config = json.loads((out / "run_config.json").read_text())
    assert config["finished"] is True and config["hardware"].endswith("2 process(es)")
    checkpoint = out / "checkpoint-2"
    assert global_step(checkpoint) == 2
    assert sorted(p.name for p in checkpoint.glob("rng_state_*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
    shards = sorted(p.name for p in checkpoint.glob("global_step2/*optim_states.pt"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    # 2 per device x 2 processes (one per machine) x 8 accumulation = 32 completions per step, counted over machines.
    history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in history if "loss" in e] == [1, 2]
    assert list(out.glob("adapter_model.safetensors")), "one adapter in --output_dir"
    check_adapter(out, demo_dir, same_as=checkpoint)
    print(f"\ntwo machines on loopback, ZeRO-2: {time.monotonic() - start:.1f} s wall")
