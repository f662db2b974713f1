from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs
from tf_helpers import copies_per_position, labelled, tail

tf = pytest.importorskip("tensorflow")


# count_labels


def test_count_labels_reads_dict_tuple_nested_and_callable_labels():
    labels = tail()
    expected = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    expected = {int(k): int(v) for k, v in expected.items()}
    ds = labelled(labels)
    assert ovs.count_labels(ds) == expected
    pairs = tf.data.Dataset.from_tensor_slices((np.zeros(labels.size), labels))
    assert ovs.count_labels(pairs, label=1) == expected
    nested = tf.data.Dataset.from_tensor_slices({"objects": {"label": labels}})
    assert ovs.count_labels(nested, label="objects/label") == expected
    assert ovs.count_labels(ds, label=lambda e: e["label"] + 10) == {
        k + 10: v for k, v in expected.items()
    }


def test_count_labels_works_with_unknown_cardinality_and_strings():
    words = np.array(["a", "b", "a", "ü", "a"])
    ds = tf.data.Dataset.from_tensor_slices({"label": words}).filter(lambda e: True)
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    assert ovs.count_labels(ds) == {"a": 3, "b": 1, "ü": 1}


def test_count_labels_keeps_wide_ints():
    ds = tf.data.Dataset.from_tensor_slices({"label": np.array([2**40, -3, 2**40])})
    assert ovs.count_labels(ds) == {-3: 1, 2**40: 2}


def test_count_labels_refuses_an_infinite_dataset_at_once():
    with pytest.raises(ValueError, match=r"infinite.*count before `.repeat"):
        ovs.count_labels(labelled([0, 1]).repeat())


def test_missing_label_key_lists_the_keys():
    with pytest.raises(ValueError, match=r"'labels' is not a key.*'label', 'position'"):
        ovs.count_labels(labelled([0, 1]), label="labels")


def test_float_bool_and_non_scalar_labels_are_refused():
    ds = tf.data.Dataset.from_tensor_slices({"label": [0.0, 1.0]})
    with pytest.raises(TypeError, match=r"dtype float32; labels must be ints"):
        ovs.count_labels(ds)
    ds = tf.data.Dataset.from_tensor_slices({"label": [True, False]})
    with pytest.raises(TypeError, match=r"dtype bool"):
        ovs.count_labels(ds)
    ds = tf.data.Dataset.from_tensor_slices({"label": np.zeros((2, 2, 2), np.int64)})
    with pytest.raises(ValueError, match=r"scalar label.*shape \(2, 2\)"):
        ovs.count_labels(ds)


def test_tuple_position_out_of_range_is_refused():
    pairs = tf.data.Dataset.from_tensor_slices(([1, 2], [0, 1]))
    with pytest.raises(ValueError, match=r"label`=2 is a tuple position.*tuples of 2"):
        ovs.count_labels(pairs, label=2)


# balance: exactness against the plan


@pytest.mark.parametrize("strategy", ["not majority", "sqrt", {5: 9, 4: 3}])
@pytest.mark.parametrize("rounding", ["exact", "stochastic"])
@pytest.mark.parametrize("epoch", [0, 3])
def test_epoch_k_streams_exactly_the_plans_copies(strategy, rounding, epoch):
    labels = tail()
    plan = ovs.plan(labels, strategy, seed=11, rounding=rounding)
    out = ovs.balance(labelled(labels), plan=plan, epoch=epoch)
    assert copies_per_position(out, labels.size).tolist() == plan.copies(epoch).tolist()
    if rounding == "exact":
        assert int(out.cardinality()) == plan.total


