"""Counting per shard with Apache Beam's DirectRunner equals the tf.data count."""

from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs
from oversample import beam as ovs_beam
from shard_helpers import read, write_shards

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

beam = pytest.importorskip("apache_beam")


def _options(**settings):
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(runner="DirectRunner", **settings)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    labels = np.random.default_rng(3).integers(0, 5, 2_000) ** 3 + 7
    return write_shards(tmp_path_factory.mktemp("beam"), labels, num_shards=5)


@pytest.mark.parametrize(
    "settings",
    [{}, {"direct_num_workers": 2, "direct_running_mode": "multi_processing"}],
    ids=["in-memory", "two-processes"],
)
def test_beam_count_equals_the_tf_data_count(files, tmp_path, settings):
    counted = ovs_beam.count_shards(
        files, "label", output=str(tmp_path / "counts"), options=_options(**settings)
    )
    assert counted == ovs.count_labels(ovs.Shards(files, read))
    assert counted.sizes is not None


def test_a_callable_label_reads_the_record(files, tmp_path):
    from tensorflow.core.example import example_pb2

    def parity(record: bytes) -> str:
        example = example_pb2.Example.FromString(record)
        return (
            "even"
            if example.features.feature["id"].int64_list.value[0] % 2 == 0
            else "odd"
        )

    counted = ovs_beam.count_shards(files, parity, output=str(tmp_path / "p"))
    assert counted.classes == ("even", "odd")
    assert counted.counts == {"even": 1_000, "odd": 1_000}


def test_bad_input_is_refused(files, tmp_path):
    with pytest.raises(TypeError, match="label=3"):
        ovs_beam.count_shards(files, 3, output=str(tmp_path / "a"))
    with pytest.raises(Exception, match="no feature 'labels'"):
        ovs_beam.count_shards(files, "labels", output=str(tmp_path / "b"))
    ovs_beam.count_shards(files[:1], output=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="already holds counts"):
        ovs_beam.count_shards(files[:1], output=str(tmp_path / "c"))
