import numpy as np
import pytest
import skimage.data

from sparseae.datasets import load_colour_images, load_natural_images, whiten_image
from sparseae.datasets.images import COLOUR_IMAGE_NAMES, IMAGE_NAMES


@pytest.fixture(scope="module")
def raw():
    return load_natural_images(whiten=False)


@pytest.fixture(scope="module")
def white():
    return load_natural_images()


def spectral_slope(image):
    """Log-log slope of the amplitude spectrum over 4 to side/4 cycles."""
    amplitude = np.abs(np.fft.fft2(image - image.mean()))
    side = min(image.shape)
    fy = np.fft.fftfreq(image.shape[0])[:, None] * side
    fx = np.fft.fftfreq(image.shape[1])[None, :] * side
    f = np.hypot(fy, fx)
    band = (f >= 4) & (f <= side / 4)
    return np.polyfit(np.log(f[band]), np.log(amplitude[band]), 1)[0]


def test_ten_grey_float_images(raw, white):
    assert len(IMAGE_NAMES) == len(raw) == len(white) == 10
    for r, w in zip(raw, white, strict=True):
        assert r.ndim == 2 and r.dtype == np.float64 and r.shape == w.shape
        assert min(r.shape) >= 300
        assert 0 <= r.min() and r.max() <= 1
    np.testing.assert_allclose(raw[0], skimage.data.camera() / 255)


def test_whitened_zero_mean_variance_point_one(white):
    for w in white:
        assert abs(w.mean()) < 1e-10
        assert w.var() == pytest.approx(0.1, rel=1e-12)


def test_whitening_flattens_the_spectrum(raw, white):
    for r, w in zip(raw, white, strict=True):
        before, after = spectral_slope(r), spectral_slope(w)
        assert before < -0.8  # natural images fall off roughly as 1/f
        assert abs(after) < abs(before)
        # The ramp f raises the log-log slope by one, less the cut-off's droop.
        assert 0.8 < after - before < 1.05


def test_smaller_f0_removes_more_high_frequencies(raw):
    image = raw[0]
    default, low = whiten_image(image), whiten_image(image, f0=0.1 * 512)

    def high_energy(x):
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(512), np.fft.fftfreq(512)))
        return np.sum(np.abs(np.fft.fft2(x))[f > 0.3] ** 2)

    assert high_energy(low) < 0.01 * high_energy(default)


def test_filter_is_isotropic_on_non_square_images():
    impulse = np.zeros((64, 96))
    impulse[32, 32] = 1
    kernel = whiten_image(impulse)
    assert kernel[32, 35] == pytest.approx(kernel[35, 32], rel=0.01)
    transposed = whiten_image(impulse.T)
    np.testing.assert_allclose(transposed, kernel.T, atol=1e-12)


@pytest.mark.parametrize(
    ("image", "kwargs", "match"),
    [
        (np.zeros((4, 4, 3)), {}, r"2-D grey-scale.*\(4, 4, 3\)"),
        (np.zeros((1, 8)), {}, "at least 2 pixels"),
        (np.random.default_rng(0).random((8, 8)), {"f0": 0}, "f0 must be .* got 0"),
        (np.ones((8, 8)), {}, "constant"),
        # These returned NaN images, or a TypeError naming neither f0 nor 'a'.
        (np.eye(8) * np.nan, {}, "finite, got nan at row 0, column 0"),
        (np.random.default_rng(0).random((8, 8)), {"f0": "a"}, "f0 .* got 'a'"),
        (np.random.default_rng(0).random((8, 8)), {"f0": True}, "f0 .* got True"),
    ],
)
def test_whiten_image_errors(image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        whiten_image(image, **kwargs)


def test_colour_images():
    images = load_colour_images()
    assert len(images) == len(COLOUR_IMAGE_NAMES) == 6
    for image in images:
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.float64
        assert 0 <= image.min() and image.max() <= 1
    np.testing.assert_allclose(images[0], skimage.data.astronaut() / 255)
