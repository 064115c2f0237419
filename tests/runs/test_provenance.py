"""What a committed result says about how it was measured."""

import os

from dann_jax.runs import provenance


def clear_speed_variables(monkeypatch):
    allocator = [name for name in os.environ if name.startswith("MALLOC_")]
    for name in ["XLA_FLAGS", "GLIBC_TUNABLES", *allocator]:
        monkeypatch.delenv(name, raising=False)


def test_the_command_of_a_result_is_as_typed_with_the_xla_flags_it_ran_under(monkeypatch):
    monkeypatch.setattr("sys.argv", ["experiments/benchmark.py", "--steps=3"])
    clear_speed_variables(monkeypatch)
    assert provenance.describe_machine()["command"] == "python experiments/benchmark.py --steps=3"

    monkeypatch.setenv("XLA_FLAGS", "--xla_a=1 --xla_b=2")
    assert provenance.describe_machine()["command"] == (
        "XLA_FLAGS='--xla_a=1 --xla_b=2' python experiments/benchmark.py --steps=3"
    )


def test_the_command_names_the_allocator_settings_it_ran_under(monkeypatch):
    monkeypatch.setattr("sys.argv", ["experiments/backbone_speed.py"])
    clear_speed_variables(monkeypatch)
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "0")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "1")
    assert provenance.describe_machine()["command"] == (
        "MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 python experiments/backbone_speed.py"
    )
