import numpy as np
import pytest

from dann_jax.data import arrays, blend_with_photos, load_domains
from dann_jax.data.offline import digits_to_blended_digits, moons


def test_blend_is_the_mnist_m_recipe():
    digits = np.zeros((2, 4, 4), np.float32)
    digits[:, 1:3, 1:3] = 0.9  # binarised to 1
    digits[:, 0, 0] = 0.4  # binarised to 0
    photo = np.linspace(0, 1, 6 * 6 * 3, dtype=np.float32).reshape(6, 6, 3)
    rng = np.random.default_rng(0)
    blended = blend_with_photos(digits, [photo], rng)
    assert blended.shape == (2, 4, 4, 3)
    # Recover each crop: where the digit is 0 the blend is the patch itself.
    for image in blended:
        matches = [
            (top, left)
            for top in range(3)
            for left in range(3)
            if np.allclose(image[0, :1], photo[top, left : left + 1])
            and np.allclose(image[3], photo[top + 3, left : left + 4])
        ]
        top, left = matches[0]
        patch = photo[top : top + 4, left : left + 4]
        np.testing.assert_allclose(image[1:3, 1:3], 1 - patch[1:3, 1:3], rtol=1e-6)


def test_digits_to_blended_digits_are_disjoint_stratified_and_in_range():
    domains = digits_to_blended_digits(
        seed=0, source_train=100, source_test=50, target_train=60, target_test=50
    )
    assert domains.source_train.inputs.shape == (100, 28, 28, 3)
    assert domains.target_test.inputs.shape == (50, 28, 28, 3)
    for split in (
        domains.source_train,
        domains.source_test,
        domains.target_train,
        domains.target_test,
    ):
        assert split.inputs.dtype == np.float32 and split.labels.dtype == np.int32
        assert split.inputs.min() >= 0.0 and split.inputs.max() <= 1.0
        assert np.bincount(split.labels, minlength=10).min() >= 4
    # Source images are grey (three equal channels); target ones are colour.
    np.testing.assert_array_equal(
        domains.source_train.inputs[..., 0], domains.source_train.inputs[..., 2]
    )
    assert (
        np.abs(domains.target_train.inputs[..., 0] - domains.target_train.inputs[..., 2]).mean()
        > 0.01
    )
    # Disjoint: no source digit reappears among the source test digits.
    train = {image.tobytes() for image in domains.source_train.inputs}
    assert not any(image.tobytes() in train for image in domains.source_test.inputs)


def test_digits_refuse_more_than_exist():
    with pytest.raises(ValueError, match="only 1797 exist"):
        digits_to_blended_digits(
            source_train=1000, source_test=500, target_train=500, target_test=500
        )


def test_moons_target_is_the_source_rotated_by_35_degrees():
    domains = moons(seed=0, per_class=500, noise=0.0)
    centre = np.array([0.5, 0.25])

    def mean_angle(split):
        offsets = split.inputs - centre
        return np.degrees(np.arctan2(offsets[:, 1], offsets[:, 0]))

    assert domains.source_train.inputs.shape == (1000, 2)
    assert np.bincount(domains.target_test.labels).tolist() == [500, 500]
    source_angles, target_angles = (
        mean_angle(domains.source_train),
        mean_angle(domains.target_train),
    )
    # Noise-free moons: every target point lies on the source curve rotated by 35 degrees.
    rotated_back = domains.target_train.inputs - centre
    angle = np.radians(-35)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    back = rotated_back @ rotation.T + centre
    distances = np.min(
        np.linalg.norm(back[:, None] - domains.source_train.inputs[None], axis=-1), axis=1
    )
    assert distances.max() < 0.02
    assert not np.allclose(source_angles.mean(), target_angles.mean())


def test_load_domains_by_name():
    assert load_domains("moons", seed=1).source_train.inputs.shape == (300, 2)
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        load_domains("mnist")


def test_channel_mean_over_domains():
    first = np.ones((2, 3, 3, 2), np.float32)
    second = np.zeros((6, 3, 3, 2), np.float32)
    np.testing.assert_allclose(arrays.channel_mean(first, second), [0.25, 0.25])


def test_channel_mean_makes_no_float_copy_of_a_whole_domain():
    import tracemalloc

    images = np.random.default_rng(0).integers(0, 256, (6000, 28, 28, 3), dtype=np.uint8)
    tracemalloc.start()
    mean = arrays.channel_mean(images, images[:1000], chunk=500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole_float_copy = images.size * 4
    assert peak < whole_float_copy / 3, f"{peak / 1e6:.1f} MB"
    both = np.concatenate([images, images[:1000]])
    expected = arrays.to_float(both).reshape(-1, 3).mean(0, dtype=np.float64)
    np.testing.assert_allclose(mean, expected, rtol=1e-6)
