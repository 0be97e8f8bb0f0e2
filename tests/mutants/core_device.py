"""Mutants of companion/core/device.py: device, threads, seeding, eval mode, seeded weights."""

TARGET = "companion/core/device.py"
TESTS = ["tests/test_core.py", "tests/test_core_plumbing.py"]
MUTANTS = [
    (
        "MPS preferred over nothing: the CPU is never chosen",
        '        return torch.device("mps")\n    return torch.device("cpu")',
        '        return torch.device("mps")\n    return torch.device("mps")',
    ),
    (
        "leave_a_core_free leaves no core free",
        "    threads = max(1, _TORCH_DEFAULT_THREADS - 1)",
        "    threads = max(1, _TORCH_DEFAULT_THREADS)",
    ),
    (
        "leave_a_core_free takes another core at every call",
        "    threads = max(1, _TORCH_DEFAULT_THREADS - 1)",
        "    threads = max(1, torch.get_num_threads() - 1)",
    ),
    (
        "seed_everything does not seed torch",
        "    torch.manual_seed(seed)  # also seeds every CUDA device",
        "    pass",
    ),
    (
        "eval_mode does not restore the previous mode",
        "        model.train(was_training)",
        "        model.train(True)",
    ),
    (
        "seeded does not restore the global generator",
        "    with torch.random.fork_rng(devices=[]):\n        torch.manual_seed(seed)\n        yield",
        "    torch.manual_seed(seed)\n    if True:\n        yield",
    ),
    (
        "seeded ignores its seed",
        "    with torch.random.fork_rng(devices=[]):\n        torch.manual_seed(seed)",
        "    with torch.random.fork_rng(devices=[]):\n        torch.manual_seed(0)",
    ),
]