@pytest.mark.parametrize("mode", [{"epoch": 4}, {"epochs": 2, "shuffle_buffer": 0}])
def test_counts_carry_across_blocks_and_epochs(mode):
    labels = np.tile(tail(), 40)  # 3,560 samples: several blocks of 1,024
    plan = ovs.plan(labels, seed=5)
    out = ovs.balance(labelled(labels), plan=plan, **mode)
    positions = np.array([int(e["position"]) for e in out])
    if "epoch" in mode:
        counted = np.bincount(positions, minlength=labels.size)
        assert counted.tolist() == plan.copies(4).tolist()
        return
    for epoch in range(2):
        block = positions[epoch * plan.total : (epoch + 1) * plan.total]
        counted = np.bincount(block, minlength=labels.size)
        assert counted.tolist() == plan.copies(epoch).tolist()


def test_balance_plans_from_counts_like_the_core():
    labels = tail(3)
    out = ovs.balance(labelled(labels), strategy="sqrt", seed=4, epoch=2)
    core = ovs.plan(labels, "sqrt", seed=4)
    assert out.plan.targets == core.targets
    assert copies_per_position(out, labels.size).tolist() == core.copies(2).tolist()


def test_counts_given_skips_counting_and_agrees():
    labels = tail()
    counts = ovs.count_labels(labelled(labels))
    a = ovs.balance(labelled(labels), counts=counts, seed=2, epoch=1)
    b = ovs.balance(labelled(labels), seed=2, epoch=1)
    assert [int(e["position"]) for e in a] == [int(e["position"]) for e in b]


def test_copies_are_bit_identical_and_spec_unchanged():
    labels = tail()
    ds = labelled(labels)
    images = {int(e["position"]): e["image"].numpy() for e in ds}
    out = ovs.balance(ds, seed=0)
    assert out.element_spec == ds.element_spec
    for element in out:
        assert np.array_equal(
            element["image"].numpy(), images[int(element["position"])]
        )


def test_ragged_and_sparse_features_pass_through_unchanged():
    rows = [[1], [2, 3], [], [4, 5, 6]]
    ds = tf.data.Dataset.from_tensor_slices(
        {"label": [0, 0, 0, 1], "tokens": tf.ragged.constant(rows)}
    ).map(lambda e: {**e, "sparse": tf.sparse.from_dense(tf.reshape(e["label"], [1]))})
    out = ovs.balance(ds, seed=0)
    assert out.element_spec == ds.element_spec
    seen = sorted(
        (e["tokens"].numpy().tolist(), tf.sparse.to_dense(e["sparse"]).numpy().tolist())
        for e in out
    )
    assert seen.count(([4, 5, 6], [1])) == 3
    assert ([2, 3], [0]) in seen


def test_provenance_adds_key_and_copy_index():
    labels = tail()
    out = ovs.balance(labelled(labels), seed=0, epoch=0, provenance=True)
    element, provenance = out.element_spec
    assert set(provenance) == {"key", "copy"}
    by_key: dict[int, list[int]] = {}
    for element, provenance in out:
        assert int(provenance["key"]) == int(element["position"])
        by_key.setdefault(int(provenance["key"]), []).append(int(provenance["copy"]))
    for copies in by_key.values():
        assert sorted(copies) == list(range(len(copies)))


def test_each_iteration_is_a_fresh_epoch_with_exact_class_totals():
    labels = tail()
    out = ovs.balance(labelled(labels), seed=6)
    runs = [[int(e["position"]) for e in out] for _ in range(3)]
    assert runs[0] != runs[1]
    targets = out.plan.targets
    choices = set()
    for run in runs:
        per_class = np.bincount(labels[run], minlength=6)
        assert per_class.tolist() == [targets[c] for c in range(6)]
        choices.add(tuple(np.bincount(run, minlength=labels.size)))
    assert len(choices) > 1, "the samples with the extra copy change between epochs"


def test_fresh_epochs_are_deterministic_for_a_seed():
    labels = tail()
    a = ovs.balance(labelled(labels), seed=6)
    b = ovs.balance(labelled(labels), seed=6)
    assert [[int(e["position"]) for e in a] for _ in range(2)] == [
        [int(e["position"]) for e in b] for _ in range(2)
    ]


