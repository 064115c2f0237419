"""Picks without target labels, as pure functions: one run's checkpoints, a sweep's
settings over seeds, and their tables, with and without the labels to report."""

import pytest

from dann_jax.evaluation import selection

SCORES = {"information_maximization": [1.0, 3.0, 2.0], "class_ami": [5.0, 1.0, 5.0]}


def test_an_unlabelled_target_gets_each_validators_pick_and_the_chosen_step_alone():
    record = selection.pick_checkpoints([10, 20, 30], SCORES)
    assert record["picks"] == {"information_maximization": {"step": 20}, "class_ami": {"step": 10}}
    assert record["chosen"] == {"validator": "information_maximization", "step": 20}
    assert not selection.labelled(record) and "target_accuracy" not in record
    table = selection.selection_table({"dann": record})
    assert "| **information_maximization** (chosen) | step 20 |" in table
    assert "oracle" not in table and "| last | step 30 |" in table
    notes = selection.selection_notes({"dann": record})
    assert any("The target has no labels" in note for note in notes)


def test_with_labels_the_oracle_and_rank_correlations_are_reported_beside_the_same_picks():
    record = selection.pick_checkpoints([10, 20, 30], SCORES, [0.5, 0.7, 0.6], 0.65, 3)
    assert record["picks"]["information_maximization"] == {"step": 20, "target_accuracy": 0.7}
    assert record["oracle"] == {"step": 20, "target_accuracy": 0.7}
    assert record["rank_correlation"]["information_maximization"] == pytest.approx(1.0)
    assert record["chosen"]["step"] == 20
    table = selection.selection_table({"dann": record})
    assert "step 20, 0.700, rank corr. +1.00" in table and selection.ORACLE in table


def test_one_checkpoint_says_how_to_keep_more_and_another_validator_may_choose():
    record = selection.pick_checkpoints([1600], {"class_ami": [0.3]}, chosen_by="class_ami")
    assert record["chosen"] == {"validator": "class_ami", "step": 1600}
    notes = " ".join(selection.selection_notes({"dann": record}))
    assert "one checkpoint, so every validator picks it" in notes
    assert "--config.checkpoint_every=N" in notes
    with pytest.raises(ValueError, match="no validator 'entropy'"):
        selection.pick_checkpoints([1600], {"class_ami": [0.3]}, chosen_by="entropy")


def test_a_sweep_without_target_labels_counts_the_settings_each_validator_picks():
    per_seed = {
        seed: selection.pick_settings(
            {
                "learning_rate=0.1": {"dann": selection.pick_checkpoints([5, 10], {"im": [1, 4]},
                                                                         chosen_by="im")},
                "learning_rate=0.01": {"dann": selection.pick_checkpoints([5, 10], {"im": [3, 2]},
                                                                          chosen_by="im")},
            }
        )
        for seed in (0, 1)
    }  # fmt: skip
    assert per_seed[0]["dann"] == {"picks": {"im": {"setting": "learning_rate=0.1", "step": 10}}}
    summary = selection.over_seeds(per_seed)
    assert summary == {"dann": {"picked": {"im": {"learning_rate=0.1": 2}}}}
    assert "| im | picked learning_rate=0.1 (2) |" in selection.seeds_table(summary)
