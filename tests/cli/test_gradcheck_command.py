import pytest

from sparseae.cli import main


def test_gradcheck_passes_and_prints_every_combination(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "22 passed, 0 failed" in out
    assert "topk+aux" in out
    for unit in ("sigmoid", "relu", "topk"):
        assert f"{unit}+tied" in out
    assert "relu+aux" not in out  # ReLU units take no auxiliary loss
    for name in (
        "kl",
        "squared",
        "l1",
        "linear",
        "cross_entropy",
        "relu",
        "topk",
        "+aux",
        "+tied",
    ):
        assert name in out


def test_gradcheck_fails_with_an_impossible_tolerance(capsys):
    assert main(["gradcheck", "--tolerance", "1e-30"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_gradcheck_rejects_bad_sizes(capsys):
    assert main(["gradcheck", "--hidden", "0"]) == 2
    assert "--hidden must be >= 1, got 0" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["gradcheck", "--help"])
    assert exit_info.value.code == 0
    assert "example:" in capsys.readouterr().out


def test_gradcheck_says_when_no_problem_keeps_off_the_kinks(capsys):
    assert main(["gradcheck", "--samples", "400", "--hidden", "60"]) == 2
    assert "from a kink; use fewer --samples or --hidden" in capsys.readouterr().err


def test_a_wrong_tied_gradient_fails(capsys, monkeypatch):
    # The tied rows check (16) itself: leave out the decoder's part and they fail.
    from sparseae.cli import gradcheck

    def encoder_part_only(grads):
        grads.W2[...] = 0
        return grads

    monkeypatch.setattr(gradcheck, "tied_gradient_", encoder_part_only)
    assert main(["gradcheck"]) == 1
    failing = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert failing and all("+tied" in line for line in failing)


def test_a_negative_seed_names_the_option_and_what_is_valid(capsys):
    assert main(["gradcheck", "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "argument --seed: must be an integer >= 0, got -1" in err
    assert len(err.splitlines()) == 1