def test_epochs_stream_each_epoch_exactly():
    labels = tail()
    plan = ovs.plan(labels, seed=8)
    out = ovs.balance(labelled(labels), plan=plan, epochs=3, shuffle_buffer=0)
    assert int(out.cardinality()) == 3 * plan.total
    positions = np.array([int(e["position"]) for e in out])
    for epoch in range(3):
        block = positions[epoch * plan.total : (epoch + 1) * plan.total]
        counted = np.bincount(block, minlength=labels.size)
        assert counted.tolist() == plan.copies(epoch).tolist()


def test_endless_epochs_are_infinite():
    out = ovs.balance(labelled(tail()), seed=0, epochs=None)
    assert int(out.cardinality()) == tf.data.INFINITE_CARDINALITY
    assert len(list(out.take(500))) == 500


def test_tuple_elements_and_string_labels():
    words = np.array(["cat"] * 6 + ["dog"] * 2)
    pairs = tf.data.Dataset.from_tensor_slices((np.arange(8), words))
    out = ovs.balance(pairs, label=1, seed=0)
    assert out.element_spec == pairs.element_spec
    got = sorted(w.decode() for _, w in out.as_numpy_iterator())
    assert got == ["cat"] * 6 + ["dog"] * 6


def test_wide_int_labels_are_not_narrowed():
    labels = np.array([2**40] * 5 + [7], dtype=np.int64)
    out = ovs.balance(labelled(labels), seed=0)
    assert out.plan.classes == (7, 2**40)
    assert sorted(int(e["label"]) for e in out).count(7) == 5


def test_multi_label_vectors_with_repeat_factor():
    rows = [[0, 1], [0, 0], [0, 2], [0, 0], [0, 0], [0, 0]]
    ds = tf.data.Dataset.from_tensor_slices(
        {"label": np.array(rows), "position": np.arange(6)}
    )
    out = ovs.balance(ds, strategy=ovs.RepeatFactor(1.0), seed=1, epoch=0)
    assert copies_per_position(out, 6).tolist() == out.plan.copies(0).tolist()
    ragged = tf.data.Dataset.from_tensor_slices(
        {
            "label": tf.ragged.constant([[0, 1], [0], [0, 2], [0], [0], [0]]),
            "position": np.arange(6),
        }
    )
    again = ovs.balance(ragged, strategy=ovs.RepeatFactor(1.0), seed=1, epoch=0)
    assert copies_per_position(again, 6).tolist() == out.plan.copies(0).tolist()


