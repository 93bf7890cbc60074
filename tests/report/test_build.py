import base64
import io
import json
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from sparseae import SparseAutoencoder, load, save
from sparseae.cli import main
from sparseae.metrics import summarize
from sparseae.report import build_report, model_html, write_report

pytestmark = pytest.mark.usefixtures("one_blas_thread")


class Page(HTMLParser):
    """Every start tag with its attributes, in order."""

    def __init__(self, html):
        super().__init__()
        self.tags = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag=None, **wanted):
        return [
            attrs
            for name, attrs in self.tags
            if (tag is None or name == tag)
            and all(attrs.get(k) == v for k, v in wanted.items())
        ]

    def cards(self):
        return [attrs for _, attrs in self.tags if "data-unit" in attrs]

    def having(self, tag, attribute):
        """The attributes of every ``tag`` that has ``attribute``."""
        return [
            attrs for name, attrs in self.tags if name == tag and attribute in attrs
        ]


def check_self_contained(page):
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            if name not in attrs:
                continue
            value = attrs[name]
            assert not value.lower().startswith(("http:", "https:", "//")), (tag, attrs)
            if name == "src":
                assert value.startswith("data:image/png;base64,"), (tag, value[:40])
            if name == "href":
                assert value.startswith("#"), (tag, value)
    assert not page.all("link")
    assert all("src" not in attrs for attrs in page.all("script"))


def decode(uri):
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    image.load()
    return image


def test_report_parses_is_self_contained_and_has_one_card_per_unit(
    digits_model, digits
):
    html = build_report(digits_model, digits, image_shape=(8, 8), top_k=4)
    page = Page(html)
    check_self_contained(page)
    assert [int(card["data-unit"]) for card in page.cards()] == list(range(60))
    assert len({card["id"] for card in page.cards()}) == 60
    images = page.all("img")
    # The curves, the filter grid, the rho-hat plot, 8 reconstructions and two
    # pictures a card.
    assert len(images) == 3 + 8 + 2 * 60
    for attrs in images:
        assert decode(attrs["src"]).size[0] > 0 and attrs["alt"]
    # Pages of 50: the first shown, the second hidden until chosen.
    pages = page.all("div", **{"class": "page cards"})
    assert [p["data-page"] for p in pages] == ["0", "1"]
    assert "hidden" not in pages[0] and "hidden" in pages[1]
    assert len(page.all("button")) == 3


def test_top_inputs_are_drawn_as_a_grid_of_images(digits_model, digits):
    html = build_report(digits_model, digits, top_k=9, units_per_page=100)
    card = Page(html).all("img", alt="inputs that activate unit 0 most")[0]
    # 3 x 3 digits of 8 x 8 pixels with 1-pixel gaps around them.
    assert decode(card["src"]).size == (28, 28)
    assert 'title="row ' in html


def test_data_that_are_not_images_get_heat_maps(flat_model, flat_data):
    page = Page(build_report(flat_model, flat_data, top_k=3))
    check_self_contained(page)
    assert len(page.cards()) == 5
    grid = decode(page.all("img", **{"class": "pixelated filter-grid"})[0]["src"])
    assert grid.size == (10, 5) and grid.mode == "RGB"
    strip = decode(page.all("img", alt="inputs that activate unit 2 most")[0]["src"])
    assert strip.size == (10, 3)


def test_dead_and_saturated_units_are_listed_and_marked(digits_model, digits):
    model = type(digits_model)(**digits_model.get_params())
    model.__dict__.update(digits_model.__dict__)
    model.intercept_hidden_ = digits_model.intercept_hidden_.copy()
    model.intercept_hidden_[[3, 7]] = [-60.0, 60.0]
    html = build_report(model, digits, top_k=2)
    page = Page(html)
    assert page.all("article", id="unit-3")[0]["class"] == "card dead"
    assert page.all("article", id="unit-7")[0]["class"] == "card saturated"
    links = [a["href"] for a in page.all("a") if a["href"].startswith("#unit-")]
    assert "#unit-3" in links and "#unit-7" in links


