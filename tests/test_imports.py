"""What ``import sparseae`` and ``sparseae --help`` load: nothing heavy.

Each case runs in a fresh interpreter, since this one has long since imported
everything.  Timing is measured by ``benchmarks/import_time.py``, not here.
"""

import json
import subprocess
import sys

import pytest

HEAVY = (
    "sklearn",
    "scipy.optimize",
    "scipy.special",
    "pandas",
    "matplotlib",
    "skimage",
    "dask",
)

REPORT = """
import json, sys
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    result = subprocess.run(
        [sys.executable, "-c", code + REPORT],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if any(name == root or name.startswith(root + ".") for root in HEAVY)
    )


def test_importing_the_package_loads_nothing_heavy():
    modules = modules_after("import sparseae")
    assert heavy(modules) == []
    assert not any(name.startswith("sparseae.") for name in modules - {"sparseae"})


def test_the_command_help_loads_nothing_heavy():
    code = """
import contextlib, io
from sparseae.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--help"])
    except SystemExit:
        pass
"""
    modules = modules_after(code)
    assert heavy(modules) == []
    assert not any(name.startswith("sparseae.models") for name in modules)


def test_the_mathematics_needs_only_numpy_and_threadpoolctl():
    code = """
import importlib, pkgutil
import sparseae.core
for module in pkgutil.iter_modules(sparseae.core.__path__, "sparseae.core."):
    importlib.import_module(module.name)
"""
    modules = modules_after(code)
    roots = {name.partition(".")[0] for name in modules}
    third_party = roots - set(sys.stdlib_module_names) - {"sparseae"}
    # Underscored roots are the interpreter's own (_distutils_hack, _virtualenv).
    assert {r for r in third_party if not r.startswith("_")} <= {
        "numpy",
        "threadpoolctl",
    }


def test_every_public_name_resolves_and_is_listed():
    code = """
import sparseae
missing = [n for n in sparseae.__all__ if getattr(sparseae, n, None) is None]
assert not missing, missing
assert set(sparseae.__all__) <= set(dir(sparseae))
"""
    modules = modules_after(code)
    assert "sklearn" in modules


def test_an_unknown_name_is_an_attribute_error():
    import sparseae

    with pytest.raises(AttributeError, match="has no attribute 'fit'"):
        sparseae.fit  # noqa: B018


def test_load_registers_the_file_format(tmp_path):
    code = f"""
import warnings
import numpy as np
from sparseae.models.autoencoder import SparseAutoencoder
with warnings.catch_warnings(action="ignore"):
    model = SparseAutoencoder(2, max_iter=2).fit(np.eye(4))
path = model.save({str(tmp_path / "m.safetensors")!r})
import sparseae
assert sparseae.load(path).n_components == 2
"""
    modules_after(code)
