import numpy as np
from PIL import Image

from sparseae.cli import main


def test_demo_trains_reports_and_writes_filters(tmp_path, capsys):
    output = tmp_path / "nested" / "filters.png"
    output.parent.mkdir()
    status = main(
        ["demo", "--patches", "2000", "--max-iter", "30", "--output", str(output)]
    )
    assert status == 0
    out = capsys.readouterr().out
    for field in (
        "iterations:      30",
        "reconstruction",
        "weight decay",
        "sparsity",
        "mean activation",
        "time:",
    ):
        assert field in out
    picture = np.asarray(Image.open(output))
    # 25 filters of 8x8 on a 5x5 grid, each filter spanning its own full range.
    assert picture.shape[0] == picture.shape[1] > 5 * 8
    assert picture.min() == 0 and picture.max() == 255


def test_demo_float32_runs(tmp_path, capsys):
    output = tmp_path / "f.png"
    assert (
        main(
            [
                "demo",
                "--patches",
                "500",
                "--max-iter",
                "5",
                "--dtype",
                "float32",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert output.exists()
