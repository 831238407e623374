"""The Evaluator's baseline: the newest blessed model that is not the candidate."""

from tfx.types import standard_artifacts

from pipeline import baseline
from pipeline.baseline import LatestBlessedOtherModelStrategy


def model(model_id: int) -> standard_artifacts.Model:
    artifact = standard_artifacts.Model()
    artifact.id = model_id
    artifact.uri = f"/models/{model_id}"
    return artifact


def blessing(blessing_id: int, model_id: int, blessed: bool) -> standard_artifacts.ModelBlessing:
    artifact = standard_artifacts.ModelBlessing()
    artifact.id = blessing_id
    artifact.set_int_custom_property("blessed", int(blessed))
    artifact.set_int_custom_property("current_model_id", model_id)
    return artifact


def resolve(models, blessings, candidate):
    return LatestBlessedOtherModelStrategy().resolve_artifacts(
        None,
        {
            baseline.MODEL: models,
            baseline.MODEL_BLESSING: blessings,
            baseline.CANDIDATE: [candidate],
        },
    )


def ids(artifacts) -> list[int]:
    return [a.id for a in artifacts]


def test_no_blessings_resolves_no_baseline():
    models = [model(1), model(2)]
    resolved = resolve(models, [], candidate=models[1])
    assert resolved[baseline.MODEL] == []
    assert resolved[baseline.MODEL_BLESSING] == []
    assert ids(resolved[baseline.CANDIDATE]) == [2]


def test_first_model_has_no_baseline():
    candidate = model(1)
    resolved = resolve([candidate], [], candidate=candidate)
    assert resolved[baseline.MODEL] == []


def test_candidate_never_is_its_own_baseline():
    # An unchanged re-run: the cached Trainer's model is the only blessed one. The
    # baseline must stay empty, as in the first run, so the Evaluator's cache holds.
    candidate = model(1)
    resolved = resolve([candidate], [blessing(10, 1, blessed=True)], candidate=candidate)
    assert resolved[baseline.MODEL] == []
    assert resolved[baseline.MODEL_BLESSING] == []
    assert ids(resolved[baseline.CANDIDATE]) == [1]


def test_newest_blessed_other_model_is_chosen():
    models = [model(1), model(2), model(3), model(4)]
    blessings = [
        blessing(10, 1, blessed=True),
        blessing(11, 2, blessed=True),
        blessing(12, 3, blessed=False),
        blessing(13, 4, blessed=True),
    ]
    resolved = resolve(models, blessings, candidate=models[3])
    assert ids(resolved[baseline.MODEL]) == [2]
    assert ids(resolved[baseline.MODEL_BLESSING]) == [11]
    assert ids(resolved[baseline.CANDIDATE]) == [4]


def test_newest_is_by_id_not_input_order():
    models = [model(5), model(2), model(7)]
    blessings = [blessing(20, 2, True), blessing(21, 5, True)]
    resolved = resolve(models, blessings, candidate=models[2])
    assert ids(resolved[baseline.MODEL]) == [5]
    assert ids(resolved[baseline.MODEL_BLESSING]) == [21]


def test_unblessed_models_are_ignored():
    models = [model(1), model(2), model(3)]
    blessings = [blessing(10, 1, blessed=True), blessing(11, 2, blessed=False)]
    resolved = resolve(models, blessings, candidate=models[2])
    assert ids(resolved[baseline.MODEL]) == [1]
    assert ids(resolved[baseline.MODEL_BLESSING]) == [10]


def test_only_unblessed_models_resolve_no_baseline():
    models = [model(1), model(2)]
    resolved = resolve(models, [blessing(10, 1, blessed=False)], candidate=models[1])
    assert resolved[baseline.MODEL] == []
    assert resolved[baseline.MODEL_BLESSING] == []


def test_a_later_blessing_of_the_same_model_counts():
    # A model judged twice (e.g. a rejected and a blessed evaluation) is blessed.
    models = [model(1), model(2)]
    blessings = [blessing(10, 1, blessed=False), blessing(11, 1, blessed=True)]
    resolved = resolve(models, blessings, candidate=models[1])
    assert ids(resolved[baseline.MODEL]) == [1]
    assert ids(resolved[baseline.MODEL_BLESSING]) == [11]