def test_inside_tf_function_and_keras_fit():
    labels = np.repeat(np.arange(3), [30, 10, 3])
    x = np.random.default_rng(0).normal(size=(labels.size, 4)).astype("float32")
    ds = ovs.balance(tf.data.Dataset.from_tensor_slices((x, labels)), label=1, seed=0)

    @tf.function
    def count(d):
        total = tf.constant(0, tf.int64)
        for _, y in d:
            total += tf.cast(tf.shape(y)[0], tf.int64)
        return total

    assert int(count(ds.batch(8))) == 90
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3)])
    model.compile(
        "sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = model.fit(ds.batch(8), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("make", ["one device", "mirrored"])
def test_under_a_distribution_strategy(make):
    labels = np.repeat(np.arange(3), [30, 10, 3])
    ds = ovs.balance(labelled(labels), seed=0).batch(10)
    if make == "mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    else:
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    seen = []
    for batch in strategy.experimental_distribute_dataset(ds):
        for local in strategy.experimental_local_results(batch["label"]):
            seen.extend(local.numpy().tolist())
    assert np.bincount(seen).tolist() == [30, 30, 30]


# duplicate


def test_duplicate_every_sample_k_times():
    out = ovs.duplicate(tf.data.Dataset.range(10), copies=3, seed=0)
    assert int(out.cardinality()) == 30
    assert sorted(int(x) for x in out) == sorted(list(range(10)) * 3)


def test_duplicate_where_predicate():
    labels = tail()
    out = ovs.duplicate(labelled(labels), copies=3, where=lambda e: e["label"] == 4)
    expected = np.where(labels == 4, 3, 1)
    assert copies_per_position(out, labels.size).tolist() == expected.tolist()


def test_duplicate_chosen_indices():
    labels = tail()
    out = ovs.duplicate(labelled(labels), copies=2, indices=range(10))
    expected = np.where(np.arange(labels.size) < 10, 2, 1)
    assert copies_per_position(out, labels.size).tolist() == expected.tolist()
    assert int(out.cardinality()) == labels.size + 10


def test_duplicate_per_class_whole_and_fractional():
    labels = tail()
    out = ovs.duplicate(labelled(labels), copies={5: 4, 3: 2}, label="label")
    expected = np.select([labels == 5, labels == 3], [4, 2], 1)
    assert copies_per_position(out, labels.size).tolist() == expected.tolist()
    half = ovs.duplicate(labelled(labels), copies={2: 1.5}, label="label", seed=0)
    counted = copies_per_position(half, labels.size)
    assert counted[labels == 2].sum() == round(13 * 1.5)


def test_duplicate_weight_from_the_element_agrees_with_a_weights_plan():
    weights = np.array([1.0, 2.5, 1.25, 3.0, 1.75, 1.0, 4.5])
    ds = tf.data.Dataset.from_tensor_slices(
        {"weight": weights, "position": np.arange(weights.size)}
    )
    out = ovs.duplicate(ds, copies=lambda e: e["weight"], seed=3, epoch=2)
    plan = ovs.plan(weights=weights, seed=3)
    assert copies_per_position(out, weights.size).tolist() == plan.copies(2).tolist()
    assert int(out.cardinality()) == plan.total


def test_duplicate_fractional_copies_for_all():
    out = ovs.duplicate(labelled(tail()), copies=1.5, seed=0)
    assert int(out.cardinality()) == round(89 * 1.5)
    counted = copies_per_position(out, 89)
    assert set(counted.tolist()) == {1, 2}


# Order independence


def test_stable_keys_make_a_reshuffled_source_exact():
    labels = tail()
    ids = np.array([f"shard-{i % 3}__{i}" for i in range(labels.size)])
    source = labelled(labels, id=ids)
    shuffled = source.shuffle(labels.size, seed=5, reshuffle_each_iteration=True)
    out = ovs.balance(shuffled, key="id", seed=2, epoch=1)
    rank = {k.encode(): r for r, k in enumerate(np.sort(ids))}
    expected = out.plan.copies(1)
    for _ in range(2):
        got = np.zeros(labels.size, np.int64)
        for element in out:
            got[rank[element["id"].numpy()]] += 1
        assert got.tolist() == expected.tolist()
    in_order = ovs.balance(source, key="id", seed=2, epoch=1)
    assert in_order.plan == out.plan
    got = np.zeros(labels.size, np.int64)
    for element in in_order:
        got[rank[element["id"].numpy()]] += 1
    assert got.tolist() == expected.tolist()


def test_stable_keys_must_be_unique():
    source = labelled([0, 0, 1], id=np.array(["a", "b", "a"]))
    with pytest.raises(
        ValueError, match=r"unique per sample; these keys repeat: \['a'\]"
    ):
        ovs.balance(source, key="id", seed=0)


def test_key_mode_provenance_reports_the_plans_sample():
    labels = tail()
    ids = np.arange(labels.size)[::-1] * 7
    source = labelled(labels, id=ids).shuffle(50, seed=1)
    out = ovs.balance(source, key="id", seed=0, epoch=0, provenance=True)
    counted = np.zeros(labels.size, np.int64)
    for _, provenance in out:
        counted[int(provenance["key"])] += 1
    assert counted.tolist() == out.plan.copies(0).tolist()
