import struct

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from dann_jax.evaluation import metrics
from dann_jax.runs import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """t-SNE's OpenMP threads slow it down many times over on a small, busy machine."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def png_size(path):
    """(width, height) in pixels from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def clouds(rng, source_count=80, target_count=60, shift=4.0):
    return rng.normal(size=(source_count, 16)), rng.normal(size=(target_count, 16)) + shift


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_feature_embedding_draws_one_panel_per_method(rng, tmp_path, method):
    one, three = tmp_path / "one.png", tmp_path / "three.png"
    plots.feature_embedding({"dann": clouds(rng)}, one, method=method)
    features = {"source_only": clouds(rng), "dann": clouds(rng, shift=0.0), "x": clouds(rng)}
    plots.feature_embedding(features, three, method=method, max_points=40)
    (one_width, one_height), (three_width, three_height) = png_size(one), png_size(three)
    assert three_width == 3 * one_width  # panels 5 inches wide each
    assert one_height == three_height


def test_embed_features_subsamples_each_domain(rng):
    source, target = clouds(rng, source_count=80, target_count=30)
    points, domains = metrics.embed_features(source, target, method="pca", max_points=50)
    assert points.shape == (80, 2)
    assert np.bincount(domains).tolist() == [50, 30]
    # Shifted clouds stay apart along the first principal component.
    assert abs(points[domains == 0, 0].mean() - points[domains == 1, 0].mean()) > 10


def test_embed_features_is_deterministic_for_a_seed(rng):
    source, target = clouds(rng)
    first = metrics.embed_features(source, target, seed=1, max_points=40)
    second = metrics.embed_features(source, target, seed=1, max_points=40)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_embed_features_rejects_unknown_methods(rng):
    with pytest.raises(ValueError, match="umap"):
        metrics.embed_features(*clouds(rng), method="umap")


def test_training_curves_writes_a_png(tmp_path):
    names = [name for name, _ in plots.CURVES]
    history = [{"step": step, **dict.fromkeys(names, 1.0 / step)} for step in (10, 20, 30)]
    path = tmp_path / "curves.png"
    plots.training_curves({"dann": history, "source_only": history}, path)
    assert png_size(path) == (1300, 700)