def test_a_given_summary_saves_the_pass_over_the_data(
    digits_model, digits, monkeypatch
):
    summary = summarize(digits_model, digits, top_k=9, bins=20)
    import sparseae.report.build as build

    monkeypatch.setattr(build, "summarize", None)
    html = build.build_report(digits_model, digits, summary=summary)
    assert len(Page(html).cards()) == 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": 0}, "top_k must be an int >= 1, got 0"),
        ({"units_per_page": 2.5}, "units_per_page must be an int >= 1, got 2.5"),
        ({"image_shape": (3, 5)}, r"image_shape \(3, 5\) has 15 pixels"),
    ],
)
def test_bad_parameters_are_named(digits_model, digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_report(digits_model, digits, **kwargs)


def test_data_of_the_wrong_width_is_refused(digits_model):
    with pytest.raises(ValueError, match=r"shape \(n_samples, 64\) .* got \(5, 3\)"):
        build_report(digits_model, np.zeros((5, 3)))


def test_write_report_writes_the_page(digits_model, digits, tmp_path):
    path = write_report(tmp_path / "r.html", digits_model, digits, top_k=1)
    assert path == tmp_path / "r.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_model_html_shows_the_summary_and_filters(digits_model):
    page = Page(model_html(digits_model))
    check_self_contained(page)
    (grid,) = page.all("img")
    # 60 filters of 8 x 8 on an 8 x 8 grid, 1-pixel gaps.
    assert decode(grid["src"]).size == (8 * 9 + 1, 8 * 9 + 1)


@pytest.fixture
def run_folder(tmp_path):
    """A model file recording its data, an .npy file, as 'sparseae train' does."""
    data = np.random.default_rng(0).uniform(size=(30, 16))
    np.save(tmp_path / "data.npy", data)
    folder = tmp_path / "run"
    folder.mkdir()
    model = SparseAutoencoder(4, max_iter=3, random_state=0)
    with warnings.catch_warnings(action="ignore"):
        model.fit(data)
    save(
        model, folder / "model.safetensors", extra={"data": str(tmp_path / "data.npy")}
    )
    config = {"config": {"data": {"source": str(tmp_path / "data.npy")}}}
    (folder / "metrics.json").write_text(json.dumps(config))
    return folder


def test_command_writes_the_report_of_a_run(run_folder, capsys):
    assert main(["report", str(run_folder), "--top-k", "2"]) == 0
    page = Page((run_folder / "report.html").read_text(encoding="utf-8"))
    assert len(page.cards()) == 4
    assert "4 units and 30 samples written to" in capsys.readouterr().out


def test_command_reports_a_model_file_on_named_data(run_folder, tmp_path):
    out = tmp_path / "elsewhere.html"
    model = run_folder / "model.safetensors"
    data = tmp_path / "data.npy"
    assert main(["report", str(model), "--data", str(data), "-o", str(out)]) == 0
    assert len(Page(out.read_text(encoding="utf-8")).cards()) == 4


def test_command_uses_the_checkpoint_of_an_interrupted_run(run_folder):
    (run_folder / "model.safetensors").rename(run_folder / "checkpoint.safetensors")
    assert main(["report", str(run_folder)]) == 0
    assert (run_folder / "report.html").is_file()


def test_bad_input_exits_2_with_one_line(run_folder, tmp_path, capsys):
    model = run_folder / "model.safetensors"
    np.save(tmp_path / "narrow.npy", np.zeros((5, 3)))
    unrecorded = tmp_path / "bare.safetensors"
    save(load(model), unrecorded)
    cases = [
        (["report", str(tmp_path / "nowhere")], "no model file at"),
        (["report", str(tmp_path)], "holds no model.safetensors"),
        (
            ["report", str(model), "--data", str(tmp_path / "narrow.npy")],
            "has 3 features per sample but the model",
        ),
        (["report", str(run_folder), "-o", str(tmp_path / "r.txt")], "must name an"),
        (["report", str(unrecorded)], "does not record its data: pass --data"),
        (["report", str(run_folder), "--top-k", "0"], "--top-k"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)


def test_recorded_data_that_is_gone_asks_for_data(run_folder, tmp_path, capsys):
    (tmp_path / "data.npy").unlink()
    assert main(["report", str(run_folder)]) == 2
    assert "pass --data DATA" in capsys.readouterr().err
